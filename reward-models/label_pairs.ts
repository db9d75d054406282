/**
 * Preference pairs from a judge, as a noisy human labeller would give them: for each prompt the
 * judge scores several sampled completions, its best and worst become a pair, and which of the two
 * is labelled "chosen" is drawn from the Bradley–Terry model on the judge's scores —
 * P(best is chosen) = σ((s_best − s_worst) / temperature) — so close calls are sometimes flipped.
 * Prompts whose completions all score the same (VADER ties on many short texts) give no pair.
 */
import { type PreferencePair, type RewardSource, Rng } from "@proximal/core";

/** Completions sampled for one prompt. */
export interface PromptCompletions {
  /** The prompt. */
  prompt: string;
  /** Two or more completions of it. */
  completions: readonly string[];
}

/** Options of {@linkcode labelPairs}. */
export interface LabelPairsOptions {
  /** Bradley–Terry temperature of the label noise: lower is more decisive; default 0.2. */
  temperature?: number;
  /** Seed of the label draws; default 0. */
  seed?: number;
}

/** What {@linkcode labelPairs} returns. */
export interface LabelledPairs {
  /** The pairs, in prompt order, in TRL's format. */
  pairs: PreferencePair[];
  /** Prompts skipped because every completion scored the same. */
  ties: number;
  /** Pairs whose label went against the judge (the noise), a share of all pairs. */
  flipRate: number;
}

/**
 * Scores every completion with the judge (one batch) and turns each prompt's best and worst into
 * a stochastically labelled pair.
 *
 * @param items Prompts with their sampled completions.
 * @param judge The scorer playing the labeller.
 * @param options See {@linkcode LabelPairsOptions}.
 * @returns The pairs and how many prompts tied.
 * @example A decisive judge
 * ```ts
 * import assert from "node:assert/strict";
 * import { functionReward, labelPairs } from "@proximal/reward-models";
 * const judge = functionReward("len", ({ completion }) => completion.length);
 * const { pairs } = await labelPairs([{ prompt: "p", completions: ["a", "aaaaaaaa", "aa"] }], judge, {
 *   temperature: 0.01,
 * });
 * assert.deepEqual(pairs, [{ prompt: "p", chosen: "aaaaaaaa", rejected: "a" }]);
 * ```
 */
export async function labelPairs(
  items: readonly PromptCompletions[],
  judge: RewardSource,
  options: LabelPairsOptions = {},
): Promise<LabelledPairs> {
  const temperature = options.temperature ?? 0.2;
  if (!(temperature > 0)) {
    throw new RangeError(`labelPairs needs a temperature > 0, got ${temperature}`);
  }
  items.forEach((item, i) => {
    if (item.completions.length < 2) {
      throw new RangeError(
        `Prompt ${i} has ${item.completions.length} completions: pairs need two or more`,
      );
    }
  });
  const requests = items.flatMap((item) =>
    item.completions.map((completion) => ({ prompt: item.prompt, completion }))
  );
  const scores = await judge.score(requests);
  const rng = new Rng(options.seed ?? 0);
  const pairs: PreferencePair[] = [];
  let offset = 0, ties = 0, flips = 0;
  for (const item of items) {
    let best = 0, worst = 0;
    for (let j = 1; j < item.completions.length; j++) {
      if (scores[offset + j]! > scores[offset + best]!) best = j;
      if (scores[offset + j]! < scores[offset + worst]!) worst = j;
    }
    const margin = scores[offset + best]! - scores[offset + worst]!;
    offset += item.completions.length;
    if (margin === 0) {
      ties++;
      continue;
    }
    const keepOrder = rng.uniform() < 1 / (1 + Math.exp(-margin / temperature));
    if (!keepOrder) flips++;
    const [chosen, rejected] = keepOrder ? [best, worst] : [worst, best];
    pairs.push({
      prompt: item.prompt,
      chosen: item.completions[chosen]!,
      rejected: item.completions[rejected]!,
    });
  }
  return { pairs, ties, flipRate: pairs.length === 0 ? 0 : flips / pairs.length };
}
