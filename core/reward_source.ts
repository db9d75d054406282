/** The interface between a scorer of text (a reward model, a judge) and the algorithms that use it. */

/** One (prompt, completion) pair to be scored. */
export interface ScoreRequest {
  /** The prompt the completion continues. */
  prompt: string;
  /** The completion to score. */
  completion: string;
}

/**
 * Scores a batch of completions: higher is better. Must return one finite number per request.
 *
 * @example A length-penalising scorer
 * ```ts
 * import assert from "node:assert/strict";
 * import type { RewardSource } from "@proximal/core";
 * const short: RewardSource = {
 *   name: "short",
 *   score: (batch) => Promise.resolve(Float32Array.from(batch, (r) => -r.completion.length)),
 * };
 * const [reward] = await short.score([{ prompt: "Hi", completion: " there" }]);
 * assert.ok(reward === -6);
 * ```
 */
export interface RewardSource {
  /** A name for logs and error messages. */
  readonly name: string;
  /** Scores each request; the result has one entry per request, in order. */
  score(batch: readonly ScoreRequest[]): Promise<Float32Array>;
}
