/**
 * Group Relative Policy Optimization (Shao et al., 2024, DeepSeekMath), after TRL's
 * `GRPOTrainer`: for each prompt sample G completions, score them, and use each one's reward
 * relative to its group — (r − mean) / (std + 1e-4) — as the advantage of all its tokens; no critic.
 * The loss is PPO's clipped surrogate per token ({@linkcode clippedSurrogate}) plus β times the k3
 * estimate of KL(π ‖ π_ref) per token, exp(ref − new) − (ref − new) − 1, normalised per sequence
 * (`grpo`), per token over the batch (`dapo`, TRL's default; `bnpo` in one process), or by a
 * constant (`dr_grpo`). Read top to bottom: options, the math, the trainer.
 */
import * as tf from "@tensorflow/tfjs";
import {
  checkOptions,
  type Checkpoint,
  flag,
  type IterationReport,
  nonNegative,
  oneOf,
  positive,
  type RewardSource,
  type Scalar,
  type Tensor1D,
  type Tensor2D,
  type Trainer,
  trainingRules,
  wholeAtLeast,
} from "@proximal/core";
import type { GruLanguageModel } from "@proximal/models";
import { clippedSurrogate } from "./clipped_surrogate.ts";
import { GroupLoop, groupReport, type GroupTask, mean, sampleGroups } from "./_group_trainer.ts";

export type { GroupTask } from "./_group_trainer.ts";

// ──────────────────────────────── Hyperparameters ────────────────────────────────

/** GRPO's hyperparameters, with TRL's names in camelCase. */
export type GrpoOptions = {
  /** Adam's step size; default 3e-4 (TRL's 1e-6 is for pretrained transformers; see README). */
  learningRate: number;
  /** Prompts per batch; default 16. */
  promptsPerBatch: number;
  /** G, completions per prompt (TRL's `num_generations`); default 8. */
  numGenerations: number;
  /** Gradient steps per batch (TRL's `num_iterations`, μ); default 1. */
  numIterations: number;
  /** The clipping range ε (TRL's `epsilon`); default 0.2. */
  epsilon: number;
  /** β of the k3 KL to the reference in the loss; default 0.04 (TRL's until 0.18; 0 now). */
  beta: number;
  /** `grpo` (per sequence), `dapo`/`bnpo` (per token), `dr_grpo` (constant); default "dapo". */
  lossType: string;
  /** Divide advantages by the group's standard deviation (TRL's `scale_rewards`); default true. */
  scaleRewards: boolean;
  /** Sampling temperature; default 1. */
  temperature: number;
  /** Global gradient-norm clip; default 1. */
  maxGradNorm: number;
  /** Adam's ε; default 1e-8. */
  adamEpsilon: number;
};

/**
 * GRPO's defaults: TRL's, but the learning rate (a small GRU from scratch, not a pretrained
 * transformer) and β (TRL's earlier 0.04, since the leash is wanted here).
 *
 * @example Eight completions per prompt
 * ```ts
 * import assert from "node:assert/strict";
 * import { grpoDefaults } from "@proximal/algos";
 * assert.equal(grpoDefaults.numGenerations, 8);
 * ```
 */
export const grpoDefaults: GrpoOptions = {
  learningRate: 3e-4,
  promptsPerBatch: 16,
  numGenerations: 8,
  numIterations: 1,
  epsilon: 0.2,
  beta: 0.04,
  lossType: "dapo",
  scaleRewards: true,
  temperature: 1,
  maxGradNorm: 1,
  adamEpsilon: 1e-8,
};

const GRPO_RULES = {
  learningRate: trainingRules.learningRate,
  promptsPerBatch: wholeAtLeast(1),
  numGenerations: wholeAtLeast(2),
  numIterations: wholeAtLeast(1),
  epsilon: positive,
  beta: nonNegative,
  lossType: oneOf(["grpo", "dapo", "bnpo", "dr_grpo"]),
  scaleRewards: flag,
  temperature: positive,
  maxGradNorm: trainingRules.maxGradNorm,
  adamEpsilon: trainingRules.adamEpsilon,
};

