/**
 * The DPO stage, `deno task train --env text-completion --algo dpo`: Direct Preference
 * Optimization of `--model` on preference pairs (a file, or sampled from the model and labelled by
 * VADER), against a frozen copy of it.
 */
import { type AlgoPlugin, defineAlgo, type WidenOptions } from "@proximal/core";
import { DpoTrainer, tokenizePairs } from "@proximal/algos";
import { dpoStageDefaults, type DpoStageOptions } from "./defaults.ts";
import { pairHelp, preferencePairs } from "./_pairs.ts";
import { loadLanguageModel } from "./text_eval.ts";
import { taskOf, TextStage } from "./_text_stage.ts";

/**
 * The DPO stage's options: the model and pairs to start from, and its hyperparameters (`lossType`
 * a string, as a flag gives it).
 */
export type DpoStagePluginOptions = WidenOptions<
  DpoStageOptions & {
    /** Checkpoint (file or run directory) of the model to start from and to stay near; required. */
    model: string;
    /** A JSONL pairs file; default "" (sample and label pairs). */
    pairs: string;
  }
>;

/**
 * The `dpo` algorithm of the text-completion env: {@linkcode DpoTrainer} on pairs, its held-out
 * pairs' reward accuracy and margins in the metrics, and the judge's win-rate over `--model` in the
 * evaluation. Its hyperparameters default to {@linkcode dpoStageDefaults}; `step` counts pairs.
 *
 * @example Its options
 * ```ts
 * import assert from "node:assert/strict";
 * import { dpoStage } from "@proximal/rlhf";
 * assert.equal(dpoStage.defaults.beta, 0.7);
 * assert.equal(dpoStage.defaults.pairsPerPrompt, 1);
 * ```
 */
export const dpoStage: AlgoPlugin<DpoStagePluginOptions> = defineAlgo({
  kind: "algo",
  name: "dpo",
  description: "Direct Preference Optimization on pairs, against the frozen --model",
  defaults: { model: "", pairs: "", ...dpoStageDefaults },
  help: {
    ...pairHelp,
    beta: "strength of the implicit KL leash",
    lossType: "sigmoid (DPO), ipo or hinge",
    labelSmoothing: "assumed label-noise rate (conservative DPO)",
    learningRate: "Adam step size",
    batchSize: "pairs per gradient step",
    epochs: "passes over the pairs",
    precomputeReferenceLogProbs: "compute the reference's log-probs once and free it",
  },
  create: async (options, context) => {
    const {
      model: modelPath,
      pairs: _p,
      samplesPerPrompt: _s,
      pairsPerPrompt: _n,
      labelTemperature: _t,
      ...dpo
    } = options;
    const task = taskOf(context);
    const { model } = await loadLanguageModel(modelPath, task.tokenizer);
    try {
      const split = await preferencePairs(options, model, { ...context, task });
      const reference = model.clone();
      const trainer = new DpoTrainer(model, tokenizePairs(split.train, task.tokenizer), {
        ...dpo,
        lossType: dpo.lossType as "sigmoid",
        holdout: tokenizePairs(split.holdout, task.tokenizer),
        seed: context.seed,
      });
      return new TextStage(trainer, {
        task,
        model: () => trainer.model,
        prefix: "policy",
        reference,
        seed: context.seed,
        unit: "pairs",
        epochs: () => trainer.epoch / trainer.options.epochs,
        pairs: { split, file: options.pairs },
      });
    } catch (e) {
      model.dispose();
      throw e;
    }
  },
});
