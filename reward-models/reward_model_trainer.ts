/**
 * Training a reward model on preference pairs with the Bradley–Terry loss −log σ(r_c − r_r)
 * (`bradleyTerryLoss`, reward_model.ts), as InstructGPT (Ouyang et al., 2022) and TRL's
 * `RewardTrainer` train theirs: read it top to bottom — the hyperparameters, then the trainer's
 * loop with early stopping and its checkpoints. What it trains is a
 * {@linkcode BradleyTerryRewardModel}, built from scratch or taken over from an existing model —
 * TRL starts its reward model from the SFT model, and so can you, with a clone. The
 * language-model head (the output projection) gets no gradient from this loss and is not trained;
 * it is saved with the rest, so a checkpoint always holds a whole language model. Each step reads
 * a batch's chosen and rejected sequences in one forward pass of 2 × batch rows.
 */
import * as tf from "@tensorflow/tfjs";
import {
  Adam,
  between,
  checkOptions,
  type Checkpoint,
  type PreferencePair,
  readTrainerState,
  Rng,
  saveTrainerState,
  type TrainerParts,
  type TrainingOptions,
  trainingRules,
  wholeAtLeast,
} from "@proximal/core";
import { assertSameVocabulary, GruLanguageModel, type WordTokenizer } from "@proximal/models";
import {
  encodePairs,
  evaluatePairs,
  modelOfCheckpoint,
  REWARD_MODEL_ALGO,
  rewardTensor,
  trainableVariables,
} from "./_bradley_terry.ts";
import { EarlyStopping } from "./_early_stopping.ts";
import {
  type BradleyTerryEvaluation,
  bradleyTerryLoss,
  type BradleyTerryRestoreOptions,
  BradleyTerryRewardModel,
  type BradleyTerryRewardModelOptions,
} from "./reward_model.ts";

// ──────────────────────────────── Hyperparameters ────────────────────────────────

/**
 * The reward model trainer's hyperparameters: the shared {@linkcode TrainingOptions} — defaults
 * `learningRate` 1e-3 (a small model trained from scratch; TRL's 1e-5 is for LLMs), `batchSize` 32
 * pairs (each step reads 2 × batchSize sequences), `epochs` 3 (passes made by
 * {@linkcode BradleyTerryTrainer.train}; 0 is allowed), `maxGradNorm` 1 (TRL's
 * `max_grad_norm`), `adamEpsilon` 1e-8 (PyTorch's, as TRL uses) and `seed` 0 (the weight
 * initialisation and the order of the pairs in each epoch) — how the reward model reads texts
 * ({@linkcode BradleyTerryRewardModelOptions}: `maxLength` 64, `evalBatchSize` 256), and the
 * trainer's own below. Every field can become a CLI flag.
 */
export type BradleyTerryOptions =
  & TrainingOptions
  & BradleyTerryRewardModelOptions
  & {
    /** Width of the token embedding of a new model; default 64. Taken from a given model. */
    embeddingSize: number;
    /** Width of the GRU's hidden state of a new model; default 128. Taken from a given model. */
    hiddenSize: number;
    /** Number of GRU layers of a new model; default 1. Taken from a given model. */
    layers: number;
    /**
     * Early stopping in {@linkcode BradleyTerryTrainer.train}: the share of its pairs held back (a
     * fixed draw from `seed`) and scored after each epoch, not trained on. Training stops once
     * `patience` epochs pass without a lower validation loss, and the epoch with the lowest loss
     * is restored at the end: the noisy labels make a small model overfit within a few epochs.
     * Default 0: off, every pair is trained on and the last epoch's weights are kept.
     */
    validationFraction: number;
    /** Epochs without a lower validation loss before training stops (with early stopping); default 2. */
    patience: number;
  };

/**
 * The defaults of {@linkcode BradleyTerryOptions}.
 *
 * @example Read a default
 * ```ts
 * import assert from "node:assert/strict";
 * import { bradleyTerryDefaults } from "@proximal/reward-models";
 * assert.equal(bradleyTerryDefaults.batchSize, 32);
 * ```
 */
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

// ──────────────────────────────── The trainer ────────────────────────────────

