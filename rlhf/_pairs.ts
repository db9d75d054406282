// The preference pairs of the reward-model and DPO stages: read from a file, or sampled from the
// model and labelled by the VADER judge.
import { createHash } from "node:crypto";
import {
  type AlgoContext,
  type MetaReader,
  type PreferencePair,
  readPreferencePairs,
  Rng,
  writePreferencePairs,
} from "@proximal/core";
import type { GruLanguageModel } from "@proximal/models";
import { type SentimentTask as Task, splitHoldout } from "@proximal/envs";
import { labelPairs, vaderJudge } from "@proximal/reward-models";
import type { PairLabelOptions } from "./defaults.ts";
import { sampleCompletions } from "./text_eval.ts";

/** The pair options' help lines, shared by the stages that label pairs. */
export const pairHelp = {
  model: "checkpoint (file or run directory) of the model to start from, e.g. runs/sft",
  pairs: "JSONL file of {prompt, chosen, rejected} rows (default: sample and label with VADER)",
  samplesPerPrompt: "completions sampled per prompt when labelling pairs",
  pairsPerPrompt: "labelled pairs per prompt: best vs worst, then inwards",
  labelTemperature: "Bradley-Terry temperature of the sampled labels' noise",
};

/** Pairs for training and the held-out ones; whole prompts are held out. */
export interface PairSplit {
  train: PreferencePair[];
  holdout: PreferencePair[];
  /**
   * SHA-256 (hex, 16 digits) of the pairs and their split: saved in the stage's checkpoint, so a
   * pairs file that changed between a run's start and its resume is refused.
   */
  fingerprint: string;
}

/** A {@linkcode PairSplit}'s fingerprint. */
function fingerprintOf(train: PreferencePair[], holdout: PreferencePair[]): string {
  const text = JSON.stringify(
    [train, holdout].map((pairs) => pairs.map((p) => [p.prompt, p.chosen, p.rejected])),
  );
  return createHash("sha256").update(text).digest("hex").slice(0, 16);
}

/**
 * Refuses to resume a stage on other pairs than its checkpoint's (a checkpoint written before
 * fingerprints were saved is not checked).
 */
export function checkPairsFingerprint(
  meta: MetaReader,
  split: PairSplit,
  pairsFile: string,
): void {
  const saved = meta.optionalString("pairsFingerprint");
  if (saved !== undefined && saved !== split.fingerprint) {
    meta.fail(
      `the pairs ${
        pairsFile === "" ? "sampled and labelled again" : `in ${pairsFile}`
      } differ from the ones it was trained on (fingerprint ${split.fingerprint}, the checkpoint's ${saved}): resume with the same pairs file`,
    );
  }
}

/**
 * Pairs from `--pairs FILE`, or sampled from the model and labelled by VADER (then written to
 * `<out>/pairs.jsonl`). A tenth of the prompts is held out, so no pair of a held-out prompt is
 * trained on; labelled held-out prompts give one best-vs-worst pair each.
 */
export async function preferencePairs(
  options: PairLabelOptions & { pairs: string },
  model: GruLanguageModel,
  context: AlgoContext & { task: Task },
): Promise<PairSplit> {
  const { task, seed } = context;
  if (options.pairs !== "") {
    const byPrompt = new Map<string, PreferencePair[]>();
    for (const pair of await readPreferencePairs(options.pairs)) {
      byPrompt.set(pair.prompt, [...(byPrompt.get(pair.prompt) ?? []), pair]);
    }
    const split = splitHoldout([...byPrompt.values()], { fraction: 0.1, seed });
    if (split.train.length === 0 || split.holdout.length === 0) {
      throw new RangeError(
        `${options.pairs} holds pairs of ${byPrompt.size} prompt(s): training needs at least 10 (a tenth is held out)`,
      );
    }
    const train = split.train.flat(), holdout = split.holdout.flat();
    return { train, holdout, fingerprint: fingerprintOf(train, holdout) };
  }
  const rng = new Rng(seed);
  const { samplesPerPrompt } = options;
  const prompts = task.trainPrompts.map((p) => p.prompt);
  const repeated = prompts.flatMap((p) => new Array<string>(samplesPerPrompt).fill(p));
  const completions = sampleCompletions(model, task, { prompts: repeated, rng });
  const items = prompts.map((prompt, i) => ({
    prompt,
    completions: completions.slice(i * samplesPerPrompt, (i + 1) * samplesPerPrompt),
  }));
  const split = splitHoldout(items, { fraction: 0.1, seed });
  const judge = vaderJudge();
  const label = { temperature: options.labelTemperature, seed };
  const train = await labelPairs(split.train, judge, {
    ...label,
    pairsPerPrompt: options.pairsPerPrompt,
  });
  const holdout = await labelPairs(split.holdout, judge, label);
  await Deno.mkdir(context.outDir ?? ".", { recursive: true });
  const source = `${context.outDir ?? "."}/pairs.jsonl`;
  await writePreferencePairs(source, [...train.pairs, ...holdout.pairs]);
  console.log(
    `Labelled ${train.pairs.length} training and ${holdout.pairs.length} held-out pairs with VADER → ${source}`,
  );
  return {
    train: train.pairs,
    holdout: holdout.pairs,
    fingerprint: fingerprintOf(train.pairs, holdout.pairs),
  };
}
