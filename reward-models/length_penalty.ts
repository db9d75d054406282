/**
 * {@linkcode lengthPenalty}: a reward source that subtracts a penalty per word of the completion
 * from another's scores. A reward model trained on judge labels pays for length (a longer
 * completion holds more sentiment words), so a policy tuned on it writes longer completions, and
 * their bigrams repeat across completions; the penalty prices each word.
 */
import type { RewardSource, ScoreRequest } from "@proximal/core";

/**
 * The number of words of a completion: lower-cased runs of letters, digits and apostrophes (as
 * {@linkcode repeatedWordShare} counts them).
 *
 * @param text The completion.
 * @returns The word count.
 * @example Four words
 * ```ts
 * import assert from "node:assert/strict";
 * import { wordCount } from "@proximal/reward-models";
 * assert.equal(wordCount("it's great, really great!"), 4);
 * ```
 */
export function wordCount(text: string): number {
  return text.toLowerCase().match(/[a-z0-9']+/g)?.length ?? 0;
}

/**
 * Wraps a reward source: score − `coef` × the completion's {@linkcode wordCount}.
 *
 * @param source The reward source to penalise.
 * @param options `coef` (≥ 0; 0 returns the source's scores unchanged).
 * @returns A reward source named after the source.
 * @example Three words at 0.25 each: 1 − 0.75
 * ```ts
 * import assert from "node:assert/strict";
 * import { functionReward, lengthPenalty } from "@proximal/reward-models";
 * const penalised = lengthPenalty(functionReward("one", () => 1), { coef: 0.25 });
 * const [r] = await penalised.score([{ prompt: "", completion: "good and great" }]);
 * assert.equal(r, 0.25);
 * ```
 */
export function lengthPenalty(source: RewardSource, options: { coef: number }): RewardSource {
  const { coef } = options;
  if (!(coef >= 0) || !Number.isFinite(coef)) {
    throw new RangeError(`The length penalty's coef must be a finite number >= 0, got ${coef}`);
  }
  return {
    name: `${source.name}-length-${coef}`,
    async score(batch: readonly ScoreRequest[]): Promise<Float32Array> {
      const scores = await source.score(batch);
      return scores.map((s, i) => s - coef * wordCount(batch[i]!.completion));
    },
  };
}
