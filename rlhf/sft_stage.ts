/**
 * The SFT stage, `deno task train --env text-completion --algo sft`: a GRU language model learns
 * the corpus's training sentences; its checkpoint carries the tokenizer, so later stages load it
 * with `--model`.
 */
import { type AlgoPlugin, defineAlgo } from "@proximal/core";
import { SftTrainer } from "@proximal/algos";
import { sftStageDefaults, type SftStageOptions } from "./defaults.ts";
import { taskOf, TextStage } from "./_text_stage.ts";

/**
 * The `sft` algorithm of the text-completion env: {@linkcode SftTrainer} on the task's training
 * sentences, with held-out perplexity in the metrics and samples in the evaluation. Its options are
 * {@linkcode sftStageDefaults}; `step` counts tokens.
 *
 * @example Its options
 * ```ts
 * import assert from "node:assert/strict";
 * import { sftStage } from "@proximal/rlhf";
 * assert.equal(sftStage.name, "sft");
 * assert.equal(sftStage.defaults.epochs, 6);
 * ```
 */
export const sftStage: AlgoPlugin<SftStageOptions> = defineAlgo({
  kind: "algo",
  name: "sft",
  description:
    "Supervised fine-tuning: a GRU language model learns the corpus's training sentences",
  defaults: sftStageDefaults,
  help: {
    learningRate: "Adam step size",
    batchSize: "sentences per gradient step",
    epochs: "passes over the sentences",
    embeddingSize: "token embedding width",
    hiddenSize: "GRU width",
    layers: "GRU layers",
  },
  create: (options, context) => {
    const task = taskOf(context);
    const encode = (text: string) => task.tokenizer.encode(text);
    const sft = new SftTrainer(
      {
        train: task.train.map((s) => encode(s.text)).filter((ids) => ids.length > 0),
        holdout: task.holdout.map((s) => encode(s.text)).filter((ids) => ids.length > 0),
        vocabSize: task.tokenizer.vocabSize,
      },
      { ...options, seed: context.seed },
    );
    return new TextStage(sft, {
      task,
      model: () => sft.model,
      prefix: "model",
      seed: context.seed,
      unit: "tokens",
      epochs: () => sft.epoch / sft.options.epochs,
    });
  },
});
