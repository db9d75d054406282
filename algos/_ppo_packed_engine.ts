/**
 * PPO's packed gradient engine for its MLP policy (private): the closed-form gradient of `ppoLoss`
 * (`_ppo_heads.ts`) carried through the actor and the critic together, from PPO's flat weights
 * (the ones Adam updates) rather than the policy's variables, so that the variables need loading
 * only once per update, before the next rollout. Selected by PPO's option `gradient: "packed"`.
 *
 * What it saves against the closed-form MLP engine (`_ppo_mlp_engine.ts`) on WASM:
 * - Each layer's bias is a row of its weight matrix against a constant input column, so a layer's
 *   forward is one fused matMul + sigmoid and its weight and bias gradients one matMul. Hidden
 *   layers carry the constant as an extra unit: a zero column with bias 40, whose sigmoid is
 *   exactly 1 in float32 (and whose derivative s(1 − s) is exactly 0).
 * - The hidden layers are MlpPolicy's tanh layers refolded for sigmoid ones (tanh(z) =
 *   2σ(2z) − 1, as `MlpPolicy.act` runs them), so the activation fuses into the matMul; the
 *   gradient with respect to the folded weights maps back to the tanh weights in closed form.
 * - The output layer (forward and backward), the σ' products and the transposes run in
 *   JavaScript on arrays read back anyway (tfjs-wasm's transpose costs about what the matMul
 *   does); the hidden layers' matMuls stay on tfjs.
 * Both networks' arrays are stacked (`[2, n, width]`, the critic's one-wide head padded with
 * zeros) so one pass of JavaScript serves both; on tfjs each network runs as its own batch-1
 * matMul (tfjs-wasm's batched matMul, batch 2, takes a slow path), except the first layer's
 * gradient, whose input both share: one matMul with their `dz` side by side.
 * tests/ppo_math_test.ts pins it to `ppoGradient` (autodiff through `ppoLoss`) within 1e-5.
 */
import * as tf from "@tensorflow/tfjs";
import type { MlpPolicy } from "@proximal/models";
import type { GradientEngine, Minibatch, PpoGradient, PpoLossOptions } from "./_ppo_engine.ts";
import { actorHead, criticHead } from "./_ppo_heads.ts";

/** A pre-activation whose sigmoid is exactly 1 in float32: the bias unit of a hidden layer. */
const CONSTANT_UNIT = 40;

/** One layer of both networks, where its weights sit in the flat parameters. */
interface PackedLayer {
  /** Inputs and outputs of the layer (without the constant unit). */
  inSize: number;
  outSize: number;
  /** Outputs of each network's layer (the critic's head has 1). */
  outOf: [number, number];
  /** Offsets of each network's weights and bias in the flat parameters. */
  w: [number, number];
  b: [number, number];
  /** Hidden (sigmoid, with a constant unit) or the output layer (linear). */
  hidden: boolean;
  /** The fold's factors: W' = scale·W, b' = out·(b − [first layer? 0 : 1ᵀW]). */
  scale: number;
  out: number;
}

/**
 * The packed engine for an MLP policy, at the weights `weights()` returns.
 *
 * @param policy The policy (its layer shapes and action space; its variables are not read).
 * @param weights The current weights, flat in `policy.variables` order.
 * @returns The engine.
 */
export function packedGradient(policy: MlpPolicy, weights: () => Float32Array): GradientEngine {
  const layers = packLayers(policy);
  const space = policy.actionSpace;
  const total = policy.variables.reduce((s, v) => s + v.size, 0);
  const logStdAt = total - (space.kind === "box" ? space.size : 0);
  return (minibatch, loss) => {
    const params = weights();
    if (params.length !== total) {
      throw new RangeError(
        `Packed PPO engine: expected ${total} flat weights for the policy, got ${params.length}`,
      );
    }
    return packedStep(layers, { params, logStdAt, space, minibatch, loss });
  };
}

/**
 * The critic's values from the flat weights (the folded forward pass, as the engine runs it):
 * spares the policy refolding its variables after each update for one call.
 *
 * @param policy The policy (its layer shapes).
 * @param weights The current weights, flat in `policy.variables` order.
 * @returns The values of a flat batch of observations.
 */
