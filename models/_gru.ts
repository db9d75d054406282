// A GRU layer over a whole sequence as one op with a hand-written backward pass (backpropagation
// through time), shaped for tfjs's WASM backend:
// - the input projections of all steps, x·Wx + bx, are one matmul done by the caller; this op only
//   runs the recurrence, one fused matmul (h·Wh + bh, all three gates) per step;
// - a WASM `slice` copies its whole input, so taking step t out of a [T·B, 3H] tensor costs
//   O(T·B·H) and a loop of them O(T²); the per-step inputs are read back once and uploaded step
//   by step instead, and per-step outputs are joined with one concat;
// - packed sequences (rows sorted by length, each step only the rows still running) skip the
//   padding, whose matmul and elementwise work grows with the rows of a step;
// - the backward pass keeps each step to elementwise ops and one matmul, and computes ∂Wh for all
//   steps as one matmul with an explicit transpose (tfjs's own matMul gradient takes transposed-
//   operand paths that are ~10× slower on WASM);
// - tanh(a) is 2·sigmoid(2a) − 1 (sigmoid is vectorised on WASM, tanh is not).
// At T = 24, B = 32, H = 128 forward + backward take ~16 ms, against ~41 ms for tfjs's autodiff of
// the same per-step ops.
//
// Gates follow PyTorch's nn.GRU (the reset gate multiplies the recurrent projection and its
// bias), gate blocks in the order [r | z | n], gx = x·Wx + bx and gh = h·Wh + bh:
//   r = σ(gx_r + gh_r),   z = σ(gx_z + gh_z),   n = tanh(gx_n + r ⊙ gh_n),   h' = n + z ⊙ (h − n)
import * as tf from "@tensorflow/tfjs";
import { weightGradients } from "./_ops.ts";

type Save = (tensors: tf.Tensor[]) => void;
type CustomGradientFunc = Parameters<typeof tf.customGrad>[0];

/** Tensors each step saves for the backward pass, in this order. */
const SAVED_PER_STEP = 5; // r, z, n, gh_n, h_prev

/** tanh(a) = 2·sigmoid(2a) − 1. */
function tanh(a: tf.Tensor2D): tf.Tensor2D {
  return tf.sub(tf.mul(tf.sigmoid(tf.mul(a, 2)), 2), 1);
}

/** Where each step's rows start in a packed [N, ·] tensor: offsets[t] = Σ_{s<t} batchSizes[s]. */
function offsetsOf(batchSizes: readonly number[]): number[] {
  const offsets: number[] = [];
  let sum = 0;
  for (const k of batchSizes) {
    offsets.push(sum);
    sum += k;
  }
  return offsets;
}

/**
 * Splits the packed input projections [N, 3H] into per-step [k_t, 2H] (r, z) and [k_t, H] (n)
 * tensors, from one read-back.
 */
function splitSteps(gx: tf.Tensor2D, batchSizes: readonly number[]): [tf.Tensor2D, tf.Tensor2D][] {
  const h3 = gx.shape[1], h = h3 / 3;
  if (batchSizes.length === 1) {
    const k = batchSizes[0]!;
    return [[tf.slice(gx, [0, 0], [k, 2 * h]), tf.slice(gx, [0, 2 * h], [k, h])]];
  }
  const data = gx.dataSync() as Float32Array, offsets = offsetsOf(batchSizes);
  return batchSizes.map((k, t) => {
    const rz = new Float32Array(k * 2 * h), n = new Float32Array(k * h);
    for (let b = 0; b < k; b++) {
      const row = (offsets[t]! + b) * h3;
      rz.set(data.subarray(row, row + 2 * h), b * 2 * h);
      n.set(data.subarray(row + 2 * h, row + h3), b * h);
    }
    return [tf.tensor2d(rz, [k, 2 * h]), tf.tensor2d(n, [k, h])];
  });
}

/** Splits a packed [N, H] tensor into its steps' [k_t, H] tensors. */
function splitRows(x: tf.Tensor2D, batchSizes: readonly number[]): tf.Tensor2D[] {
  if (batchSizes.length === 1) return [x];
  const h = x.shape[1], data = x.dataSync() as Float32Array, offsets = offsetsOf(batchSizes);
  return batchSizes.map((k, t) =>
    tf.tensor2d(data.subarray(offsets[t]! * h, (offsets[t]! + k) * h), [k, h])
  );
}

/** The first `rows` rows of `x` [R, H] (x itself when rows = R). */
function firstRows(x: tf.Tensor2D, rows: number): tf.Tensor2D {
  return rows === x.shape[0] ? x : tf.slice(x, [0, 0], [rows, x.shape[1]]);
}

/** `x` [r, H] with zero rows appended up to `rows` rows. */
function padRows(x: tf.Tensor2D, rows: number): tf.Tensor2D {
  const r = x.shape[0];
  return r === rows ? x : tf.concat([x, tf.zeros([rows - r, x.shape[1]])], 0);
}