/** What {@linkcode BradleyTerryTrainer} needs besides its hyperparameters. */
export interface BradleyTerryContext {
  /** The tokenizer of the texts; a given model must have its vocabulary size. */
  tokenizer: WordTokenizer;
  /**
   * A language model with a value head to train as the reward model, e.g. `sft.clone()` (TRL
   * initialises its reward model from the SFT model). The trainer owns it from then on and frees it
   * in {@linkcode BradleyTerryTrainer.dispose}. Default: a new model of the options' shape,
   * initialised from `seed`.
   */
  model?: GruLanguageModel;
}

/** Options of {@linkcode BradleyTerryTrainer.trainEpoch}. */
export interface BradleyTerryEpochOptions {
  /** Pairs to report `eval/loss`, `eval/accuracy` and `eval/margin` on after the epoch. */
  holdout?: readonly PreferencePair[];
}

/** Options of {@linkcode BradleyTerryTrainer.train}. */
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

/**
 * The metrics an epoch reports: `train/*` are measured during the epoch, on each batch before its
 * step (as TRL logs them), and averaged over the pairs; `eval/*` after the epoch, on the holdout.
 * With early stopping on, {@linkcode BradleyTerryTrainer.train}'s reports also have
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

const SHAPE_OPTIONS = ["embeddingSize", "hiddenSize", "layers"] as const;

/**
 * Trains a {@linkcode BradleyTerryRewardModel} on preference pairs with the Bradley–Terry loss:
 * {@linkcode BradleyTerryTrainer.train} runs every epoch (one at a time with
 * {@linkcode BradleyTerryTrainer.trainEpoch}), with early stopping if asked;
 * {@linkcode BradleyTerryTrainer.save} captures everything needed to resume, and
 * `rewardModel` is what it trains, a `RewardSource` for PPO. `step` counts gradient steps.
 *
 * @example Learn that "good" beats "bad"
 * ```ts
 * import assert from "node:assert/strict";
 * import { setupBackend } from "@proximal/core";
 * import { WordTokenizer } from "@proximal/models";
 * import { BradleyTerryTrainer } from "@proximal/reward-models";
 * await setupBackend("wasm");
 * const prompts = ["the soup", "the film", "my phone", "our room"];
 * const pairs = prompts.map((prompt) => ({ prompt, chosen: " was good", rejected: " was bad" }));
 * const tokenizer = WordTokenizer.fromTexts([...prompts, "was good bad"], { minCount: 1 });
 * const shape = { embeddingSize: 8, hiddenSize: 16 };
 * const options = { ...shape, learningRate: 1e-2, epochs: 20, seed: 1 };
 * const trainer = new BradleyTerryTrainer({ tokenizer }, options);
 * await trainer.train(pairs);
 * assert.equal(trainer.accuracy(pairs), 1);
 * const [good, bad] = await trainer.rewardModel.score(
 *   [" was good", " was bad"].map((completion) => ({ prompt: "the cat", completion })),
 * );
 * assert.ok(good! > bad!);
 * trainer.dispose();
 * ```
 */
export class BradleyTerryTrainer {
  /** The algorithm's name, in its checkpoints. */
  readonly algo: string = REWARD_MODEL_ALGO;
  /** The metric names an epoch reports, in a stable order (`val/*` only with early stopping). */
  readonly metricNames: readonly string[];
  /** The hyperparameters in force (the shape fields are the model's). */
  readonly options: Readonly<BradleyTerryOptions>;
  /** The reward model being trained. */
  readonly rewardModel: BradleyTerryRewardModel;
  readonly #adam: Adam;
  readonly #rng: Rng;
  readonly #early: EarlyStopping;
  #epoch = 0;
  #step = 0;

