/**
 * Supervised fine-tuning: the first stage of RLHF, which trains the GRU language model from scratch
 * on human-written sentences by next-token prediction (teacher forcing), so that PPO and DPO start
 * from a policy that writes plausible text. Read it top to bottom — the hyperparameters, the math
 * (how a batch is laid out and the loss), then the trainer's loop of shuffled minibatches and a
 * held-out evaluation per epoch.
 *
 * Each sentence `s₀ … sₙ₋₁` (token ids without `<bos>`/`<eos>`) is trained as `<bos> s₀ … sₙ₋₁
 * <eos>`: the inputs are `<bos> s₀ … sₙ₋₁`, the targets `s₀ … sₙ₋₁ <eos>`, and the loss is the mean
 * negative log-likelihood per target token, −Σ log p / Σ mask, over a right-padded batch.
 */
import * as tf from "@tensorflow/tfjs";
import {
  Adam,
  checkOptions,
  type Checkpoint,
  type IterationReport,
  readTrainerState,
  Rng,
  saveTrainerState,
  type Scalar,
  type Trainer,
  type TrainerParts,
  type TrainingOptions,
  trainingRules,
  wholeAtLeast,
} from "@proximal/core";
import { BOS_ID, EOS_ID, GruLanguageModel, LmPolicy } from "@proximal/models";
import { checkSentences, fingerprintOf } from "./_sft_data.ts";

// ──────────────────────────────── Hyperparameters ────────────────────────────────

/**
 * SFT's hyperparameters: the shared {@linkcode TrainingOptions} — defaults `learningRate` 3e-3
 * (constant over the run), `batchSize` 32 sentences (the last batch of an epoch may be smaller),
 * `epochs` 5 (each {@linkcode SftTrainer.iterate} runs one), `maxGradNorm` 1, `adamEpsilon` 1e-8
 * (PyTorch's and Hugging Face's) and `seed` 0 (the shuffles, and the model's initialisation when
 * the trainer builds it) — and SFT's own below. All are numbers, so each can become a CLI flag.
 */
export type SftOptions = TrainingOptions & {
  /**
   * The most tokens of a sentence that are trained on (without `<bos>`/`<eos>`); default 32. A
   * longer sentence is cut to its first `maxLength` tokens and gets no `<eos>` target, so the
   * model is not taught to stop where the cut fell.
   */
  maxLength: number;
  /** Width of the token embedding of the model the trainer builds; default 64. */
  embeddingSize: number;
  /** Width of the GRU's hidden state of the model the trainer builds; default 128. */
  hiddenSize: number;
  /** Number of GRU layers of the model the trainer builds; default 1. */
  layers: number;
  /** Sentences per evaluation batch (memory and speed only); default 256. */
  evalBatchSize: number;
};

/**
 * The defaults: gradient clipping at 1 and Adam's ε as in Hugging Face's `Trainer`; the learning
 * rate and epochs measured on the sentiment corpus's 2,700 training sentences; the model shape of
 * {@linkcode GruLanguageModel}'s defaults.
 *
 * @example Read a default
 * ```ts
 * import assert from "node:assert/strict";
 * import { sftDefaults } from "@proximal/algos";
 * assert.equal(sftDefaults.batchSize, 32);
 * ```
 */
export const sftDefaults: SftOptions = {
  learningRate: 3e-3,
  batchSize: 32,
  epochs: 5,
  maxLength: 32,
  maxGradNorm: 1,
  adamEpsilon: 1e-8,
  embeddingSize: 64,
  hiddenSize: 128,
  layers: 1,
  evalBatchSize: 256,
  seed: 0,
};

// ──────────────────────────────── The math ────────────────────────────────

/** A batch of sentences laid out for next-token prediction, row-major `[batch, length]`. */
export interface SftBatch {
  /** Rows. */
  batch: number;
  /** Columns: the longest row's length; shorter rows are right-padded with `<pad>` = 0. */
  length: number;
  /** `<bos> s₀ … sₙ₋₁`, then `<pad>`. */
  inputs: Int32Array;
  /** `s₀ … sₙ₋₁ <eos>` (no `<eos>` for a cut sentence), then `<pad>`. */
  targets: Int32Array;
  /** 1 at real targets, 0 at padding. */
  mask: Float32Array;
  /** The number of real targets, Σ mask. */
  tokens: number;
}

