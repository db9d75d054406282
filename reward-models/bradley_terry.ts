/**
 * A reward model trained on preference pairs with the Bradley–Terry model (Bradley & Terry, 1952),
 * as InstructGPT (Ouyang et al., 2022) and TRL's `RewardTrainer` train theirs: read it top to
 * bottom — the hyperparameters, the math (the pairwise loss), then the model and its training loop.
 *
 * The Bradley–Terry model says a judge prefers completion y_c to y_r of prompt x with probability
 * P(y_c ≻ y_r | x) = σ(r(x, y_c) − r(x, y_r)), for some scalar reward r. Fitting r by maximum
 * likelihood on pairs labelled by the judge gives the loss −log σ(r_c − r_r), averaged over a
 * batch. Only reward differences are identified: adding a constant to r changes nothing.
 *
 * Here r(x, y) is the value head of a {@linkcode GruLanguageModel} read at the last token of
 * `<bos> x y <eos>`, where the prompt and the completion are encoded separately and their ids
 * joined (so a completion with or without its leading space scores the same). The model is built
 * from scratch, or taken over from an existing one — TRL starts its reward model from the SFT
 * model, and so can you, with a clone. Its language-model head (the output projection) gets no
 * gradient from this loss and is not trained; it is saved with the rest, so a checkpoint always
 * holds a whole language model.
 *
 * Implementation notes: −log σ(h) is computed as softplus(−h), finite for any h (not
 * `tf.logSigmoid`, whose gradient reads an input the tape has already disposed when it is computed
 * inside the differentiated function). Each training step reads a batch's chosen and rejected
 * sequences in one forward pass of 2 × batch rows. Scoring and evaluation sort the sequences by
 * length before batching them, so short sequences are not padded to long ones, and read back once
 * per batch.
 */
import * as tf from "@tensorflow/tfjs";
import {
  Adam,
  type Checkpoint,
  loadVariables,
  type PreferencePair,
  type RewardSource,
  Rng,
  type RngState,
  saveVariables,
  type Scalar,
  type ScoreRequest,
  type Tensor1D,
} from "@proximal/core";
import {
  assertSameVocabulary,
  BOS_ID,
  EOS_ID,
  GruLanguageModel,
  PAD_ID,
  WordTokenizer,
} from "@proximal/models";

// ──────────────────────────────── Hyperparameters ────────────────────────────────

/** The reward model's hyperparameters. Every field can become a CLI flag. */
export type BradleyTerryOptions = {
  /** Adam's step size; default 1e-3 (a small model trained from scratch; TRL's 1e-5 is for LLMs). */
  learningRate: number;
  /** Preference pairs per gradient step (each step reads 2 × batchSize sequences); default 32. */
  batchSize: number;
  /** Passes over the training pairs made by {@linkcode BradleyTerryRewardModel.train}; default 3. */
  epochs: number;
  /** Global gradient-norm clipping threshold, 0 for none; default 1 (TRL's `max_grad_norm`). */
  maxGradNorm: number;
  /** Adam's ε; default 1e-8 (PyTorch's, as TRL uses). */
  adamEpsilon: number;
  /** Seed of the weight initialisation and of the order of the pairs in each epoch; default 0. */
  seed: number;
  /**
   * The most tokens of prompt + completion read (`<bos>` and `<eos>` not counted); a longer pair is
   * cut to its first maxLength tokens and still ends with `<eos>`, where the reward is read;
   * default 64 (99 % of the sentiment corpus's sentences have at most 42 tokens).
   */
  maxLength: number;
  /** Sequences per forward pass when scoring and evaluating (memory and speed only); default 256. */
  evalBatchSize: number;
  /** Width of the token embedding of a new model; default 64. Taken from a given model. */
  embeddingSize: number;
  /** Width of the GRU's hidden state of a new model; default 128. Taken from a given model. */
  hiddenSize: number;
  /** Number of GRU layers of a new model; default 1. Taken from a given model. */
  layers: number;
  /**
   * Early stopping in {@linkcode BradleyTerryRewardModel.train}: the share of its pairs held back
   * (a fixed draw from `seed`) and scored after each epoch, not trained on. Training stops once
   * `patience` epochs pass without a lower validation loss, and the epoch with the lowest loss is
   * restored at the end: the noisy labels make a small model overfit within a few epochs. Default
   * 0: off, every pair is trained on and the last epoch's weights are kept.
   */
  validationFraction: number;
  /** Epochs without a lower validation loss before training stops (with early stopping); default 2. */
  patience: number;
};

/** The defaults of {@linkcode BradleyTerryOptions}. */
export const bradleyTerryDefaults: BradleyTerryOptions = {
  learningRate: 1e-3,
  batchSize: 32,
  epochs: 3,
  maxGradNorm: 1,
  adamEpsilon: 1e-8,
  seed: 0,
  maxLength: 64,
  evalBatchSize: 256,
  embeddingSize: 64,
  hiddenSize: 128,
  layers: 1,
  validationFraction: 0,
  patience: 2,
};

// ──────────────────────────────── The math ────────────────────────────────

/** What {@linkcode bradleyTerryLoss} returns, as scalars. */
export interface BradleyTerryLossTerms {
  /** mean −log σ(r_c − r_r), computed as mean softplus(−(r_c − r_r)). */
  loss: Scalar;
  /** The fraction of pairs with r_c > r_r (a tie counts as wrong). */
  accuracy: Scalar;
  /** mean r_c − r_r. */
  margin: Scalar;
}

