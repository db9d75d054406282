/**
 * Reward sources for proximal's RLHF loop: {@linkcode functionReward} turns any scoring function
 * (a judge) into a `RewardSource`; {@linkcode vaderJudge} is the VADER sentiment judge;
 * {@linkcode BradleyTerryRewardModel} is a reward model trained on preference pairs by
 * {@linkcode BradleyTerryTrainer}. Around them:
 * {@linkcode labelPairs} (judge-labelled pairs with Bradley–Terry noise), the rollout processors
 * {@linkcode scoreEpisodes} and {@linkcode whitenRewards}, and the evaluation measures
 * {@linkcode winRate} and {@linkcode distinctN}.
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
export * from "./reward_model.ts";
export * from "./reward_model_trainer.ts";
export * from "./sentiment_classifier.ts";
export * from "./repetition_penalty.ts";
export * from "./length_penalty.ts";