/** Options of {@linkcode sftBatch}. */
export interface SftBatchOptions {
  /** The most tokens of a sentence kept (see {@linkcode SftOptions.maxLength}); default 32. */
  maxLength?: number;
}

/**
 * Lays out sentences for teacher forcing: row b reads `<bos> s₀ … sₙ₋₁` and predicts
 * `s₀ … sₙ₋₁ <eos>`. A sentence longer than `maxLength` is cut to its first `maxLength` tokens,
 * which are all predicted, without `<eos>`: it reads `<bos> s₀ … s_{L−2}` and predicts
 * `s₀ … s_{L−1}`. Sentences are not checked here (the trainer checks them once).
 *
 * @param sentences Token ids, without `<bos>`/`<eos>`, each at least one token.
 * @param options `maxLength` (default 32).
 * @returns The padded inputs, targets and mask.
 * @example Two sentences
 * ```ts
 * import assert from "node:assert/strict";
 * import { sftBatch } from "@proximal/algos";
 * const batch = sftBatch([Int32Array.from([5, 6, 7]), Int32Array.from([8])]);
 * assert.deepEqual([...batch.inputs], [1, 5, 6, 7, 1, 8, 0, 0]);
 * assert.deepEqual([...batch.targets], [5, 6, 7, 2, 8, 2, 0, 0]);
 * assert.deepEqual([...batch.mask], [1, 1, 1, 1, 1, 1, 0, 0]);
 * assert.equal(batch.tokens, 6);
 * ```
 */
export function sftBatch(
  sentences: readonly Int32Array[],
  options: SftBatchOptions = {},
): SftBatch {
  const maxLength = options.maxLength ?? sftDefaults.maxLength;
  if (sentences.length === 0) throw new RangeError("sftBatch needs at least one sentence");
  const rowLength = (s: Int32Array) => s.length < maxLength + 1 ? s.length + 1 : maxLength;
  const batch = sentences.length;
  const length = sentences.reduce((longest, s) => Math.max(longest, rowLength(s)), 0);
  const inputs = new Int32Array(batch * length), targets = new Int32Array(batch * length);
  const mask = new Float32Array(batch * length);
  let tokens = 0;
  sentences.forEach((s, b) => {
    const n = rowLength(s), row = b * length;
    inputs[row] = BOS_ID;
    inputs.set(s.subarray(0, n - 1), row + 1);
    targets.set(s.subarray(0, n), row);
    if (s.length < n) targets[row + n - 1] = EOS_ID;
    mask.fill(1, row, row + n);
    tokens += n;
  });
  return { batch, length, inputs, targets, mask, tokens };
}

/**
 * SFT's loss on one batch: the mean negative log-likelihood per real target token,
 * −Σ_b Σ_t mask·log p(target | inputs up to t) / Σ mask (a batch-level mean, so long sentences
 * weigh in proportion to their tokens, as in Hugging Face's causal-LM loss).
 *
 * @param model The language model.
 * @param batch A batch from {@linkcode sftBatch}.
 * @returns The scalar loss, on the gradient tape when called inside one.
 * @example The loss of an untrained model is about log V
 * ```ts
 * import assert from "node:assert/strict";
 * import { sftBatch, sftLoss } from "@proximal/algos";
 * import { setupBackend } from "@proximal/core";
 * import { GruLanguageModel } from "@proximal/models";
 * await setupBackend("wasm");
 * const model = new GruLanguageModel(50, { embeddingSize: 8, hiddenSize: 16 });
 * const loss = sftLoss(model, sftBatch([Int32Array.from([5, 6, 7])]));
 * assert.ok(Math.abs(loss.dataSync()[0]! - Math.log(49)) < 0.5);
 * loss.dispose();
 * model.dispose();
 * ```
 */