/**
 * The Bradley–Terry loss of a batch of pairs: the mean negative log-likelihood of the judge's
 * labels, −log σ(r_c − r_r) = softplus(−(r_c − r_r)), whose gradient with respect to r_c is
 * −σ(r_r − r_c) / n (and the opposite for r_r): every pair pushes its margin up, the pairs the
 * model gets wrong the hardest.
 *
 * @param chosenRewards `[n]` rewards of the preferred completions.
 * @param rejectedRewards `[n]` rewards of the other completions.
 * @returns The loss, the accuracy and the mean margin.
 * @throws If the two tensors are not both of shape `[n]` with n ≥ 1.
 * @example Equal rewards give log 2
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { setupBackend } from "@proximal/core";
 * import { bradleyTerryLoss } from "@proximal/reward-models";
 * await setupBackend("wasm");
 * const { loss, accuracy } = bradleyTerryLoss(tf.tensor1d([0.5, 2]), tf.tensor1d([0.5, 2]));
 * assert.ok(Math.abs(loss.dataSync()[0]! - Math.LN2) < 1e-6);
 * assert.equal(accuracy.dataSync()[0], 0);
 * ```
 */
export function bradleyTerryLoss(
  chosenRewards: Tensor1D,
  rejectedRewards: Tensor1D,
): BradleyTerryLossTerms {
  if (
    chosenRewards.rank !== 1 || chosenRewards.size === 0 ||
    chosenRewards.shape.join() !== rejectedRewards.shape.join()
  ) {
    throw new RangeError(
      `bradleyTerryLoss needs chosen and rejected rewards of the same shape [n], got [${
        chosenRewards.shape.join(", ")
      }] and [${rejectedRewards.shape.join(", ")}]`,
    );
  }
  const margins = tf.sub(chosenRewards, rejectedRewards);
  return {
    loss: tf.mean(tf.softplus(tf.neg(margins))) as Scalar,
    accuracy: tf.mean(tf.cast(tf.greater(margins, 0), "float32")) as Scalar,
    margin: tf.mean(margins) as Scalar,
  };
}

// ──────────────────────────────── The reward model ────────────────────────────────

/** What {@linkcode BradleyTerryRewardModel} needs besides its hyperparameters. */
export interface BradleyTerryContext {
  /** The tokenizer of the texts; a given model must have its vocabulary size. */
  tokenizer: WordTokenizer;
  /**
   * A language model with a value head to train as the reward model, e.g. `sft.clone()` (TRL
   * initialises its reward model from the SFT model). The reward model owns it from then on and
   * frees it in {@linkcode BradleyTerryRewardModel.dispose}. Default: a new model of the
   * options' shape, initialised from `seed`.
   */
  model?: GruLanguageModel;
}

/** Options of {@linkcode BradleyTerryRewardModel.trainEpoch}. */
export interface BradleyTerryEpochOptions {
  /** Pairs to report `eval/loss`, `eval/accuracy` and `eval/margin` on after the epoch. */
  holdout?: readonly PreferencePair[];
}

/** Options of {@linkcode BradleyTerryRewardModel.train}. */
export interface BradleyTerryTrainOptions extends BradleyTerryEpochOptions {
  /** Called after each epoch with its report, e.g. to log or save a checkpoint. */
  onEpoch?: (report: BradleyTerryEpochReport) => void | Promise<void>;
}

/** What one epoch of training reports. */
export interface BradleyTerryEpochReport {
  /** Epochs completed so far, this one included. */
  epoch: number;
  /** Gradient steps taken so far. */
  step: number;
  /** The metrics, under {@linkcode BRADLEY_TERRY_METRIC_NAMES}. */
  metrics: Record<string, number>;
}

/** Loss, accuracy and mean margin of a set of pairs. */
export interface BradleyTerryEvaluation {
  /** mean −log σ(r_c − r_r). */
  loss: number;
  /** The fraction of pairs with r_c > r_r. */
  accuracy: number;
  /** mean r_c − r_r. */
  margin: number;
}

/** Options of {@linkcode BradleyTerryRewardModel.restore} and `fromCheckpoint`. */
export interface BradleyTerryRestoreOptions {
  /** Where the checkpoint came from (a path), named in error messages; default none. */
  source?: string;
}

/**
 * The metrics an epoch reports: `train/*` are measured during the epoch, on each batch before its
 * step (as TRL logs them), and averaged over the pairs; `eval/*` after the epoch, on the holdout.
 * With early stopping on, {@linkcode BradleyTerryRewardModel.train}'s reports also have
 * `val/loss` and `val/accuracy`, on the pairs it held back (see the instance's `metricNames`).
 */
export const BRADLEY_TERRY_METRIC_NAMES: readonly string[] = [
  "train/loss",
  "train/accuracy",
  "train/margin",
  "train/grad_norm",
  "eval/loss",
  "eval/accuracy",
  "eval/margin",
  "perf/epoch_seconds",
];

const VALIDATION_METRIC_NAMES = ["val/loss", "val/accuracy"];
const KIND = "bradley-terry-reward-model";
const SHAPE_OPTIONS = ["embeddingSize", "hiddenSize", "layers"] as const;

