/**
 * A Bradley–Terry reward model (Bradley & Terry, 1952) as a {@linkcode RewardSource}: the
 * reward r(x, y) a language model's value head gives completion y of prompt x, as InstructGPT
 * (Ouyang et al., 2022) and TRL's `RewardTrainer` read theirs. Train one with
 * `BradleyTerryTrainer` (reward_model_trainer.ts); load a trained one from its checkpoint with
 * {@linkcode BradleyTerryRewardModel.load} and score completions for PPO.
 *
 * The Bradley–Terry model says a judge prefers completion y_c to y_r of prompt x with probability
 * P(y_c ≻ y_r | x) = σ(r(x, y_c) − r(x, y_r)). Here r(x, y) is the value head of a
 * {@linkcode GruLanguageModel} read at the last token of `<bos> x y <eos>`, where the prompt and
 * the completion are encoded separately and their ids joined (so a completion with or without its
 * leading space scores the same). Only reward differences are identified: adding a constant to r
 * changes nothing.
 */
import * as tf from "@tensorflow/tfjs";
import {
  checkOptions,
  type Checkpoint,
  type PreferencePair,
  readCheckpoint,
  readTrainerState,
  type RewardSource,
  type Scalar,
  type ScoreRequest,
  type Tensor1D,
  wholeAtLeast,
} from "@proximal/core";
import type { GruLanguageModel, WordTokenizer } from "@proximal/models";
import {
  encodePairs,
  encodeSequence,
  evaluatePairs,
  modelOfCheckpoint,
  REWARD_MODEL_ALGO,
  sequenceRewards,
} from "./_bradley_terry.ts";

/** How the reward model reads texts; every field can become a CLI flag. */
export type BradleyTerryRewardModelOptions = {
  /**
   * The most tokens of prompt + completion read (`<bos>` and `<eos>` not counted); a longer text is
   * cut to its first maxLength tokens and still ends with `<eos>`, where the reward is read;
   * default 64.
   */
  maxLength: number;
  /** Sequences per forward pass when scoring and evaluating (memory and speed only); default 256. */
  evalBatchSize: number;
};

/**
 * The defaults of {@linkcode BradleyTerryRewardModelOptions}.
 *
 * @example Read a default
 * ```ts
 * import assert from "node:assert/strict";
 * import { bradleyTerryRewardModelDefaults } from "@proximal/reward-models";
 * assert.equal(bradleyTerryRewardModelDefaults.maxLength, 64);
 * ```
 */
export const bradleyTerryRewardModelDefaults: BradleyTerryRewardModelOptions = {
  maxLength: 64,
  evalBatchSize: 256,
};

// ──────────────────────────────── The loss ────────────────────────────────

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
  // softplus(−h), not tf.logSigmoid: its gradient reads an input the tape has already disposed
  // when the rewards are computed inside the differentiated function.
  return {
    loss: tf.mean(tf.softplus(tf.neg(margins))) as Scalar,
    accuracy: tf.mean(tf.cast(tf.greater(margins, 0), "float32")) as Scalar,
    margin: tf.mean(margins) as Scalar,
  };
}

// ──────────────────────────────── The reward model ────────────────────────────────

/** What {@linkcode BradleyTerryRewardModel} reads rewards with. */
export interface BradleyTerryRewardModelContext {
  /** The tokenizer of the texts; the model must have its vocabulary size. */
  tokenizer: WordTokenizer;
  /**
   * A language model with a value head, whose value at `<eos>` is the reward. The reward model
   * owns it from then on and frees it in {@linkcode BradleyTerryRewardModel.dispose}.
   */
  model: GruLanguageModel;
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

/** Options of loading or restoring a reward model from a checkpoint. */
export interface BradleyTerryRestoreOptions {
  /** Where the checkpoint came from (a path), named in error messages; default none. */
  source?: string;
}

/**
 * A reward model r(prompt, completion): a language model's value head, read at `<eos>`. It is a
 * {@linkcode RewardSource} for PPO; {@linkcode BradleyTerryRewardModel.evaluate} and
 * {@linkcode BradleyTerryRewardModel.accuracy} check it on preference pairs.
 *
 * @example Load a trained reward model and score with it
 * ```ts ignore
 * const rewardModel = await BradleyTerryRewardModel.load("runs/rm/final.ckpt");
 * const [reward] = await rewardModel.score([{ prompt: "The soup", completion: " was lovely" }]);
 * ```
 */
export class BradleyTerryRewardModel implements RewardSource {
  /** The name in logs and errors. */
  readonly name = "bradley-terry";
  /** How texts are read. */
  readonly options: Readonly<BradleyTerryRewardModelOptions>;
  /** The tokenizer of prompts and completions. */
  readonly tokenizer: WordTokenizer;
  /** The language model whose value head is the reward. */
  readonly model: GruLanguageModel;

