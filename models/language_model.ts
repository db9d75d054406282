/**
 * A small causal language model for RLHF on short texts, built to train fast on TensorFlow.js's
 * WASM backend: token embedding → GRU layer(s) → logits over the vocabulary, with an optional
 * scalar value head on the hidden state for PPO. It is trained from scratch by supervised
 * fine-tuning, then fine-tuned with PPO (through {@linkcode LmPolicy}) or DPO.
 *
 * How it is made fast on WASM:
 * - the GRU runs a whole sequence as one op with a hand-written backward pass (`_gru.ts`): one
 *   matmul for the input projections of every step, then one fused matmul per step for the three
 *   recurrent gates; dense layers use the explicit-transpose gradients of `_ops.ts`;
 * - layouts are time-major inside, so no op slices a large tensor (a WASM `slice` copies its whole
 *   input) and the output projection and log-softmax run once over all positions; rows of
 *   different lengths are packed (`_packing.ts`, longest first, each GRU step only the rows still
 *   running) and only the positions a loss weighs reach the output layer, so padding costs nothing;
 * - the embedding lookup and its gradient run in JavaScript (`_embedding.ts`): `tf.gather`'s
 *   gradient has no WASM kernel in tfjs 4.22, and a one-hot product costs ~50× more;
 * - the output projection is fused with the log-softmax of the targets (`_lm_ops.ts`), on the
 *   backend's vectorised softmax kernel;
 * - generation keeps the recurrent state, so each new token costs one step, and reads back only
 *   the next-token probabilities of the newest position.
 */
import * as tf from "@tensorflow/tfjs";
import { embed } from "./_embedding.ts";
import { gruSequence } from "./_gru.ts";
import { maskedTargetSums, pickRows, targetLogProbs } from "./_lm_ops.ts";
import { denseWide } from "./_ops.ts";
import { type GruLayer, initialWeights } from "./_lm_init.ts";
import { MASKED_LOGIT, sampleToken } from "./_sampling.ts";
import {
  checkGenerateOptions,
  checkIds,
  checkLengths,
  checkModelOptions,
  checkSameShape,
  checkState,
  checkTokens,
} from "./_lm_checks.ts";
import { disposeStep, readProbs, tidy, timeMajorIds } from "./_lm_tensors.ts";
import { isTimeMajor, maskLengths, packedRow, packIds, packing } from "./_packing.ts";
import { type Packing, runLengths } from "./_packing.ts";
import {
  type GenerateOptions,
  type Generation,
  gruLanguageModelDefaults,
  type GruLanguageModelOptions,
  type GruState,
  type LmStep,
  type NextToken,
  type NextTokenOptions,
} from "./language_model_types.ts";
import type { Tensor, Tensor1D, Tensor2D, Variable } from "@proximal/core";

let nextId = 0;

/**
 * A GRU language model: embedding → GRU layer(s) → vocabulary logits, and optionally a value head.
 *
 * Initialisation (from `seed`, with {@linkcode Rng}, independent of the backend): embedding
 * N(0, 1) as PyTorch's `nn.Embedding`; each GRU layer as Keras's GRU — Glorot-uniform input
 * weights, an orthogonal recurrent matrix per gate, zero biases; the output projection
 * Glorot-uniform with zero bias (initial logits are small, so the first loss is ≈ log V); the
 * value head orthogonal with gain 1, as CleanRL's critic output.
 *
 * `variables`, in this fixed order: the embedding `[V, E]`; per layer `wx [in, 3H]`, `wh [H, 3H]`,
 * `bx [3H]`, `bh [3H]` (gate blocks r | z | n, PyTorch's formulation); the output `w [H, V]`,
 * `b [V]`; then, with a value head, `w [H, 1]`, `b [1]`.
 *
 * @example Train one step and sample a completion
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { Adam, Rng, setupBackend } from "@proximal/core";
 * import { GruLanguageModel } from "@proximal/models";
 * await setupBackend("wasm");
 * const model = new GruLanguageModel(10, { embeddingSize: 8, hiddenSize: 16, seed: 1 });
 * const adam = new Adam(model.variables, { learningRate: 1e-2 });
 * // Learn <bos> 5 6 7 <eos>: inputs are the sequence, targets the sequence shifted by one.
 * const { loss } = adam.step(() => {
 *   const logProbs = model.sequenceLogProbs(
 *     tf.tensor2d([[1, 5, 6, 7]], [1, 4], "int32"),
 *     tf.tensor2d([[5, 6, 7, 2]], [1, 4], "int32"),
 *     tf.ones([1, 4]),
 *   );
 *   return { loss: tf.neg(tf.mean(logProbs)) };
 * });
 * assert.ok(loss > 0);
 * const { completions } = model.generate([Int32Array.from([1, 5])], {
 *   maxNewTokens: 4,
 *   rng: new Rng(0),
 * });
 * assert.ok(completions[0]!.length >= 1 && completions[0]!.length <= 4);
 * model.dispose();
 * ```
 */
