/**
 * {@linkcode completionLogProbs}: the log-probabilities a language model gives chosen tokens of a
 * batch of sequences — a GRPO/RLOO batch's completion tokens — with the output layer run only at
 * those positions.
 */
import * as tf from "@tensorflow/tfjs";
import type { Tensor1D, Tensor2D } from "@proximal/core";
import type { GruLanguageModel } from "./language_model.ts";
import { fusedLogProb } from "./_policy_head.ts";

/** The positions {@linkcode completionLogProbs} scores, one entry per scored token. */
export interface TokenPositions {
  /** The sequence (row of `tokens`) of each scored token. */
  rows: Int32Array;
  /** How many of that row's tokens precede it (its context's length, 1 … T). */
  lengths: Int32Array;
  /** The token scored: the id that follows that context. */
  targets: Int32Array;
}

/**
 * log p(target | the row's first `length` tokens) for each position, on the gradient tape: the
 * GRU reads each row once and the output layer (and its softmax) runs only at the given
 * positions, where {@linkcode GruLanguageModel.tokenLogProbs} runs it at every position of the
 * padded batch. The numbers are `tokenLogProbs`' at those positions up to float rounding; the
 * gradient is oneHot(target) − softmax (hand-derived: `tf.gather` has no gradient on tfjs-wasm).
 *
 * @param model The language model.
 * @param tokens `[B, T]` token ids, rows left-aligned (padding after a row's end is never read).
 * @param positions Which token of which row to score; see {@linkcode TokenPositions}.
 * @returns `[positions]` log-probabilities.
 * @example Score the second and third tokens of a sequence
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { setupBackend } from "@proximal/core";
 * import { completionLogProbs, GruLanguageModel } from "@proximal/models";
 * await setupBackend("wasm");
 * const model = new GruLanguageModel(10, { embeddingSize: 4, hiddenSize: 8 });
 * const tokens = tf.tensor2d([[1, 4, 5]], [1, 3], "int32");
 * const picked = completionLogProbs(model, tokens, {
 *   rows: Int32Array.from([0, 0]),
 *   lengths: Int32Array.from([1, 2]),
 *   targets: Int32Array.from([4, 5]),
 * });
 * const all = model.tokenLogProbs(tokens, tf.tensor2d([[4, 5, 2]], [1, 3], "int32"));
 * const [a, b] = picked.dataSync(), [x, y] = all.dataSync();
 * assert.ok(Math.abs(a! - x!) < 1e-5 && Math.abs(b! - y!) < 1e-5);
 * tf.dispose([tokens, picked, all]);
 * model.dispose();
 * ```
 */
export function completionLogProbs(
  model: GruLanguageModel,
  tokens: Tensor2D,
  positions: TokenPositions,
): Tensor1D {
  const { rows, lengths, targets } = positions;
  if (rows.length !== lengths.length || targets.length !== lengths.length) {
    throw new RangeError(
      `completionLogProbs needs rows, lengths and targets of one length: got ${rows.length}, ${lengths.length} and ${targets.length}`,
    );
  }
  const bad = targets.findIndex((t) => !(t >= 0 && t < model.vocabSize));
  if (bad >= 0) {
    throw new RangeError(
      `completionLogProbs's target ${bad} is ${
        targets[bad]
      }, not a token id in [0, ${model.vocabSize})`,
    );
  }
  return tf.tidy(() => {
    // nextTokenLogits checks the rows and lengths against the batch.
    const { logits } = model.nextTokenLogits(tokens, { lengths, rows });
    return fusedLogProb(logits, tf.tensor1d(targets, "int32"));
  });
}
