/**
 * Direct Preference Optimization (Rafailov et al., 2023), after TRL's `DPOTrainer`: read it top to
 * bottom — the hyperparameters, then the trainer's loop (shuffled minibatches of
 * prompt/chosen/rejected against a frozen reference model, whose log-probs are by default computed
 * once before training). The preference loss and TRL's metrics are in `dpo_loss.ts`; per-sequence
 * log-probs and the tokenising of pairs in `log_probs.ts`.
 *
 * DPO fits the policy π to preference pairs (prompt x, chosen y_c, rejected y_r) without a reward
 * model or sampling: its implicit reward is r(x, y) = β·(log π(y|x) − log π_ref(y|x)), and the
 * loss is a logistic (or IPO / hinge) loss on the difference of the two rewards.
 */
import * as tf from "@tensorflow/tfjs";
import {
  Adam,
  checkOptions,
  type Checkpoint,
  flag,
  type IterationReport,
  note,
  readTrainerState,
  Rng,
  saveTrainerState,
  type Tensor1D,
  type Trainer,
  type TrainerParts,
  type TrainingOptions,
  trainingRules,
  wholeAtLeast,
} from "@proximal/core";
import type { GruLanguageModel } from "@proximal/models";
import {
  checkDpoLossOptions,
  DPO_METRIC_NAMES,
  dpoLoss,
  dpoLossDefaults,
  type DpoLossOptions,
  type DpoLossTerms,
} from "./dpo_loss.ts";
import {
  type Batch,
  batchLogProbs,
  byLength,
  type EncodedPairs,
  encodePairs,
  makeBatch,
  readBack,
  REFERENCE_BATCH,
  referenceSums,
  type TokenizedPair,
} from "./_pair_batches.ts";

// ──────────────────────────────── Hyperparameters ────────────────────────────────

/**
 * DPO's hyperparameters: the loss's (β, the loss type, label smoothing), the shared
 * {@linkcode TrainingOptions} — defaults `learningRate` 5e-4 (constant; TRL's 5e-7 … 1e-6 suits
 * pretrained transformers with billions of weights, not a small GRU trained from scratch),
 * `batchSize` 16 pairs (two sequences each; the last step of an epoch takes the remainder),
 * `epochs` 3 (TRL; each {@linkcode DpoTrainer.iterate} runs one), `maxGradNorm` 1 (TRL),
 * `adamEpsilon` 1e-8 (PyTorch's and Hugging Face's AdamW) and `seed` 0 (the minibatch shuffles) —
 * then the trainer's own. All are flat numbers, strings and booleans, so each can become a CLI
 * flag (`lossType` → `--loss-type`).
 */
export type DpoOptions =
  & DpoLossOptions
  & TrainingOptions
  & {
    /**
     * Compute the reference model's log-probs of every chosen and rejected completion once, before
     * training, and keep only those numbers (no reference model in memory, ~⅓ less compute per
     * step; TRL's `precompute_ref_log_probs`); false keeps a frozen copy of the reference and
     * recomputes them for every batch. The reference is frozen either way, so both give the same
     * numbers. Default true.
     */
    precomputeReferenceLogProbs: boolean;
    /**
     * The longest sequence `<bos> prompt completion <eos>`, in tokens. A longer pair is rejected
     * with an error naming it, not truncated (see {@linkcode DpoTrainer}); default 64.
     */
    maxLength: number;
  };

/**
 * The defaults: TRL's (`DPOConfig` and the Hugging Face `TrainingArguments` under it) for the
 * loss, `epochs`, `maxGradNorm` and Adam's ε; a learning rate, batch size and maximum length
 * measured for small language models trained from scratch on short sentences.
 *
 * @example Read a default
 * ```ts
 * import assert from "node:assert/strict";
 * import { dpoDefaults } from "@proximal/algos";
 * assert.equal(dpoDefaults.beta, 0.1);
 * ```
 */