export class GruLanguageModel {
  /** Vocabulary size V. */
  readonly vocabSize: number;
  /** Embedding width E. */
  readonly embeddingSize: number;
  /** Hidden width H of each GRU layer. */
  readonly hiddenSize: number;
  /** Number of GRU layers. */
  readonly layers: number;
  /** Whether the model has a value head (and so returns values). */
  readonly hasValueHead: boolean;
  /** Token ids the model never predicts. */
  readonly maskedTokens: readonly number[];
  /** The trainable variables, in the fixed order given in the class notes. */
  readonly variables: readonly Variable[];
  readonly #seed: number;
  readonly #embedding: tf.Variable<tf.Rank.R2>;
  readonly #gru: GruLayer[];
  readonly #wOut: tf.Variable<tf.Rank.R2>;
  readonly #bOut: tf.Variable<tf.Rank.R1>;
  readonly #wValue: tf.Variable<tf.Rank.R2> | null;
  readonly #bValue: tf.Variable<tf.Rank.R1> | null;
  /** −1e9 at masked ids, 0 elsewhere; null when nothing is masked. */
  readonly #logitMask: tf.Tensor1D | null;

  /**
   * Builds and initialises the model.
   *
   * @param vocabSize The vocabulary size V ≥ 2 (ids 0 … V−1).
   * @param options See {@linkcode GruLanguageModelOptions}.
   */
  constructor(vocabSize: number, options: GruLanguageModelOptions = {}) {
    const o = { ...gruLanguageModelDefaults, ...options };
    checkModelOptions(vocabSize, o);
    this.vocabSize = vocabSize;
    this.embeddingSize = o.embeddingSize;
    this.hiddenSize = o.hiddenSize;
    this.layers = o.layers;
    this.hasValueHead = o.valueHead;
    this.maskedTokens = [...o.maskedTokens];
    this.#seed = o.seed;

    const V = vocabSize;
    const weights = initialWeights(V, { ...o, prefix: `lm${nextId++}` });
    this.#embedding = weights.embedding;
    this.#gru = weights.gru;
    this.#wOut = weights.wOut;
    this.#bOut = weights.bOut;
    this.#wValue = weights.wValue;
    this.#bValue = weights.bValue;
    if (this.maskedTokens.length > 0) {
      const mask = new Float32Array(V);
      for (const id of this.maskedTokens) mask[id] = MASKED_LOGIT;
      this.#logitMask = tf.keep(tf.tensor1d(mask));
    } else {
      this.#logitMask = null;
    }
    this.variables = [
      this.#embedding,
      ...this.#gru.flatMap((l) => [l.wx, l.wh, l.bx, l.bh]),
      this.#wOut,
      this.#bOut,
      ...(this.#wValue && this.#bValue ? [this.#wValue, this.#bValue] : []),
    ];
  }

  /**
   * Next-token logits at every position (teacher forcing), e.g. for a supervised loss.
   *
   * @param tokens `[B, T]` token ids (int32).
   * @returns `[B, T, vocabSize]` logits; position t predicts token t + 1.
   * @example Logits of a batch
   * ```ts
   * import assert from "node:assert/strict";
   * import * as tf from "@tensorflow/tfjs";
   * import { setupBackend } from "@proximal/core";
   * import { GruLanguageModel } from "@proximal/models";
   * await setupBackend("wasm");
   * const model = new GruLanguageModel(10, { embeddingSize: 4, hiddenSize: 8 });
   * const logits = model.logits(tf.tensor2d([[1, 4, 5], [1, 6, 0]], [2, 3], "int32"));
   * assert.deepEqual(logits.shape, [2, 3, 10]);
   * logits.dispose();
   * model.dispose();
   * ```
   */
  logits(tokens: Tensor2D): Tensor {
    const [B, T] = checkTokens(tokens, "logits");
    return tf.tidy(() => {
      const top = this.#run(tokens).layers.at(-1)!;
      // Time-major [T·B, H] → batch-major, on the narrow hidden states rather than the logits.
      const batchMajor = tf.reshape(
        tf.transpose(tf.reshape(top, [T, B, this.hiddenSize]), [1, 0, 2]),
        [B * T, this.hiddenSize],
      ) as tf.Tensor2D;
      return tf.reshape(this.#logitsOf(batchMajor), [B, T, this.vocabSize]);
    });
  }

  /**
   * The log-probability of each target token given the tokens up to its position (teacher
   * forcing): `oneHot(target) · logSoftmax(logits)`, computed by one fused op whose gradient is
   * `oneHot(target) − softmax(logits)` (no gather on the gradient path). `<pad>` targets, which
   * the model never predicts, score about −1e9: mask them.
   *
   * @param tokens `[B, T]` input ids.
   * @param targets `[B, T]` the ids to score; usually the inputs shifted left by one.
   * @returns `[B, T]` log-probabilities.
   * @example Score the tokens of a sequence
   * ```ts
   * import assert from "node:assert/strict";
   * import * as tf from "@tensorflow/tfjs";
   * import { setupBackend } from "@proximal/core";
   * import { GruLanguageModel } from "@proximal/models";
   * await setupBackend("wasm");
   * const model = new GruLanguageModel(10, { embeddingSize: 4, hiddenSize: 8 });
   * const logProbs = model.tokenLogProbs(
   *   tf.tensor2d([[1, 4, 5]], [1, 3], "int32"),
   *   tf.tensor2d([[4, 5, 2]], [1, 3], "int32"),
   * );
   * assert.ok(Array.from(logProbs.dataSync()).every((x) => x < 0));
   * logProbs.dispose();
   * model.dispose();
   * ```
   */
  tokenLogProbs(tokens: Tensor2D, targets: Tensor2D): Tensor2D {
    const [B, T] = checkTokens(tokens, "tokenLogProbs");
    checkSameShape(targets, tokens.shape, { method: "tokenLogProbs", name: "targets" });
    return tf.tidy(() => {
      const logProbs = this.#timeMajorLogProbs(tokens, targets);
      return tf.transpose(tf.reshape(logProbs, [T, B])) as tf.Tensor2D;
    });
  }

  /**
   * Each sequence's summed log-probability of its targets over the positions where `mask` is 1:
   * the quantity SFT maximises and DPO compares. The per-token terms are those of
   * {@linkcode GruLanguageModel.tokenLogProbs}, but only positions of nonzero weight reach the
   * output layer, so padding (and unscored prompt tokens) cost it nothing.
   *
   * @param tokens `[B, T]` input ids.
   * @param targets `[B, T]` the ids to score; usually the inputs shifted left by one.
   * @param mask `[B, T]` weights, 1 for positions that count and 0 for padding (float32).
   * @returns `[B]` summed log-probabilities.
   * @example A supervised loss
   * ```ts
   * import assert from "node:assert/strict";
   * import * as tf from "@tensorflow/tfjs";
   * import { setupBackend } from "@proximal/core";
   * import { GruLanguageModel } from "@proximal/models";
   * await setupBackend("wasm");
   * const model = new GruLanguageModel(10, { embeddingSize: 4, hiddenSize: 8 });
   * const sums = model.sequenceLogProbs(
   *   tf.tensor2d([[1, 4, 5], [1, 6, 2]], [2, 3], "int32"),
   *   tf.tensor2d([[4, 5, 2], [6, 2, 0]], [2, 3], "int32"),
   *   tf.tensor2d([[1, 1, 1], [1, 1, 0]]),
   * );
   * assert.deepEqual(sums.shape, [2]);
   * sums.dispose();
   * model.dispose();
   * ```
   */
  sequenceLogProbs(tokens: Tensor2D, targets: Tensor2D, mask: Tensor2D): Tensor1D {
    const [B, T] = checkTokens(tokens, "sequenceLogProbs");
    checkSameShape(targets, tokens.shape, { method: "sequenceLogProbs", name: "targets" });
    checkSameShape(mask, tokens.shape, { method: "sequenceLogProbs", name: "mask" });
    const maskData = mask.dataSync(), lengths = maskLengths(maskData, [B, T]);
    if (lengths.every((n) => n === 0)) return tf.zeros([B]);
    return tf.tidy(() => {
      const { layers, layout } = this.#run(tokens, { lengths });
      const batch = { length: T, targets: targets.dataSync(), mask: maskData, layout };
      return maskedTargetSums(layers.at(-1)!, this.#wOut, this.#outBias(), batch);
    });
  }

  /**
   * The logits (and value) of the token after each row's last real token, and the state there:
   * a prefill for generation, and what {@linkcode LmPolicy.evaluate} trains through.
   * Differentiable.
   *
   * @param tokens `[B, T]` ids, each row left-aligned and padded after `lengths[b]` tokens.
   * @param options `lengths` (default: all T) and a starting `state` (default: zeros).
   * @returns Logits `[B, V]`, value `[B]` and the state after each row's last real token.
   * @example Logits after prompts of different lengths
   * ```ts
   * import assert from "node:assert/strict";
   * import * as tf from "@tensorflow/tfjs";
   * import { setupBackend } from "@proximal/core";
   * import { GruLanguageModel } from "@proximal/models";
   * await setupBackend("wasm");
   * const model = new GruLanguageModel(10, { embeddingSize: 4, hiddenSize: 8 });
   * const { logits, value, state } = model.nextTokenLogits(
   *   tf.tensor2d([[1, 4, 5], [1, 6, 0]], [2, 3], "int32"),
   *   { lengths: Int32Array.from([3, 2]) },
   * );
   * assert.deepEqual(logits.shape, [2, 10]);
   * assert.deepEqual(value?.shape, [2]);
   * tf.dispose([logits, value!, ...state.hidden]);
   * model.dispose();
   * ```
   */
  nextTokenLogits(tokens: Tensor2D, options: NextTokenOptions = {}): LmStep {
    const [B, T] = checkTokens(tokens, "nextTokenLogits");
    const { lengths, rows } = options;
    if (rows && !lengths) throw new RangeError("nextTokenLogits's rows need lengths: got none");
    if (lengths) checkLengths(lengths, [B, T], rows);
    if (options.state) checkState(this, options.state, { batch: B, method: "nextTokenLogits" });
    return tidy(() => {
      const runs = lengths && runLengths(B, lengths, rows);
      const { layers, layout } = this.#run(tokens, {
        initial: options.state?.hidden,
        lengths: runs,
      });
      const hidden = layers.map((hs) => this.#lastOf(hs, { T, B, lengths, rows }, layout));
      return { ...this.#readout(hidden.at(-1)!), state: { hidden } };
    });
  }

  /**
   * Reads one more token per row from a state: one GRU step. The input state is not freed.
   *
   * @param tokens `B` token ids.
   * @param state The state after the previous tokens (from {@linkcode GruLanguageModel.initState},
   * {@linkcode GruLanguageModel.nextTokenLogits} or an earlier step).
   * @returns The logits and value of the following token, and the new state.
   * @example Step from an empty state
   * ```ts
   * import assert from "node:assert/strict";
   * import * as tf from "@tensorflow/tfjs";
   * import { setupBackend } from "@proximal/core";
   * import { GruLanguageModel } from "@proximal/models";
   * await setupBackend("wasm");
   * const model = new GruLanguageModel(10, { embeddingSize: 4, hiddenSize: 8 });
   * const start = model.initState(2);
   * const step = model.stepLogits(Int32Array.from([1, 1]), start);
   * assert.deepEqual(step.logits.shape, [2, 10]);
   * tf.dispose([step.logits, step.value!, ...step.state.hidden, ...start.hidden]);
   * model.dispose();
   * ```
   */
  stepLogits(tokens: Int32Array, state: GruState): LmStep {
    checkState(this, state, { batch: tokens.length, method: "stepLogits" });
    return tidy(() =>
      this.nextTokenLogits(tf.tensor2d(tokens, [tokens.length, 1], "int32"), { state })
    );
  }

  /**
   * The logits and value of the next token at a state, without reading a token.
   *
   * @param state A state of B rows.
   * @returns Logits `[B, V]` and value `[B]`.
   * @example Next-token logits of the empty state
   * ```ts
   * import assert from "node:assert/strict";
   * import * as tf from "@tensorflow/tfjs";
   * import { setupBackend } from "@proximal/core";
   * import { GruLanguageModel } from "@proximal/models";
   * await setupBackend("wasm");
   * const model = new GruLanguageModel(10, { embeddingSize: 4, hiddenSize: 8 });
   * const state = model.initState(1);
   * const { logits, value } = model.readout(state);
   * assert.deepEqual(logits.shape, [1, 10]);
   * tf.dispose([logits, value!, ...state.hidden]);
   * model.dispose();
   * ```
   */
  readout(state: GruState): NextToken {
    const batch = state.hidden[0]?.shape[0] ?? 0;
    checkState(this, state, { batch, method: "readout" });
    return tidy(() => this.#readout(state.hidden.at(-1)!));
  }

  /**
   * The state before any token: zeros.
   *
   * @param batch The number of rows.
   * @returns A state the caller owns.
   * @example A fresh state
   * ```ts
   * import assert from "node:assert/strict";
   * import * as tf from "@tensorflow/tfjs";
   * import { setupBackend } from "@proximal/core";
   * import { GruLanguageModel } from "@proximal/models";
   * await setupBackend("wasm");
   * const model = new GruLanguageModel(10, { embeddingSize: 4, hiddenSize: 8, layers: 2 });
   * const state = model.initState(3);
   * assert.deepEqual(state.hidden.map((h) => h.shape), [[3, 8], [3, 8]]);
   * tf.dispose(state.hidden);
   * model.dispose();
   * ```
   */
  initState(batch: number): GruState {
    if (!Number.isInteger(batch) || batch < 1) {
      throw new RangeError(`initState needs a whole number of rows >= 1, got ${batch}`);
    }
    return { hidden: this.#gru.map(() => tf.zeros([batch, this.hiddenSize]) as tf.Tensor2D) };
  }

  /**
   * Continues each prompt, token by token, until it produces `eosId` or reaches `maxNewTokens`.
   * Rows that finish drop out of the batch. With the cache, the prompts are read in one batched
   * pass and each new token costs one GRU step; each step reads back only the newest logits.
   *
   * @param prompts Token ids of each prompt (≥ 1 token each, e.g. starting with `<bos>`).
   * @param options See {@linkcode GenerateOptions}.
   * @returns The completions and their tokens' log-probabilities.
   * @example Sample two completions
   * ```ts
   * import assert from "node:assert/strict";
   * import { Rng, setupBackend } from "@proximal/core";
   * import { GruLanguageModel } from "@proximal/models";
   * await setupBackend("wasm");
   * const model = new GruLanguageModel(10, { embeddingSize: 4, hiddenSize: 8 });
   * const { completions, logProbs } = model.generate(
   *   [Int32Array.from([1, 4]), Int32Array.from([1])],
   *   { maxNewTokens: 5, temperature: 0.8, topK: 3, rng: new Rng(7) },
   * );
   * assert.equal(completions.length, 2);
   * assert.equal(logProbs[0]!.length, completions[0]!.length);
   * model.dispose();
   * ```
   */
  generate(prompts: readonly Int32Array[], options: GenerateOptions): Generation {
    const { maxNewTokens, temperature, topK, eosId, useCache, rng } = checkGenerateOptions(options);
    if (prompts.length === 0) throw new RangeError("generate needs at least one prompt");
    prompts.forEach((prompt, i) =>
      checkIds(prompt, { what: `Prompt ${i}`, vocabSize: this.vocabSize })
    );
    const greedy = temperature === 0;
    const sampling = { topK, rng: greedy ? undefined : rng };

    const V = this.vocabSize;
    const completions: number[][] = prompts.map(() => []);
    const logProbs: number[][] = prompts.map(() => []);
    let active = prompts.map((_, i) => i);
    let step = this.#readPrefixes(active.map((i) => prompts[i]!));
    for (let produced = 1;; produced++) {
      // One read-back per token: the newest next-token distribution of the rows still generating.
      const data = readProbs(step.logits, greedy ? 1 : temperature);
      const continuing: number[] = [], kept: number[] = [];
      active.forEach((row, j) => {
        const { token, logProb } = sampleToken(data.subarray(j * V, (j + 1) * V), sampling);
        completions[row]!.push(token);
        logProbs[row]!.push(logProb);
        if (token !== eosId) {
          continuing.push(row);
          kept.push(j);
        }
      });
      if (continuing.length === 0 || produced >= maxNewTokens) break;
      let next: LmStep;
      if (useCache) {
        const last = Int32Array.from(continuing, (row) => completions[row]!.at(-1)!);
        next = tidy(() => {
          let state = step.state;
          if (kept.length < active.length) {
            const rows = tf.tensor1d(kept, "int32");
            state = { hidden: state.hidden.map((h) => tf.gather(h, rows) as tf.Tensor2D) };
          }
          return this.stepLogits(last, state);
        });
      } else {
        next = this.#readPrefixes(
          continuing.map((row) => Int32Array.from([...prompts[row]!, ...completions[row]!])),
        );
      }
      disposeStep(step);
      step = next;
      active = continuing;
    }
    disposeStep(step);
    return {
      completions: completions.map((c) => Int32Array.from(c)),
      logProbs: logProbs.map((l) => Float32Array.from(l)),
    };
  }

  /**
   * A new model with the same architecture and a copy of the weights, e.g. the frozen reference
   * model of RLHF.
   *
   * @returns An independent copy; dispose it separately.
   * @example Freeze a reference copy
   * ```ts
   * import assert from "node:assert/strict";
   * import { setupBackend } from "@proximal/core";
   * import { GruLanguageModel } from "@proximal/models";
   * await setupBackend("wasm");
   * const model = new GruLanguageModel(10, { embeddingSize: 4, hiddenSize: 8 });
   * const reference = model.clone();
   * assert.deepEqual(reference.variables[0]!.dataSync(), model.variables[0]!.dataSync());
   * reference.dispose();
   * model.dispose();
   * ```
   */
  clone(): GruLanguageModel {
    const copy = new GruLanguageModel(this.vocabSize, {
      embeddingSize: this.embeddingSize,
      hiddenSize: this.hiddenSize,
      layers: this.layers,
      valueHead: this.hasValueHead,
      maskedTokens: this.maskedTokens,
      seed: this.#seed,
    });
    copy.variables.forEach((v, i) => v.assign(this.variables[i]!));
    return copy;
  }

  /** Frees the variables. */
  dispose(): void {
    for (const v of this.variables) v.dispose();
    this.#logitMask?.dispose();
  }

  // ── Internals. Every tensor below is created inside the caller's tf.tidy.

  /**
   * Runs every GRU layer over `tokens` [B, T], row b for `lengths[b]` steps (default T), packed
   * (`_packing.ts`: with every row at T, the time-major layout); returns each layer's states.
   */
  #run(
    tokens: tf.Tensor2D,
    o: { initial?: readonly tf.Tensor2D[] | undefined; lengths?: Int32Array | undefined } = {},
  ): { layers: tf.Tensor2D[]; layout: Packing } {
    const [B, T] = tokens.shape;
    const layout = packing(o.lengths ?? new Int32Array(B).fill(T));
    let x = embed(this.#embedding, packIds(timeMajorIds(tokens, this.vocabSize), layout));
    const layers = this.#gru.map((layer, l) => {
      let h0 = o.initial?.[l] ?? tf.zeros([B, this.hiddenSize]) as tf.Tensor2D;
      if (o.initial && !isTimeMajor(layout)) h0 = pickRows(h0, layout.order);
      x = gruSequence(denseWide(x, layer.wx, layer.bx), h0, layer.wh, layer.bh, layout.batchSizes);
      return x;
    });
    return { layers, layout };
  }

  /** The state after each (row, length) pair, from a layer's packed states. */
  #lastOf(
    hs: tf.Tensor2D,
    o: { T: number; B: number; lengths?: Int32Array | undefined; rows?: Int32Array | undefined },
    layout: Packing,
  ): tf.Tensor2D {
    const { T, B, lengths, rows } = o;
    if (!rows && (T === 1 || !lengths || lengths.every((n) => n === T))) {
      return T === 1 ? hs : tf.slice(hs, [(T - 1) * B, 0], [B, this.hiddenSize]);
    }
    const at = (n: number, j: number) => packedRow(layout, rows ? rows[j]! : j, n - 1);
    return pickRows(hs, Int32Array.from(lengths!, at));
  }

  /** Logits of hidden states [N, H] → [N, V], masked ids pinned to −1e9. */
  #logitsOf(hidden: tf.Tensor2D): tf.Tensor2D {
    return denseWide(hidden, this.#wOut, this.#outBias());
  }

  #outBias(): tf.Tensor1D {
    return this.#logitMask ? tf.add(this.#bOut, this.#logitMask) : this.#bOut;
  }

