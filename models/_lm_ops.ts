// Ops of the language model's wide layers, with hand-written gradients that stay on fast WASM
// kernels. Measured on tfjs-backend-wasm 4.22 at [768, 2000]:
// - a reduction over rows, `tf.sum(x, 0)`, transposes its input first (~7 ms); a matmul packs
//   its right operand first, so column sums go as xᵀ · ones rather than ones · x (`_ops.ts`);
// - `tf.logSoftmax` is a chain of elementwise ops (~7 ms, `exp` alone ~3.5 ms), while
//   `tf.softmax` is one vectorised kernel (~1.5 ms); the log-softmax gradient repeats the chain.
// The output projection and target log-probs of a [768, 128] batch over 2000 tokens, forward and
// backward, take ~50 ms with `targetLogProbs` against ~80 ms as `dense` + `oneHot ·
// tf.logSoftmax`; three [768 × 128 × 2000] matmuls, ~12 ms each, are the floor.
import * as tf from "@tensorflow/tfjs";
import type { Packing } from "./_packing.ts";
import { weightGradients } from "./_ops.ts";

type Save = (tensors: tf.Tensor[]) => void;
type CustomGradientFunc = Parameters<typeof tf.customGrad>[0];

/**
 * log softmax(h·W + b)[target] for each row, i.e. oneHot(target) · logSoftmax(logits): the output
 * projection fused with the log-probability of the target token.
 *
 * Forward: one fused matmul, one `softmax`, two row maxima. With x the logits and p = softmax(x),
 * log p_t = x_t − logsumexp(x) and logsumexp(x) = max(x) − log(max(p)); max(p) ≥ 1/V, so its log
 * is accurate where computing p_t and taking its log could underflow.
 * Backward: ∂/∂x = dy · (oneHot(t) − p), then the explicit-transpose matmuls of a dense layer
 * (`weightGradients` in `_ops.ts`).
 *
 * @param hidden `[N, H]`.
 * @param w `[H, V]`.
 * @param b `[V]`.
 * @param targets `[N]` int32 ids.
 * @returns `[N]` log-probabilities of the targets.
 */
export const targetLogProbs: (
  hidden: tf.Tensor2D,
  w: tf.Tensor2D,
  b: tf.Tensor1D,
  targets: tf.Tensor1D,
) => tf.Tensor1D = tf.customGrad(
  ((hidden: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, targets: tf.Tensor1D, save: Save) => {
    const n = hidden.shape[0], v = w.shape[1];
    const logits = tf.fused.matMul({ a: hidden, b: w, bias: b });
    const probs = tf.softmax(logits);
    // x_t, picked from the flattened logits: a gather of n values, forward only (the gradient
    // below uses a one-hot), ~25 µs where oneHot · logits and a row sum cost ~1.2 ms.
    const flatIds = tf.add(targets, tf.range(0, n * v, v, "int32"));
    const picked = tf.gather(tf.reshape(logits, [n * v]), flatIds);
    save([hidden, w, probs, targets]);
    return {
      value: tf.add(tf.sub(picked, tf.max(logits, 1)), tf.log(tf.max(probs, 1))),
      gradFunc: (dy: tf.Tensor1D, saved: tf.Tensor[]) => {
        const [h, ws, p, t] = saved as [tf.Tensor2D, tf.Tensor2D, tf.Tensor2D, tf.Tensor1D];
        // int32 one-hot, then cast: tfjs-backend-wasm 4.22's OneHot writes int bits into a float32
        // output (every entry reads as ~0).
        const dLogits = tf.mul(
          tf.sub(tf.cast(tf.oneHot(t, v), "float32"), p),
          tf.reshape(dy, [n, 1]),
        ) as tf.Tensor2D;
        return [
          tf.matMul(dLogits, tf.transpose(ws)),
          ...weightGradients(h, dLogits),
          tf.zerosLike(t),
        ];
      },
    };
  }) as unknown as CustomGradientFunc,
) as unknown as (
  hidden: tf.Tensor2D,
  w: tf.Tensor2D,
  b: tf.Tensor1D,
  targets: tf.Tensor1D,
) => tf.Tensor1D;