// ──────────────────────────────── The math ────────────────────────────────

/**
 * Group-relative advantages: each reward minus its group's mean, divided (with `scale`) by the
 * group's standard deviation (unbiased, as torch's) + 1e-4. Groups are `groupSize` consecutive
 * rewards.
 *
 * @param rewards The rewards, group by group.
 * @param options `groupSize` and `scale`.
 * @returns The advantages.
 * @example Rewards 1, 3 → mean 2, std √2
 * ```ts
 * import assert from "node:assert/strict";
 * import { groupAdvantages } from "@proximal/algos";
 * const a = groupAdvantages(Float32Array.of(1, 3), { groupSize: 2, scale: false });
 * assert.deepEqual(Array.from(a), [-1, 1]);
 * ```
 */
export function groupAdvantages(
  rewards: Float32Array,
  options: { groupSize: number; scale: boolean },
): Float32Array {
  const G = options.groupSize, out = new Float32Array(rewards.length);
  if (!Number.isInteger(G) || G < 2 || rewards.length % G !== 0) {
    throw new RangeError(
      `Group advantages need groups of >= 2 that divide the ${rewards.length} rewards, got ${G}`,
    );
  }
  for (let g = 0; g < rewards.length; g += G) {
    let mean = 0;
    for (let i = g; i < g + G; i++) mean += rewards[i]!;
    mean /= G;
    let sq = 0;
    for (let i = g; i < g + G; i++) sq += (rewards[i]! - mean) ** 2;
    const std = Math.sqrt(sq / (G - 1));
    for (let i = g; i < g + G; i++) {
      out[i] = options.scale ? (rewards[i]! - mean) / (std + 1e-4) : rewards[i]! - mean;
    }
  }
  return out;
}

/** The tensors of {@linkcode groupPolicyLoss}. */
export interface GroupLossInputs {
  /** `[B, T]` log π of each target token (on the tape). */
  newLogProb: Tensor2D;
  /** `[B, T]` log π_old, when the batch was sampled. */
  oldLogProb: Tensor2D;
  /** `[B, T]` log π_ref (used when β > 0). */
  refLogProb: Tensor2D;
  /** `[B]` each sequence's advantage, for all its tokens. */
  advantages: Tensor1D;
  /** `[B, T]` 1 at completion tokens, 0 at prompt and padding. */
  mask: Tensor2D;
}

/**
 * GRPO's loss (RLOO's with β 0): per token, the clipped surrogate plus β·k3, normalised as
 * `lossType` says. Returns the loss and TRL's terms: the surrogate's part, the mean k3 KL and the
 * clipped fraction, over completion tokens.
 *
 * @param inputs See {@linkcode GroupLossInputs}.
 * @param options ε, β, `lossType` and (for `dr_grpo`) `maxNewTokens`.
 * @returns Scalars `loss`, `policyLoss`, `kl`, `clipRatio`.
 * @example Ratio 1, advantage 1 on one token, β 0: loss −1
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { groupPolicyLoss } from "@proximal/algos";
 * import { setupBackend } from "@proximal/core";
 * await setupBackend("cpu");
 * const lp = tf.tensor2d([[-1, -2]]);
 * const { loss } = groupPolicyLoss(
 *   { newLogProb: lp, oldLogProb: lp, refLogProb: lp, advantages: tf.tensor1d([1]), mask: tf.tensor2d([[0, 1]]) },
 *   { epsilon: 0.2, beta: 0, lossType: "dapo", maxNewTokens: 16 },
 * );
 * assert.equal(loss.dataSync()[0], -1);
 * ```
 */
