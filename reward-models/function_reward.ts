/**
 * A {@linkcode RewardSource} that wraps a plain scoring function — a judge such as a sentiment
 * analyser, a unit test, a length penalty — and checks what it returns, so a NaN never reaches
 * the training loop silently.
 */
import type { RewardSource, ScoreRequest } from "@proximal/core";

/** A scoring function: one number per (prompt, completion), sync or async. */
export type ScoreFunction = (request: ScoreRequest) => number | Promise<number>;

/**
 * Wraps a scoring function as a reward source that scores a batch and rejects non-finite scores
 * with an error naming the source and the offending completion.
 *
 * @param name The source's name, for logs and errors.
 * @param score The function that scores one request.
 * @returns A {@linkcode RewardSource}.
 * @example Reward exclamation marks
 * ```ts
 * import assert from "node:assert/strict";
 * import { functionReward } from "@proximal/reward-models";
 * const excited = functionReward("excited", ({ completion }) => completion.split("!").length - 1);
 * const rewards = await excited.score([{ prompt: "Hi", completion: " there!!" }]);
 * assert.ok(rewards[0] === 2);
 * ```
 */
export function functionReward(name: string, score: ScoreFunction): RewardSource {
  return {
    name,
    async score(batch: readonly ScoreRequest[]): Promise<Float32Array> {
      const out = new Float32Array(batch.length);
      for (let i = 0; i < batch.length; i++) {
        const request = batch[i]!;
        const value = await score(request);
        if (typeof value !== "number" || !Number.isFinite(value)) {
          throw new TypeError(
            `Reward source "${name}" returned ${String(value)} for completion ${
              JSON.stringify(request.completion.slice(0, 60))
            } of prompt ${
              JSON.stringify(request.prompt.slice(0, 60))
            }: scores must be finite numbers`,
          );
        }
        out[i] = value;
      }
      return out;
    },
  };
}
