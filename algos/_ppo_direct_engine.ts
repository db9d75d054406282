/**
 * PPO's direct gradient engine for its MLP policy (private): the forward pass, the closed-form
 * derivative of `ppoLoss` (`_ppo_heads.ts`) and the backward pass of the actor and the critic
 * without tfjs — the matrix products in one WebAssembly SIMD kernel (`_ppo_kernel.ts`, a
 * JavaScript loop where SIMD is missing), the rest in JavaScript on the same memory — from PPO's
 * flat weights (the ones Adam updates). Selected by PPO's option `gradient: "direct"`.
 *
 * Why: a gradient step of CartPole's narrow networks is ~1 M multiply-adds, ~0.15 ms in the SIMD
 * kernel, while each tfjs-wasm op costs ~10–20 µs of fixed work (the packed engine,
 * `_ppo_packed_engine.ts`, still launches ~31 a step) and its kernels warm up on first use; and a
 * step here allocates little beyond its gradient.
 *
 * Layout: every matrix is float32, row-major, in one `WebAssembly.Memory`, zero-padded so that
 * the kernel's blocks need no remainder (rows a multiple of 4, widths a multiple of 4). A layer's
 * bias is a row of its weight matrix against a column of ones appended to its input, so one
 * product gives the layer's output and one its weights' and bias's gradient.
 *
 * The hidden layers' tanh is a rational approximation (Eigen's and XLA's float32 tanh, within
 * 3e-7 of `Math.tanh` and ~5× faster in V8); the rollout's actor (`_ppo_flat_actor.ts`) uses the
 * same one for this engine. tests/ppo_math_test.ts pins the engine to `ppoGradient` (autodiff
 * through `ppoLoss`) within 1e-5.
 */
import type { MlpPolicy } from "@proximal/models";
import type { GradientEngine, Minibatch, PpoGradient, PpoLossOptions } from "./_ppo_engine.ts";
import { actorHead, criticHead } from "./_ppo_heads.ts";
import { jsKernels, type Kernels, wasmKernels } from "./_ppo_kernel.ts";

/** `x` rounded up to a multiple of 4. */
const pad4 = (x: number) => Math.ceil(x / 4) * 4;

/**
 * One dense layer: its place in the flat weights (`w`: `inSize × outSize`, row-major; `b`), its
 * padded widths (`inWidth`: inputs and the ones column; `outWidth`: outputs, and the next layer's
 * ones column if hidden), and the byte offsets of its matrices in the memory.
 */
interface Layer {
  w: number;
  b: number;
  inSize: number;
  outSize: number;
  hidden: boolean;
  inWidth: number;
  outWidth: number;
  /** `inWidth × outWidth`: `w`, then the bias row (the forward pass). */
  weights: number;
  /** `outWidth × inWidth`: the same transposed (d/d(input) in the backward pass). */
  weightsT: number;
  /** `rows × outWidth`: the layer's output (after tanh, with the ones column, if hidden). */
  out: number;
}

/**
 * The weight matrices' shapes (`[inputs, outputs]`) of the actor's layers (without a Gaussian's
 * log-std) and the critic's, in `policy.variables`' flat order: all the engine needs of a policy,
 * so that a Worker can build it without tfjs (`_ppo_direct_pair.ts`).
 */
export interface DirectShapes {
  actor: [number, number][];
  critic: [number, number][];
}

/**
 * The layer shapes of an MLP policy.
 *
 * @param policy The policy.
 * @returns Its actor's and critic's weight shapes.
 */
export function directShapes(policy: MlpPolicy): DirectShapes {
  const shapes = (vars: MlpPolicy["criticVariables"]) =>
    vars.filter((_, i) => i % 2 === 0 && i + 1 < vars.length)
      .map((v) => v.shape.slice() as [number, number]);
  const box = policy.actionSpace.kind === "box";
  return {
    actor: shapes(policy.actorVariables.slice(0, box ? -1 : undefined)),
    critic: shapes(policy.criticVariables),
  };
}

