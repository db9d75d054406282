/**
 * The RLHF loop's stages as plugins of the text-completion env — supervised fine-tuning,
 * reward-model training on preference pairs, PPO against the reward with a KL leash to the
 * reference, and DPO — with their defaults (defined once, for the CLI and `examples/rlhf.ts`) and
 * the helpers that load, sample and judge a language model's completions.
 *
 * @example The text env with its stages, as the CLI registers it
 * ```ts
 * import assert from "node:assert/strict";
 * import { rlhfPpoStage, textCompletionWithStages } from "@proximal/rlhf";
 * assert.ok(textCompletionWithStages.algos?.includes(rlhfPpoStage));
 * ```
 *
 * @module
 */
export * from "./defaults.ts";
export * from "./dpo_stage.ts";
export * from "./group_stages.ts";
export * from "./ppo_stage.ts";
export * from "./reward_model_stage.ts";
export * from "./sft_stage.ts";
export * from "./stages.ts";
export * from "./text_eval.ts";
export * from "./complete.ts";