  /**
   * Takes over a language model with a value head as the reward model.
   *
   * @param context The tokenizer and the model.
   * @param options How texts are read; missing ones take
   * {@linkcode bradleyTerryRewardModelDefaults}.
   * @throws If the model has no value head or another vocabulary size than the tokenizer, or an
   * option is out of range.
   * @example Score two completions with an untrained model
   * ```ts
   * import assert from "node:assert/strict";
   * import { setupBackend } from "@proximal/core";
   * import { GruLanguageModel, WordTokenizer } from "@proximal/models";
   * import { BradleyTerryRewardModel } from "@proximal/reward-models";
   * await setupBackend("wasm");
   * const tokenizer = WordTokenizer.fromTexts(["it was good bad"], { minCount: 1 });
   * const model = new GruLanguageModel(tokenizer.vocabSize, { embeddingSize: 4, hiddenSize: 8 });
   * const rewardModel = new BradleyTerryRewardModel({ tokenizer, model });
   * const rewards = await rewardModel.score([
   *   { prompt: "it was", completion: " good" },
   *   { prompt: "it was", completion: " bad" },
   * ]);
   * assert.equal(rewards.length, 2);
   * assert.ok(rewards.every(Number.isFinite));
   * rewardModel.dispose();
   * ```
   */
  constructor(
    context: BradleyTerryRewardModelContext,
    options: Partial<BradleyTerryRewardModelOptions> = {},
  ) {
    const where = "Cannot build a Bradley–Terry reward model";
    const { tokenizer, model } = context;
    if (!model.hasValueHead) {
      throw new Error(`${where}: the language model has no value head (build it with valueHead)`);
    }
    if (model.vocabSize !== tokenizer.vocabSize) {
      throw new Error(
        `${where}: the language model has ${model.vocabSize} tokens, the tokenizer ${tokenizer.vocabSize}`,
      );
    }
    const o = { ...bradleyTerryRewardModelDefaults, ...options };
    checkOptions("Reward model", o, {
      maxLength: wholeAtLeast(1),
      evalBatchSize: wholeAtLeast(1),
    });
    this.options = o;
    this.tokenizer = tokenizer;
    this.model = model;
  }