  #readout(top: tf.Tensor2D): NextToken {
    const logits = this.#logitsOf(top);
    if (!this.#wValue || !this.#bValue) return { logits };
    const value = tf.reshape(denseWide(top, this.#wValue, this.#bValue), [-1]) as tf.Tensor1D;
    return { logits, value };
  }

  /** log p(target | prefix) for every position, [T·B] time-major. */
  #timeMajorLogProbs(tokens: tf.Tensor2D, targets: tf.Tensor2D): tf.Tensor1D {
    const [B, T] = tokens.shape;
    const ids = tf.reshape(tf.transpose(tf.cast(targets, "int32")), [T * B]) as tf.Tensor1D;
    return targetLogProbs(this.#run(tokens).layers.at(-1)!, this.#wOut, this.#outBias(), ids);
  }

  /** Reads padded prefixes from the zero state: the prefill of generation. */
  #readPrefixes(sequences: readonly Int32Array[]): LmStep {
    const T = Math.max(...sequences.map((s) => s.length));
    const padded = new Int32Array(sequences.length * T);
    sequences.forEach((s, b) => padded.set(s, b * T));
    const lengths = Int32Array.from(sequences, (s) => s.length);
    return tidy(() =>
      this.nextTokenLogits(tf.tensor2d(padded, [sequences.length, T], "int32"), { lengths })
    );
  }
}