export function groupPolicyLoss(
  inputs: GroupLossInputs,
  options: { epsilon: number; beta: number; lossType: string; maxNewTokens: number },
): { loss: Scalar; policyLoss: Scalar; kl: Scalar; clipRatio: Scalar } {
  const { newLogProb, oldLogProb, refLogProb, advantages, mask } = inputs;
  const B = mask.shape[0];
  const ratio = tf.exp(tf.sub(newLogProb, oldLogProb));
  const surrogate = clippedSurrogate(ratio, tf.reshape(advantages, [B, 1]), options.epsilon);
  const delta = tf.sub(refLogProb, newLogProb);
  const k3 = tf.sub(tf.sub(tf.exp(delta), delta), 1);
  const perToken = options.beta > 0 ? tf.add(surrogate, tf.mul(options.beta, k3)) : surrogate;
  const tokens = tf.sum(mask);
  const aggregate = (x: tf.Tensor): Scalar => {
    const masked = tf.mul(x, mask);
    if (options.lossType === "grpo") {
      return tf.mean(tf.div(tf.sum(masked, 1), tf.maximum(tf.sum(mask, 1), 1))) as Scalar;
    }
    if (options.lossType === "dr_grpo") {
      return tf.div(tf.sum(masked), B * options.maxNewTokens) as Scalar;
    }
    return tf.div(tf.sum(masked), tf.maximum(tokens, 1)) as Scalar;
  };
  const outside = tf.cast(tf.greater(tf.abs(tf.sub(ratio, 1)), options.epsilon), "float32");
  const perTokenMean = (x: tf.Tensor) => tf.div(tf.sum(tf.mul(x, mask)), tf.maximum(tokens, 1));
  return {
    loss: aggregate(perToken),
    policyLoss: aggregate(surrogate),
    kl: perTokenMean(k3) as Scalar,
    clipRatio: perTokenMean(outside) as Scalar,
  };
}

// ──────────────────────────────── The trainer ────────────────────────────────

/** What {@linkcode Grpo} trains and against what. */
export interface GroupContext {
  /** The policy, trained; the trainer owns it. */
  policy: GruLanguageModel;
  /** The frozen reference of the KL; the trainer owns it too. */
  reference: GruLanguageModel;
  /** Scores each (prompt, completion). */
  reward: RewardSource;
  /** The prompts and their decoding. */
  task: GroupTask;
  /** Seed of the prompt draws and the sampling. */
  seed: number;
  /** Generated tokens to train on; the run stops at the first iteration past it. */
  totalTokens: number;
}

/**
 * The GRPO trainer: each {@linkcode Grpo.iterate} samples `promptsPerBatch × numGenerations`
 * completions and takes `numIterations` Adam steps; `step` counts generated tokens. Metrics are
 * TRL's: `reward`, `reward_std`, `kl`, `completions/mean_length`, `clip_ratio/region_mean`,
 * `frac_reward_zero_std`, `loss`, `grad_norm`, `learning_rate`, with `perf/*` timings.
 *
 * @example Two iterations of a tiny model rewarded for token 5
 * ```ts
 * import assert from "node:assert/strict";
 * import { Grpo } from "@proximal/algos";
 * import { setupBackend } from "@proximal/core";
 * import { GruLanguageModel } from "@proximal/models";
 * import { functionReward } from "@proximal/reward-models";
 * await setupBackend("wasm");
 * const policy = new GruLanguageModel(8, { embeddingSize: 4, hiddenSize: 8, seed: 1 });
 * const grpo = new Grpo({
 *   policy,
 *   reference: policy.clone(),
 *   reward: functionReward("fives", ({ completion }) => completion.split("5").length - 1),
 *   task: { prompts: [Int32Array.of(1, 3)], decode: (ids) => ids.join(" "), maxNewTokens: 4 },
 *   seed: 1,
 *   totalTokens: 1,
 * }, { promptsPerBatch: 2, numGenerations: 4 });
 * const { metrics } = await grpo.iterate();
 * assert.ok(grpo.done && Number.isFinite(metrics["loss"]!));
 * grpo.dispose();
 * ```
 */