export const dpoDefaults: DpoOptions = {
  ...dpoLossDefaults,
  learningRate: 5e-4,
  batchSize: 16,
  epochs: 3,
  maxGradNorm: 1,
  adamEpsilon: 1e-8,
  seed: 0,
  precomputeReferenceLogProbs: true,
  maxLength: 64,
};

// ──────────────────────────────── The trainer ────────────────────────────────

/** What {@linkcode DpoTrainer} takes besides its pairs: hyperparameters and optional extras. */
export interface DpoTrainerOptions extends Partial<DpoOptions> {
  /**
   * Pairs held out from training: after each epoch, `iterate` reports the loss and TRL's metrics
   * on them as `eval/loss`, `eval/rewards/chosen`, …. Default none.
   */
  holdout?: readonly TokenizedPair[];
  /**
   * The reference model π_ref; default the policy model as it is when the trainer is built (TRL's
   * default: a frozen copy of the model being trained). It must have the policy's vocabulary. The
   * trainer never frees it: with `precomputeReferenceLogProbs` it reads it once in the
   * constructor, so you may free it right after; otherwise it keeps its own frozen copy.
   */
  referenceModel?: GruLanguageModel;
}

/** The metric names of a {@linkcode DpoTrainer} epoch, before the `eval/` ones. */
const TRAIN_METRIC_NAMES = [
  "loss",
  ...DPO_METRIC_NAMES,
  "grad_norm",
  "learning_rate",
  "epoch",
  "perf/pairs_per_second",
] as const;
/** The metrics measured on the held-out pairs, reported with an `eval/` prefix. */
const EVAL_METRIC_NAMES = ["loss", ...DPO_METRIC_NAMES] as const;

/**
 * The DPO trainer: each {@linkcode DpoTrainer.iterate} is one epoch of shuffled minibatches of
 * preference pairs, one Adam step each, against a frozen reference model.
 *
 * **Sequences.** Each pair becomes two sequences, `<bos> prompt chosen <eos>` and `<bos> prompt
 * rejected <eos>`; a minibatch runs all of them as one `[2·batchSize, T]` batch through the
 * model's fused {@linkcode GruLanguageModel.sequenceLogProbs}, padded to its longest sequence. A
 * completion's log-prob sums its own tokens and the `<eos>`; the prompt's positions are masked
 * out, as are padding positions (the GRU is causal, so padding never changes earlier positions).
 * For IPO the sums are divided by the completion's token count, as TRL does.
 *
 * **Length.** A pair whose longer sequence exceeds `maxLength` is rejected by the constructor, with
 * an error naming the first such pair and how many there are. It is not truncated: cutting the
 * end of a completion drops its `<eos>` and the tokens that may be what the judge preferred, and
 * cutting the prompt changes what both completions answer; filter or shorten the pairs instead.
 *
 * **The reference.** With `precomputeReferenceLogProbs` (the default), the constructor computes
 * the reference log-probs of every completion once, with the reference model (by default the
 * policy model before any update, so no copy is made), and training reads those numbers. Without
 * it, the trainer keeps a frozen clone of the reference and recomputes them for each minibatch.
 * Both read the same frozen weights, so both give the same numbers.
 *
 * **The model** is a language model, with or without a value head: DPO reads only its next-token
 * distributions, so it exposes no actor-critic `policy` (the {@linkcode Trainer} interface makes
 * it optional). A value head, if present, is left untouched (its gradient is zero) and saved with
 * the rest, so the model can go on to PPO. The trainer owns the model from construction:
 * {@linkcode DpoTrainer.dispose} frees it.
 *
 * **Metrics** (TRL's names), averaged over the epoch's pairs: `loss`, `rewards/chosen`,
 * `rewards/rejected`, `rewards/accuracies`, `rewards/margins`, `logps/chosen`, `logps/rejected`;
 * `grad_norm` (mean over the epoch's steps, before clipping), `learning_rate`, `epoch`, and
 * `perf/pairs_per_second` (training only). With a holdout, the loss and TRL's metrics on it after
 * the epoch, as `eval/loss`, `eval/rewards/chosen`, …. `step` counts the pairs trained on.
 *
 * **Checkpoints** hold the weights, Adam's state, the RNG, the epoch and step counts, the pairs'
 * fingerprints and the reference: its log-probs when they were precomputed (a resumed run needs
 * no reference model), else its weights. A checkpoint is refused, changing nothing, for other
 * pairs (a fingerprint of their tokens), a differently shaped model, or the other reference mode.
 * A step's cost grows with the batch's longest sequence, so padding counts.
 *
 * @example Prefer one continuation style to another
 * ```ts
 * import assert from "node:assert/strict";
 * import { DpoTrainer } from "@proximal/algos";
 * import { setupBackend } from "@proximal/core";
 * import { GruLanguageModel } from "@proximal/models";
 * await setupBackend("wasm");
 * const model = new GruLanguageModel(12, { embeddingSize: 8, hiddenSize: 16, seed: 1 });
 * const pairs = [4, 5, 6, 7].map((word) => ({ prompt: [word], chosen: [8, 9], rejected: [10, 11] }));
 * const trainer = new DpoTrainer(model, pairs, { batchSize: 2, epochs: 2, learningRate: 1e-2 });
 * while (!trainer.done) {
 *   const { metrics } = await trainer.iterate();
 *   assert.ok(Number.isFinite(metrics["loss"]));
 * }
 * assert.equal(trainer.step, 8);
 * trainer.dispose();
 * ```
 */
