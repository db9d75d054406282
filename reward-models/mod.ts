/**
 * Reward sources for proximal's RLHF loop. Here now: {@linkcode functionReward}, which turns any
 * scoring function (a judge) into a `RewardSource` and guards against non-finite scores. The
 * Bradley–Terry reward model trained on preference pairs joins it with the RLHF loop.
 *
 * @example Score completions with a judge function
 * ```ts
 * import assert from "node:assert/strict";
 * import { functionReward } from "@proximal/reward-models";
 * const judge = functionReward("length", ({ completion }) => -completion.length);
 * const [reward] = await judge.score([{ prompt: "A", completion: "bc" }]);
 * assert.ok(reward === -2);
 * ```
 *
 * @module
 */
export * from "./function_reward.ts";
export * from "./vader_judge.ts";
export * from "./rollout_rewards.ts";
export * from "./text_metrics.ts";
export * from "./label_pairs.ts";
export * from "./bradley_terry.ts";