export class Grpo implements Trainer {
  /** The plugin name. */
  readonly algo: string = "grpo";
  /** What `step` counts. */
  readonly unit = "tokens";
  /** The metrics of every iteration. */
  readonly metricNames: readonly string[] = [
    "reward",
    "reward_std",
    "kl",
    "completions/mean_length",
    "clip_ratio/region_mean",
    "frac_reward_zero_std",
    "loss",
    "grad_norm",
    "learning_rate",
    "perf/sample_ms",
    "perf/update_ms",
    "perf/tokens_per_second",
  ];
  /** The hyperparameters in force. */
  readonly options: Readonly<GrpoOptions>;
  readonly #context: GroupContext;
  readonly #loop: GroupLoop;

  /**
   * Checks the options and sets up Adam on the policy's weights.
   *
   * @param context The models, the reward, the prompts, the seed and the budget.
   * @param options Hyperparameters; missing ones take {@linkcode grpoDefaults}.
   */
  constructor(context: GroupContext, options: Partial<GrpoOptions> = {}) {
    const o = this.options = { ...grpoDefaults, ...options };
    checkOptions("GRPO", o, GRPO_RULES);
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
   * @example See {@linkcode Grpo}
   * ```ts ignore
   * const { metrics } = await grpo.iterate();
   * ```
   */
  async iterate(): Promise<IterationReport> {
    const o = this.options, c = this.#context, G = o.numGenerations, start = performance.now();
    const batch = await sampleGroups(c, {
      task: c.task,
      reward: c.reward,
      promptsPerBatch: o.promptsPerBatch,
      groupSize: G,
      temperature: o.temperature,
      rng: this.#loop.rng,
    });
    const sampleMs = performance.now() - start;
    const loss = { ...o, maxNewTokens: c.task.maxNewTokens };
    const { metrics, gradNorm, updateMs } = this.#loop.update(batch, {
      advantages: (b) => groupAdvantages(b.scores, { groupSize: G, scale: o.scaleRewards }),
      numIterations: o.numIterations,
      sampleMs,
      loss: (inputs) => {
        const terms = groupPolicyLoss(inputs, loss);
        return { loss: terms.loss, metrics: { ...terms, loss: tf.clone(terms.loss) } };
      },
    });
    return groupReport(this.#loop, {
      reward: mean(batch.scores),
      reward_std: groupStd(batch.scores, G),
      kl: metrics.kl!,
      "completions/mean_length": mean(batch.lengths),
      "clip_ratio/region_mean": metrics.clipRatio!,
      frac_reward_zero_std: zeroStdFraction(batch.scores, G),
      loss: metrics.loss!,
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
   * @returns A checkpoint that {@linkcode Grpo.restore} resumes from.
   * @example Save
   * ```ts ignore
   * const checkpoint = await grpo.save();
   * ```
   */
  save(): Promise<Checkpoint> {
    return Promise.resolve(this.#loop.save(this.algo));
  }

  /**
   * Restores a checkpoint of {@linkcode Grpo.save}.
   *
   * @param checkpoint The checkpoint.
   * @example Resume
   * ```ts ignore
   * await grpo.restore(checkpoint);
   * ```
   */
  restore(checkpoint: Checkpoint): Promise<void> {
    this.#loop.restore(checkpoint, { algo: this.algo, owner: "GRPO" });
    return Promise.resolve();
  }

  /** Frees the policy and the reference. */
  dispose(): void {
    this.#loop.dispose();
  }
}

/** Mean over groups of the group's (unbiased) standard deviation, as TRL logs `reward_std`. */
function groupStd(x: Float32Array, G: number): number {
  const stds: number[] = [];
  for (let g = 0; g < x.length; g += G) {
    const group = x.subarray(g, g + G), m = mean(group);
    stds.push(Math.sqrt(group.reduce((a, v) => a + (v - m) ** 2, 0) / (G - 1)));
  }
  return mean(stds);
}

function zeroStdFraction(x: Float32Array, G: number): number {
  let zero = 0;
  for (let g = 0; g < x.length; g += G) {
    if (x.subarray(g, g + G).every((v) => v === x[g])) zero++;
  }
  return zero / (x.length / G);
}