/** The actor's and the critic's layers in the flat order, and the log-std's offset. */
function networksOf(shapes: DirectShapes): { nets: [Layer[], Layer[]]; logStdAt: number } {
  let offset = 0;
  const layers = (net: [number, number][]): Layer[] =>
    net.map(([inSize, outSize], i) => {
      const hidden = i + 1 < net.length;
      const layer: Layer = {
        w: offset,
        b: offset + inSize * outSize,
        inSize,
        outSize,
        hidden,
        inWidth: pad4(inSize + 1),
        outWidth: pad4(outSize + (hidden ? 1 : 0)),
        weights: 0,
        weightsT: 0,
        out: 0,
      };
      offset += inSize * outSize + outSize;
      return layer;
    });
  const actor = layers(shapes.actor);
  return { nets: [actor, layers(shapes.critic)], logStdAt: offset };
}

/** Where a layout puts the memory's parts: {@linkcode DirectMlp}'s options. */
export interface DirectMlpOptions {
  /** The matrix products' kernel; default "wasm". */
  kernel?: "wasm" | "js";
  /** The memory (a shared one for the pair); default a memory of the engine's own. */
  memory?: WebAssembly.Memory;
  /** The first byte the layout may use (a multiple of 16); default 0. */
  base?: number;
  /** Floats per row the caller keeps after the layout (at {@linkcode DirectMlp.extra}); default 0. */
  extraPerRow?: number;
}

/**
 * The networks' forward and backward passes on a memory laid out for a number of rows (grown and
 * laid out again when a call brings more).
 */
export class DirectMlp {
  readonly nets: [Layer[], Layer[]];
  readonly logStdAt: number;
  readonly #memory: WebAssembly.Memory;
  readonly #kernels: Kernels;
  readonly #base: number;
  readonly #extraPerRow: number;
  #heap: Float32Array = new Float32Array(0);
  /** The rows laid out for (a multiple of 4), and the input's and the caller's byte offsets. */
  #rows = -1;
  #x = 0;
  #extra = 0;
  /** Each network's backward scratch (dz, d/d(input), its weight products): the pair runs both at once. */
  #scratch: { dz: number; dIn: number; gw: number }[] = [];

  constructor(shapes: DirectShapes, options: DirectMlpOptions = {}) {
    ({ nets: this.nets, logStdAt: this.logStdAt } = networksOf(shapes));
    const memory = this.#memory = options.memory ?? new WebAssembly.Memory({ initial: 1 });
    this.#base = options.base ?? 0;
    this.#extraPerRow = options.extraPerRow ?? 0;
    const heap = () => this.#heap;
    this.#kernels = (options.kernel === "js" ? null : wasmKernels(memory)) ?? jsKernels(heap);
  }

  /** The memory's float32 view (after {@linkcode layout}). */
  get heap(): Float32Array {
    return this.#heap;
  }

  /** The byte offset of the caller's `extraPerRow` floats a row. */
  get extra(): number {
    return this.#extra;
  }

