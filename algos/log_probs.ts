/**
 * Per-sequence log-probabilities, the quantities DPO compares: {@linkcode sequenceLogProbs} sums a
 * sequence's target-token log-probs under given logits (TRL's `logps`), and
 * {@linkcode completionLogProbs} scores each preference pair's completions under a language model,
 * after {@linkcode tokenizePairs} has turned text pairs into token ids.
 */
import * as tf from "@tensorflow/tfjs";
import type { PreferencePair, Tensor, Tensor1D, Tensor2D } from "@proximal/core";
import type { GruLanguageModel, WordTokenizer } from "@proximal/models";
import {
  type CompletionLogProbs,
  encodePairs,
  referenceSums,
  type TokenizedPair,
} from "./_pair_batches.ts";

export type { CompletionLogProbs, TokenizedPair };

/** Options of {@linkcode sequenceLogProbs}. */
export interface SequenceLogProbsOptions {
  /**
   * `[B, T]` 1 where a token counts (the completion), 0 elsewhere (prompt, padding); any numeric
   * dtype. Default: every token counts.
   */
  mask?: Tensor2D;
  /**
   * Divide each sum by the number of counted tokens (TRL feeds IPO these length-averaged
   * log-probs); default false.
   */
  average?: boolean;
}

/**
 * The summed log-probability of each sequence's target tokens under `logits`:
 * Σ_t mask[b,t] · log softmax(logits[b,t])[targets[b,t]], the `logps` DPO compares.
 *
 * `logits[b, t]` must already be the distribution over `targets[b, t]`: for a causal LM, drop the
 * last position of the logits and the first of the tokens before calling (TRL's shift). The
 * target's log-prob is picked out as oneHot · logSoftmax rather than with `gather`, whose gradient
 * (UnsortedSegmentSum) has no kernel on tfjs 4.22's WASM backend. A target id outside
 * [0, V) — TRL's label pad −100, say — picks nothing and adds 0.
 *
 * @param logits `[B, T, V]` float logits.
 * @param targets `[B, T]` int32 token ids.
 * @param options The mask and whether to average; see {@linkcode SequenceLogProbsOptions}.
 * @returns `[B]` summed (or averaged) log-probs.
 * @throws If the shapes disagree or `targets` is not int32.
 * @example A uniform model over 3 tokens gives each token −ln 3
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { sequenceLogProbs } from "@proximal/algos";
 * import { setupBackend } from "@proximal/core";
 * await setupBackend("wasm");
 * const logps = sequenceLogProbs(tf.zeros([1, 2, 3]), tf.tensor2d([[0, 2]], [1, 2], "int32"), {
 *   mask: tf.tensor2d([[1, 1]]),
 * });
 * assert.ok(Math.abs(logps.dataSync()[0]! + 2 * Math.log(3)) < 1e-5);
 * ```
 */
export function sequenceLogProbs(
  logits: Tensor,
  targets: Tensor2D,
  options: SequenceLogProbsOptions = {},
): Tensor1D {
  const { mask, average = false } = options;
  if (logits.rank !== 3) {
    throw new RangeError(
      `Cannot compute sequence log-probs: logits must be [B, T, V], got shape [${logits.shape}]`,
    );
  }
  const [b, t, v] = logits.shape as [number, number, number];
  if (targets.rank !== 2 || targets.shape[0] !== b || targets.shape[1] !== t) {
    throw new RangeError(
      `Cannot compute sequence log-probs: targets must be [${b}, ${t}] to match the logits, got shape [${targets.shape}]`,
    );
  }
  if (targets.dtype !== "int32") {
    throw new TypeError(
      `Cannot compute sequence log-probs: targets must be int32 token ids, got ${targets.dtype}`,
    );
  }
  if (mask && (mask.rank !== 2 || mask.shape[0] !== b || mask.shape[1] !== t)) {
    throw new RangeError(
      `Cannot compute sequence log-probs: the mask must be [${b}, ${t}] like the targets, got shape [${mask.shape}]`,
    );
  }
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits); // [B, T, V], max-shifted, its own stable gradient
    const picked = tf.oneHot(tf.reshape(targets, [-1]), v).reshape([b, t, v]);
    let tokenLogp: tf.Tensor2D = tf.sum(tf.mul(picked, logp), 2); // [B, T]
    if (!mask) {
      const summed = tf.sum(tokenLogp, 1) as tf.Tensor1D;
      return average ? tf.div(summed, t) as tf.Tensor1D : summed;
    }
    const m = tf.cast(mask, "float32");
    tokenLogp = tf.mul(tokenLogp, m);
    const summed = tf.sum(tokenLogp, 1) as tf.Tensor1D;
    // An all-masked row averages to 0, not NaN.
    return average ? tf.div(summed, tf.maximum(tf.sum(m, 1), 1)) as tf.Tensor1D : summed;
  });
}

