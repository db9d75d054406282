/**
 * The public options, defaults and result types of {@linkcode GruLanguageModel}: its shape
 * ({@linkcode GruLanguageModelOptions}), its recurrent state ({@linkcode GruState}), what a read of
 * the next token returns ({@linkcode NextToken}, {@linkcode LmStep}) and generation's options and
 * result ({@linkcode GenerateOptions}, {@linkcode Generation}).
 *
 * @module
 */
import type { Rng, Tensor1D, Tensor2D } from "@proximal/core";

/** Options of {@linkcode GruLanguageModel}; defaults in {@linkcode gruLanguageModelDefaults}. */
export interface GruLanguageModelOptions {
  /** Width of the token embedding; default 64. */
  embeddingSize?: number;
  /** Width of each GRU layer's hidden state; default 128. */
  hiddenSize?: number;
  /** Number of stacked GRU layers; default 1. */
  layers?: number;
  /** Add a scalar value head on the last layer's hidden state (PPO's critic); default true. */
  valueHead?: boolean;
  /**
   * Token ids the model never predicts: their logits are pinned to −1e9 (probability 0). Default
   * `[0]`, the `<pad>` id, so generated text never contains padding and a padded context's length
   * is the position of its first `<pad>`.
   */
  maskedTokens?: readonly number[];
  /** Seed of the weight initialisation; default 0. */
  seed?: number;
}

/**
 * The defaults of {@linkcode GruLanguageModelOptions}.
 *
 * @example Read a default
 * ```ts
 * import assert from "node:assert/strict";
 * import { gruLanguageModelDefaults } from "@proximal/models";
 * assert.equal(gruLanguageModelDefaults.hiddenSize, 128);
 * ```
 */
export const gruLanguageModelDefaults: Readonly<Required<GruLanguageModelOptions>> = {
  embeddingSize: 64,
  hiddenSize: 128,
  layers: 1,
  valueHead: true,
  maskedTokens: [0],
  seed: 0,
};

/**
 * The recurrent state of a batch: one `[B, hiddenSize]` tensor per GRU layer. The caller owns it:
 * free it with `tf.dispose(state.hidden)`.
 */
export interface GruState {
  /** Hidden states, first layer first. */
  readonly hidden: Tensor2D[];
}

/** The model's output for the next token of each row of a batch. */
export interface NextToken {
  /** `[B, vocabSize]` logits of the next token. */
  logits: Tensor2D;
  /** `[B]` value estimates (present when the model has a value head). */
  value?: Tensor1D;
}

/** {@linkcode NextToken} plus the recurrent state after the last token read. */
export interface LmStep extends NextToken {
  /** The state after each row's last real token, for {@linkcode GruLanguageModel.stepLogits}. */
  state: GruState;
}

/** Options of {@linkcode GruLanguageModel.nextTokenLogits}. */
export interface NextTokenOptions {
  /**
   * The number of real tokens in each row (1 … T); the rest is padding, which is read but
   * ignored. Default: every row is T tokens long.
   */
  lengths?: Int32Array;
  /**
   * Read several positions per row: output `j` is row `rows[j]` after `lengths[j]` tokens (so
   * `lengths` has one entry per output, not per row). Contexts that are prefixes of one another
   * then share one pass of the GRU. Needs `lengths`. Default: one output per row.
   */
  rows?: Int32Array;
  /** The state to start from; default zeros ({@linkcode GruLanguageModel.initState}). */
  state?: GruState;
}

/** Options of {@linkcode GruLanguageModel.generate}. */
export interface GenerateOptions {
  /** The most tokens to add to each prompt (a completion stops earlier at `<eos>`). */
  maxNewTokens: number;
  /** Divides the logits before sampling; 0 decodes greedily (the most likely token); default 1. */
  temperature?: number;
  /** Sample only among the k most likely tokens (ties included); 0 turns it off; default 0. */
  topK?: number;
  /** Draws the tokens; required unless `temperature` is 0. */
  rng?: Rng;
  /** The end-of-sequence id: a row stops after producing it; default 2 (`<eos>`). */
  eosId?: number;
  /**
   * Keep the recurrent state between tokens (one GRU step per token); false recomputes the whole
   * prefix for every token, which gives the same tokens slower; default true.
   */
  useCache?: boolean;
}

/** What {@linkcode GruLanguageModel.generate} returns, one entry per prompt. */
export interface Generation {
  /** The new tokens of each row, ending with `eosId` unless the row hit `maxNewTokens`. */
  completions: Int32Array[];
  /**
   * The log-probability of each new token under the distribution it was drawn from:
   * softmax(logits / temperature) over the top-k (with temperature 1 when decoding greedily).
   */
  logProbs: Float32Array[];
}