  /**
   * Lays the memory out for `n` rows (if not already) and returns the padded row count. With
   * `keep`, a second thread's view of a memory the first laid out (grown and cleared): the same
   * offsets, nothing grown or cleared.
   */
  layout(n: number, options: { keep?: boolean } = {}): number {
    const rows = pad4(Math.max(n, 1)), memory = this.#memory;
    if (rows === this.#rows && this.#heap.buffer.byteLength === memory.buffer.byteLength) {
      return rows;
    }
    const all = [...this.nets[0], ...this.nets[1]];
    const inWidth = this.nets[0][0]!.inWidth;
    const widest = Math.max(...all.map((l) => Math.max(l.inWidth, l.outWidth)));
    let bytes = this.#base;
    const take = (floats: number) => {
      const at = bytes;
      bytes += 4 * floats;
      return at;
    };
    this.#x = take(rows * inWidth);
    this.#scratch = this.nets.map(() => ({
      dz: take(rows * widest),
      dIn: take(rows * widest),
      gw: take(widest * widest),
    }));
    for (const l of all) {
      l.weights = take(l.outWidth * l.inWidth);
      l.weightsT = take(l.outWidth * l.inWidth);
      l.out = take(rows * l.outWidth);
    }
    this.#extra = take(rows * this.#extraPerRow);
    const pages = Math.ceil(bytes / 65536) - memory.buffer.byteLength / 65536;
    if (pages > 0 && !options.keep) memory.grow(pages);
    this.#heap = new Float32Array(memory.buffer as ArrayBuffer);
    if (!options.keep) this.#heap.fill(0, this.#base >> 2);
    this.#rows = rows;
    return rows;
  }

  /** Both layouts of each layer's weights (and bias) from the flat parameters. */
  loadWeights(params: Float32Array, net: Layer[]): void {
    const m = this.#heap;
    for (const l of net) {
      const { w, b, inSize, outSize, inWidth, outWidth } = l;
      const wT = l.weightsT >> 2, wr = l.weights >> 2;
      for (let c = 0; c < outSize; c++) {
        for (let r = 0; r < inSize; r++) {
          m[wT + c * inWidth + r] = m[wr + r * outWidth + c] = params[w + r * outSize + c]!;
        }
        m[wT + c * inWidth + inSize] = m[wr + inSize * outWidth + c] = params[b + c]!;
      }
    }
  }

  /** The observations with their ones column as every network's input. */
  loadInput(observations: Float32Array, n: number): void {
    const m = this.#heap, size = this.nets[0][0]!.inSize, width = this.nets[0][0]!.inWidth;
    const x = this.#x >> 2;
    for (let t = 0; t < n; t++) {
      for (let r = 0; r < size; r++) m[x + t * width + r] = observations[t * size + r]!;
      m[x + t * width + size] = 1;
    }
  }

  /** The forward pass of one network on the loaded input: each layer's `out`. */
  forward(net: Layer[], n: number): void {
    const m = this.#heap, rows = this.#rows;
    let input = this.#x;
    for (const l of net) {
      const { inWidth, outWidth } = l;
      this.#kernels.matMul(l.out, {
        a: input,
        b: l.weights,
        rows,
        inner: inWidth,
        cols: outWidth,
        aRow: inWidth,
        aInner: 1,
      });
      if (l.hidden) {
        // The padding columns stay tanh(0) = 0; then the next layer's column of ones.
        this.#kernels.tanh(l.out, rows * l.outWidth);
        const out = l.out >> 2;
        for (let t = 0; t < n; t++) m[out + t * l.outWidth + l.outSize] = 1;
      }
      input = l.out;
    }
  }

  /** The last layer's outputs, `n × outSize`. */
  outputs(net: Layer[], n: number): Float32Array {
    const l = net[net.length - 1]!, m = this.#heap, out = new Float32Array(n * l.outSize);
    for (let t = 0; t < n; t++) {
      for (let c = 0; c < l.outSize; c++) {
        out[t * l.outSize + c] = m[(l.out >> 2) + t * l.outWidth + c]!;
      }
    }
    return out;
  }

  /**
   * The backward pass of one network from d(loss)/d(output) (`n × outSize` of its last layer),
   * writing its weights' and biases' gradient into `grad` at their flat offsets. The padding rows
   * (which may hold an earlier call's input) get a zero d(loss)/d(output), so they add nothing.
   */
  backward(net: Layer[], dOut: ArrayLike<number>, grad: Float32Array, n: number): void {
    const m = this.#heap, rows = this.#rows, last = net[net.length - 1]!;
    const scratch = this.#scratch[net === this.nets[0] ? 0 : 1]!;
    let { dz, dIn } = scratch;
    m.fill(0, dz >> 2, (dz >> 2) + rows * last.outWidth);
    for (let t = 0; t < n; t++) {
      for (let c = 0; c < last.outSize; c++) {
        m[(dz >> 2) + t * last.outWidth + c] = dOut[t * last.outSize + c]!;
      }
    }
    for (let i = net.length - 1; i >= 0; i--) {
      const l = net[i]!, { inSize, outSize, inWidth, outWidth } = l;
      // [dW; db] = [input, 1]ᵀ·dz: the input read down its columns.
      const input = i > 0 ? net[i - 1]!.out : this.#x;
      this.#kernels.matMul(scratch.gw, {
        a: input,
        b: dz,
        rows: inWidth,
        inner: rows,
        cols: outWidth,
        aRow: 1,
        aInner: inWidth,
      });
      const gw = scratch.gw >> 2;
      for (let r = 0; r < inSize; r++) {
        for (let c = 0; c < outSize; c++) grad[l.w + r * outSize + c] = m[gw + r * outWidth + c]!;
      }
      for (let c = 0; c < outSize; c++) grad[l.b + c] = m[gw + inSize * outWidth + c]!;
      if (i === 0) break;
      // d(loss)/d(input) = dz·[W; b]ᵀ, then through the tanh that made the input: 1 − tanh²,
      // which is 0 at the column of ones (the bias's, not an output of the layer before); the
      // padding columns' weights and the padding rows' dz are 0.
      this.#kernels.matMul(dIn, {
        a: dz,
        b: l.weightsT,
        rows,
        inner: outWidth,
        cols: inWidth,
        aRow: outWidth,
        aInner: 1,
      });
      this.#kernels.tanhGrad(dIn, { h: input, count: rows * inWidth });
      [dz, dIn] = [dIn, dz];
    }
  }
}