export class DpoTrainer implements Trainer {
  /** The algorithm's name. */
  readonly algo = "dpo";
  /** What {@linkcode DpoTrainer.step} counts: preference pairs trained on. */
  readonly unit = "pairs";
  /** The metric names {@linkcode DpoTrainer.iterate} reports, the `eval/` ones last. */
  readonly metricNames: readonly string[];
  /** The hyperparameters in force. */
  readonly options: Readonly<DpoOptions>;
  /** The language model being trained (π). */
  readonly model: GruLanguageModel;
  readonly #adam: Adam;
  readonly #rng: Rng;
  readonly #train: EncodedPairs;
  readonly #holdout: EncodedPairs | null;
  /** The frozen reference clone, when log-probs are not precomputed. */
  readonly #reference: GruLanguageModel | null;
  #epoch = 0;
  #step = 0;

  /**
   * Checks the pairs and options, computes the reference log-probs (or clones the reference), and
   * sets up Adam.
   *
   * @param policyModel The language model to train (π), with or without a value head. The trainer
   * owns it.
   * @param pairs The training pairs as token ids, without special tokens ({@linkcode tokenizePairs}).
   * @param options Hyperparameters (missing ones take {@linkcode dpoDefaults}), the holdout and
   * the reference model.
   */
  constructor(
    policyModel: GruLanguageModel,
    pairs: readonly TokenizedPair[],
    options: DpoTrainerOptions = {},
  ) {
    const { holdout, referenceModel, ...hyperparameters } = options;
    const o: DpoOptions = { ...dpoDefaults, ...hyperparameters };
    checkDpoLossOptions(o);
    checkOptions("DPO", o, DPO_RULES);
    if (pairs.length === 0) throw new RangeError("Cannot train DPO: the pair set is empty");
    if (holdout && holdout.length === 0) {
      throw new RangeError("Cannot evaluate DPO: the holdout is empty (leave it out instead)");
    }
    const reference = referenceModel ?? policyModel;
    if (reference.vocabSize !== policyModel.vocabSize) {
      throw new RangeError(
        `Cannot train DPO against this reference model: its vocabulary has ${reference.vocabSize} tokens, the policy's ${policyModel.vocabSize}`,
      );
    }
    this.#train = encodePairs(pairs, policyModel, { maxLength: o.maxLength, what: "pair" });
    this.#holdout = holdout
      ? encodePairs(holdout, policyModel, { maxLength: o.maxLength, what: "holdout pair" })
      : null;
    this.options = o;
    this.model = policyModel;
    this.#rng = new Rng(o.seed);
    this.#adam = new Adam(policyModel.variables, {
      learningRate: o.learningRate,
      epsilon: o.adamEpsilon,
      maxGradNorm: o.maxGradNorm,
    });
    this.metricNames = [
      ...TRAIN_METRIC_NAMES,
      ...(holdout ? EVAL_METRIC_NAMES.map((name) => `eval/${name}`) : []),
    ];

    // ── The reference: its log-probs now, once, or a frozen copy to recompute them per batch.
    if (o.precomputeReferenceLogProbs) {
      this.#reference = null;
      for (const data of [this.#train, this.#holdout]) {
        if (data) data.reference = referenceSums(reference, data, REFERENCE_BATCH);
      }
    } else {
      this.#reference = reference.clone();
    }
  }

  /** Preference pairs trained on so far (epochs × pairs). */
  get step(): number {
    return this.#step;
  }

  /** Epochs completed. */
  get epoch(): number {
    return this.#epoch;
  }

  /** True once `epochs` epochs have run. */
  get done(): boolean {
    return this.#epoch >= this.options.epochs;
  }

  /**
   * One epoch: the pairs in a new random order, one Adam step per minibatch of `batchSize` pairs
   * (the last one smaller when they do not divide), then the holdout's metrics.
   *
   * @returns The pair count so far and the epoch's metrics; `episodes` is always empty.
   * @example See {@linkcode DpoTrainer}
   * ```ts ignore
   * const { metrics } = await trainer.iterate();
   * console.log(metrics["rewards/accuracies"], metrics["eval/rewards/accuracies"]);
   * ```
   */
  iterate(): Promise<IterationReport> {
    // A promise that rejects (rather than a synchronous throw) if training diverges.
    return new Promise((resolve) => resolve(this.#iterate()));
  }

  #iterate(): IterationReport {
    const o = this.options, data = this.#train, n = data.chosen.length;
    const average = o.lossType === "ipo";
    const start = performance.now();

    // ── Training: shuffled minibatches, one Adam step each.
    const order = this.#rng.shuffle(Int32Array.from({ length: n }, (_, i) => i));
    const sums = new Float64Array(EVAL_METRIC_NAMES.length);
    let gradNormSum = 0, steps = 0;
    for (let first = 0; first < n; first += o.batchSize) {
      const rows = order.subarray(first, Math.min(n, first + o.batchSize));
      const batch = makeBatch(data, rows);
      const ref = this.#referenceLogProbs(data, rows, batch, average);
      const result = this.#adam.step(() => {
        const { loss, metrics } = this.#loss(batch, ref, average);
        return { loss, metrics: DPO_METRIC_NAMES.map((name) => metrics[name]) };
      });
      sums[0]! += result.loss * rows.length;
      result.metrics.forEach((value, i) => sums[i + 1]! += value * rows.length);
      gradNormSum += result.gradNorm;
      steps++;
    }
    const seconds = (performance.now() - start) / 1000;
    this.#epoch++;
    this.#step += n;

    const metrics: Record<string, number> = {};
    EVAL_METRIC_NAMES.forEach((name, i) => metrics[name] = sums[i]! / n);
    metrics["grad_norm"] = gradNormSum / steps;
    metrics["learning_rate"] = this.#adam.learningRate;
    metrics["epoch"] = this.#epoch;
    metrics["perf/pairs_per_second"] = seconds > 0 ? n / seconds : 0;

    // ── Evaluation: the same loss and metrics on the held-out pairs, without gradients.
    if (this.#holdout) {
      const evaluated = this.#evaluate(this.#holdout, average);
      EVAL_METRIC_NAMES.forEach((name, i) => metrics[`eval/${name}`] = evaluated[i]!);
    }
    return { step: this.#step, metrics, episodes: [] };
  }

  /**
   * Captures the weights, Adam's state, the RNG, the epoch and step counts, the pairs'
   * fingerprints and the reference (its log-probs, or its weights when they are recomputed per
   * batch).
   *
   * @returns A checkpoint that {@linkcode DpoTrainer.restore} resumes from exactly.
   * @example Save
   * ```ts ignore
   * const checkpoint = await trainer.save();
   * ```
   */
  save(): Promise<Checkpoint> {
    const checkpoint = saveTrainerState(this.algo, this.#parts(), {
      epoch: this.#epoch,
      step: this.#step,
      pairs: Object.fromEntries(this.#splits().map(([split, data]) => [split, data.fingerprint])),
    });
    if (!this.#reference) {
      for (const [split, data] of this.#splits()) {
        const { chosen, rejected } = data.reference!;
        checkpoint.tensors[`reference/${split}/chosen`] = {
          shape: [chosen.length],
          data: chosen.slice(),
        };
        checkpoint.tensors[`reference/${split}/rejected`] = {
          shape: [rejected.length],
          data: rejected.slice(),
        };
      }
    }
    return Promise.resolve(checkpoint);
  }

  /**
   * Restores a checkpoint from {@linkcode DpoTrainer.save} of a trainer built on the same pairs
   * (and holdout) with the same reference mode; the other options may differ (e.g. more epochs).
   * A checkpoint that does not fit changes nothing.
   *
   * @param checkpoint The checkpoint.
   * @returns A promise that rejects, naming the problem, if the checkpoint does not fit.
   * @example Resume
   * ```ts ignore
   * await trainer.restore(checkpoint);
   * ```
   */
  restore(checkpoint: Checkpoint): Promise<void> {
    return new Promise((resolve) => resolve(this.#restore(checkpoint)));
  }

  /** Frees the model and the reference copy, if any. */
  dispose(): void {
    this.model.dispose();
    this.#reference?.dispose();
  }

  // ── Internals.

  /** The DPO loss and metrics of a minibatch, on the gradient tape; call inside a tidy. */
  #loss(batch: Batch, ref: Float32Array, average: boolean): DpoLossTerms {
    const b = batch.rows / 2;
    let logps = this.model.sequenceLogProbs(
      tf.tensor2d(batch.tokens, [batch.rows, batch.length], "int32"),
      tf.tensor2d(batch.targets, [batch.rows, batch.length], "int32"),
      tf.tensor2d(batch.mask, [batch.rows, batch.length]),
    );
    if (average) logps = tf.div(logps, tf.tensor1d(batch.counts));
    const [policyChosenLogps, policyRejectedLogps] = tf.split(logps, 2) as [Tensor1D, Tensor1D];
    return dpoLoss({
      policyChosenLogps,
      policyRejectedLogps,
      referenceChosenLogps: tf.tensor1d(ref.subarray(0, b)),
      referenceRejectedLogps: tf.tensor1d(ref.subarray(b)),
    }, this.options);
  }

  /** `[2b]` reference log-probs (chosen, then rejected) of a minibatch, averaged for IPO. */
  #referenceLogProbs(
    data: EncodedPairs,
    rows: Int32Array,
    batch: Batch,
    average: boolean,
  ): Float32Array {
    const b = rows.length, ref = new Float32Array(2 * b);
    if (this.#reference) {
      ref.set(readBack(() => batchLogProbs(this.#reference!, batch)));
    } else {
      const { chosen, rejected } = data.reference!;
      rows.forEach((k, j) => {
        ref[j] = chosen[k]!;
        ref[b + j] = rejected[k]!;
      });
    }
    if (average) { for (let j = 0; j < 2 * b; j++) ref[j] = ref[j]! / batch.counts[j]!; }
    return ref;
  }

  /** The mean loss and TRL's metrics over a set of pairs, without gradients. */
  #evaluate(data: EncodedPairs, average: boolean): number[] {
    const n = data.chosen.length, sums = new Float64Array(EVAL_METRIC_NAMES.length);
    const order = byLength(data);
    for (let first = 0; first < n; first += REFERENCE_BATCH) {
      const rows = order.subarray(first, Math.min(n, first + REFERENCE_BATCH));
      const batch = makeBatch(data, rows);
      const ref = this.#referenceLogProbs(data, rows, batch, average);
      const values = readBack(() => {
        const { loss, metrics } = this.#loss(batch, ref, average);
        return tf.stack([loss, ...DPO_METRIC_NAMES.map((name) => metrics[name])]);
      });
      values.forEach((value, i) => sums[i]! += value * rows.length);
    }
    return Array.from(sums, (sum) => sum / n);
  }

  /** The training pairs and, if any, the holdout, under their checkpoint names. */
  #splits(): [string, EncodedPairs][] {
    return this.#holdout ? [["train", this.#train], ["holdout", this.#holdout]] : [[
      "train",
      this.#train,
    ]];
  }

  #restore(checkpoint: Checkpoint): void {
    const { tensors } = checkpoint;
    const state = readTrainerState(checkpoint, this.#parts(), {
      algo: this.algo,
      owner: "DPO",
      // Other pairs or the other reference mode explain a mismatch better than a tensor would.
      check: (meta) => {
        const saved = meta.reader("pairs");
        for (const [split, data] of this.#splits()) {
          const fingerprint = saved.optionalString(split);
          if (fingerprint === undefined) meta.fail(`the checkpoint has no ${split} pairs`);
          if (fingerprint !== data.fingerprint) {
            meta.fail(
              `the checkpoint was trained on other ${split} pairs (fingerprint ${fingerprint}, these pairs ${data.fingerprint})`,
            );
          }
        }
        if (!this.#holdout && saved.has("holdout")) {
          meta.fail("the checkpoint was trained with a holdout and this trainer has none");
        }
        if (this.#reference && !tensors["reference/0"]) {
          meta.fail(
            "the checkpoint holds precomputed reference log-probs, not the reference's weights (set precomputeReferenceLogProbs: true)",
          );
        }
        if (!this.#reference && tensors["reference/0"]) {
          meta.fail(
            "the checkpoint holds the reference's weights, not its log-probs (set precomputeReferenceLogProbs: false)",
          );
        }
      },
    });
    const references: [EncodedPairs, Float32Array, Float32Array][] = [];
    if (!this.#reference) {
      for (const [split, data] of this.#splits()) {
        const chosen = state.optionalTensor(`reference/${split}/chosen`);
        const rejected = state.optionalTensor(`reference/${split}/rejected`);
        if (!chosen || !rejected) {
          return state.meta.fail(
            `the checkpoint has no reference log-probs for the ${split} pairs`,
          );
        }
        const n = data.chosen.length;
        if (chosen.data.length !== n || rejected.data.length !== n) {
          state.meta.fail(
            `the checkpoint holds ${chosen.data.length} reference log-probs for ${n} ${split} pairs`,
          );
        }
        references.push([data, chosen.data, rejected.data]);
      }
    }
    const epoch = state.meta.count("epoch"), step = state.meta.count("step");
    state.apply();
    for (const [data, chosen, rejected] of references) {
      data.reference = { chosen: chosen.slice(), rejected: rejected.slice() };
    }
    this.#epoch = epoch;
    this.#step = step;
  }

  /** What a checkpoint saves and restores: the model, the reference copy if any, Adam, the RNG. */
  #parts(): TrainerParts {
    const variables: Record<string, readonly tf.Variable[]> = { policy: this.model.variables };
    if (this.#reference) variables.reference = this.#reference.variables;
    return { variables, adam: this.#adam, rng: this.#rng };
  }
}

// ──────────────────────────────── Helpers ────────────────────────────────

/** The trainer's option rules besides the loss's: the shared training ones and its own. */
const DPO_RULES = {
  ...trainingRules,
  precomputeReferenceLogProbs: flag,
  maxLength: note(wholeAtLeast(2), "<bos> and <eos>"),
};