/**
 * A reward model r(prompt, completion) trained on preference pairs with the Bradley–Terry loss, and
 * a {@linkcode RewardSource} for PPO. Train it with {@linkcode BradleyTerryRewardModel.train} (or
 * one epoch at a time with {@linkcode BradleyTerryRewardModel.trainEpoch}), check it with
 * {@linkcode BradleyTerryRewardModel.accuracy} on held-out pairs, and save it with
 * {@linkcode BradleyTerryRewardModel.save}.
 *
 * @example Learn that "good" beats "bad"
 * ```ts
 * import assert from "node:assert/strict";
 * import { setupBackend } from "@proximal/core";
 * import { WordTokenizer } from "@proximal/models";
 * import { BradleyTerryRewardModel } from "@proximal/reward-models";
 * await setupBackend("wasm");
 * const pairs = ["the soup", "the film", "my phone", "our room"].map((prompt) => ({
 *   prompt,
 *   chosen: " was good",
 *   rejected: " was bad",
 * }));
 * const tokenizer = WordTokenizer.fromTexts(["the soup film my phone our room was good bad"], {
 *   minCount: 1,
 * });
 * const model = new BradleyTerryRewardModel(
 *   { tokenizer },
 *   { embeddingSize: 8, hiddenSize: 16, learningRate: 1e-2, epochs: 20, seed: 1 },
 * );
 * await model.train(pairs);
 * assert.equal(model.accuracy(pairs), 1);
 * const [good, bad] = await model.score([
 *   { prompt: "the cat", completion: " was good" },
 *   { prompt: "the cat", completion: " was bad" },
 * ]);
 * assert.ok(good! > bad!);
 * model.dispose();
 * ```
 */
export class BradleyTerryRewardModel implements RewardSource {
  /** The name in logs and errors. */
  readonly name = "bradley-terry";
  /** The metric names an epoch reports, in a stable order (`val/*` only with early stopping). */
  readonly metricNames: readonly string[];
  /** The hyperparameters in force (the shape fields are the model's). */
  readonly options: Readonly<BradleyTerryOptions>;
  /** The tokenizer of prompts and completions. */
  readonly tokenizer: WordTokenizer;
  /** The language model whose value head is the reward. */
  readonly model: GruLanguageModel;
  readonly #adam: Adam;
  readonly #rng: Rng;
  #epoch = 0;
  #step = 0;
  // Early stopping: the lowest validation loss so far, its epoch and a copy of its weights.
  #bestLoss = Infinity;
  #bestEpoch = 0;
  #bestWeights: tf.Tensor[] | null = null;
  #stopped = false;