/**
 * Runs a GRU layer over a time-major sequence, padded or packed.
 *
 * Packed (PyTorch's `PackedSequence`): rows sorted by length, longest first, and step t holds
 * only the `batchSizes[t]` rows still running (a non-increasing count); a row's padding costs
 * nothing. Without `batchSizes`, every step holds all B rows (B = h0's rows).
 *
 * @param gx `[N, 3H]` input projections x·Wx + bx, step by step: step t is rows
 * offset_t … offset_t + k_t − 1 (k_t = batchSizes[t] or B, offset_t = Σ_{s<t} k_s).
 * @param h0 `[B, H]` initial hidden state (B ≥ batchSizes[0]; rows past it are not read).
 * @param wh `[H, 3H]` recurrent weights, gate blocks [r | z | n].
 * @param bh `[3H]` recurrent bias.
 * @param batchSizes Rows running at each step; default B at every step.
 * @returns `[N, H]` the hidden state after each step, laid out as `gx`.
 */
export function gruSequence(
  gx: tf.Tensor2D,
  h0: tf.Tensor2D,
  wh: tf.Tensor2D,
  bh: tf.Tensor1D,
  batchSizes?: readonly number[],
): tf.Tensor2D {
  const sizes = batchSizes ?? new Array<number>(gx.shape[0] / h0.shape[0]).fill(h0.shape[0]);
  return packedGru(sizes)(gx, h0, wh, bh);
}

/** The GRU as a tf.customGrad for one layout of steps. */
function packedGru(
  batchSizes: readonly number[],
): (gx: tf.Tensor2D, h0: tf.Tensor2D, wh: tf.Tensor2D, bh: tf.Tensor1D) => tf.Tensor2D {
  const steps = batchSizes.length;
  return tf.customGrad(
    ((gx: tf.Tensor2D, h0: tf.Tensor2D, wh: tf.Tensor2D, bh: tf.Tensor1D, save: Save) => {
      const [rows, hidden] = h0.shape;
      const inputs = splitSteps(gx, batchSizes);
      const saved: tf.Tensor[] = [wh];
      const outputs: tf.Tensor2D[] = [];
      let h = h0;
      inputs.forEach(([gxRz, gxN], t) => {
        const k = batchSizes[t]!;
        h = firstRows(h, k);
        // One fused matmul for the three gates. (Three per-gate matmuls, which need no slices of
        // its output, measured no faster.)
        const gh = tf.fused.matMul({ a: h, b: wh, bias: bh });
        const ghN = tf.slice(gh, [0, 2 * hidden], [k, hidden]);
        const rz = tf.sigmoid(tf.add(gxRz, tf.slice(gh, [0, 0], [k, 2 * hidden])));
        const r = tf.slice(rz, [0, 0], [k, hidden]);
        const z = tf.slice(rz, [0, hidden], [k, hidden]);
        const n = tanh(tf.add(gxN, tf.mul(r, ghN)));
        const next: tf.Tensor2D = tf.add(n, tf.mul(z, tf.sub(h, n)));
        saved.push(r, z, n, ghN, h);
        outputs.push(next);
        h = next;
      });
      save(saved);
      return {
        value: steps === 1 ? outputs[0]! : tf.concat(outputs, 0),
        gradFunc: (dy: tf.Tensor2D, savedTensors: tf.Tensor[]) => {
          const whT = tf.transpose(savedTensors[0]!);
          const dys = splitRows(dy, batchSizes);
          const dGx: tf.Tensor2D[] = new Array(steps);
          const dGh: tf.Tensor2D[] = new Array(steps);
          const hPrev: tf.Tensor2D[] = new Array(steps);
          let dhNext: tf.Tensor2D | null = null;
          for (let t = steps - 1; t >= 0; t--) {
            const base = 1 + t * SAVED_PER_STEP, k = batchSizes[t]!;
            const [r, z, n, ghN, hp] = savedTensors.slice(
              base,
              base + SAVED_PER_STEP,
            ) as tf.Tensor2D[];
            hPrev[t] = hp!;
            // Rows that stopped after this step get no gradient from later steps.
            const dh: tf.Tensor2D = dhNext ? tf.add(dys[t]!, padRows(dhNext, k)) : dys[t]!;
            const oneMinusZ = tf.sub(1, z!);
            // ∂ of the n, z and r pre-activations; tanh' = 1 − n², σ' = σ(1 − σ).
            const dnPre = tf.mul(tf.mul(dh, oneMinusZ), tf.sub(1, tf.square(n!)));
            const dzPre = tf.mul(tf.mul(dh, tf.sub(hp!, n!)), tf.mul(z!, oneMinusZ));
            const drPre = tf.mul(tf.mul(dnPre, ghN!), tf.mul(r!, tf.sub(1, r!)));
            dGx[t] = tf.concat([drPre, dzPre, dnPre], 1) as tf.Tensor2D;
            dGh[t] = tf.concat([drPre, dzPre, tf.mul(dnPre, r!)], 1) as tf.Tensor2D;
            dhNext = tf.add(tf.mul(dh, z!), tf.matMul(dGh[t]!, whT));
          }
          const dGhAll = steps === 1 ? dGh[0]! : tf.concat(dGh, 0);
          const hPrevAll = steps === 1 ? hPrev[0]! : tf.concat(hPrev, 0);
          return [
            steps === 1 ? dGx[0]! : tf.concat(dGx, 0),
            padRows(dhNext!, rows),
            ...weightGradients(hPrevAll, dGhAll),
          ];
        },
      };
    }) as unknown as CustomGradientFunc,
  ) as unknown as (
    gx: tf.Tensor2D,
    h0: tf.Tensor2D,
    wh: tf.Tensor2D,
    bh: tf.Tensor1D,
  ) => tf.Tensor2D;
}
