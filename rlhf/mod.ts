/**
 * The RLHF loop's stages as plugins of the text env: supervised fine-tuning, reward-model
 * training on preference pairs, PPO against the reward with a KL leash to the reference, and DPO,
 * with the helpers that sample and judge a language model's completions.
 *
 * @example The text env with its stages, as the CLI registers it
 * ```ts
 * import assert from "node:assert/strict";
 * import { textPreferenceWithStages } from "@proximal/rlhf";
 * assert.deepEqual(textPreferenceWithStages.algos?.map((a) => a.name), ["sft", "reward-model", "ppo", "dpo"]);
 * ```
 *
 * @module
 */
export * from "./text_eval.ts";
export * from "./text_stages.ts";
