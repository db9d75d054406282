/**
 * REINFORCE Leave-One-Out (Ahmadian et al., 2024), after TRL's `RLOOTrainer`: for each prompt
 * sample k completions; each one's reward is its score minus β times its sequence KL to the
 * reference (the KL goes in the reward, Σ_t log π_old − log π_ref), and its baseline is the mean
 * reward of the other k − 1: A_i = r_i − (Σ_j r_j − r_i)/(k − 1). No critic. The loss is GRPO's
 * with β 0 ({@linkcode groupPolicyLoss}: PPO's clipped surrogate per token, normalised per token).
 */
import * as tf from "@tensorflow/tfjs";
import {
  checkOptions,
  type Checkpoint,
  flag,
  type IterationReport,
  nonNegative,
  positive,
  type Trainer,
  trainingRules,
  wholeAtLeast,
} from "@proximal/core";
import type { GruLanguageModel } from "@proximal/models";
import { GroupLoop, groupReport, mean, sampleGroups } from "./_group_trainer.ts";
import { type GroupContext, groupPolicyLoss } from "./grpo.ts";

/** RLOO's hyperparameters, with TRL's names in camelCase. */
export type RlooOptions = {
  /** Adam's step size; default 3e-4 (as GRPO's; TRL's 3e-6 is for pretrained transformers). */
  learningRate: number;
  /** Prompts per batch; default 64 (× k = 128 completions, GRPO's batch). */
  promptsPerBatch: number;
  /** k, completions per prompt (TRL's `rloo_k` / `num_generations`); default 2. */
  numGenerations: number;
  /** Gradient steps per batch (TRL's `num_iterations`); default 1. */
  numIterations: number;
  /** The clipping range ε; default 0.2. */
  epsilon: number;
  /** β of the sequence KL in the reward (TRL's `kl_coef` / `beta`); default 0.05. */
  beta: number;
  /** Normalise the advantages over the batch (TRL's `normalize_advantage`); default false. */
  normalizeAdvantages: boolean;
  /** Sampling temperature; default 1. */
  temperature: number;
  /** Global gradient-norm clip; default 1. */
  maxGradNorm: number;
  /** Adam's ε; default 1e-8. */
  adamEpsilon: number;
};

/**
 * RLOO's defaults: TRL's, but the learning rate and the prompts per batch (see the fields).
 *
 * @example Two completions per prompt
 * ```ts
 * import assert from "node:assert/strict";
 * import { rlooDefaults } from "@proximal/algos";
 * assert.equal(rlooDefaults.numGenerations, 2);
 * ```
 */
export const rlooDefaults: RlooOptions = {
  learningRate: 3e-4,
  promptsPerBatch: 64,
  numGenerations: 2,
  numIterations: 1,
  epsilon: 0.2,
  beta: 0.05,
  normalizeAdvantages: false,
  temperature: 1,
  maxGradNorm: 1,
  adamEpsilon: 1e-8,
};

const RLOO_RULES = {
  learningRate: trainingRules.learningRate,
  promptsPerBatch: wholeAtLeast(1),
  numGenerations: wholeAtLeast(2),
  numIterations: wholeAtLeast(1),
  epsilon: positive,
  beta: nonNegative,
  normalizeAdvantages: flag,
  temperature: positive,
  maxGradNorm: trainingRules.maxGradNorm,
  adamEpsilon: trainingRules.adamEpsilon,
};

/**
 * Leave-one-out advantages: each reward minus the mean of the other k − 1 rewards of its group
 * (groups are `k` consecutive rewards).
 *
 * @param rewards The rewards, group by group.
 * @param options `k`.
 * @returns The advantages.
 * @example Rewards 1, 2, 6: baselines 4, 3.5, 1.5
 * ```ts
 * import assert from "node:assert/strict";
 * import { leaveOneOutAdvantages } from "@proximal/algos";
 * const a = leaveOneOutAdvantages(Float32Array.of(1, 2, 6), { k: 3 });
 * assert.deepEqual(Array.from(a), [-3, -1.5, 4.5]);
 * ```
 */
export function leaveOneOutAdvantages(
  rewards: Float32Array,
  options: { k: number },
): Float32Array {
  const { k } = options, out = new Float32Array(rewards.length);
  if (!Number.isInteger(k) || k < 2 || rewards.length % k !== 0) {
    throw new RangeError(
      `Leave-one-out advantages need groups of k >= 2 that divide the ${rewards.length} rewards, got ${k}`,
    );
  }
  for (let g = 0; g < rewards.length; g += k) {
    let sum = 0;
    for (let i = g; i < g + k; i++) sum += rewards[i]!;
    for (let i = g; i < g + k; i++) out[i] = rewards[i]! - (sum - rewards[i]!) / (k - 1);
  }
  return out;
}

/**
 * The RLOO trainer: each {@linkcode Rloo.iterate} samples `promptsPerBatch × numGenerations`
 * completions and takes `numIterations` Adam steps; `step` counts generated tokens. Metrics are
 * TRL's: `objective/kl`, `objective/non_score_reward`, `objective/rlhf_reward`,
 * `objective/scores`, `policy/clipfrac_avg`, `loss/policy_avg`, with `completions/mean_length`,
 * `grad_norm`, `learning_rate` and `perf/*` timings.
 *
 * @example One iteration of a tiny model
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rloo } from "@proximal/algos";
 * import { setupBackend } from "@proximal/core";
 * import { GruLanguageModel } from "@proximal/models";
 * import { functionReward } from "@proximal/reward-models";
 * await setupBackend("wasm");
 * const policy = new GruLanguageModel(8, { embeddingSize: 4, hiddenSize: 8, seed: 1 });
 * const rloo = new Rloo({
 *   policy,
 *   reference: policy.clone(),
 *   reward: functionReward("fives", ({ completion }) => completion.split("5").length - 1),
 *   task: { prompts: [Int32Array.of(1, 3)], decode: (ids) => ids.join(" "), maxNewTokens: 4 },
 *   seed: 1,
 *   totalTokens: 1,
 * }, { promptsPerBatch: 4 });
 * const { metrics } = await rloo.iterate();
 * assert.ok(rloo.done && Number.isFinite(metrics["loss/policy_avg"]!));
 * rloo.dispose();
 * ```
 */
