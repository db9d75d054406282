/**
 * Rollout processors: the plug-in point between collecting a rollout and estimating advantages.
 * A processor may rewrite the rewards — score finished episodes with a {@linkcode RewardSource},
 * add a per-token KL penalty to a reference policy, whiten — so that what is specific to a task
 * (RLHF's reward shaping) lives in plugins instead of a fork of the algorithm.
 */
import type { EpisodeRecord } from "./trainer.ts";

/** A finished episode with the rollout step at which it ended. */
export interface RolloutEpisode extends EpisodeRecord {
  /** The rollout step (0-based, time-major row) whose action ended the episode. */
  step: number;
}

/**
 * One rollout in time-major layout: entry `(t, i)` of a per-step array is at `t * numEnvs + i`.
 * Processors may change `rewards` in place; everything else is read-only by convention.
 */
export interface Rollout {
  /** Env copies. */
  numEnvs: number;
  /** Steps per copy. */
  numSteps: number;
  /** Floats per observation. */
  observationSize: number;
  /** Floats per action (1 for `Discrete`). */
  actionSize: number;
  /** `numSteps × numEnvs × observationSize` observations the actions were taken in. */
  observations: Float32Array;
  /** `numSteps × numEnvs × actionSize` actions. */
  actions: Int32Array | Float32Array;
  /** Log-probs of the actions under the policy that took them. */
  logProbs: Float32Array;
  /** Value estimates of the observations. */
  values: Float32Array;
  /** Rewards; processors may rewrite them. */
  rewards: Float32Array;
  /** 1 where the step ended its episode. */
  ended: Uint8Array;
  /** Episodes that ended in this rollout, with their final info. */
  episodes: RolloutEpisode[];
}

/**
 * Rewrites a rollout's rewards before advantages are computed, and reports metrics.
 *
 * @example Scale every reward
 * ```ts
 * import assert from "node:assert/strict";
 * import type { Rollout, RolloutProcessor } from "@proximal/core";
 * const double: RolloutProcessor = {
 *   name: "double",
 *   process(rollout: Rollout) {
 *     for (let k = 0; k < rollout.rewards.length; k++) rollout.rewards[k]! *= 2;
 *     return Promise.resolve({ "env/reward_scale": 2 });
 *   },
 * };
 * assert.equal(double.name, "double");
 * ```
 */
export interface RolloutProcessor {
  /** A name for logs and errors. */
  readonly name: string;
  /** The metric names `process` may return, for fixed CSV columns (optional). */
  readonly metricNames?: readonly string[];
  /** Rewrites `rollout.rewards` in place; returns metrics to log (optional). */
  process(rollout: Rollout): Promise<Record<string, number> | void>;
}