export function packedValues(
  policy: MlpPolicy,
  weights: () => Float32Array,
): (observations: Float32Array) => Float32Array {
  const layers = packLayers(policy), last = layers.length - 1, inSize = layers[0]!.inSize;
  return (observations) => {
    const params = weights(), n = observations.length / inSize;
    const { xa } = withOnes(observations, inSize);
    const folded = layers.map((layer, i) => foldLayer(layer, params, i === 0));
    let input = xa;
    if (last > 0) {
      const out = tf.tidy(() =>
        layers.slice(0, last).reduce(
          (h, layer, i) =>
            tf.engine().runKernel(tf._FusedMatMul, {
              a: h,
              b: tf.tensor3d(half(folded[i]!.a, 1), [1, layer.inSize + 1, widthOf(layer)]),
            }, {
              transposeA: false,
              transposeB: false,
              activation: "sigmoid",
              leakyreluAlpha: 0,
            }) as tf.Tensor3D,
          tf.tensor3d(xa, [1, n, inSize + 1]),
        )
      );
      input = out.dataSync() as Float32Array;
      out.dispose();
    }
    const head = layers[last]!, rows = head.inSize + 1, cols = widthOf(head);
    const a = half(folded[last]!.a, 1), values = new Float32Array(n);
    for (let t = 0; t < n; t++) {
      let sum = 0;
      for (let r = 0; r < rows; r++) sum += input[t * rows + r]! * a[r * cols]!;
      values[t] = sum;
    }
    return values;
  };
}

/** The layers of both networks, checked to have the same hidden sizes. */
function packLayers(policy: MlpPolicy): PackedLayer[] {
  const actor = policy.actorVariables, critic = policy.criticVariables;
  const count = critic.length / 2;
  const shapes = (vars: typeof actor, i: number) => vars[2 * i]!.shape as [number, number];
  const actorLayers = actor.length - (policy.actionSpace.kind === "box" ? 1 : 0);
  const actorSize = actor.slice(0, actorLayers).reduce((s, v) => s + v.size, 0);
  const layers: PackedLayer[] = [];
  const offsets: [number, number] = [0, actorSize];
  for (let i = 0; i < count; i++) {
    const [inA, outA] = shapes(actor, i), [inC, outC] = shapes(critic, i);
    const hidden = i < count - 1;
    if (inA !== inC || (hidden && outA !== outC)) {
      throw new RangeError(
        `Packed PPO engine: layer ${i} of the actor is ${inA}×${outA}, of the critic ${inC}×${outC}; it needs equal hidden sizes`,
      );
    }
    const out = hidden ? 2 : 1;
    layers.push({
      inSize: inA,
      outSize: Math.max(outA, outC),
      outOf: [outA, outC],
      w: [offsets[0], offsets[1]],
      b: [offsets[0] + inA * outA, offsets[1] + inC * outC],
      hidden,
      scale: (i > 0 ? 2 : 1) * out,
      out,
    });
    offsets[0] += inA * outA + outA;
    offsets[1] += inC * outC + outC;
  }
  return layers;
}

/** Columns of a layer's packed output: its units, plus the constant one if hidden. */
function widthOf(layer: PackedLayer): number {
  return layer.outSize + (layer.hidden ? 1 : 0);
}

/**
 * A layer's folded weights for both networks, `[2, inSize + 1, width]` (the bias row last), and,
 * if wanted, their transpose `[2, width, inSize + 1]`.
 */
function foldLayer(
  layer: PackedLayer,
  params: Float32Array,
  first: boolean,
): { a: Float32Array; aT: Float32Array } {
  const rows = layer.inSize + 1, cols = widthOf(layer), { scale, out } = layer;
  const a = new Float32Array(2 * rows * cols), aT = new Float32Array(2 * rows * cols);
  for (let q = 0; q < 2; q++) {
    const outQ = layer.outOf[q]!, w = layer.w[q]!, b = layer.b[q]!, base = q * rows * cols;
    for (let c = 0; c < outQ; c++) {
      let colSum = 0;
      for (let r = 0; r < layer.inSize; r++) {
        const v = params[w + r * outQ + c]!;
        colSum += v;
        a[base + r * cols + c] = aT[base + c * rows + r] = scale * v;
      }
      const bias = out * (params[b + c]! - (first ? 0 : colSum));
      a[base + layer.inSize * cols + c] = aT[base + c * rows + layer.inSize] = bias;
    }
    if (layer.hidden) {
      a[base + layer.inSize * cols + layer.outSize] = CONSTANT_UNIT;
      aT[base + layer.outSize * rows + layer.inSize] = CONSTANT_UNIT;
    }
  }
  return { a, aT };
}

