/**
 * PPO's clipped surrogate, elementwise: the one definition that PPO's loss (`ppoLoss`), GRPO's and
 * RLOO's (`groupPolicyLoss`) average in their own ways.
 */
import * as tf from "@tensorflow/tfjs";
import type { Tensor } from "@proximal/core";

/**
 * −min(r·A, clip(r, 1 − ε, 1 + ε)·A) for each element, written as max(−A·r, −A·clip(r)): the
 * pessimistic of the unclipped and clipped objectives, as a loss.
 *
 * @param ratio π_new / π_old per element.
 * @param advantages The advantages, broadcastable to `ratio`'s shape.
 * @param clipCoef ε.
 * @returns The per-element loss, `ratio`'s shape.
 * @example A ratio above 1 + ε stops paying for a positive advantage
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
import type { Tensor } from "@proximal/core";
 * import { clippedSurrogate } from "@proximal/algos";
 * import { setupBackend } from "@proximal/core";
 * await setupBackend("cpu");
 * const loss = clippedSurrogate(tf.tensor1d([1.5, 0.9]), tf.tensor1d([1, 1]), 0.2);
 * assert.deepEqual(Array.from(loss.dataSync()).map((x) => Math.round(x * 100) / 100), [-1.2, -0.9]);
 * ```
 */
export function clippedSurrogate(
  ratio: Tensor,
  advantages: Tensor,
  clipCoef: number,
): Tensor {
  const pg1 = tf.mul(tf.neg(advantages), ratio);
  const pg2 = tf.mul(tf.neg(advantages), tf.clipByValue(ratio, 1 - clipCoef, 1 + clipCoef));
  return tf.maximum(pg1, pg2);
}