  /**
   * Builds the model (or takes over the given one) and the optimizer.
   *
   * @param context The tokenizer, and optionally the model to train.
   * @param options Hyperparameters; missing ones take {@linkcode bradleyTerryDefaults}. With a
   * given model, leave the shape options out (they are read from the model).
   * @throws If an option is out of range, or the given model has no value head, another vocabulary
   * size, or a shape other than the one asked for.
   */
  constructor(context: BradleyTerryContext, options: Partial<BradleyTerryOptions> = {}) {
    const where = "Cannot build a Bradley–Terry reward model";
    const { tokenizer, model } = context;
    let o = { ...bradleyTerryDefaults, ...options };
    if (model) {
      if (!model.hasValueHead) {
        throw new Error(`${where}: the language model has no value head (build it with valueHead)`);
      }
      if (model.vocabSize !== tokenizer.vocabSize) {
        throw new Error(
          `${where}: the language model has ${model.vocabSize} tokens, the tokenizer ${tokenizer.vocabSize}`,
        );
      }
      for (const key of SHAPE_OPTIONS) {
        if (options[key] !== undefined && options[key] !== model[key]) {
          throw new Error(
            `${where}: ${key} ${options[key]} was asked for, but the given model's is ${
              model[key]
            } (leave the shape options out when passing a model)`,
          );
        }
      }
      o = {
        ...o,
        embeddingSize: model.embeddingSize,
        hiddenSize: model.hiddenSize,
        layers: model.layers,
      };
    }
    checkOptions(o, where);
    this.options = o;
    this.metricNames = o.validationFraction > 0
      ? [
        ...BRADLEY_TERRY_METRIC_NAMES.slice(0, -1),
        ...VALIDATION_METRIC_NAMES,
        "perf/epoch_seconds",
      ]
      : BRADLEY_TERRY_METRIC_NAMES;
    this.tokenizer = tokenizer;
    this.model = model ?? new GruLanguageModel(tokenizer.vocabSize, {
      embeddingSize: o.embeddingSize,
      hiddenSize: o.hiddenSize,
      layers: o.layers,
      valueHead: true,
      seed: o.seed,
    });
    this.#adam = new Adam(trainableVariables(this.model), {
      learningRate: o.learningRate,
      epsilon: o.adamEpsilon,
      maxGradNorm: o.maxGradNorm,
    });
    this.#rng = new Rng(o.seed);
  }

  /** Epochs trained so far. */
  get epoch(): number {
    return this.#epoch;
  }

  /** Gradient steps taken so far. */
  get step(): number {
    return this.#step;
  }

  /** True once `options.epochs` epochs have been trained, or early stopping has stopped training. */
  get done(): boolean {
    return this.#epoch >= this.options.epochs || this.#stopped;
  }

  /**
   * With early stopping, the epoch of the lowest validation loss so far, whose weights
   * {@linkcode BradleyTerryRewardModel.train} restores when it ends; 0 before the first epoch, or
   * without early stopping.
   */
  get bestEpoch(): number {
    return this.#bestEpoch;
  }

  /**
   * Trains until `options.epochs` epochs are done (none if they already are, e.g. after restoring a
   * finished run), evaluating on `holdout` after each.
   *
   * With early stopping (`validationFraction` > 0) it holds that share of `pairs` back — the same
   * pairs on every call, so a resumed run holds back the same ones — scores them after each epoch
   * (`val/loss`, `val/accuracy`), stops once `patience` epochs pass without a lower validation
   * loss, and ends with the weights of the epoch that had the lowest
   * ({@linkcode BradleyTerryRewardModel.bestEpoch}).
   *
   * @param pairs The training pairs.
   * @param options The `holdout` pairs and an `onEpoch` callback.
   * @returns The report of each epoch trained.
   * @throws If early stopping would leave no pair to train on or none to validate on.
   * @example Early stopping on a tenth of the pairs
   * ```ts
   * import assert from "node:assert/strict";
   * import { setupBackend } from "@proximal/core";
   * import { WordTokenizer } from "@proximal/models";
   * import { BradleyTerryRewardModel } from "@proximal/reward-models";
   * await setupBackend("wasm");
   * const pairs = Array.from({ length: 20 }, (_, i) => ({
   *   prompt: i % 2 ? "the soup" : "the film",
   *   chosen: " was good",
   *   rejected: " was bad",
   * }));
   * const tokenizer = WordTokenizer.fromTexts(["the soup film was good bad"], { minCount: 1 });
   * const model = new BradleyTerryRewardModel(
   *   { tokenizer },
   *   { embeddingSize: 8, hiddenSize: 16, epochs: 5, validationFraction: 0.1, seed: 1 },
   * );
   * const reports = await model.train(pairs);
   * const losses = reports.map((r) => r.metrics["val/loss"]!);
   * assert.equal(losses[model.bestEpoch - 1], Math.min(...losses));
   * model.dispose();
   * ```
   */
  async train(
    pairs: readonly PreferencePair[],
    options: BradleyTerryTrainOptions = {},
  ): Promise<BradleyTerryEpochReport[]> {
    const reports: BradleyTerryEpochReport[] = [];
    while (!this.done) {
      const report = await this.trainEpoch(pairs, options);
      reports.push(report);
      await options.onEpoch?.(report);
    }
    return reports;
  }

  /** The pairs `train` fits and the ones it validates on: a fixed draw of validationFraction. */
  #validationSplit(
    pairs: readonly PreferencePair[],
  ): { fit: readonly PreferencePair[]; validation?: readonly PreferencePair[] } {
    const fraction = this.options.validationFraction;
    if (fraction === 0 || !Array.isArray(pairs)) return { fit: pairs };
    const n = pairs.length, held = Math.round(n * fraction);
    if (held < 1 || held >= n) {
      throw new RangeError(
        `Cannot train the reward model: validationFraction ${fraction} of ${n} pairs leaves ${held} to validate on and ${
          n - held
        } to train on (each needs at least one)`,
      );
    }
    // Its own generator, so the draw neither depends on nor moves the epochs' shuffles.
    const order = new Rng(this.options.seed).shuffle(Int32Array.from({ length: n }, (_, i) => i));
    const isHeld = new Uint8Array(n);
    for (const i of order.subarray(0, held)) isHeld[i] = 1;
    return {
      fit: pairs.filter((_, i) => !isHeld[i]),
      validation: pairs.filter((_, i) => isHeld[i]),
    };
  }

  /** Scores the validation pairs into the report and keeps the best epoch's weights. */
  #earlyStopping(report: BradleyTerryEpochReport, validation: readonly PreferencePair[]): void {
    const { loss, accuracy } = this.evaluate(validation);
    const { "perf/epoch_seconds": seconds, ...rest } = report.metrics;
    report.metrics = { ...rest, "val/loss": loss, "val/accuracy": accuracy };
    report.metrics["perf/epoch_seconds"] = seconds!;
    if (loss < this.#bestLoss) {
      this.#bestLoss = loss;
      this.#bestEpoch = report.epoch;
      tf.dispose(this.#bestWeights ?? []);
      this.#bestWeights = this.model.variables.map((v) => tf.clone(v));
    } else if (report.epoch - this.#bestEpoch >= this.options.patience) {
      this.#stopped = true;
    }
  }

  /**
   * One pass over the pairs in a fresh random order, one Adam step per batch of `batchSize` pairs
   * (the last batch may be smaller), then the evaluation on `holdout`. With early stopping
   * (`validationFraction` > 0) it fits all but the validation share of `pairs` (the same draw
   * every epoch), scores the rest into `val/loss` and `val/accuracy`, and once training is done
   * leaves the best epoch's weights in place, as {@linkcode BradleyTerryRewardModel.train} does.
   *
   * @param pairs The training pairs.
   * @param options The `holdout` pairs.
   * @returns The epoch's report.
   * @throws If a pair is malformed, or training diverges.
   * @example One epoch at a time, with a checkpoint after each
   * ```ts ignore
   * while (!model.done) {
   *   const { metrics } = await model.trainEpoch(train, { holdout });
   *   await writeCheckpoint("runs/rm/latest.ckpt", await model.save());
   * }
   * ```
   */
  trainEpoch(
    pairs: readonly PreferencePair[],
    options: BradleyTerryEpochOptions = {},
  ): Promise<BradleyTerryEpochReport> {
    // A promise that rejects (rather than a synchronous throw) on bad pairs.
    return new Promise((resolve) => {
      const { fit, validation } = this.#validationSplit(pairs);
      const report = this.#trainEpoch(fit, options);
      if (validation) {
        this.#earlyStopping(report, validation);
        // The last epoch, by budget or by patience: leave the best epoch's weights in place.
        if (this.done && this.#bestWeights && this.#bestEpoch !== this.#epoch) {
          this.model.variables.forEach((v, i) => v.assign(this.#bestWeights![i]!));
        }
      }
      resolve(report);
    });
  }

  #trainEpoch(
    pairs: readonly PreferencePair[],
    options: BradleyTerryEpochOptions,
  ): BradleyTerryEpochReport {
    const start = performance.now();
    const { chosen, rejected } = this.#encodePairs(pairs, "Cannot train the reward model");
    const holdout = options.holdout === undefined
      ? undefined
      : this.#encodePairs(options.holdout, "Cannot evaluate the reward model on the holdout");
    const n = pairs.length, batchSize = this.options.batchSize;
    const order = this.#rng.shuffle(Int32Array.from({ length: n }, (_, i) => i));

    // ── The epoch: one step per batch; row j of a batch is pair j's chosen sequence, row m + j
    // its rejected one, all read in one forward pass.
    let loss = 0, accuracy = 0, margin = 0, gradNorm = 0, steps = 0;
    for (let first = 0; first < n; first += batchSize) {
      const batch = order.subarray(first, Math.min(n, first + batchSize));
      const m = batch.length;
      const rows = [
        ...Array.from(batch, (i) => chosen[i]!),
        ...Array.from(batch, (i) => rejected[i]!),
      ];
      const result = this.#adam.step(() => {
        const rewards = this.#rewardTensor(rows);
        const terms = bradleyTerryLoss(
          tf.slice(rewards, [0], [m]),
          tf.slice(rewards, [m], [m]),
        );
        return { loss: terms.loss, metrics: [terms.accuracy, terms.margin] };
      });
      const [batchAccuracy, batchMargin] = result.metrics as [number, number];
      loss += result.loss * m;
      accuracy += batchAccuracy * m;
      margin += batchMargin * m;
      gradNorm += result.gradNorm;
      steps++;
    }
    this.#epoch++;
    this.#step += steps;

    const metrics: Record<string, number> = {
      "train/loss": loss / n,
      "train/accuracy": accuracy / n,
      "train/margin": margin / n,
      "train/grad_norm": gradNorm / steps,
    };
    if (holdout) {
      const evaluation = this.#evaluate(holdout.chosen, holdout.rejected);
      metrics["eval/loss"] = evaluation.loss;
      metrics["eval/accuracy"] = evaluation.accuracy;
      metrics["eval/margin"] = evaluation.margin;
    }
    metrics["perf/epoch_seconds"] = (performance.now() - start) / 1000;
    return { epoch: this.#epoch, step: this.#step, metrics };
  }

  /**
   * The loss, accuracy and mean margin on pairs, without training (in float64 from the rewards).
   *
   * @param pairs The pairs, at least one.
   * @returns The evaluation.
   * @example Untrained, the loss is near log 2
   * ```ts
   * import assert from "node:assert/strict";
   * import { setupBackend } from "@proximal/core";
   * import { WordTokenizer } from "@proximal/models";
   * import { BradleyTerryRewardModel } from "@proximal/reward-models";
   * await setupBackend("wasm");
   * const tokenizer = WordTokenizer.fromTexts(["it was good bad"], { minCount: 1 });
   * const model = new BradleyTerryRewardModel({ tokenizer }, { embeddingSize: 4, hiddenSize: 8 });
   * const { loss } = model.evaluate([{ prompt: "it was", chosen: " good", rejected: " bad" }]);
   * assert.ok(Math.abs(loss - Math.LN2) < 0.5);
   * model.dispose();
   * ```
   */
  evaluate(pairs: readonly PreferencePair[]): BradleyTerryEvaluation {
    const { chosen, rejected } = this.#encodePairs(pairs, "Cannot evaluate the reward model");
    return this.#evaluate(chosen, rejected);
  }

  /**
   * The fraction of pairs the model ranks as the judge did: r_c > r_r.
   *
   * @param pairs The pairs, at least one.
   * @returns A number in [0, 1].
   * @example A model that has learned nothing is right about half the time
   * ```ts
   * import assert from "node:assert/strict";
   * import { setupBackend } from "@proximal/core";
   * import { WordTokenizer } from "@proximal/models";
   * import { BradleyTerryRewardModel } from "@proximal/reward-models";
   * await setupBackend("wasm");
   * const tokenizer = WordTokenizer.fromTexts(["it was good bad"], { minCount: 1 });
   * const model = new BradleyTerryRewardModel({ tokenizer }, { embeddingSize: 4, hiddenSize: 8 });
   * const pair = { prompt: "it was", chosen: " good", rejected: " bad" };
   * const swapped = { prompt: "it was", chosen: " bad", rejected: " good" };
   * assert.equal(model.accuracy([pair, swapped]), 0.5);
   * model.dispose();
   * ```
   */
  accuracy(pairs: readonly PreferencePair[]): number {
    return this.evaluate(pairs).accuracy;
  }

  /**
   * The reward of each (prompt, completion): the value head at the `<eos>` of
   * `<bos> prompt completion <eos>`. Runs in batches of `evalBatchSize` sequences of similar
   * length, one forward pass each, without a gradient.
   *
   * @param batch The requests.
   * @returns One finite reward per request, in order.
   * @throws If a request's prompt or completion is not a string, or a reward is not finite.
   * @example Score two completions
   * ```ts
   * import assert from "node:assert/strict";
   * import { setupBackend } from "@proximal/core";
   * import { WordTokenizer } from "@proximal/models";
   * import { BradleyTerryRewardModel } from "@proximal/reward-models";
   * await setupBackend("wasm");
   * const tokenizer = WordTokenizer.fromTexts(["it was good bad"], { minCount: 1 });
   * const model = new BradleyTerryRewardModel({ tokenizer }, { embeddingSize: 4, hiddenSize: 8 });
   * const rewards = await model.score([
   *   { prompt: "it was", completion: " good" },
   *   { prompt: "it was", completion: " bad" },
   * ]);
   * assert.equal(rewards.length, 2);
   * assert.ok(rewards.every(Number.isFinite));
   * model.dispose();
   * ```
   */
  score(batch: readonly ScoreRequest[]): Promise<Float32Array> {
    return new Promise((resolve) => resolve(this.#score(batch)));
  }

  #score(batch: readonly ScoreRequest[]): Float32Array {
    if (!Array.isArray(batch)) {
      throw new TypeError(`Reward source "${this.name}" needs an array of requests`);
    }
    const sequences = batch.map((request, i) => {
      const { prompt, completion } = request ?? {};
      if (typeof prompt !== "string" || typeof completion !== "string") {
        throw new TypeError(
          `Reward source "${this.name}" cannot score request ${i}: it needs "prompt" and "completion" strings`,
        );
      }
      return this.#encode(prompt, completion);
    });
    const rewards = this.#rewards(sequences);
    const bad = rewards.findIndex((r) => !Number.isFinite(r));
    if (bad >= 0) {
      throw new Error(
        `Reward source "${this.name}" computed ${rewards[bad]} for completion ${
          JSON.stringify(batch[bad]!.completion.slice(0, 60))
        }: the model's weights are not finite`,
      );
    }
    return rewards;
  }

  /**
   * Captures the weights, the tokenizer (its JSON and fingerprint), the options, the optimizer's
   * moments, the RNG, the epoch count and the early-stopping state (the best epoch's weights
   * included): enough to score, or to resume training exactly.
   *
   * @returns The checkpoint (write it with `writeCheckpoint`).
   * @example Save, then load elsewhere
   * ```ts
   * import assert from "node:assert/strict";
   * import { setupBackend } from "@proximal/core";
   * import { WordTokenizer } from "@proximal/models";
   * import { BradleyTerryRewardModel } from "@proximal/reward-models";
   * await setupBackend("wasm");
   * const tokenizer = WordTokenizer.fromTexts(["it was good bad"], { minCount: 1 });
   * const model = new BradleyTerryRewardModel({ tokenizer }, { embeddingSize: 4, hiddenSize: 8 });
   * const copy = BradleyTerryRewardModel.fromCheckpoint(await model.save());
   * const request = [{ prompt: "it was", completion: " good" }];
   * assert.deepEqual(await copy.score(request), await model.score(request));
   * model.dispose();
   * copy.dispose();
   * ```
   */
  save(): Promise<Checkpoint> {
    const tensors = saveVariables(this.model.variables, "model");
    const adam = this.#adam.getState();
    tensors["adam/m"] = adam.m;
    tensors["adam/v"] = adam.v;
    this.#bestWeights?.forEach((t, i) => {
      tensors[`best/${i}`] = { shape: [...t.shape], data: t.dataSync() as Float32Array };
    });
    return Promise.resolve({
      meta: {
        kind: KIND,
        options: { ...this.options },
        model: {
          vocabSize: this.model.vocabSize,
          embeddingSize: this.model.embeddingSize,
          hiddenSize: this.model.hiddenSize,
          layers: this.model.layers,
          maskedTokens: [...this.model.maskedTokens],
        },
        fingerprint: this.tokenizer.fingerprint,
        tokenizer: this.tokenizer.toJSON(),
        epoch: this.#epoch,
        step: this.#step,
        adamT: adam.t,
        rng: this.#rng.getState(),
        earlyStopping: {
          // JSON has no Infinity: null until a first validation loss.
          bestLoss: Number.isFinite(this.#bestLoss) ? this.#bestLoss : null,
          bestEpoch: this.#bestEpoch,
          stopped: this.#stopped,
        },
      },
      tensors,
    });
  }

  /**
   * Restores a checkpoint from {@linkcode BradleyTerryRewardModel.save} into this model, which
   * must have the checkpoint's vocabulary and shape.
   *
   * @param checkpoint The checkpoint.
   * @param options `source`: the checkpoint's path, named in errors.
   * @returns A promise that resolves once restored.
   * @throws `Vocabulary mismatch: checkpoint <source> was trained with vocabulary …` if this
   * model's tokenizer differs, or `Cannot restore the reward model from checkpoint <source>: …`.
   * @example Refuse another vocabulary
   * ```ts
   * import assert from "node:assert/strict";
   * import { setupBackend } from "@proximal/core";
   * import { WordTokenizer } from "@proximal/models";
   * import { BradleyTerryRewardModel } from "@proximal/reward-models";
   * await setupBackend("wasm");
   * const shape = { embeddingSize: 4, hiddenSize: 8 };
   * const a = new BradleyTerryRewardModel(
   *   { tokenizer: WordTokenizer.fromTexts(["good bad"], { minCount: 1 }) },
   *   shape,
   * );
   * const b = new BradleyTerryRewardModel(
   *   { tokenizer: WordTokenizer.fromTexts(["fine poor"], { minCount: 1 }) },
   *   shape,
   * );
   * await assert.rejects(b.restore(await a.save(), { source: "rm.ckpt" }), /^Error: Vocabulary mismatch: checkpoint rm\.ckpt/);
   * a.dispose();
   * b.dispose();
   * ```
   */
  restore(checkpoint: Checkpoint, options: BradleyTerryRestoreOptions = {}): Promise<void> {
    return new Promise((resolve) => resolve(this.#restore(checkpoint, options)));
  }

  #restore(checkpoint: Checkpoint, options: BradleyTerryRestoreOptions): void {
    const where = checkpointName(options);
    const fail = (detail: string): never => {
      throw new Error(`Cannot restore the reward model from ${where}: ${detail}`);
    };
    const { meta, tensors } = checkpoint;
    if (meta.kind !== KIND) {
      fail(`it holds ${typeof meta.kind === "string" ? `a "${meta.kind}"` : "something else"}`);
    }
    if (typeof meta.fingerprint !== "string") fail(`it has no vocabulary fingerprint`);
    assertSameVocabulary(meta.fingerprint as string, this.tokenizer, { where });
    const vars = this.model.variables;
    vars.forEach((v, i) => {
      const saved = tensors[`model/${i}`];
      if (!saved || saved.shape.join("x") !== v.shape.join("x")) {
        fail(
          `model tensor ${i} has shape [${
            saved?.shape ?? "missing"
          }], the model needs [${v.shape}] (were embeddingSize, hiddenSize or layers changed?)`,
        );
      }
    });
    if (tensors[`model/${vars.length}`]) fail("it has more model tensors than the model");
    const m = tensors["adam/m"], v = tensors["adam/v"];
    if (!m || !v) fail("it has no optimizer state");
    const { epoch, step, adamT } = meta;
    if (!isCount(epoch) || !isCount(step) || !isCount(adamT)) {
      fail("its epoch, step or adamT is not a count");
    }
    // Absent from checkpoints written before early stopping existed: nothing to restore then.
    const early = meta.earlyStopping as
      | { bestLoss: number | null; bestEpoch: number; stopped: boolean }
      | undefined;
    if (early !== undefined && (!isCount(early?.bestEpoch) || typeof early.stopped !== "boolean")) {
      fail("its early-stopping state is damaged");
    }
    const best = early && early.bestEpoch > 0
      ? vars.map((v, i) => {
        const saved = tensors[`best/${i}`];
        if (!saved || saved.shape.join("x") !== v.shape.join("x")) {
          return fail(`the best epoch's tensor ${i} is missing or misshapen`);
        }
        return saved;
      })
      : null;
    this.#adam.setState({ t: adamT as number, m: m!, v: v! });
    loadVariables(vars, tensors, "model");
    tf.dispose(this.#bestWeights ?? []);
    this.#bestWeights = best && best.map((saved) => tf.tensor(saved.data, saved.shape, "float32"));
    this.#bestLoss = early?.bestLoss ?? Infinity;
    this.#bestEpoch = early?.bestEpoch ?? 0;
    this.#stopped = early?.stopped ?? false;
    this.#rng.setState(meta.rng as { words: RngState; spareNormal: number | null });
    this.#epoch = epoch as number;
    this.#step = step as number;
  }

  /**
   * Builds a reward model from a checkpoint of {@linkcode BradleyTerryRewardModel.save} alone: the
   * tokenizer from its JSON, the model from its shape, the options, weights and training state.
   *
   * @param checkpoint The checkpoint (e.g. from `readCheckpoint`).
   * @param options `source`: the checkpoint's path, named in errors.
   * @returns The reward model.
   * @throws `Cannot load a reward model from checkpoint <source>: …` if the checkpoint is not a
   * reward model's, `Invalid tokenizer in checkpoint <source>: …` if its tokenizer is damaged.
   * @example See {@linkcode BradleyTerryRewardModel.save}
   * ```ts ignore
   * const model = BradleyTerryRewardModel.fromCheckpoint(await readCheckpoint(path), { source: path });
   * ```
   */
  static fromCheckpoint(
    checkpoint: Checkpoint,
    options: BradleyTerryRestoreOptions = {},
  ): BradleyTerryRewardModel {
    const where = checkpointName(options);
    const fail = (detail: string): never => {
      throw new Error(`Cannot load a reward model from ${where}: ${detail}`);
    };
    const meta = checkpoint.meta;
    if (meta.kind !== KIND) {
      fail(`it holds ${typeof meta.kind === "string" ? `a "${meta.kind}"` : "something else"}`);
    }
    const tokenizer = WordTokenizer.fromJSON(meta.tokenizer, { source: `in ${where}` });
    const shape = meta.model as Record<string, unknown> | undefined;
    const saved = meta.options as Partial<BradleyTerryOptions> | undefined;
    if (typeof shape !== "object" || shape === null || typeof saved !== "object" || !saved) {
      fail(`it has no model shape or options`);
    }
    const model = new GruLanguageModel(tokenizer.vocabSize, {
      embeddingSize: shape!.embeddingSize as number,
      hiddenSize: shape!.hiddenSize as number,
      layers: shape!.layers as number,
      maskedTokens: shape!.maskedTokens as number[],
      valueHead: true,
    });
    try {
      // The saved options, known keys only; their shape fields are the model's.
      const known = Object.keys(bradleyTerryDefaults).filter((key) => key in saved!);
      const rewardModel = new BradleyTerryRewardModel(
        { tokenizer, model },
        Object.fromEntries(known.map((key) => [key, saved![key as keyof BradleyTerryOptions]])),
      );
      rewardModel.#restore(checkpoint, options);
      return rewardModel;
    } catch (error) {
      model.dispose();
      throw error;
    }
  }

  /** Frees the model's variables (a model passed in the context included). */
  dispose(): void {
    this.model.dispose();
    tf.dispose(this.#bestWeights ?? []);
    this.#bestWeights = null;
  }

  // ── Internals.

  /** `<bos> prompt completion <eos>`, prompt + completion cut to maxLength tokens. */
  #encode(prompt: string, completion: string): Int32Array {
    const body = [...this.tokenizer.encode(prompt), ...this.tokenizer.encode(completion)];
    const kept = body.slice(0, this.options.maxLength);
    return Int32Array.from([BOS_ID, ...kept, EOS_ID]);
  }

  #encodePairs(
    pairs: readonly PreferencePair[],
    where: string,
  ): { chosen: Int32Array[]; rejected: Int32Array[] } {
    if (!Array.isArray(pairs) || pairs.length === 0) {
      throw new TypeError(`${where}: expected a non-empty array of preference pairs`);
    }
    const chosen: Int32Array[] = [], rejected: Int32Array[] = [];
    pairs.forEach((pair, i) => {
      const { prompt, chosen: c, rejected: r } = pair ?? {};
      if (typeof prompt !== "string" || typeof c !== "string" || typeof r !== "string") {
        throw new TypeError(
          `${where}: pair ${i} needs "prompt", "chosen" and "rejected" strings`,
        );
      }
      chosen.push(this.#encode(prompt, c));
      rejected.push(this.#encode(prompt, r));
    });
    return { chosen, rejected };
  }

  /** The `[rows]` rewards of sequences, padded into one batch: differentiable. */
  #rewardTensor(sequences: readonly Int32Array[]): Tensor1D {
    const T = Math.max(...sequences.map((s) => s.length));
    const tokens = new Int32Array(sequences.length * T).fill(PAD_ID);
    sequences.forEach((s, b) => tokens.set(s, b * T));
    const lengths = Int32Array.from(sequences, (s) => s.length);
    const { value } = this.model.nextTokenLogits(
      tf.tensor2d(tokens, [sequences.length, T], "int32"),
      { lengths },
    );
    return value!;
  }

  /** Rewards of sequences in input order, computed in length-sorted batches without a gradient. */
  #rewards(sequences: readonly Int32Array[]): Float32Array {
    const out = new Float32Array(sequences.length);
    const order = Array.from(sequences, (_, i) => i)
      .sort((a, b) => sequences[a]!.length - sequences[b]!.length || a - b);
    const rows = this.options.evalBatchSize;
    for (let first = 0; first < order.length; first += rows) {
      const batch = order.slice(first, first + rows);
      const rewards = tf.tidy(() => this.#rewardTensor(batch.map((i) => sequences[i]!)));
      const data = rewards.dataSync();
      rewards.dispose();
      batch.forEach((i, j) => out[i] = data[j]!);
    }
    return out;
  }

  #evaluate(chosen: Int32Array[], rejected: Int32Array[]): BradleyTerryEvaluation {
    const rewards = this.#rewards([...chosen, ...rejected]);
    const n = chosen.length;
    let loss = 0, correct = 0, margin = 0;
    for (let i = 0; i < n; i++) {
      const h = rewards[i]! - rewards[n + i]!;
      loss += softplus(-h);
      if (h > 0) correct++;
      margin += h;
    }
    return { loss: loss / n, accuracy: correct / n, margin: margin / n };
  }
}

