// The PPO engine benches' shared set-up: a CartPole-shaped MLP policy and rows it acted on from
// random observations, with random advantages and returns (bench/_engine_step.ts,
// bench/_step_parts.ts, bench/_direct_pair.ts).
import { Box, Discrete, type Rng } from "@proximal/core";
import { MlpPolicy } from "@proximal/models";
import type { Minibatch } from "../algos/_ppo_engine.ts";

/** An MLP policy on CartPole's spaces (4 observations, 2 actions), two hidden layers. */
export function cartpolePolicy(hidden: number): MlpPolicy {
  return new MlpPolicy(new Box({ low: -1, high: 1, shape: [4] }), new Discrete(2), {
    seed: 1,
    hiddenSizes: [hidden, hidden],
  });
}

/**
 * `rows` rows the policy acted on; `logProbNoise` moves the old log-probs off the policy's own so
 * that the clipped surrogate has ratios other than 1 (default 0).
 */
export function syntheticRows(
  policy: MlpPolicy,
  options: { rows: number; rng: Rng; logProbNoise?: number },
): Minibatch {
  const { rows, rng, logProbNoise = 0 } = options;
  const observations = Float32Array.from({ length: rows * 4 }, () => rng.normal());
  const acted = policy.act(observations, { rng });
  return {
    observations,
    actions: acted.actions,
    logProbs: logProbNoise === 0
      ? acted.logProbs
      : acted.logProbs.map((l) => l + logProbNoise * rng.normal()),
    values: acted.values,
    advantages: Float32Array.from({ length: rows }, () => rng.normal()),
    returns: Float32Array.from({ length: rows }, () => rng.normal()),
  };
}
