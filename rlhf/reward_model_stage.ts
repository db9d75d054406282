/**
 * The reward-model stage, `deno task train --env text-completion --algo reward-model`: a
 * Bradley–Terry reward model, initialised from `--model`, trained on preference pairs (a file, or
 * sampled from the model and labelled by VADER).
 */
import type { Checkpoint, IterationReport, Trainer, TrainerEvaluation } from "@proximal/core";
import { type AlgoPlugin, defineAlgo, MetaReader } from "@proximal/core";
import type { SentimentTask as Task } from "@proximal/envs";
import { BradleyTerryTrainer } from "@proximal/reward-models";
import { rewardModelStageDefaults, type RewardModelStageOptions } from "./defaults.ts";
import { checkPairsFingerprint, pairHelp, type PairSplit, preferencePairs } from "./_pairs.ts";
import { lmMeta, loadLanguageModel } from "./text_eval.ts";
import { taskOf } from "./_text_stage.ts";

/** A reward model trained epoch by epoch, as a Trainer. */
class RewardModelStage implements Trainer {
  readonly algo = "reward-model";
  readonly unit = "pairs";
  readonly metricNames: readonly string[];
  #step = 0;
  constructor(
    readonly rewardModel: BradleyTerryTrainer,
    readonly split: PairSplit,
    readonly task: Task,
    readonly pairsFile: string,
  ) {
    this.metricNames = rewardModel.metricNames;
  }
  get step(): number {
    return this.#step;
  }
  get done(): boolean {
    return this.rewardModel.done;
  }
  get progress(): number {
    return this.rewardModel.epoch / this.rewardModel.options.epochs;
  }
  async iterate(): Promise<IterationReport> {
    const { metrics } = await this.rewardModel.trainEpoch(this.split.train, {
      holdout: this.split.holdout,
    });
    this.#step += this.split.train.length;
    return { step: this.#step, metrics, episodes: [] };
  }
  async save(): Promise<Checkpoint> {
    const checkpoint = await this.rewardModel.save();
    checkpoint.meta.lm = lmMeta(this.rewardModel.model, this.task.tokenizer, "model");
    checkpoint.meta.stageStep = this.#step;
    checkpoint.meta.pairsFingerprint = this.split.fingerprint;
    return checkpoint;
  }
  async restore(checkpoint: Checkpoint): Promise<void> {
    // Read before restoring the model, so a malformed checkpoint changes nothing.
    const meta = new MetaReader(checkpoint.meta, { owner: "the reward-model stage" });
    const step = meta.optionalCount("stageStep") ?? 0;
    checkPairsFingerprint(meta, this.split, this.pairsFile);
    await this.rewardModel.restore(checkpoint);
    this.#step = step;
  }
  finalEvaluation(): Promise<TrainerEvaluation> {
    // A check the judge cannot influence: held-out human-labelled sentences, positive preferred.
    const positives = this.task.holdout.filter((s) => s.label === 1);
    const negatives = this.task.holdout.filter((s) => s.label === 0);
    const humanPairs = positives.slice(0, negatives.length).map((p, i) => ({
      prompt: "",
      chosen: p.text,
      rejected: negatives[i]!.text,
    }));
    const heldOut = this.rewardModel.accuracy(this.split.holdout);
    const human = this.rewardModel.accuracy(humanPairs);
    return Promise.resolve({
      metrics: {
        heldOutAccuracy: heldOut,
        humanPairAccuracy: human,
        humanPairs: humanPairs.length,
      },
      summary: [
        `accuracy on ${this.split.holdout.length} held-out pairs: ${(heldOut * 100).toFixed(1)} %`,
        `accuracy on ${humanPairs.length} human-labelled sentence pairs: ${
          (human * 100).toFixed(1)
        } %`,
      ],
    });
  }
  dispose(): void {
    this.rewardModel.dispose();
  }
}

/** The reward-model stage's options: the model and pairs to start from, and its hyperparameters. */
export type RewardModelStagePluginOptions = RewardModelStageOptions & {
  /** Checkpoint (file or run directory) of the model to start from; required. */
  model: string;
  /** A JSONL pairs file; default "" (sample and label pairs). */
  pairs: string;
};

/**
 * The `reward-model` algorithm of the text-completion env: a {@linkcode BradleyTerryTrainer}
 * trained epoch by epoch on pairs, with early stopping on a validation share. Its hyperparameters
 * default to {@linkcode rewardModelStageDefaults}; `step` counts pairs. Its evaluation reports the
 * accuracy on held-out pairs and on pairs of human-labelled sentences.
 *
 * @example Its options
 * ```ts
 * import assert from "node:assert/strict";
 * import { rewardModelStage } from "@proximal/rlhf";
 * assert.equal(rewardModelStage.defaults.pairsPerPrompt, 4);
 * assert.equal(rewardModelStage.defaults.model, "");
 * ```
 */
export const rewardModelStage: AlgoPlugin<RewardModelStagePluginOptions> = defineAlgo({
  kind: "algo",
  name: "reward-model",
  description: "A Bradley-Terry reward model trained on preference pairs, initialised from --model",
  defaults: { model: "", pairs: "", ...rewardModelStageDefaults },
  help: {
    ...pairHelp,
    learningRate: "Adam step size",
    batchSize: "pairs per gradient step",
    epochs: "most passes over the pairs",
    validationFraction: "share of the training pairs that early stopping validates on (0 = off)",
    patience: "epochs without a lower validation loss before stopping",
  },
  create: async (options, context) => {
    const task = taskOf(context);
    const { model } = await loadLanguageModel(options.model, task.tokenizer);
    try {
      const split = await preferencePairs(options, model, { ...context, task });
      const rewardModel = new BradleyTerryTrainer({ tokenizer: task.tokenizer, model }, {
        learningRate: options.learningRate,
        batchSize: options.batchSize,
        epochs: options.epochs,
        validationFraction: options.validationFraction,
        patience: options.patience,
        seed: context.seed,
      });
      return new RewardModelStage(rewardModel, split, task, options.pairs);
    } catch (e) {
      model.dispose();
      throw e;
    }
  },
});
