/** Policy evaluation over a fixed number of episodes, as SB3's `evaluate_policy`. */
import type { Env } from "./env.ts";
import type { Policy } from "./policy.ts";
import { Rng } from "./rng.ts";
import { VectorEnv } from "./vector_env.ts";

/** Options of {@linkcode evaluatePolicy}. */
export interface EvaluateOptions {
  /** How many episodes; default 100. */
  episodes?: number;
  /** Episode `i` is reset with seed `seed + i`; default 1_000_000 (away from training seeds). */
  seed?: number;
  /** Take the most likely action; default true (SB3's default). */
  deterministic?: boolean;
  /** The env's name, for error messages; default `"env"`. */
  name?: string;
  /** Stop an episode that runs longer than this many steps; default 100_000. */
  maxSteps?: number;
}

/** What {@linkcode evaluatePolicy} returns. */
export interface EvaluationResult {
  /** Each episode's return, in episode order. */
  returns: number[];
  /** Each episode's length. */
  lengths: number[];
  /** The mean return. */
  mean: number;
  /** The standard deviation of the returns. */
  std: number;
}

/**
 * Runs `episodes` episodes at once (one env copy each, so each step is one batched policy call)
 * and reports their returns.
 *
 * @param makeEnv Creates one env copy.
 * @param policy The policy to evaluate.
 * @param options See {@linkcode EvaluateOptions}.
 * @returns The episodes' returns and lengths with their mean and spread.
 * @example Evaluate a trained policy
 * ```ts ignore
 * import { evaluatePolicy } from "@proximal/core";
 * const { mean } = evaluatePolicy(() => new CartPole(), policy, { episodes: 100 });
 * ```
 */
export function evaluatePolicy(
  makeEnv: () => Env,
  policy: Policy,
  options: EvaluateOptions = {},
): EvaluationResult {
  const episodes = options.episodes ?? 100;
  if (!Number.isInteger(episodes) || episodes < 1) {
    throw new RangeError(`Evaluation needs a whole number of episodes >= 1, got ${episodes}`);
  }
  const deterministic = options.deterministic ?? true;
  const maxSteps = options.maxSteps ?? 100_000;
  const seed = options.seed ?? 1_000_000;
  const envs = new VectorEnv(makeEnv, { numEnvs: episodes, seed, name: options.name ?? "env" });
  const rng = new Rng(seed);
  const returns = new Array<number>(episodes).fill(NaN);
  const lengths = new Array<number>(episodes).fill(0);
  let remaining = episodes;
  let observations = envs.reset();
  for (let t = 0; remaining > 0; t++) {
    if (t >= maxSteps) {
      throw new Error(`Evaluation stopped: an episode ran past ${maxSteps} steps`);
    }
    const { actions } = policy.act(observations, { rng, deterministic });
    const result = envs.step(actions);
    for (const episode of result.episodes) {
      // Each copy counts only its first episode, so long episodes are not under-sampled.
      if (Number.isNaN(returns[episode.envIndex]!)) {
        returns[episode.envIndex] = episode.return;
        lengths[episode.envIndex] = episode.length;
        remaining--;
      }
    }
    observations = result.observations;
  }
  envs.close();
  const mean = returns.reduce((a, b) => a + b, 0) / episodes;
  const std = Math.sqrt(returns.reduce((a, b) => a + (b - mean) ** 2, 0) / episodes);
  return { returns, lengths, mean, std };
}