export function sftLoss(model: GruLanguageModel, batch: SftBatch): Scalar {
  return tf.tidy(() => {
    const shape: [number, number] = [batch.batch, batch.length];
    const logProbs = model.sequenceLogProbs(
      tf.tensor2d(batch.inputs, shape, "int32"),
      tf.tensor2d(batch.targets, shape, "int32"),
      tf.tensor2d(batch.mask, shape),
    );
    return tf.div(tf.neg(tf.sum(logProbs)), batch.tokens) as tf.Scalar;
  });
}

// ──────────────────────────────── The trainer ────────────────────────────────

/** What {@linkcode SftTrainer} trains on, besides its hyperparameters. */
export interface SftContext {
  /** The training sentences: token ids without `<bos>`/`<eos>`, each at least one token. */
  train: readonly Int32Array[];
  /** Held-out sentences, evaluated after each epoch; may be empty (then no `eval/` metrics). */
  holdout: readonly Int32Array[];
  /** The tokenizer's vocabulary size V: ids are `0 … V − 1`. */
  vocabSize: number;
  /**
   * A model to train instead of a fresh one; its vocabulary must be `vocabSize`, and its shape
   * decides `embeddingSize`, `hiddenSize` and `layers`. The trainer takes ownership (as PPO does
   * of a given policy): {@linkcode SftTrainer.dispose} frees it, so `clone()` what must outlive
   * the trainer. Default: a new {@linkcode GruLanguageModel} with a value head (for PPO next),
   * shaped by the options and initialised from `seed`.
   */
  model?: GruLanguageModel;
}

/** What {@linkcode SftTrainer.evaluate} returns. */
export interface SftEvaluation {
  /** The mean negative log-likelihood per target token, in nats. */
  loss: number;
  /** exp(loss). */
  perplexity: number;
  /** The number of target tokens scored (`<eos>` included). */
  tokens: number;
}

/**
 * The metrics {@linkcode SftTrainer.iterate} reports, in order (see {@linkcode SftTrainer}); the
 * `eval/` ones only with held-out sentences.
 *
 * @example CSV columns
 * ```ts
 * import assert from "node:assert/strict";
 * import { SFT_METRIC_NAMES } from "@proximal/algos";
 * assert.ok(SFT_METRIC_NAMES.includes("eval/perplexity"));
 * ```
 */
export const SFT_METRIC_NAMES: readonly string[] = [
  "train/loss",
  "train/grad_norm",
  "train/tokens_per_second",
  "train/epoch",
  "eval/loss",
  "eval/perplexity",
  "perf/train_ms",
  "perf/eval_ms",
];

/**
 * The SFT trainer: each {@linkcode SftTrainer.iterate} is one epoch — the training sentences in a
 * new seeded order, one Adam step per minibatch of `batchSize` — then an evaluation on the
 * held-out sentences (no gradient).
 *
 * Metrics: `train/loss` is the epoch's token-weighted mean loss, each batch's taken before its
 * step; `train/grad_norm` the mean gradient norm before clipping; `train/tokens_per_second` the
 * target tokens per second of the epoch's training (evaluation excluded); `train/epoch` the epochs
 * done; `eval/loss` and `eval/perplexity` the held-out mean loss per token and its exponential.
 * `step` counts target tokens trained on (`<eos>` included, padding not).
 *
 * Checkpoints hold the weights (`model/<i>`), Adam's moments (`adam/m`, `adam/v`) and step count,
 * the RNG, the epoch and step counts; one is refused, with the reason and changing nothing, if it comes
 * from another algorithm, another vocabulary size, a differently shaped model, or other sentences
 * (a fingerprint of their tokens), since none of those could resume the same run.
 *
 * As a {@linkcode Trainer}: `policy` is the model as an {@linkcode LmPolicy} with contexts of
 * `maxLength + 1` tokens (it needs a model with a value head), and `episodes` is always empty.
 *
 * @example Memorise two sentences
 * ```ts
 * import assert from "node:assert/strict";
 * import { SftTrainer } from "@proximal/algos";
 * import { setupBackend } from "@proximal/core";
 * await setupBackend("wasm");
 * const sentences = [Int32Array.from([4, 5, 6]), Int32Array.from([7, 8])];
 * const sft = new SftTrainer(
 *   { train: sentences, holdout: sentences, vocabSize: 10 },
 *   { epochs: 40, embeddingSize: 8, hiddenSize: 16, learningRate: 3e-2 },
 * );
 * let loss = Infinity;
 * while (!sft.done) loss = (await sft.iterate()).metrics["eval/loss"]!;
 * assert.ok(loss < 0.5, `eval/loss ${loss}`);
 * sft.dispose();
 * ```
 */
