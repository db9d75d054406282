/**
 * The RLHF PPO stage, `deno task train --env text-completion --algo rlhf-ppo`: PPO on a
 * language-model policy from `--model`, its completions scored by `--reward`, with a per-token KL
 * leash to the frozen `--model`.
 */
import { type AlgoPlugin, defineAlgo, type RolloutProcessor } from "@proximal/core";
import { LmPolicy } from "@proximal/models";
import { TextCompletionEnv } from "@proximal/envs";
import {
  AdaptiveKlController,
  FixedKlController,
  type KlController,
  klPenalty,
  Ppo,
  ppo,
} from "@proximal/algos";
import { scoreEpisodes, whitenRewards } from "@proximal/reward-models";
import {
  refKlDefaults,
  type RefKlOptions,
  type RewardPenalties,
  rlhfPpoDefaults,
  type RlhfPpoOptions,
} from "./defaults.ts";
import { loadLanguageModel } from "./text_eval.ts";
import { penalised, penaltyHelp, rewardSource } from "./_reward_source.ts";
import { taskOf, TextStage } from "./_text_stage.ts";

// PPO's own help lines, but those of the MLP policy and its shards.
const { hiddenSize: _h, hiddenLayers: _l, numShards: _s, ...ppoHelp } = ppo.help ?? {};

/**
 * The controller of the leash's β: fixed, or TRL's adaptive one when `refKlTarget` is above 0.
 *
 * @param options The leash's options; see {@linkcode refKlDefaults}.
 * @returns A new controller.
 * @example The default leash is fixed
 * ```ts
 * import assert from "node:assert/strict";
 * import { FixedKlController } from "@proximal/algos";
 * import { refKlController, refKlDefaults } from "@proximal/rlhf";
 * assert.ok(refKlController(refKlDefaults) instanceof FixedKlController);
 * ```
 */
export function refKlController(options: RefKlOptions): KlController {
  return options.refKlTarget > 0
    ? new AdaptiveKlController({
      initKlCoef: options.refKlCoef,
      target: options.refKlTarget,
      horizon: options.refKlHorizon,
    })
    : new FixedKlController(options.refKlCoef);
}

/** The RLHF PPO stage's options: PPO's, the leash's, and where the policy and the reward come from. */
export type RlhfPpoStageOptions = RlhfPpoOptions & RefKlOptions & RewardPenalties & {
  /** Checkpoint (file or run directory) of the SFT model: the policy and its reference; required. */
  model: string;
  /** `vader`, a reward model's checkpoint or run directory, or a reward plugin module; default `vader`. */
  reward: string;
  /** Divide each rollout's rewards by their standard deviation; default false. */
  whiten: boolean;
};

/**
 * The `rlhf-ppo` algorithm of the text-completion env (`--algo ppo` there too): {@linkcode Ppo}
 * with an `LmPolicy` from `--model`, its completions scored by `--reward` (the `scoreEpisodes`
 * processor) and a per-token KL penalty to a frozen copy of the model (`klPenalty`, reporting
 * `objective/kl`, `objective/kl_per_token` and `objective/kl_coef`, TRL's names for the KL to the
 * reference). The leash's options were `--kl-coef`, `--kl-target` and `--kl-horizon`, still
 * accepted; PPO's own `--kl-penalty-coef` is another penalty (old policy vs new). Defaults:
 * {@linkcode rlhfPpoDefaults} and {@linkcode refKlDefaults}; `step` counts generated tokens.
 *
 * @example The leash's options under their earlier names
 * ```ts
 * import assert from "node:assert/strict";
 * import { resolveOptions } from "@proximal/core";
 * import { rlhfPpoStage } from "@proximal/rlhf";
 * assert.deepEqual(rlhfPpoStage.aliases, ["ppo"]);
 * assert.equal(resolveOptions(rlhfPpoStage, { klCoef: "0.2" }).refKlCoef, 0.2);
 * ```
 */
export const rlhfPpoStage: AlgoPlugin<RlhfPpoStageOptions> = defineAlgo({
  kind: "algo",
  name: "rlhf-ppo",
  // `--algo ppo` on the text env meant this plugin before it had a name of its own.
  aliases: ["ppo"],
  description:
    "PPO on a language-model policy from --model, scored by --reward, with a KL leash to --model",
  defaults: {
    ...rlhfPpoDefaults,
    model: "",
    reward: "vader",
    ...refKlDefaults,
    whiten: false,
    repetitionPenalty: 0,
    lengthPenalty: 0,
  },
  help: {
    ...ppoHelp,
    klPenaltyCoef: "PPO's own penalty on KL(old policy ‖ new), not the leash (0 = off)",
    numWorkers:
      "Deno Workers that compute parts 2… of each minibatch's gradient (--gradient-parts; same numbers whatever the workers)",
    workersIfFaster: "start the workers only on a machine of 2 or more cores (same numbers)",
    model: "checkpoint (file or run directory) of the SFT model: the policy and its reference",
    reward: "vader, a reward model's checkpoint (e.g. runs/rm), or a reward plugin module",
    refKlCoef: "initial coefficient of the per-token KL penalty to the reference model",
    refKlTarget:
      "KL per sequence to the reference that an adaptive coefficient steers to (0 = fixed)",
    refKlHorizon: "adaptive coefficient's horizon (TRL's)",
    whiten: "divide each rollout's rewards by their standard deviation",
    ...penaltyHelp,
  },
  optionAliases: { klCoef: "refKlCoef", klTarget: "refKlTarget", klHorizon: "refKlHorizon" },
  create: async (options, context) => {
    const { model, reward, refKlCoef, refKlTarget, refKlHorizon, whiten, ...rest } = options;
    const { repetitionPenalty, lengthPenalty, ...ppoOptions } = rest;
    const task = taskOf(context);
    const source = penalised(await rewardSource(reward, task), {
      repetitionPenalty,
      lengthPenalty,
    });
    const { model: policyModel } = await loadLanguageModel(model, task.tokenizer);
    const reference = policyModel.clone();
    const processors: RolloutProcessor[] = [
      scoreEpisodes(source),
      ...(whiten ? [whitenRewards()] : []),
      klPenalty(
        new LmPolicy(reference.clone(), { contextLength: task.contextLength }),
        refKlController({ refKlCoef, refKlTarget, refKlHorizon }),
      ),
    ];
    const prompts = task.trainPrompts.map((p) => task.promptIds(p.prompt));
    const policy = new LmPolicy(policyModel, { contextLength: task.contextLength });
    const ppo = new Ppo({
      makeEnv: () =>
        new TextCompletionEnv({
          prompts,
          vocabSize: task.tokenizer.vocabSize,
          maxNewTokens: task.maxNewTokens,
          contextLength: task.contextLength,
          decode: task.decode,
        }),
      numEnvs: context.numEnvs,
      seed: context.seed,
      totalTimesteps: context.totalTimesteps,
      envName: context.envName ?? "text-completion",
      policy,
      processors,
    }, ppoOptions);
    return new TextStage(ppo, {
      task,
      model: () => policy.model,
      prefix: "policy",
      reference,
      seed: context.seed,
      // Each env step writes one token.
      unit: "tokens",
    });
  },
});