/** `x` with a column of ones appended: `n × (size + 1)`, and its transpose. */
function withOnes(x: Float32Array, size: number): { xa: Float32Array; xaT: Float32Array } {
  const n = x.length / size, cols = size + 1;
  const xa = new Float32Array(n * cols), xaT = new Float32Array(n * cols);
  for (let r = 0; r < n; r++) {
    for (let c = 0; c < size; c++) xa[r * cols + c] = xaT[c * n + r] = x[r * size + c]!;
    xa[r * cols + size] = xaT[size * n + r] = 1;
  }
  return { xa, xaT };
}

/** One gradient: the forward pass of both networks, the heads, the backward pass. */
function packedStep(
  layers: PackedLayer[],
  step: {
    params: Float32Array;
    logStdAt: number;
    space: MlpPolicy["actionSpace"];
    minibatch: Minibatch;
    loss: PpoLossOptions;
  },
): PpoGradient {
  const { params, logStdAt, space, minibatch, loss } = step;
  const inSize = layers[0]!.inSize, n = minibatch.logProbs.length, last = layers.length - 1;
  const { xa, xaT } = withOnes(minibatch.observations, inSize);
  const folded = layers.map((layer, i) => foldLayer(layer, params, i === 0));
  const head = layers[last]!, k = head.outSize;
  const grad = new Float32Array(params.length);
  let terms: PpoGradient["terms"] | null = null;
  tf.tidy(() => {
    // Forward, network by network (a batch of two would take tfjs-wasm's slow batched matMul):
    // outputs[q][i] is layer i's output in network q, read[i] both networks' packed.
    const input = tf.tensor3d(xa, [1, n, inSize + 1]);
    const outputs = [0, 1].map((q) => {
      let h = input;
      return layers.slice(0, last).map((layer, i) => {
        const w = tf.tensor3d(half(folded[i]!.a, q), [1, layer.inSize + 1, widthOf(layer)]);
        return h = tf.engine().runKernel(tf._FusedMatMul, { a: h, b: w }, {
          transposeA: false,
          transposeB: false,
          activation: "sigmoid",
          leakyreluAlpha: 0,
        }) as tf.Tensor3D;
      });
    });
    const read = outputs[0]!.map((_, i) => packed(outputs.map((o) => o[i]!)));
    // The output layer in JavaScript, as its backward pass: a few columns wide.
    const out = linear(last > 0 ? read[last - 1]! : xa, folded[last]!.a, {
      n,
      rows: head.inSize + 1,
      cols: k,
      shared: last === 0,
      outOf: head.outOf,
    });
    // The heads: the actor's outputs are batch 0, the critic's values column 0 of batch 1.
    const actor = actorHead(space, {
      rows: minibatch,
      out: out.subarray(0, n * k),
      logStd: space.kind === "box" ? params.subarray(logStdAt) : null,
    }, loss);
    const values = new Float32Array(n);
    for (let r = 0; r < n; r++) values[r] = out[n * k + r * k]!;
    const critic = criticHead(minibatch, values, loss);
    const [policyLoss, entropy, oldApproxKl, approxKl, clipfrac] = actor.metrics;
    terms = { policyLoss, valueLoss: critic.valueLoss, entropy, oldApproxKl, approxKl, clipfrac };
    if (actor.dLogStd) grad.set(actor.dLogStd, logStdAt);
    // d(loss)/d(pre-activation) of the output layer, packed like its output.
    let dz: Float32Array = new Float32Array(2 * n * k);
    dz.set(actor.dOut);
    for (let r = 0; r < n; r++) dz[n * k + r * k] = critic.dv[r]!;
    const inputT = last > 0 ? tf.tensor3d(xaT, [1, inSize + 1, n]) : null;
    for (let i = last; i >= 0; i--) {
      const layer = layers[i]!, rows = layer.inSize + 1, cols = widthOf(layer);
      let g: Float32Array;
      if (i === last) {
        // The output layer in JavaScript: its input is read back already and its width small.
        const { outOf } = layer;
        g = outerSum(i > 0 ? read[i - 1]! : xa, dz, { n, rows, cols, shared: i === 0, outOf });
        if (i > 0) {
          dz = sigmoidBackward(
            matTransB(dz, folded[i]!.aT, { n, rows, cols, outOf }),
            read[i - 1]!,
          );
        }
      } else if (i === 0) {
        // The first layer's input is both networks': one matMul with their dz side by side.
        const side = tf.tensor3d(sideBySide(dz, n), [1, n, 2 * cols]);
        g = unside(matMul(inputT!, side).dataSync() as Float32Array, rows);
      } else {
        const dzs = [0, 1].map((q) => tf.tensor3d(half(dz, q), [1, n, cols]));
        g = packed(dzs.map((d, q) => {
          // Transposed here from the read-back: tfjs-wasm's transpose costs as much as the matMul.
          const inT = tf.tensor3d(transpose(half(read[i - 1]!, q), n), [1, rows, n]);
          return matMul(inT, d);
        }));
        const aT = folded[i]!.aT;
        const ds = packed(
          dzs.map((d, q) => matMul(d, tf.tensor3d(half(aT, q), [1, cols, rows]))),
        );
        dz = sigmoidBackward(ds, read[i - 1]!);
      }
      unfold(layer, { g, grad, first: i === 0 });
    }
  });
  return { grad, terms: terms! };
}