/** Options of {@linkcode directGradient}. */
export interface DirectOptions {
  /** The matrix products: `"wasm"` (SIMD, or the loop where it is missing) or `"js"`; default "wasm". */
  kernel?: "wasm" | "js";
}

/**
 * The direct engine for an MLP policy, at the weights `weights()` returns.
 *
 * @param policy The policy (its layer shapes and action space; its variables are not read).
 * @param weights The current weights, flat in `policy.variables` order.
 * @param options The kernel.
 * @returns The engine.
 */
export function directGradient(
  policy: MlpPolicy,
  weights: () => Float32Array,
  options: DirectOptions = {},
): GradientEngine {
  const mlp = new DirectMlp(directShapes(policy), options), space = policy.actionSpace;
  const total = policy.variables.reduce((s, v) => s + v.size, 0);
  return (minibatch, loss) => {
    const params = weights();
    if (params.length !== total) {
      throw new RangeError(
        `Direct PPO engine: expected ${total} flat weights for the policy, got ${params.length}`,
      );
    }
    return directStep(mlp, { params, space, minibatch, loss });
  };
}

/** One gradient: both forward passes, the heads, both backward passes. */
function directStep(
  mlp: DirectMlp,
  step: {
    params: Float32Array;
    space: MlpPolicy["actionSpace"];
    minibatch: Minibatch;
    loss: PpoLossOptions;
  },
): PpoGradient {
  const { params, space, minibatch, loss } = step, n = minibatch.logProbs.length;
  const [actorNet, criticNet] = mlp.nets;
  mlp.layout(n);
  mlp.loadWeights(params, actorNet);
  mlp.loadWeights(params, criticNet);
  mlp.loadInput(minibatch.observations, n);
  mlp.forward(actorNet, n);
  mlp.forward(criticNet, n);
  const box = space.kind === "box";
  const actor = actorHead(space, {
    rows: minibatch,
    out: mlp.outputs(actorNet, n),
    logStd: box ? params.subarray(mlp.logStdAt) : null,
  }, loss);
  const critic = criticHead(minibatch, mlp.outputs(criticNet, n), loss);
  const grad = new Float32Array(params.length);
  mlp.backward(actorNet, actor.dOut, grad, n);
  mlp.backward(criticNet, critic.dv, grad, n);
  if (actor.dLogStd) grad.set(actor.dLogStd, mlp.logStdAt);
  const [policyLoss, entropy, oldApproxKl, approxKl, clipfrac] = actor.metrics;
  const valueLoss = critic.valueLoss;
  return { grad, terms: { policyLoss, valueLoss, entropy, oldApproxKl, approxKl, clipfrac } };
}

/**
 * A network's outputs from the flat weights, by the direct engine's forward pass: the actor's
 * logits (or means) or the critic's values, for the rollout.
 *
 * @param policy The policy (its layer shapes).
 * @param weights The current weights, flat in `policy.variables` order.
 * @param options Which network.
 * @returns The outputs (`n × outputs`) of a flat batch of observations.
 */
export function directForward(
  policy: MlpPolicy,
  weights: () => Float32Array,
  options: { network: "actor" | "critic" },
): (observations: Float32Array) => Float32Array {
  const { network } = options;
  const mlp = new DirectMlp(directShapes(policy)), net = mlp.nets[network === "actor" ? 0 : 1];
  const inSize = net[0]!.inSize;
  return (observations) => {
    const n = observations.length / inSize;
    mlp.layout(n);
    mlp.loadWeights(weights(), net);
    mlp.loadInput(observations, n);
    mlp.forward(net, n);
    return mlp.outputs(net, n);
  };
}