  /**
   * Builds the model (or takes over the given one), the reward model and the optimizer.
   *
   * @param context The tokenizer, and optionally the model to train.
   * @param options Hyperparameters; missing ones take {@linkcode bradleyTerryDefaults}. With a
   * given model, leave the shape options out (they are read from the model).
   * @throws If an option is out of range, or the given model has no value head, another vocabulary
   * size, or a shape other than the one asked for.
   */
  constructor(context: BradleyTerryContext, options: Partial<BradleyTerryOptions> = {}) {
    const { tokenizer, model } = context;
    const o = { ...bradleyTerryDefaults, ...options };
    if (model) {
      for (const key of SHAPE_OPTIONS) {
        const asked = options[key];
        if (asked !== undefined && asked !== model[key]) {
          const detail = `${key} ${asked} was asked for, but the given model's is ${model[key]}`;
          throw new Error(
            `Cannot build a Bradley–Terry reward model: ${detail} (leave the shape options out when passing a model)`,
          );
        }
        o[key] = model[key];
      }
    }
    checkOptions("Reward model", o, RULES);
    this.options = o;
    const names = BRADLEY_TERRY_METRIC_NAMES; // with `val/*` before the last, `perf/`
    this.metricNames = o.validationFraction > 0
      ? [...names.slice(0, -1), "val/loss", "val/accuracy", ...names.slice(-1)]
      : names;
    this.rewardModel = new BradleyTerryRewardModel({
      tokenizer,
      model: model ?? new GruLanguageModel(tokenizer.vocabSize, {
        embeddingSize: o.embeddingSize,
        hiddenSize: o.hiddenSize,
        layers: o.layers,
        valueHead: true,
        seed: o.seed,
      }),
    }, { maxLength: o.maxLength, evalBatchSize: o.evalBatchSize });
    this.#adam = new Adam(trainableVariables(this.model), {
      learningRate: o.learningRate,
      epsilon: o.adamEpsilon,
      maxGradNorm: o.maxGradNorm,
    });
    this.#rng = new Rng(o.seed);
    this.#early = new EarlyStopping({
      fraction: o.validationFraction,
      patience: o.patience,
      seed: o.seed,
    });
  }

  /** The tokenizer of prompts and completions (the reward model's). */
  get tokenizer(): WordTokenizer {
    return this.rewardModel.tokenizer;
  }

  /** The language model being trained, whose value head is the reward (the reward model's). */
  get model(): GruLanguageModel {
    return this.rewardModel.model;
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
    return this.#epoch >= this.options.epochs || this.#early.stopped;
  }

  /**
   * With early stopping, the epoch of the lowest validation loss so far, whose weights
   * {@linkcode BradleyTerryTrainer.train} restores when it ends; 0 before the first epoch, or
   * without early stopping.
   */
  get bestEpoch(): number {
    return this.#early.bestEpoch;
  }

  /**
   * Trains until `options.epochs` epochs are done (none if they already are, e.g. after restoring a
   * finished run), evaluating on `holdout` after each.
   *
   * With early stopping (`validationFraction` > 0) it holds that share of `pairs` back — the same
   * pairs on every call, so a resumed run holds back the same ones — scores them after each epoch
   * (`val/loss`, `val/accuracy`), stops once `patience` epochs pass without a lower validation
   * loss, and ends with the weights of the epoch that had the lowest
   * ({@linkcode BradleyTerryTrainer.bestEpoch}).
   *
   * @param pairs The training pairs.
   * @param options The `holdout` pairs and an `onEpoch` callback.
   * @returns The report of each epoch trained.
   * @throws If early stopping would leave no pair to train on or none to validate on.
   * @example Early stopping on a tenth of the pairs, keeping the best epoch
   * ```ts ignore
   * const trainer = new BradleyTerryTrainer({ tokenizer }, { validationFraction: 0.1, epochs: 6 });
   * await trainer.train(pairs, { holdout, onEpoch: ({ metrics }) => console.log(metrics) });
   * console.log(`kept epoch ${trainer.bestEpoch}`);
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

  /** Scores the validation pairs into the report (before `perf/`) and records them. */
  #validate(report: BradleyTerryEpochReport, validation: readonly PreferencePair[]): void {
    const { loss, accuracy } = this.evaluate(validation);
    const { "perf/epoch_seconds": seconds, ...rest } = report.metrics;
    report.metrics = { ...rest, "val/loss": loss, "val/accuracy": accuracy };
    report.metrics["perf/epoch_seconds"] = seconds!;
    this.#early.record(report.epoch, loss, this.model.variables);
  }

  /**
   * One pass over the pairs in a fresh random order, one Adam step per batch of `batchSize` pairs
   * (the last batch may be smaller), then the evaluation on `holdout`; with early stopping, as in
   * {@linkcode BradleyTerryTrainer.train}.
   *
   * @param pairs The training pairs.
   * @param options The `holdout` pairs.
   * @returns The epoch's report.
   * @throws If a pair is malformed, or training diverges.
   * @example One epoch at a time, with a checkpoint after each
   * ```ts ignore
   * while (!trainer.done) {
   *   const { metrics } = await trainer.trainEpoch(train, { holdout });
   *   await writeCheckpoint("runs/rm/latest.ckpt", await trainer.save());
   * }
   * ```
   */
  trainEpoch(
    pairs: readonly PreferencePair[],
    options: BradleyTerryEpochOptions = {},
  ): Promise<BradleyTerryEpochReport> {
    // A promise that rejects (rather than a synchronous throw) on bad pairs.
    return new Promise((resolve) => {
      const { fit, validation } = this.#early.split(pairs);
      const report = this.#trainEpoch(fit, options);
      if (validation) {
        this.#validate(report, validation);
        // The last epoch, by budget or by patience: leave the best epoch's weights in place.
        if (this.done) this.#early.restoreBest(this.#epoch, this.model.variables);
      }
      resolve(report);
    });
  }

  #trainEpoch(
    pairs: readonly PreferencePair[],
    options: BradleyTerryEpochOptions,
  ): BradleyTerryEpochReport {
    const start = performance.now();
    const encoder = { tokenizer: this.tokenizer, maxLength: this.options.maxLength };
    const { chosen, rejected } = encodePairs(encoder, pairs, {
      where: "Cannot train the reward model",
    });
    const holdout = options.holdout === undefined ? undefined : encodePairs(
      encoder,
      options.holdout,
      { where: "Cannot evaluate the reward model on the holdout" },
    );
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
        const rewards = rewardTensor(this.model, rows);
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
      const evaluation = evaluatePairs(this.model, holdout, {
        batchSize: this.options.evalBatchSize,
      });
      metrics["eval/loss"] = evaluation.loss;
      metrics["eval/accuracy"] = evaluation.accuracy;
      metrics["eval/margin"] = evaluation.margin;
    }
    metrics["perf/epoch_seconds"] = (performance.now() - start) / 1000;
    return { epoch: this.#epoch, step: this.#step, metrics };
  }

  /**
   * The loss, accuracy and mean margin on pairs: {@linkcode BradleyTerryRewardModel.evaluate}.
   *
   * @param pairs The pairs, at least one.
   * @returns The evaluation.
   * @example Evaluate on held-out pairs
   * ```ts ignore
   * const { loss, accuracy } = trainer.evaluate(holdout);
   * ```
   */
  evaluate(pairs: readonly PreferencePair[]): BradleyTerryEvaluation {
    return this.rewardModel.evaluate(pairs);
  }

  /**
   * The fraction of pairs ranked as the judge did: {@linkcode BradleyTerryRewardModel.accuracy}.
   *
   * @param pairs The pairs, at least one.
   * @returns A number in [0, 1].
   * @example See {@linkcode BradleyTerryTrainer}
   * ```ts ignore
   * console.log(trainer.accuracy(holdout));
   * ```
   */
  accuracy(pairs: readonly PreferencePair[]): number {
    return this.rewardModel.accuracy(pairs);
  }

  /**
   * Captures the weights, the tokenizer (its JSON), the options, the optimizer's moments, the
   * RNG, the epoch and step counts and the early-stopping state (the best epoch's weights
   * included): enough to score ({@linkcode BradleyTerryRewardModel.fromCheckpoint}), or to resume
   * training exactly ({@linkcode BradleyTerryTrainer.fromCheckpoint}).
   *
   * @returns The checkpoint (write it with `writeCheckpoint`).
   * @example See {@linkcode BradleyTerryRewardModel.load}
   * ```ts ignore
   * await writeCheckpoint("runs/rm/final.ckpt", await trainer.save());
   * ```
   */
  save(): Promise<Checkpoint> {
    const early = this.#early.save();
    const checkpoint = saveTrainerState(this.algo, this.#parts(), {
      // Read back: the options by fromCheckpoint (the shape and how texts are read by the
      // reward model's too), the masked tokens and the tokenizer to rebuild the model.
      options: { ...this.options },
      maskedTokens: [...this.model.maskedTokens],
      tokenizer: this.tokenizer.toJSON(),
      epoch: this.#epoch,
      step: this.#step,
      earlyStopping: early.meta,
    });
    Object.assign(checkpoint.tensors, early.tensors);
    return Promise.resolve(checkpoint);
  }

  /**
   * Restores a checkpoint from {@linkcode BradleyTerryTrainer.save} into this trainer, whose model
   * must have the checkpoint's vocabulary and shape; a checkpoint that does not fit changes
   * nothing.
   *
   * @param checkpoint The checkpoint.
   * @param options `source`: the checkpoint's path, named in errors.
   * @returns A promise that resolves once restored.
   * @throws `Vocabulary mismatch: checkpoint <source> was trained with vocabulary …` if this
   * trainer's tokenizer differs, or `Cannot restore the reward model[ from <source>]: …`.
   * @example Resume a run
   * ```ts ignore
   * await trainer.restore(await readCheckpoint(path), { source: path });
   * ```
   */
  restore(checkpoint: Checkpoint, options: BradleyTerryRestoreOptions = {}): Promise<void> {
    return new Promise((resolve) => resolve(this.#restore(checkpoint, options)));
  }

  #restore(checkpoint: Checkpoint, options: BradleyTerryRestoreOptions): void {
    const { source } = options;
    const state = readTrainerState(checkpoint, this.#parts(), {
      algo: this.algo,
      owner: "the reward model",
      action: "restore",
      hint: "were embeddingSize, hiddenSize or layers changed?",
      ...(source === undefined ? {} : { source }),
      // Another vocabulary explains a misshapen embedding better than its shape does.
      check: (meta) =>
        assertSameVocabulary(meta.reader("tokenizer").string("fingerprint"), this.tokenizer, {
          where: source === undefined ? "the checkpoint" : `checkpoint ${source}`,
        }),
    });
    const { meta } = state;
    const applyEarly = this.#early.read(meta.reader("earlyStopping"), {
      tensor: (name) => state.tensor(name),
      variables: this.model.variables,
    });
    const epoch = meta.count("epoch"), step = meta.count("step");
    state.apply();
    applyEarly();
    this.#epoch = epoch;
    this.#step = step;
  }

  /**
   * A trainer from a checkpoint of {@linkcode BradleyTerryTrainer.save} alone: the tokenizer from
   * its JSON, the model from its shape, the options, weights and training state.
   *
   * @param checkpoint The checkpoint (e.g. from `readCheckpoint`).
   * @param options `source`: the checkpoint's path, named in errors.
   * @returns The trainer, ready to go on training.
   * @throws `Cannot load a reward model[ from <source>]: …` if the checkpoint is not a reward
   * model trainer's, `Invalid tokenizer in checkpoint <source>: …` if its tokenizer is damaged.
   * @example Resume
   * ```ts ignore
   * const trainer = BradleyTerryTrainer.fromCheckpoint(await readCheckpoint(path), { source: path });
   * await trainer.train(pairs);
   * ```
   */
  static fromCheckpoint(
    checkpoint: Checkpoint,
    options: BradleyTerryRestoreOptions = {},
  ): BradleyTerryTrainer {
    const { tokenizer, model, meta } = modelOfCheckpoint(checkpoint, {
      owner: "a reward model",
      action: "load",
      ...(options.source === undefined ? {} : { source: options.source }),
    });
    try {
      // The saved options, known keys only; their shape fields are the model's too.
      const saved = meta.reader("options");
      const known: Partial<BradleyTerryOptions> = {};
      for (const key of Object.keys(bradleyTerryDefaults) as (keyof BradleyTerryOptions)[]) {
        const value = saved.optionalNumber(key);
        if (value !== undefined) known[key] = value;
      }
      const trainer = new BradleyTerryTrainer({ tokenizer, model }, known);
      trainer.#restore(checkpoint, options);
      return trainer;
    } catch (error) {
      model.dispose();
      throw error;
    }
  }

  /** Frees the model's variables (a model passed in the context included). */
  dispose(): void {
    this.rewardModel.dispose();
    this.#early.dispose();
  }

  /** What a checkpoint saves and restores: the model's variables, Adam and the shuffles' RNG. */
  #parts(): TrainerParts {
    return { variables: { model: this.model.variables }, adam: this.#adam, rng: this.#rng };
  }
}

// ──────────────────────────────── Helpers ────────────────────────────────

/** The option rules: the shared training ones (epochs may be 0) and the trainer's own. */
const RULES = {
  ...trainingRules,
  epochs: wholeAtLeast(0),
  maxLength: wholeAtLeast(1),
  evalBatchSize: wholeAtLeast(1),
  embeddingSize: wholeAtLeast(1),
  hiddenSize: wholeAtLeast(1),
  layers: wholeAtLeast(1),
  validationFraction: between(0, 1, { excludeHigh: true }),
  patience: wholeAtLeast(1),
};