/** Packed `[2, n, cols]` as `[n, 2 · cols]`: each row's two networks side by side. */
function sideBySide(x: Float32Array, n: number): Float32Array {
  const cols = x.length / (2 * n), out = new Float32Array(x.length);
  for (let q = 0; q < 2; q++) {
    for (let t = 0; t < n; t++) {
      out.set(x.subarray((q * n + t) * cols, (q * n + t + 1) * cols), (2 * t + q) * cols);
    }
  }
  return out;
}

/** `[rows, 2 · cols]` (networks side by side) as packed `[2, rows, cols]`. */
function unside(x: Float32Array, rows: number): Float32Array {
  const cols = x.length / (2 * rows), out = new Float32Array(x.length);
  for (let q = 0; q < 2; q++) {
    for (let r = 0; r < rows; r++) {
      out.set(x.subarray((2 * r + q) * cols, (2 * r + q + 1) * cols), (q * rows + r) * cols);
    }
  }
  return out;
}

/**
 * `a·b` of two `[1, rows, cols]` tensors through the fused matMul kernel without bias or
 * activation: tfjs-wasm's plain BatchMatMul reshapes both operands first and costs more per call.
 */
function matMul(a: tf.Tensor3D, b: tf.Tensor3D): tf.Tensor3D {
  return tf.engine().runKernel(tf._FusedMatMul, { a, b }, {
    transposeA: false,
    transposeB: false,
    activation: "linear",
    leakyreluAlpha: 0,
  }) as tf.Tensor3D;
}

/** A row-major `n × (x.length / n)` matrix, transposed. */
function transpose(x: Float32Array, n: number): Float32Array {
  const cols = x.length / n, out = new Float32Array(x.length);
  for (let r = 0; r < n; r++) for (let c = 0; c < cols; c++) out[c * n + r] = x[r * cols + c]!;
  return out;
}

/** Network q's half of a packed array. */
function half(x: Float32Array, q: number): Float32Array {
  const size = x.length / 2;
  return x.subarray(q * size, (q + 1) * size);
}

/** Two networks' tensors of one shape read back into one packed array. */
function packed(tensors: tf.Tensor[]): Float32Array {
  const size = tensors[0]!.size, out = new Float32Array(2 * size);
  tensors.forEach((t, q) => out.set(t.dataSync() as Float32Array, q * size));
  return out;
}

/**
 * `input·a` for both networks, `[2, n, cols]`, from their inputs (`[2, n, rows]`, or one
 * `[n, rows]` both share) and weights `a` (`[2, rows, cols]`); only network q's first `outOf[q]`
 * columns (the rest are the critic's zero padding).
 */
