// Where a text stage's reward comes from (private): `vader`, a reward model's checkpoint or run
// directory, or a reward plugin module. The RL stages (rlhf-ppo, grpo, rloo) share it.
import {
  createRegistry,
  defineReward,
  resolveOptions,
  resolvePlugin,
  type RewardSource,
} from "@proximal/core";
import { assertSameVocabulary } from "@proximal/models";
import type { SentimentTask as Task } from "@proximal/envs";
import {
  BradleyTerryRewardModel,
  lengthPenalty,
  repetitionPenalty,
  vaderJudge,
} from "@proximal/reward-models";
import { checkpointFile, readStageCheckpoint } from "./_stage_checkpoint.ts";
import type { RewardPenalties } from "./defaults.ts";

const vader = defineReward({
  kind: "reward",
  name: "vader",
  description: "The VADER sentiment judge (compound score of prompt + completion)",
  defaults: {},
  create: () => vaderJudge(),
});

/** `vader`, a reward model's checkpoint (file or run directory), or a reward plugin module. */
export async function rewardSource(ref: string, task: Task): Promise<RewardSource> {
  if (ref === "vader") return vaderJudge();
  const isCheckpoint = ref.endsWith(".ckpt") ||
    (await Deno.stat(checkpointFile(ref)).then(() => true, () => false));
  if (isCheckpoint) {
    const { source, checkpoint, meta } = await readStageCheckpoint(ref, "a reward model");
    const rewardModel = BradleyTerryRewardModel.fromCheckpoint(
      { meta: meta.object("trainer"), tensors: checkpoint.tensors },
      { source },
    );
    try {
      assertSameVocabulary(rewardModel.tokenizer.fingerprint, task.tokenizer, {
        where: `reward model ${source}`,
      });
    } catch (e) {
      rewardModel.dispose();
      throw e;
    }
    return rewardModel;
  }
  const plugin = await resolvePlugin(createRegistry([vader]), "reward", ref);
  return await plugin.create(resolveOptions(plugin, {}));
}

/** The help lines of {@linkcode RewardPenalties}. */
export const penaltyHelp = {
  repetitionPenalty: "minus this × the share of repeated words of a completion, in its reward",
  lengthPenalty: "minus this × the words of a completion, in its reward",
};

/** `source` with the penalties that are on. */
export function penalised(source: RewardSource, penalties: RewardPenalties): RewardSource {
  const repeated = penalties.repetitionPenalty > 0
    ? repetitionPenalty(source, { coef: penalties.repetitionPenalty })
    : source;
  return penalties.lengthPenalty > 0
    ? lengthPenalty(repeated, { coef: penalties.lengthPenalty })
    : repeated;
}