/**
 * Tokenizes TRL-format pairs for `DpoTrainer`: the prompt and each completion are
 * encoded separately, as TRL does, so a word cut between prompt and completion is two tokens.
 *
 * @param pairs The pairs, e.g. from `readPreferencePairs`.
 * @param tokenizer The tokenizer the model was trained with.
 * @returns The pairs as token ids, without special tokens.
 * @example Tokenize a pair
 * ```ts
 * import assert from "node:assert/strict";
 * import { tokenizePairs } from "@proximal/algos";
 * import { WordTokenizer } from "@proximal/models";
 * const tokenizer = WordTokenizer.fromTexts(["the film was a delight a mess"], { minCount: 1 });
 * const [pair] = tokenizePairs(
 *   [{ prompt: "The film was", chosen: " a delight.", rejected: " a mess." }],
 *   tokenizer,
 * );
 * assert.equal(tokenizer.decode(pair!.chosen), "a delight <unk>");
 * ```
 */
export function tokenizePairs(
  pairs: readonly PreferencePair[],
  tokenizer: WordTokenizer,
): TokenizedPair[] {
  return pairs.map((pair) => ({
    prompt: tokenizer.encode(pair.prompt),
    chosen: tokenizer.encode(pair.chosen),
    rejected: tokenizer.encode(pair.rejected),
  }));
}

/** Options of {@linkcode completionLogProbs}. */
export interface CompletionLogProbsOptions {
  /** Divide each sum by the completion's token count, `<eos>` included (IPO's input); default false. */
  average?: boolean;
  /** Pairs per forward pass (each is two sequences); default 64. */
  batchSize?: number;
}

/**
 * Each pair's completion log-probs under a model: the sum, over the completion's tokens and the
 * `<eos>` after them, of log π(token | `<bos>`, prompt, the completion's earlier tokens). The
 * prompt's own tokens are not scored. These are the `logps` DPO compares; the trainer computes its
 * reference log-probs with this function.
 *
 * @param model The language model.
 * @param pairs The pairs, without special tokens.
 * @param options `average` and `batchSize`.
 * @returns The chosen and rejected completions' log-probs.
 * @throws If a pair holds a special token, an id outside the vocabulary, or a token the model
 * never predicts.
 * @example The log-probs of one pair
 * ```ts
 * import assert from "node:assert/strict";
 * import { completionLogProbs } from "@proximal/algos";
 * import { setupBackend } from "@proximal/core";
 * import { GruLanguageModel } from "@proximal/models";
 * await setupBackend("wasm");
 * const model = new GruLanguageModel(10, { embeddingSize: 4, hiddenSize: 8 });
 * const { chosen, rejected } = completionLogProbs(model, [
 *   { prompt: [4, 5], chosen: [6], rejected: [7, 8] },
 * ]);
 * assert.ok(chosen[0]! < 0 && rejected[0]! < 0);
 * model.dispose();
 * ```
 */
export function completionLogProbs(
  model: GruLanguageModel,
  pairs: readonly TokenizedPair[],
  options: CompletionLogProbsOptions = {},
): CompletionLogProbs {
  const batchSize = options.batchSize ?? 64;
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(
      `completionLogProbs's batchSize must be a whole number >= 1, got ${batchSize}`,
    );
  }
  const data = encodePairs(pairs, model, { maxLength: Infinity, what: "pair" });
  const sums = referenceSums(model, data, batchSize);
  if (!options.average) return sums;
  return {
    chosen: sums.chosen.map((x, i) => x / data.chosen[i]!.completionTokens),
    rejected: sums.rejected.map((x, i) => x / data.rejected[i]!.completionTokens),
  };
}