function linear(
  input: Float32Array,
  a: Float32Array,
  dims: { n: number; rows: number; cols: number; shared: boolean; outOf: [number, number] },
): Float32Array {
  const { n, rows, cols, shared, outOf } = dims, out = new Float32Array(2 * n * cols);
  for (let q = 0; q < 2; q++) {
    const aBase = q * rows * cols, outQ = outOf[q]!;
    for (let t = 0; t < n; t++) {
      const row = (shared ? t : q * n + t) * rows, at = (q * n + t) * cols;
      for (let c = 0; c < outQ; c++) {
        let sum = 0;
        for (let r = 0; r < rows; r++) sum += input[row + r]! * a[aBase + r * cols + c]!;
        out[at + c] = sum;
      }
    }
  }
  return out;
}

/**
 * `inᵀ·dz` for both networks, `[2, rows, cols]`, from their inputs (`[2, n, rows]`, or one
 * `[n, rows]` both share) and `dz` (`[2, n, cols]`, only network q's first `outOf[q]` columns
 * nonzero).
 */
function outerSum(
  input: Float32Array,
  dz: Float32Array,
  dims: { n: number; rows: number; cols: number; shared: boolean; outOf: [number, number] },
): Float32Array {
  const { n, rows, cols, shared, outOf } = dims, g = new Float32Array(2 * rows * cols);
  const gT = new Float64Array(rows);
  for (let q = 0; q < 2; q++) {
    const inBase = shared ? 0 : q * n * rows, gBase = q * rows * cols, dBase = q * n * cols;
    for (let c = 0; c < outOf[q]!; c++) {
      gT.fill(0);
      for (let t = 0; t < n; t++) {
        const d = dz[dBase + t * cols + c]!, row = inBase + t * rows;
        for (let r = 0; r < rows; r++) gT[r] = gT[r]! + input[row + r]! * d;
      }
      for (let r = 0; r < rows; r++) g[gBase + r * cols + c] = gT[r]!;
    }
  }
  return g;
}

/**
 * `dz·aᵀ` for both networks, `[2, n, rows]`, from `dz` (`[2, n, cols]`, only network q's first
 * `outOf[q]` columns nonzero) and the transposed weights `aT` (`[2, cols, rows]`).
 */
function matTransB(
  dz: Float32Array,
  aT: Float32Array,
  dims: { n: number; rows: number; cols: number; outOf: [number, number] },
): Float32Array {
  const { n, rows, cols, outOf } = dims, out = new Float32Array(2 * n * rows);
  for (let q = 0; q < 2; q++) {
    const aBase = q * rows * cols;
    for (let t = 0; t < n; t++) {
      const row = (q * n + t) * rows, dRow = (q * n + t) * cols;
      for (let c = 0; c < outOf[q]!; c++) {
        const d = dz[dRow + c]!, at = aBase + c * rows;
        for (let r = 0; r < rows; r++) out[row + r] = out[row + r]! + d * aT[at + r]!;
      }
    }
  }
  return out;
}

/**
 * d/d(pre-activation) from d/d(output) of a sigmoid layer, ds ⊙ s(1 − s), in place (the constant
 * unit has s = 1, so its derivative is 0).
 */
function sigmoidBackward(ds: Float32Array, s: Float32Array): Float32Array {
  for (let i = 0; i < ds.length; i++) {
    const y = s[i]!;
    ds[i] = ds[i]! * y * (1 - y);
  }
  return ds;
}

/**
 * The folded layer's gradient `g` (`[2, inSize + 1, width]`) back to the tanh layer's weights:
 * W' = scale·W and b' = out·(b − [not first]·1ᵀW) give dW = scale·dW' − [not first]·out·1·db'ᵀ
 * and db = out·db'.
 */
function unfold(layer: PackedLayer, at: { g: Float32Array; grad: Float32Array; first: boolean }) {
  const { g, grad, first } = at, rows = layer.inSize + 1, cols = widthOf(layer);
  const { scale, out } = layer;
  for (let q = 0; q < 2; q++) {
    const outQ = layer.outOf[q]!, w = layer.w[q]!, b = layer.b[q]!, base = q * rows * cols;
    for (let c = 0; c < outQ; c++) {
      const db = g[base + layer.inSize * cols + c]!;
      const shift = first ? 0 : out * db;
      for (let r = 0; r < layer.inSize; r++) {
        grad[w + r * outQ + c] = scale * g[base + r * cols + c]! - shift;
      }
      grad[b + c] = out * db;
    }
  }
}
