/**
 * Talk to a model: load any text stage's checkpoint (SFT, reward model, rlhf-ppo, DPO, GRPO,
 * RLOO: each carries its tokenizer) and complete prompts with it — `deno task complete`.
 */
import type { Rng } from "@proximal/core";
import { BOS_ID, type GruLanguageModel, WordTokenizer } from "@proximal/models";
import { readStageCheckpoint } from "./_stage_checkpoint.ts";
import { loadLanguageModel } from "./text_eval.ts";

/** A model and the tokenizer it was trained with, from a stage's checkpoint. */
export interface LoadedCompleter {
  /** The language model (the caller frees it). */
  model: GruLanguageModel;
  /** The tokenizer stored with it. */
  tokenizer: WordTokenizer;
  /** The file read. */
  source: string;
}

/**
 * Loads the language model of a text stage's checkpoint with the tokenizer stored in it, so no
 * task options need repeating.
 *
 * @param path A `.ckpt` file or a run directory (its `latest.ckpt`).
 * @returns The model, its tokenizer and the file read.
 * @example Load a stage's run directory
 * ```ts ignore
 * const { model, tokenizer } = await loadCompleter("runs/dpo");
 * ```
 */
export async function loadCompleter(path: string): Promise<LoadedCompleter> {
  const { meta, source } = await readStageCheckpoint(path, "a language model");
  const lm = meta.optionalReader("trainer")?.optionalReader("lm");
  if (!lm) {
    throw new Error(
      `Cannot complete with ${source}: it was not written by a text-completion stage of deno task train`,
    );
  }
  const tokenizer = WordTokenizer.fromJSON(lm.object("tokenizer"));
  const { model } = await loadLanguageModel(path, tokenizer);
  return { model, tokenizer, source };
}

/** Options of {@linkcode completePrompts}. */
export interface CompleteOptions {
  /** Draws the tokens (unless `temperature` is 0). */
  rng: Rng;
  /** Sampling temperature; 0 decodes greedily; default 1. */
  temperature?: number;
  /** Sample among the k most likely tokens; 0 = off; default 0. */
  topK?: number;
  /** Words to add at most; default 16. */
  maxNewTokens?: number;
}

/** One completed prompt. */
export interface Completion {
  /** The prompt as given. */
  prompt: string;
  /** The completion (text that joins to the prompt; empty when the model ends at once). */
  completion: string;
  /** Its log-probability under the sampling distribution, summed over its tokens. */
  logProb: number;
}

/**
 * Completes each prompt once, in one batch.
 *
 * @param loaded The model and its tokenizer.
 * @param prompts The prompts (text).
 * @param options See {@linkcode CompleteOptions}.
 * @returns One completion per prompt, in order.
 * @example An untrained model completes anything
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng, setupBackend } from "@proximal/core";
 * import { GruLanguageModel, WordTokenizer } from "@proximal/models";
 * import { completePrompts } from "@proximal/rlhf";
 * await setupBackend("wasm");
 * const tokenizer = WordTokenizer.fromTexts(["the food was good"]);
 * const model = new GruLanguageModel(tokenizer.vocabSize, { embeddingSize: 4, hiddenSize: 8 });
 * const [out] = completePrompts({ model, tokenizer }, ["the food was"], { rng: new Rng(1) });
 * assert.equal(out!.prompt, "the food was");
 * model.dispose();
 * ```
 */
export function completePrompts(
  loaded: Pick<LoadedCompleter, "model" | "tokenizer">,
  prompts: readonly string[],
  options: CompleteOptions,
): Completion[] {
  if (prompts.length === 0) throw new RangeError("Nothing to complete: no prompts given");
  const { model, tokenizer } = loaded;
  const ids = prompts.map((p) => Int32Array.from([BOS_ID, ...tokenizer.encode(p)]));
  const { completions, logProbs } = model.generate(ids, {
    maxNewTokens: options.maxNewTokens ?? 16,
    temperature: options.temperature ?? 1,
    topK: options.topK ?? 0,
    rng: options.rng,
  });
  return prompts.map((prompt, i) => {
    const text = tokenizer.decode(Array.from(completions[i]!));
    return {
      prompt,
      completion: text === "" ? "" : ` ${text}`,
      logProb: logProbs[i]!.reduce((a, b) => a + b, 0),
    };
  });
}