/**
 * Rows `rows` of `x` [R, C] → [rows.length, C] (a row may be picked several times). Forward:
 * `tf.gather`; backward: a JavaScript scatter-add, since `tf.gather`'s gradient has no WASM kernel.
 * Where a one-hot mask over the rows and a row sum would cost a matmul over all of `x`, this
 * costs a copy of the picked rows.
 *
 * @param x `[R, C]`.
 * @param rows Indices in [0, R) (the caller checks them).
 * @returns `[rows.length, C]`.
 */
export function pickRows(x: tf.Tensor2D, rows: Int32Array): tf.Tensor2D {
  const [R, C] = x.shape;
  const op = tf.customGrad(
    ((t: tf.Tensor2D) => ({
      value: tf.gather(t, tf.tensor1d(rows, "int32")),
      gradFunc: (dy: tf.Tensor2D) => {
        const d = dy.dataSync() as Float32Array, grad = new Float32Array(R * C);
        for (let i = 0; i < rows.length; i++) {
          const to = rows[i]! * C, from = i * C;
          for (let j = 0; j < C; j++) grad[to + j]! += d[from + j]!;
        }
        return [tf.tensor2d(grad, [R, C])];
      },
    })) as unknown as CustomGradientFunc,
  ) as unknown as (t: tf.Tensor2D) => tf.Tensor2D;
  return op(x);
}

/**
 * Σ_t mask[b, t] · log p(targets[b, t]) for each row b of a `[B, T]` batch, from the top layer's
 * packed hidden states: {@linkcode targetLogProbs} over every position, weighted by the mask and
 * summed over t, up to float rounding — but the output op, the widest of the model, runs only at
 * the positions whose weight is not 0, so padding (and e.g. DPO's prompt tokens) costs no [·, V]
 * work. Each row's terms are then summed by one small [B, M] · [M] matmul.
 *
 * @param hidden `[layout.size, H]` packed hidden states (see `_packing.ts`); every position of
 * nonzero weight must be in the layout.
 * @param w `[H, V]`.
 * @param b `[V]`.
 * @param batch Row-major `[B, T]` target ids and weights, and the layout.
 * @returns `[B]` weighted sums.
 */
export function maskedTargetSums(
  hidden: tf.Tensor2D,
  w: tf.Tensor2D,
  b: tf.Tensor1D,
  batch: { targets: ArrayLike<number>; mask: ArrayLike<number>; length: number; layout: Packing },
): tf.Tensor1D {
  const { targets, mask, length: T, layout } = batch, B = layout.order.length;
  const positions: number[] = [], ids: number[] = [], weights: number[] = [], owners: number[] = [];
  layout.batchSizes.forEach((k, t) => {
    for (let j = 0; j < k; j++) {
      const row = layout.order[j]!, weight = mask[row * T + t]!;
      if (weight === 0) continue;
      positions.push(layout.offsets[t]! + j);
      ids.push(targets[row * T + t]!);
      weights.push(weight);
      owners.push(row);
    }
  });
  const M = positions.length;
  if (M === 0) return tf.zeros([B]);
  // Every packed row scored (SFT's batches): no gather.
  const picked = M === hidden.shape[0] ? hidden : pickRows(hidden, Int32Array.from(positions));
  const logProbs = targetLogProbs(picked, w, b, tf.tensor1d(ids, "int32"));
  // sums[b] = Σ_m S[b, m] · logProbs[m], S[b, m] = the weight of position m when row b owns it.
  const S = new Float32Array(B * M);
  for (let m = 0; m < M; m++) S[owners[m]! * M + m] = weights[m]!;
  return tf.reshape(tf.matMul(tf.tensor2d(S, [B, M]), tf.reshape(logProbs, [M, 1])), [B]);
}