// ──────────────────────────────── Helpers ────────────────────────────────

/**
 * Every variable but the language-model head (the output projection `w`, `b`, which the reward
 * does not read): in {@linkcode GruLanguageModel}'s documented order they are at 1 + 4·layers and
 * 2 + 4·layers.
 */
function trainableVariables(model: GruLanguageModel): tf.Variable[] {
  const head = 1 + 4 * model.layers;
  return model.variables.filter((_, i) => i !== head && i !== head + 1) as tf.Variable[];
}

/** log(1 + eˣ) without overflow. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

function checkpointName(options: BradleyTerryRestoreOptions): string {
  return options.source === undefined ? "the checkpoint" : `checkpoint ${options.source}`;
}

function checkOptions(o: BradleyTerryOptions, where: string): void {
  const whole = (key: keyof BradleyTerryOptions, min: number) => {
    if (!Number.isInteger(o[key]) || o[key] < min) {
      throw new RangeError(`${where}: ${key} must be a whole number >= ${min}, got ${o[key]}`);
    }
  };
  whole("batchSize", 1);
  whole("epochs", 0);
  whole("maxLength", 1);
  whole("evalBatchSize", 1);
  whole("embeddingSize", 1);
  whole("hiddenSize", 1);
  whole("layers", 1);
  whole("patience", 1);
  if (!(o.validationFraction >= 0 && o.validationFraction < 1)) {
    throw new RangeError(
      `${where}: validationFraction must be a number in [0, 1), got ${o.validationFraction}`,
    );
  }
  if (!(o.learningRate > 0) || !Number.isFinite(o.learningRate)) {
    throw new RangeError(
      `${where}: learningRate must be a finite number > 0, got ${o.learningRate}`,
    );
  }
  if (!(o.maxGradNorm >= 0) || !Number.isFinite(o.maxGradNorm)) {
    throw new RangeError(
      `${where}: maxGradNorm must be a finite number >= 0, got ${o.maxGradNorm}`,
    );
  }
  if (!(o.adamEpsilon > 0)) {
    throw new RangeError(`${where}: adamEpsilon must be a number > 0, got ${o.adamEpsilon}`);
  }
  if (!Number.isFinite(o.seed)) {
    throw new RangeError(`${where}: seed must be a finite number, got ${o.seed}`);
  }
}

function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}
