/**
 * {@linkcode repetitionPenalty}: a reward source that subtracts a penalty for repeated words from
 * another's scores, so a policy cannot buy reward by saying "great … great" (the degeneration
 * that lowers distinct-2).
 */
import type { RewardSource, ScoreRequest } from "@proximal/core";

/**
 * The share of a completion's words that repeat an earlier word of it: 1 − distinct/total (0 for
 * fewer than two words). Words are lower-cased runs of letters, digits and apostrophes.
 *
 * @param text The completion.
 * @returns A number in [0, 1).
 * @example Two of four words repeat
 * ```ts
 * import assert from "node:assert/strict";
 * import { repeatedWordShare } from "@proximal/reward-models";
 * assert.equal(repeatedWordShare("great, great and great"), 0.5);
 * ```
 */
export function repeatedWordShare(text: string): number {
  const words = text.toLowerCase().match(/[a-z0-9']+/g) ?? [];
  return words.length < 2 ? 0 : 1 - new Set(words).size / words.length;
}

/**
 * Wraps a reward source: score − `coef` × the completion's {@linkcode repeatedWordShare}.
 *
 * @param source The reward source to penalise.
 * @param options `coef` (≥ 0; 0 returns the source's scores unchanged).
 * @returns A reward source named after the source.
 * @example Half the words repeat: 1 − 2 · 0.5 = 0
 * ```ts
 * import assert from "node:assert/strict";
 * import { functionReward, repetitionPenalty } from "@proximal/reward-models";
 * const penalised = repetitionPenalty(functionReward("one", () => 1), { coef: 2 });
 * const [r] = await penalised.score([{ prompt: "", completion: "great great good good" }]);
 * assert.equal(r, 0);
 * ```
 */
export function repetitionPenalty(source: RewardSource, options: { coef: number }): RewardSource {
  const { coef } = options;
  if (!(coef >= 0) || !Number.isFinite(coef)) {
    throw new RangeError(`The repetition penalty's coef must be a finite number >= 0, got ${coef}`);
  }
  return {
    name: `${source.name}-repetition-${coef}`,
    async score(batch: readonly ScoreRequest[]): Promise<Float32Array> {
      const scores = await source.score(batch);
      return scores.map((s, i) => s - coef * repeatedWordShare(batch[i]!.completion));
    },
  };
}
