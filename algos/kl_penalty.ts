/**
 * The KL leash of RLHF as a rollout processor: each generated token's reward gets
 * −β·(log π(a) − log π_ref(a)), the per-token KL estimate against a frozen reference policy (the
 * SFT model), as in Ziegler et al. (2019) and TRL's `compute_rewards`. β comes from a
 * {@linkcode KlController} — fixed, or adapted toward a target KL after every rollout.
 */
import * as tf from "@tensorflow/tfjs";
import type { Policy, Rollout, RolloutProcessor } from "@proximal/core";
import type { KlController } from "./kl_control.ts";

/** Options of {@linkcode klPenalty}. */
export interface KlPenaltyOptions {
  /**
   * Rows per reference forward pass; default 1024. A language model reads the rows that are
   * prefixes of one another (an episode's) in one pass, so a batch split across passes re-reads
   * its episodes' beginnings (the README's 512-row rollouts take one pass).
   */
  batchSize?: number;
}

/**
 * Penalises each step's reward by β times the log-ratio of the acting policy to the reference,
 * then updates the controller with the mean per-episode KL.
 *
 * @param reference The frozen reference policy (never trained).
 * @param controller Supplies β and adapts it.
 * @param options See {@linkcode KlPenaltyOptions}.
 * @returns A processor reporting `objective/kl` (mean summed KL per episode), `objective/kl_per_token`
 * and `objective/kl_coef` (the β used).
 * @example Penalise a policy against itself: no change
 * ```ts ignore
 * import { FixedKlController, klPenalty } from "@proximal/algos";
 * const processor = klPenalty(referencePolicy, new FixedKlController(0.1));
 * ```
 */
export function klPenalty(
  reference: Policy,
  controller: KlController,
  options: KlPenaltyOptions = {},
): RolloutProcessor {
  const batchSize = options.batchSize ?? 1024;
  return {
    name: "klPenalty",
    metricNames: ["objective/kl", "objective/kl_per_token", "objective/kl_coef"],
    process(rollout: Rollout): Promise<Record<string, number>> {
      const { observations, actions, logProbs, rewards, observationSize, actionSize } = rollout;
      const total = rewards.length;
      const refLogProbs = new Float32Array(total);
      for (let start = 0; start < total; start += batchSize) {
        const rows = Math.min(batchSize, total - start);
        const out = tf.tidy(() => {
          const obs = tf.tensor2d(
            observations.subarray(start * observationSize, (start + rows) * observationSize),
            [rows, observationSize],
          );
          const act = actions instanceof Int32Array
            ? tf.tensor1d(actions.subarray(start, start + rows), "int32")
            : tf.tensor2d(actions.subarray(start * actionSize, (start + rows) * actionSize), [
              rows,
              actionSize,
            ]);
          return reference.evaluate(obs, act).logProb;
        });
        refLogProbs.set(out.dataSync() as Float32Array, start);
        out.dispose();
      }
      const beta = controller.value;
      let klSum = 0;
      for (let k = 0; k < total; k++) {
        const kl = logProbs[k]! - refLogProbs[k]!;
        rewards[k]! -= beta * kl;
        klSum += kl;
      }
      const perToken = klSum / total;
      const episodes = rollout.episodes.length;
      const meanLength = episodes > 0
        ? rollout.episodes.reduce((a, e) => a + e.length, 0) / episodes
        : rollout.numSteps;
      const perSequence = perToken * meanLength;
      controller.update(perSequence, Math.max(1, episodes));
      return Promise.resolve({
        "objective/kl": perSequence,
        "objective/kl_per_token": perToken,
        "objective/kl_coef": beta,
      });
    },
  };
}
