/**
 * Rollout processors that turn a {@linkcode RewardSource} into PPO rewards: `scoreEpisodes` scores
 * every episode that ended in a rollout — in one batch — and adds each score at the episode's last
 * step (TRL's sequence-level reward at the last token); `whitenRewards` rescales a rollout's
 * rewards to unit standard deviation without shifting their mean (TRL's `whiten_rewards`).
 */
import type { RewardSource, Rollout, RolloutProcessor, ScoreRequest } from "@proximal/core";

/**
 * Scores the (prompt, completion) of each episode that ended in the rollout and adds the score to
 * the reward of its last step. The env must put `prompt` and `completion` strings in the info of
 * an episode's last step, as the text-completion env does.
 *
 * @param source The judge or reward model.
 * @returns A processor reporting `env/reward_mean` and `env/reward_std` (TRL's names).
 * @example Score completions by length
 * ```ts
 * import assert from "node:assert/strict";
 * import { functionReward, scoreEpisodes } from "@proximal/reward-models";
 * const processor = scoreEpisodes(functionReward("len", ({ completion }) => completion.length));
 * const rewards = new Float32Array(2);
 * await processor.process({
 *   numEnvs: 1, numSteps: 2, observationSize: 1, actionSize: 1,
 *   observations: new Float32Array(2), actions: new Int32Array(2), logProbs: new Float32Array(2),
 *   values: new Float32Array(2), rewards, ended: Uint8Array.of(0, 1),
 *   episodes: [{ envIndex: 0, step: 1, return: 0, length: 2, truncated: false, info: { prompt: "a", completion: "bcd" } }],
 * });
 * assert.deepEqual(Array.from(rewards), [0, 3]);
 * ```
 */
export function scoreEpisodes(source: RewardSource): RolloutProcessor {
  return {
    name: `scoreEpisodes(${source.name})`,
    metricNames: ["env/reward_mean", "env/reward_std"],
    async process(rollout: Rollout): Promise<Record<string, number>> {
      const requests: ScoreRequest[] = rollout.episodes.map((episode) => {
        const { prompt, completion } = episode.info;
        if (typeof prompt !== "string" || typeof completion !== "string") {
          throw new TypeError(
            `Cannot score an episode of env copy ${episode.envIndex}: its last info has no "prompt" and "completion" strings (scoreEpisodes needs a text env such as text-completion)`,
          );
        }
        return { prompt, completion };
      });
      if (requests.length === 0) return {};
      const scores = await source.score(requests);
      if (!(scores instanceof Float32Array) || scores.length !== requests.length) {
        throw new TypeError(
          `Reward source "${source.name}" returned ${
            scores?.length ?? "no"
          } scores for ${requests.length} completions`,
        );
      }
      let sum = 0, sq = 0;
      rollout.episodes.forEach((episode, j) => {
        const score = scores[j]!;
        if (!Number.isFinite(score)) {
          throw new TypeError(
            `Reward source "${source.name}" returned ${score} for completion ${
              JSON.stringify(requests[j]!.completion.slice(0, 60))
            }: scores must be finite numbers`,
          );
        }
        rollout.rewards[episode.step * rollout.numEnvs + episode.envIndex]! += score;
        sum += score;
        sq += score * score;
      });
      const mean = sum / scores.length;
      return {
        "env/reward_mean": mean,
        "env/reward_std": Math.sqrt(Math.max(0, sq / scores.length - mean * mean)),
      };
    },
  };
}

/**
 * Divides a rollout's rewards by their standard deviation, keeping their mean (TRL's
 * `whiten(rewards, shift_mean=False)`, with the unbiased variance), so the scale of a judge's scores does not set PPO's step
 * size. A rollout whose rewards do not vary is left as it is.
 *
 * @returns The processor.
 * @example Unit spread
 * ```ts
 * import assert from "node:assert/strict";
 * import { whitenRewards } from "@proximal/reward-models";
 * const rewards = Float32Array.of(0, 2, 4);
 * await whitenRewards().process({
 *   numEnvs: 1, numSteps: 3, observationSize: 1, actionSize: 1,
 *   observations: new Float32Array(3), actions: new Int32Array(3), logProbs: new Float32Array(3),
 *   values: new Float32Array(3), rewards, ended: new Uint8Array(3), episodes: [],
 * });
 * assert.deepEqual(Array.from(rewards), [1, 2, 3]); // mean 2 kept; std 2 → 1
 * ```
 */
export function whitenRewards(): RolloutProcessor {
  return {
    name: "whitenRewards",
    process(rollout: Rollout): Promise<void> {
      const r = rollout.rewards, n = r.length;
      let mean = 0;
      for (let k = 0; k < n; k++) mean += r[k]!;
      mean /= n;
      let sq = 0;
      for (let k = 0; k < n; k++) sq += (r[k]! - mean) ** 2;
      const std = Math.sqrt(sq / Math.max(1, n - 1));
      if (std > 1e-8) { for (let k = 0; k < n; k++) r[k] = mean + (r[k]! - mean) / std; }
      return Promise.resolve();
    },
  };
}