  /**
   * The reward of each (prompt, completion): the value head at the `<eos>` of
   * `<bos> prompt completion <eos>`. Runs in batches of `evalBatchSize` sequences of similar
   * length, one forward pass each, without a gradient.
   *
   * @param batch The requests.
   * @returns One finite reward per request, in order.
   * @throws If a request's prompt or completion is not a string, or a reward is not finite.
   * @example See the constructor
   * ```ts ignore
   * const [reward] = await rewardModel.score([{ prompt: "it was", completion: " good" }]);
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
      return encodeSequence(this.#encoder(), { prompt, completion });
    });
    const rewards = sequenceRewards(this.model, sequences, {
      batchSize: this.options.evalBatchSize,
    });
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
   * The loss, accuracy and mean margin on pairs (in float64 from the rewards).
   *
   * @param pairs The pairs, at least one.
   * @returns The evaluation.
   * @example Untrained, the loss is near log 2
   * ```ts
   * import assert from "node:assert/strict";
   * import { setupBackend } from "@proximal/core";
   * import { GruLanguageModel, WordTokenizer } from "@proximal/models";
   * import { BradleyTerryRewardModel } from "@proximal/reward-models";
   * await setupBackend("wasm");
   * const tokenizer = WordTokenizer.fromTexts(["it was good bad"], { minCount: 1 });
   * const model = new GruLanguageModel(tokenizer.vocabSize, { embeddingSize: 4, hiddenSize: 8 });
   * const rewardModel = new BradleyTerryRewardModel({ tokenizer, model });
   * const { loss } = rewardModel.evaluate([{ prompt: "it was", chosen: " good", rejected: " bad" }]);
   * assert.ok(Math.abs(loss - Math.LN2) < 0.5);
   * rewardModel.dispose();
   * ```
   */
  evaluate(pairs: readonly PreferencePair[]): BradleyTerryEvaluation {
    const encoded = encodePairs(this.#encoder(), pairs, {
      where: "Cannot evaluate the reward model",
    });
    return evaluatePairs(this.model, encoded, { batchSize: this.options.evalBatchSize });
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
   * import { GruLanguageModel, WordTokenizer } from "@proximal/models";
   * import { BradleyTerryRewardModel } from "@proximal/reward-models";
   * await setupBackend("wasm");
   * const tokenizer = WordTokenizer.fromTexts(["it was good bad"], { minCount: 1 });
   * const model = new GruLanguageModel(tokenizer.vocabSize, { embeddingSize: 4, hiddenSize: 8 });
   * const rewardModel = new BradleyTerryRewardModel({ tokenizer, model });
   * const pair = { prompt: "it was", chosen: " good", rejected: " bad" };
   * const swapped = { prompt: "it was", chosen: " bad", rejected: " good" };
   * assert.equal(rewardModel.accuracy([pair, swapped]), 0.5);
   * rewardModel.dispose();
   * ```
   */
  accuracy(pairs: readonly PreferencePair[]): number {
    return this.evaluate(pairs).accuracy;
  }

  /**
   * The reward model of a checkpoint written by `BradleyTerryTrainer.save`: the tokenizer from its
   * JSON, the model from its shape and weights, the options of reading texts. The training state
   * (optimizer, epochs) is left out: use `BradleyTerryTrainer.fromCheckpoint` to go on training.
   *
   * @param checkpoint The checkpoint (e.g. from `readCheckpoint`).
   * @param options `source`: the checkpoint's path, named in errors.
   * @returns The reward model.
   * @throws `Cannot load a reward model[ from <source>]: …` if the checkpoint is not a reward
   * model's, `Invalid tokenizer in checkpoint <source>: …` if its tokenizer is damaged.
   * @example See {@linkcode BradleyTerryRewardModel.load}
   * ```ts ignore
   * const rewardModel = BradleyTerryRewardModel.fromCheckpoint(await trainer.save());
   * ```
   */
  static fromCheckpoint(
    checkpoint: Checkpoint,
    options: BradleyTerryRestoreOptions = {},
  ): BradleyTerryRewardModel {
    const reading = {
      owner: "a reward model",
      action: "load",
      ...(options.source === undefined ? {} : { source: options.source }),
    };
    const { tokenizer, model, meta } = modelOfCheckpoint(checkpoint, reading);
    try {
      const saved = meta.reader("options");
      const rewardModel = new BradleyTerryRewardModel({ tokenizer, model }, {
        maxLength: saved.count("maxLength"),
        evalBatchSize: saved.count("evalBatchSize"),
      });
      const weights = { variables: { model: model.variables } };
      readTrainerState(checkpoint, weights, { ...reading, algo: REWARD_MODEL_ALGO }).apply();
      return rewardModel;
    } catch (error) {
      model.dispose();
      throw error;
    }
  }

  /**
   * Reads a checkpoint file written from `BradleyTerryTrainer.save` and loads its reward model
   * (see {@linkcode BradleyTerryRewardModel.fromCheckpoint}).
   *
   * @param path The checkpoint file.
   * @returns The reward model.
   * @throws `Cannot read checkpoint <path>: …`, or the errors of `fromCheckpoint`.
   * @example Save a trained reward model and load it elsewhere
   * ```ts
   * import assert from "node:assert/strict";
   * import { setupBackend, writeCheckpoint } from "@proximal/core";
   * import { WordTokenizer } from "@proximal/models";
   * import { BradleyTerryRewardModel, BradleyTerryTrainer } from "@proximal/reward-models";
   * await setupBackend("wasm");
   * const tokenizer = WordTokenizer.fromTexts(["it was good bad"], { minCount: 1 });
   * const trainer = new BradleyTerryTrainer({ tokenizer }, { embeddingSize: 4, hiddenSize: 8 });
   * const path = `${await Deno.makeTempDir()}/rm.ckpt`;
   * await writeCheckpoint(path, await trainer.save());
   * const rewardModel = await BradleyTerryRewardModel.load(path);
   * const request = [{ prompt: "it was", completion: " good" }];
   * assert.deepEqual(await rewardModel.score(request), await trainer.rewardModel.score(request));
   * trainer.dispose();
   * rewardModel.dispose();
   * ```
   */
  static async load(path: string): Promise<BradleyTerryRewardModel> {
    return BradleyTerryRewardModel.fromCheckpoint(await readCheckpoint(path), { source: path });
  }

  /** Frees the model's variables. */
  dispose(): void {
    this.model.dispose();
  }

  #encoder(): { tokenizer: WordTokenizer; maxLength: number } {
    return { tokenizer: this.tokenizer, maxLength: this.options.maxLength };
  }
}