export class Rloo implements Trainer {
  /** The plugin name. */
  readonly algo: string = "rloo";
  /** What `step` counts. */
  readonly unit = "tokens";
  /** The metrics of every iteration. */
  readonly metricNames: readonly string[] = [
    "objective/kl",
    "objective/non_score_reward",
    "objective/rlhf_reward",
    "objective/scores",
    "policy/clipfrac_avg",
    "loss/policy_avg",
    "completions/mean_length",
    "grad_norm",
    "learning_rate",
    "perf/sample_ms",
    "perf/update_ms",
    "perf/tokens_per_second",
  ];
  /** The hyperparameters in force. */
  readonly options: Readonly<RlooOptions>;
  readonly #context: GroupContext;
  readonly #loop: GroupLoop;

  /**
   * Checks the options and sets up Adam on the policy's weights.
   *
   * @param context The models, the reward, the prompts, the seed and the budget.
   * @param options Hyperparameters; missing ones take {@linkcode rlooDefaults}.
   */
  constructor(context: GroupContext, options: Partial<RlooOptions> = {}) {
    const o = this.options = { ...rlooDefaults, ...options };
    checkOptions("RLOO", o, RLOO_RULES);
    this.#context = context;
    this.#loop = new GroupLoop(context, { ...o, seed: context.seed });
  }

  /** The model being trained. */
  get model(): GruLanguageModel {
    return this.#loop.model;
  }
  /** Generated tokens so far. */
  get step(): number {
    return this.#loop.step;
  }
  /** True once `totalTokens` have been generated. */
  get done(): boolean {
    return this.#loop.step >= this.#context.totalTokens;
  }

  /**
   * One batch of groups and its update.
   *
   * @returns The step and TRL's metrics.
   * @example See {@linkcode Rloo}
   * ```ts ignore
   * const { metrics } = await rloo.iterate();
   * ```
   */
  async iterate(): Promise<IterationReport> {
    const o = this.options, c = this.#context, k = o.numGenerations, start = performance.now();
    const batch = await sampleGroups(c, {
      task: c.task,
      reward: c.reward,
      promptsPerBatch: o.promptsPerBatch,
      groupSize: k,
      temperature: o.temperature,
      rng: this.#loop.rng,
    });
    const sampleMs = performance.now() - start;
    const loss = { epsilon: o.epsilon, beta: 0, lossType: "dapo", maxNewTokens: 0 };
    let rewards = new Float32Array(0);
    const { metrics, gradNorm, updateMs } = this.#loop.update(batch, {
      // The KL goes in the reward: r = score − β·Σ_t (log π_old − log π_ref), once the first
      // step has read log π_old.
      advantages: (b) => {
        rewards = b.scores.map((s, i) => s - o.beta * b.sequenceKl[i]!);
        const advantages = leaveOneOutAdvantages(rewards, { k });
        if (o.normalizeAdvantages) normalize(advantages);
        return advantages;
      },
      numIterations: o.numIterations,
      sampleMs,
      loss: (inputs) => {
        const terms = groupPolicyLoss(inputs, loss);
        return { loss: terms.loss, metrics: { ...terms, loss: tf.clone(terms.loss) } };
      },
    });
    const kl = mean(batch.sequenceKl);
    return groupReport(this.#loop, {
      "objective/kl": kl,
      "objective/non_score_reward": -o.beta * kl,
      "objective/rlhf_reward": mean(rewards),
      "objective/scores": mean(batch.scores),
      "policy/clipfrac_avg": metrics.clipRatio!,
      "loss/policy_avg": metrics.policyLoss!,
      "completions/mean_length": mean(batch.lengths),
      grad_norm: gradNorm,
      learning_rate: o.learningRate,
      "perf/sample_ms": sampleMs,
      "perf/update_ms": updateMs,
      "perf/tokens_per_second": this.#loop.tokensPerSecond,
    });
  }

  /**
   * The weights, Adam and the random stream.
   *
   * @returns A checkpoint that {@linkcode Rloo.restore} resumes from.
   * @example Save
   * ```ts ignore
   * const checkpoint = await rloo.save();
   * ```
   */
  save(): Promise<Checkpoint> {
    return Promise.resolve(this.#loop.save(this.algo));
  }

  /**
   * Restores a checkpoint of {@linkcode Rloo.save}.
   *
   * @param checkpoint The checkpoint.
   * @example Resume
   * ```ts ignore
   * await rloo.restore(checkpoint);
   * ```
   */
  restore(checkpoint: Checkpoint): Promise<void> {
    this.#loop.restore(checkpoint, { algo: this.algo, owner: "RLOO" });
    return Promise.resolve();
  }

  /** Frees the policy and the reference. */
  dispose(): void {
    this.#loop.dispose();
  }
}

/** In place: (x − mean) / (std + 1e-8). */
function normalize(x: Float32Array): void {
  const m = mean(x), std = Math.sqrt(x.reduce((a, v) => a + (v - m) ** 2, 0) / x.length);
  for (let i = 0; i < x.length; i++) x[i] = (x[i]! - m) / (std + 1e-8);
}
