/**
 * The GRPO and RLOO stages, `deno task train --env text-completion --algo grpo | rloo`: the
 * language model from `--model` writes G completions per prompt, `--reward` scores them, and the
 * group's rewards give each its advantage; the frozen `--model` is the KL reference (in GRPO's
 * loss, in RLOO's reward).
 */
import { type AlgoContext, type AlgoPlugin, defineAlgo } from "@proximal/core";
import { Grpo, type GrpoOptions, Rloo, type RlooOptions } from "@proximal/algos";
import { grpoStageDefaults, rlooStageDefaults } from "./defaults.ts";
import { penalised, penaltyHelp, rewardSource } from "./_reward_source.ts";
import { loadLanguageModel } from "./text_eval.ts";
import { taskOf, TextStage } from "./_text_stage.ts";

/** Where a group stage's policy and reward come from. */
export type GroupStageSources = {
  /** Checkpoint (file or run directory) of the SFT model: the policy and its reference; required. */
  model: string;
  /** `vader`, a reward model's checkpoint or run directory, or a reward plugin module; default `vader`. */
  reward: string;
  /** Subtract this times the share of repeated words of each completion from its reward; default 0. */
  repetitionPenalty: number;
  /** Subtract this times the number of words of each completion from its reward; default 0. */
  lengthPenalty: number;
};

const sourceDefaults: GroupStageSources = {
  model: "",
  reward: "vader",
  repetitionPenalty: 0,
  lengthPenalty: 0,
};

const sourceHelp = {
  model: "checkpoint (file or run directory) of the SFT model: the policy and its reference",
  reward: "vader, a reward model's checkpoint (e.g. runs/rm), or a reward plugin module",
  ...penaltyHelp,
};

const sharedHelp = {
  learningRate: "Adam step size",
  promptsPerBatch: "prompts per batch",
  numGenerations: "completions per prompt (G, k)",
  numIterations: "gradient steps per batch (μ)",
  epsilon: "clipping range of the probability ratio",
  temperature: "sampling temperature",
  maxGradNorm: "global gradient-norm clip (0 = off)",
  adamEpsilon: "Adam's ε",
};

/** A stage's options without its sources: the trainer's own. */
function trainerOptions<T extends GroupStageSources>(options: T): Omit<T, keyof GroupStageSources> {
  const { model: _m, reward: _r, repetitionPenalty: _p, lengthPenalty: _l, ...own } = options;
  return own;
}

/** Builds a group trainer from the stage's sources, wrapped as a text stage. */
async function groupStage(
  sources: GroupStageSources,
  context: AlgoContext,
  make: (
    c: ConstructorParameters<typeof Grpo>[0],
  ) => Grpo | Rloo,
): Promise<TextStage> {
  const task = taskOf(context);
  const source = await rewardSource(sources.reward, task);
  const reward = penalised(source, sources);
  const { model } = await loadLanguageModel(sources.model, task.tokenizer);
  const trainer = make({
    policy: model,
    reference: model.clone(),
    reward,
    task: {
      prompts: task.trainPrompts.map((p) => task.promptIds(p.prompt)),
      decode: task.decode,
      maxNewTokens: task.maxNewTokens,
    },
    seed: context.seed,
    totalTokens: context.totalTimesteps,
  });
  return new TextStage(trainer, {
    task,
    model: () => trainer.model,
    prefix: "policy",
    reference: model.clone(),
    seed: context.seed,
    unit: "tokens",
  });
}

/**
 * The `grpo` algorithm of the text-completion env: {@linkcode Grpo} on the model from `--model`,
 * scored by `--reward`. Defaults: {@linkcode grpoStageDefaults}; `step` counts generated tokens.
 *
 * @example Its options are GRPO's, with TRL's names
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveOptions } from "@proximal/core";
 * import { grpoStage } from "@proximal/rlhf";
 * assert.equal(resolveOptions(grpoStage, { lossType: "grpo" }).lossType, "grpo");
 * ```
 */
export const grpoStage: AlgoPlugin<GrpoOptions & GroupStageSources> = defineAlgo({
  kind: "algo",
  name: "grpo",
  description:
    "GRPO: group-relative advantages over G completions per prompt, k3 KL to --model in the loss",
  defaults: { ...grpoStageDefaults, ...sourceDefaults },
  help: {
    ...sharedHelp,
    ...sourceHelp,
    beta: "coefficient of the k3 KL to the reference in the loss",
    lossType: "grpo (per sequence), dapo or bnpo (per token), dr_grpo (constant)",
    scaleRewards: "divide advantages by the group's standard deviation",
  },
  create: (options, context) => {
    return groupStage(options, context, (c) => new Grpo(c, trainerOptions(options)));
  },
});

/**
 * The `rloo` algorithm of the text-completion env: {@linkcode Rloo} on the model from `--model`,
 * scored by `--reward`, the KL to `--model` in the reward. Defaults: {@linkcode rlooStageDefaults}.
 *
 * @example Its options are RLOO's, with TRL's names
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveOptions } from "@proximal/core";
 * import { rlooStage } from "@proximal/rlhf";
 * assert.equal(resolveOptions(rlooStage, { beta: "0.1" }).beta, 0.1);
 * ```
 */
export const rlooStage: AlgoPlugin<RlooOptions & GroupStageSources> = defineAlgo({
  kind: "algo",
  name: "rloo",
  description:
    "RLOO: leave-one-out baseline over k completions per prompt, KL to --model in the reward",
  defaults: { ...rlooStageDefaults, ...sourceDefaults },
  help: {
    ...sharedHelp,
    ...sourceHelp,
    beta: "coefficient of the sequence KL to the reference in the reward",
    normalizeAdvantages: "normalise the advantages over the batch",
  },
  create: (options, context) => {
    return groupStage(options, context, (c) => new Rloo(c, trainerOptions(options)));
  },
});
