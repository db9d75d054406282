/**
 * Preference pairs from a judge, as a noisy human labeller would give them: for each prompt the
 * judge scores several sampled completions, its best and worst become a pair, and which of the two
 * is labelled "chosen" is drawn from the Bradley–Terry model on the judge's scores —
 * P(best is chosen) = σ((s_best − s_worst) / temperature) — so close calls are sometimes flipped.
 * Prompts whose completions all score the same (VADER ties on many short texts) give no pair.
 * With `pairsPerPrompt` > 1 the second best and second worst make a pair too, and so on inwards:
 * more comparisons from the same samples, as InstructGPT takes several from each ranking, each
 * labelled with the same noise (closer calls flip more often).
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
  /**
   * Pairs taken from each prompt's ranked completions: the r-th best against the r-th worst for
   * r = 1 … pairsPerPrompt, while they are two different completions (so at most half the
   * completions), skipping a pair the judge scores equal. Default 1: best against worst only.
   */
  pairsPerPrompt?: number;
}

/** What {@linkcode labelPairs} returns. */
export interface LabelledPairs {
  /** The pairs, in prompt order (a prompt's best against worst first), in TRL's format. */
  pairs: PreferencePair[];
  /**
   * Where each pair came from in its prompt's ranking: 0 for the best against the worst, 1 for
   * the second best against the second worst, and so on (all 0 with `pairsPerPrompt` 1).
   */
  ranks: number[];
  /** Prompts skipped because every completion scored the same. */
  ties: number;
  /** Pairs whose label went against the judge (the noise), a share of all pairs. */
  flipRate: number;
}

/**
 * Scores every completion with the judge (one batch) and turns each prompt's best and worst (and,
 * with `pairsPerPrompt`, the next ones inwards) into stochastically labelled pairs.
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
 * @example Two pairs from four ranked completions
 * ```ts
 * import assert from "node:assert/strict";
 * import { functionReward, labelPairs } from "@proximal/reward-models";
 * const judge = functionReward("len", ({ completion }) => completion.length);
 * const { pairs } = await labelPairs(
 *   [{ prompt: "p", completions: ["aa", "aaaa", "a", "aaa"] }],
 *   judge,
 *   { temperature: 0.01, pairsPerPrompt: 2 },
 * );
 * assert.deepEqual(pairs, [
 *   { prompt: "p", chosen: "aaaa", rejected: "a" },
 *   { prompt: "p", chosen: "aaa", rejected: "aa" },
 * ]);
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
  const pairsPerPrompt = options.pairsPerPrompt ?? 1;
  if (!Number.isInteger(pairsPerPrompt) || pairsPerPrompt < 1) {
    throw new RangeError(`labelPairs needs a whole pairsPerPrompt >= 1, got ${pairsPerPrompt}`);
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
  const ranks: number[] = [];
  let offset = 0, ties = 0, flips = 0;
  for (const item of items) {
    const n = item.completions.length, base = offset;
    offset += n;
    // Best first and worst first, equal scores in input order (so r = 0 pairs the first highest
    // score with the first lowest). The margins shrink with r; pairs with a positive margin never
    // share a completion.
    const byIndex = Array.from({ length: n }, (_, j) => j);
    const ranked = [...byIndex].sort((a, b) => scores[base + b]! - scores[base + a]! || a - b);
    const low = [...byIndex].sort((a, b) => scores[base + a]! - scores[base + b]! || a - b);
    if (scores[base + ranked[0]!] === scores[base + low[0]!]) {
      ties++;
      continue;
    }
    for (let r = 0; r < Math.min(pairsPerPrompt, Math.floor(n / 2)); r++) {
      const best = ranked[r]!, worst = low[r]!;
      const margin = scores[base + best]! - scores[base + worst]!;
      if (!(margin > 0)) break; // the rest are ties too
      const keepOrder = rng.uniform() < 1 / (1 + Math.exp(-margin / temperature));
      if (!keepOrder) flips++;
      const [chosen, rejected] = keepOrder ? [best, worst] : [worst, best];
      pairs.push({
        prompt: item.prompt,
        chosen: item.completions[chosen]!,
        rejected: item.completions[rejected]!,
      });
      ranks.push(r);
    }
  }
  return { pairs, ranks, ties, flipRate: pairs.length === 0 ? 0 : flips / pairs.length };
}
