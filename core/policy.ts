/**
 * The policy interface: a batched actor-critic. `act` runs outside autodiff on plain arrays
 * (one call per vector-env step); `evaluate` runs inside a gradient tape on tensors.
 */
import type { Rng } from "./rng.ts";
import type { Space } from "./spaces.ts";
import type { Tensor, Tensor1D, Tensor2D, Variable } from "./tensors.ts";

/** What {@linkcode Policy.act} returns for a batch of `n` observations. */
export interface ActResult {
  /** `n` action indices (`Discrete`) or `n × actionSize` floats (`Box`, unclipped samples). */
  actions: Int32Array | Float32Array;
  /** `n` log-probabilities of the chosen actions. */
  logProbs: Float32Array;
  /** `n` value estimates. */
  values: Float32Array;
}

/** Options of {@linkcode Policy.act}. */
export interface ActOptions {
  /** Draws the random actions; required unless `deterministic`. */
  rng?: Rng;
  /** Takes the most likely action (argmax or the Gaussian mean); default false. */
  deterministic?: boolean;
  /**
   * Run the critic too; false lets a policy skip it and return NaN values, for a caller that
   * values the observations elsewhere (PPO values a whole rollout in one critic call). A policy
   * may compute them anyway. Default true.
   */
  values?: boolean;
}

/** What {@linkcode Policy.evaluate} returns, as tensors on the gradient tape. */
export interface Evaluation {
  /** `[n]` log-probabilities of the given actions. */
  logProb: Tensor1D;
  /** `[n]` entropies of the action distributions. */
  entropy: Tensor1D;
  /** `[n]` value estimates. */
  value: Tensor1D;
}

/**
 * A batched actor-critic policy.
 *
 * @example Act on a batch
 * ```ts ignore
 * import { Rng, type Policy } from "@proximal/core";
 * declare const policy: Policy;
 * const { actions, values } = policy.act(new Float32Array(8), { rng: new Rng(0) });
 * ```
 */
export interface Policy {
  /** Floats per observation. */
  readonly observationSize: number;
  /** The space actions come from. */
  readonly actionSpace: Space;
  /** The trainable variables, in a fixed order. */
  readonly variables: readonly Variable[];
  /** Samples (or picks) actions for a flat batch of observations. */
  act(observations: Float32Array, options?: ActOptions): ActResult;
  /** Value estimates for a flat batch of observations. */
  value(observations: Float32Array): Float32Array;
  /** Log-probs, entropies and values for given observations `[n, obs]` and actions. */
  evaluate(observations: Tensor2D, actions: Tensor): Evaluation;
  /** Frees the variables. */
  dispose(): void;
}
