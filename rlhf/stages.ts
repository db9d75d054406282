/** The text-completion env with the RLHF stages as its algorithms, as the CLI registers it. */
import type { EnvPlugin } from "@proximal/core";
import { type SentimentTaskOptions, textCompletion } from "@proximal/envs";
import { dpoStage } from "./dpo_stage.ts";
import { grpoStage, rlooStage } from "./group_stages.ts";
import { rlhfPpoStage } from "./ppo_stage.ts";
import { rewardModelStage } from "./reward_model_stage.ts";
import { sftStage } from "./sft_stage.ts";

/**
 * The `text-completion` env of `@proximal/envs` (alias `text-preference`), bringing the RLHF
 * stages as its algorithms: `--env text-completion --algo sft | reward-model | rlhf-ppo | dpo |
 * grpo | rloo`.
 * Each stage's checkpoint carries the tokenizer, so the next loads it with `--model`:
 *
 *   deno task train --env text-completion --algo sft --out runs/sft
 *   deno task train --env text-completion --algo reward-model --model runs/sft --out runs/rm
 *   deno task train --env text-completion --algo rlhf-ppo --model runs/sft --reward runs/rm
 *   deno task train --env text-completion --algo dpo --model runs/sft
 *   deno task train --env text-completion --algo grpo --model runs/sft --reward runs/rm
 *   deno task train --env text-completion --algo rloo --model runs/sft --reward runs/rm
 *
 * @example The stages in the order they run
 * ```ts
 * import assert from "node:assert/strict";
 * import { textCompletionWithStages } from "@proximal/rlhf";
 * assert.deepEqual(
 *   textCompletionWithStages.algos?.map((a) => a.name),
 *   ["sft", "reward-model", "rlhf-ppo", "dpo", "grpo", "rloo"],
 * );
 * ```
 */
export const textCompletionWithStages: EnvPlugin<SentimentTaskOptions> = {
  ...textCompletion,
  algos: [sftStage, rewardModelStage, rlhfPpoStage, dpoStage, grpoStage, rlooStage],
};