export class SftTrainer implements Trainer {
  /** The algorithm's name. */
  readonly algo = "sft";
  /** What {@linkcode SftTrainer.step} counts: target tokens trained on. */
  readonly unit = "tokens";
  /** The metric names {@linkcode SftTrainer.iterate} reports. */
  readonly metricNames: readonly string[] = SFT_METRIC_NAMES;
  /** The hyperparameters in force (the shape options are the model's). */
  readonly options: Readonly<SftOptions>;
  /** The language model being trained. */
  readonly model: GruLanguageModel;
  readonly #train: readonly Int32Array[];
  readonly #holdout: readonly Int32Array[];
  readonly #dataFingerprint: string;
  readonly #adam: Adam;
  readonly #rng: Rng;
  #policy: LmPolicy | undefined;
  #epoch = 0;
  #step = 0;

  /**
   * Checks the sentences and options, and builds (or takes) the model and the optimizer.
   *
   * @param context The sentences, the vocabulary size and optionally a model.
   * @param options Hyperparameters; missing ones take {@linkcode sftDefaults}.
   */
  constructor(context: SftContext, options: Partial<SftOptions> = {}) {
    const o = { ...sftDefaults, ...options };
    const { vocabSize, model } = context;
    if (!Number.isInteger(vocabSize) || vocabSize < 5) {
      throw new RangeError(
        `SFT's vocabSize must be a whole number >= 5 (4 special tokens and a word), got ${vocabSize}`,
      );
    }
    if (model) {
      if (model.vocabSize !== vocabSize) {
        throw new RangeError(
          `Cannot train the given model with SFT: it has a vocabulary of ${model.vocabSize} tokens, the data ${vocabSize}`,
        );
      }
      // The model decides its shape; an explicit option that disagrees is a mistake.
      for (const key of ["embeddingSize", "hiddenSize", "layers"] as const) {
        if (options[key] !== undefined && options[key] !== model[key]) {
          throw new RangeError(
            `Cannot train the given model with SFT: option ${key} is ${
              options[key]
            }, the model's is ${model[key]} (leave the option out)`,
          );
        }
        o[key] = model[key];
      }
    }
    checkOptions("SFT", o, SFT_RULES);
    if (context.train.length === 0) {
      throw new RangeError("Cannot train SFT: there are no training sentences");
    }
    const forbidden = new Set([BOS_ID, EOS_ID, ...(model?.maskedTokens ?? [0])]);
    checkSentences(context.train, { name: "train", vocabSize, forbidden });
    checkSentences(context.holdout, { name: "holdout", vocabSize, forbidden });
    this.options = o;
    this.#train = context.train;
    this.#holdout = context.holdout;
    this.#dataFingerprint = fingerprintOf(context.train, context.holdout);
    this.#rng = new Rng(o.seed);
    this.model = model ?? new GruLanguageModel(vocabSize, {
      embeddingSize: o.embeddingSize,
      hiddenSize: o.hiddenSize,
      layers: o.layers,
      valueHead: true,
      seed: o.seed,
    });
    this.#adam = new Adam(this.model.variables, {
      learningRate: o.learningRate,
      epsilon: o.adamEpsilon,
      maxGradNorm: o.maxGradNorm,
    });
  }

  /** Target tokens trained on so far (`<eos>` included, padding not). */
  get step(): number {
    return this.#step;
  }

  /** Epochs done so far. */
  get epoch(): number {
    return this.#epoch;
  }

  /** True once `epochs` epochs are done. */
  get done(): boolean {
    return this.#epoch >= this.options.epochs;
  }

  /**
   * The model as an {@linkcode LmPolicy} (contexts of `maxLength + 1` tokens), made on first use;
   * it shares the model's variables.
   *
   * @example The policy samples from the model being trained
   * ```ts
   * import assert from "node:assert/strict";
   * import { SftTrainer } from "@proximal/algos";
   * import { setupBackend } from "@proximal/core";
   * await setupBackend("wasm");
   * const sft = new SftTrainer(
   *   { train: [Int32Array.from([4, 5])], holdout: [], vocabSize: 6 },
   *   { embeddingSize: 4, hiddenSize: 8, maxLength: 3 },
   * );
   * assert.equal(sft.policy.observationSize, 4);
   * assert.equal(sft.policy.variables, sft.model.variables);
   * sft.dispose();
   * ```
   */
  get policy(): LmPolicy {
    if (!this.#policy) {
      if (!this.model.hasValueHead) {
        throw new Error(
          "SftTrainer's policy is an LmPolicy, which needs a model with a value head: build the model with valueHead: true, or use sft.model",
        );
      }
      this.#policy = new LmPolicy(this.model, { contextLength: this.options.maxLength + 1 });
    }
    return this.#policy;
  }

  /**
   * One epoch: shuffled minibatches, one Adam step each, then the held-out evaluation.
   *
   * @returns The step count and the metrics (no episodes).
   * @example See {@linkcode SftTrainer}
   * ```ts ignore
   * const { metrics } = await sft.iterate();
   * console.log(metrics["eval/perplexity"]);
   * ```
   */
  iterate(): Promise<IterationReport> {
    const o = this.options, train = this.#train;
    if (this.done) {
      return Promise.reject(
        new Error(`Cannot run another SFT epoch: all ${o.epochs} epochs are done`),
      );
    }

    // ── Train: the sentences in a new order each epoch, drawn from the seeded generator.
    const trainStart = performance.now();
    const order = this.#rng.shuffle(Int32Array.from(train, (_, i) => i));
    let lossSum = 0, gradNormSum = 0, tokens = 0, steps = 0;
    for (let start = 0; start < order.length; start += o.batchSize) {
      const rows = Array.from(order.subarray(start, start + o.batchSize), (i) => train[i]!);
      const batch = sftBatch(rows, o);
      const { loss, gradNorm } = this.#adam.step(() => ({ loss: sftLoss(this.model, batch) }));
      lossSum += loss * batch.tokens;
      gradNormSum += gradNorm;
      tokens += batch.tokens;
      steps++;
    }
    this.#step += tokens;
    this.#epoch++;
    const trainMs = performance.now() - trainStart;

    // ── Evaluate on the held-out sentences.
    const evalStart = performance.now();
    const metrics: Record<string, number> = {
      "train/loss": lossSum / tokens,
      "train/grad_norm": gradNormSum / steps,
      "train/tokens_per_second": tokens / (trainMs / 1000),
      "train/epoch": this.#epoch,
    };
    if (this.#holdout.length > 0) {
      const { loss, perplexity } = this.evaluate(this.#holdout);
      metrics["eval/loss"] = loss;
      metrics["eval/perplexity"] = perplexity;
    }
    metrics["perf/train_ms"] = trainMs;
    metrics["perf/eval_ms"] = performance.now() - evalStart;
    return Promise.resolve({ step: this.#step, metrics, episodes: [] });
  }

  /**
   * The model's mean loss per target token on some sentences, laid out as in training (cut at
   * `maxLength`), in batches of `evalBatchSize` sorted by length, without a gradient.
   *
   * @param sentences Token ids without `<bos>`/`<eos>`; default the held-out sentences.
   * @returns The loss, its perplexity and the number of tokens scored.
   * @example The perplexity of an untrained model is about V
   * ```ts
   * import assert from "node:assert/strict";
   * import { SftTrainer } from "@proximal/algos";
   * import { setupBackend } from "@proximal/core";
   * await setupBackend("wasm");
   * const sft = new SftTrainer(
   *   { train: [Int32Array.from([4, 5])], holdout: [Int32Array.from([5, 4, 4])], vocabSize: 40 },
   *   { embeddingSize: 4, hiddenSize: 8 },
   * );
   * const { perplexity, tokens } = sft.evaluate();
   * assert.equal(tokens, 4);
   * assert.ok(perplexity > 20 && perplexity < 80);
   * sft.dispose();
   * ```
   */
  evaluate(sentences: readonly Int32Array[] = this.#holdout): SftEvaluation {
    if (sentences !== this.#holdout) {
      checkSentences(sentences, {
        name: "sentences",
        vocabSize: this.model.vocabSize,
        forbidden: new Set([BOS_ID, EOS_ID, ...this.model.maskedTokens]),
      });
    }
    if (sentences.length === 0) {
      throw new RangeError("Cannot evaluate SFT on no sentences");
    }
    // Sorted by length, each batch pads little.
    const byLength = [...sentences].sort((a, b) => a.length - b.length);
    let nll = 0, tokens = 0;
    for (let start = 0; start < byLength.length; start += this.options.evalBatchSize) {
      const batch = sftBatch(
        byLength.slice(start, start + this.options.evalBatchSize),
        this.options,
      );
      const loss = sftLoss(this.model, batch);
      nll += loss.dataSync()[0]! * batch.tokens;
      loss.dispose();
      tokens += batch.tokens;
    }
    return { loss: nll / tokens, perplexity: Math.exp(nll / tokens), tokens };
  }

  /**
   * Captures the weights, Adam's moments, the RNG, the epoch and step counts, the vocabulary
   * size and a fingerprint of the sentences (see `core`'s `saveTrainerState`).
   *
   * @returns A checkpoint that {@linkcode SftTrainer.restore} resumes from exactly.
   * @example Save
   * ```ts ignore
   * const checkpoint = await sft.save();
   * ```
   */
  save(): Promise<Checkpoint> {
    return Promise.resolve(saveTrainerState(this.algo, this.#parts(), {
      vocabSize: this.model.vocabSize,
      data: this.#dataFingerprint,
      epoch: this.#epoch,
      step: this.#step,
    }));
  }

  /**
   * Restores a checkpoint from {@linkcode SftTrainer.save} of a trainer built with the same
   * sentences and model shape; refuses any other with the reason, changing nothing.
   *
   * @param checkpoint The checkpoint.
   * @returns A promise that rejects, naming the problem, if the checkpoint does not fit.
   * @example Resume
   * ```ts ignore
   * await sft.restore(checkpoint);
   * ```
   */
  restore(checkpoint: Checkpoint): Promise<void> {
    // A promise that rejects (rather than a synchronous throw) on a bad checkpoint.
    return new Promise((resolve) => resolve(this.#restore(checkpoint)));
  }

  #restore(checkpoint: Checkpoint): void {
    const state = readTrainerState(checkpoint, this.#parts(), {
      algo: this.algo,
      owner: "SFT",
      hint: "were embeddingSize, hiddenSize, layers or the value head changed?",
      // Another vocabulary explains a misshapen embedding better than its shape does.
      check: (meta) => {
        const vocabSize = meta.count("vocabSize");
        if (vocabSize !== this.model.vocabSize) {
          meta.fail(
            `the checkpoint's model has a vocabulary of ${vocabSize} tokens, this trainer's ${this.model.vocabSize} (another tokenizer?)`,
          );
        }
      },
    });
    const { meta } = state;
    const data = meta.string("data");
    if (data !== this.#dataFingerprint) {
      meta.fail(
        `the checkpoint was trained on other sentences (data ${data}, this trainer's ${this.#dataFingerprint})`,
      );
    }
    const epoch = meta.count("epoch"), step = meta.count("step");
    state.apply();
    this.#epoch = epoch;
    this.#step = step;
  }

  /** What a checkpoint saves and restores: the model's variables, Adam and the shuffles' RNG. */
  #parts(): TrainerParts {
    return { variables: { model: this.model.variables }, adam: this.#adam, rng: this.#rng };
  }

  /** Frees the model's variables (the given model too). */
  dispose(): void {
    this.model.dispose();
  }
}

// ──────────────────────────────── Helpers ────────────────────────────────

/** SFT's option rules: the shared training ones and its own sizes. */
const SFT_RULES = {
  ...trainingRules,
  maxLength: wholeAtLeast(1),
  embeddingSize: wholeAtLeast(1),
  hiddenSize: wholeAtLeast(1),
  layers: wholeAtLeast(1),
  evalBatchSize: wholeAtLeast(1),
};
