/**
 * Gymnasium-style env wrappers: observation normalisation by a running mean and variance,
 * reward normalisation by the running std of the discounted return (Gymnasium's
 * `NormalizeReward`), clipping of both, and action clipping and rescaling; composed by name
 * with {@linkcode withWrappers} (`--wrappers normalize-obs,normalize-reward` on the CLI).
 *
 * Statistics are kept per env copy, as CleanRL's per-env Gymnasium wrappers keep them (not shared
 * as SB3's `VecNormalize`): a copy's numbers then depend on that copy alone, so they ride in its
 * `getState`/`setState` into checkpoints and resume exactly. Evaluation pools the copies'
 * statistics and freezes them (see {@linkcode WrappedEnvs.makeEvalEnv}).
 *
 * @module
 */
import { Box, type Env, type ResetOptions, type StepResult } from "@proximal/core";

/** The wrappers {@linkcode withWrappers} knows, by the name the CLI's `--wrappers` takes. */
export const WRAPPER_NAMES: readonly WrapperName[] = [
  "clip-action",
  "rescale-action",
  "normalize-obs",
  "normalize-reward",
];

/** A wrapper's name: see {@linkcode WRAPPER_NAMES}. */
export type WrapperName = "clip-action" | "rescale-action" | "normalize-obs" | "normalize-reward";

/** Options of the normalising wrappers. */
export interface NormalizeOptions {
  /** Added to the variance before the square root; default 1e-8 (Gymnasium's). */
  epsilon?: number;
  /** Clip the normalised values to ±clip; default 10 (CleanRL's); 0 = no clipping. */
  clip?: number;
}

/** Options of {@linkcode NormalizeReward}. */
export interface NormalizeRewardOptions extends NormalizeOptions {
  /** The discount of the return whose std scales rewards; default 0.99 (set it to PPO's γ). */
  gamma?: number;
}

/** A running mean and variance's state, as {@linkcode RunningMeanStd.getState} returns it. */
export interface RunningMeanStdState {
  /** Per-element means. */
  mean: number[];
  /** Per-element (population) variances. */
  var: number[];
  /** The (fractional) number of samples seen. */
  count: number;
}

/**
 * A running per-element mean and variance (Chan et al.'s parallel update, as Gymnasium's
 * `RunningMeanStd`): starts at mean 0, variance 1 and a count of 1e-4.
 *
 * @example Two samples
 * ```ts
 * import assert from "node:assert/strict";
 * import { RunningMeanStd } from "@proximal/envs";
 * const rms = new RunningMeanStd(1);
 * rms.update([1]);
 * rms.update([3]);
 * assert.ok(Math.abs(rms.mean[0]! - 2) < 1e-3 && Math.abs(rms.var[0]! - 1) < 1e-3);
 * ```
 */
export class RunningMeanStd {
  /** Per-element means. */
  mean: Float64Array;
  /** Per-element variances. */
  var: Float64Array;
  /** Samples seen, starting at 1e-4. */
  count = 1e-4;

  /**
   * Starts at mean 0, variance 1, count 1e-4.
   *
   * @param size The number of elements.
   */
  constructor(size: number) {
    this.mean = new Float64Array(size);
    this.var = new Float64Array(size).fill(1);
  }

  /**
   * Adds one sample.
   *
   * @param x The sample, one number per element.
   * @example See {@linkcode RunningMeanStd}
   * ```ts ignore
   * rms.update(observation);
   * ```
   */
  update(x: ArrayLike<number>): void {
    this.merge({ mean: Array.from(x), var: new Array(x.length).fill(0), count: 1 });
  }

  /**
   * Adds the samples another running estimate summarises (pooling two estimates).
   *
   * @param other The other estimate's state.
   * @example Pool two copies' statistics
   * ```ts ignore
   * pooled.merge(other.getState());
   * ```
   */
  merge(other: RunningMeanStdState): void {
    const total = this.count + other.count;
    for (let i = 0; i < this.mean.length; i++) {
      const delta = other.mean[i]! - this.mean[i]!;
      const m2 = this.var[i]! * this.count + other.var[i]! * other.count +
        delta * delta * this.count * other.count / total;
      this.mean[i] = this.mean[i]! + delta * other.count / total;
      this.var[i] = m2 / total;
    }
    this.count = total;
  }

  /**
   * The state, JSON-serialisable.
   *
   * @returns Means, variances and count.
   * @example Save
   * ```ts ignore
   * const state = rms.getState();
   * ```
   */
  getState(): RunningMeanStdState {
    return { mean: Array.from(this.mean), var: Array.from(this.var), count: this.count };
  }

  /**
   * Restores a state from {@linkcode RunningMeanStd.getState}.
   *
   * @param state The state.
   * @example Restore
   * ```ts ignore
   * rms.setState(state);
   * ```
   */
  setState(state: RunningMeanStdState): void {
    if (
      !isObject(state) || !Array.isArray(state.mean) || !Array.isArray(state.var) ||
      state.mean.length !== this.mean.length || state.var.length !== this.mean.length ||
      typeof state.count !== "number"
    ) {
      throw new TypeError(
        `Invalid running statistics: expected ${this.mean.length} means and variances and a count`,
      );
    }
    this.mean = Float64Array.from(state.mean);
    this.var = Float64Array.from(state.var);
    this.count = state.count;
  }
}

/**
 * The base of the wrappers: forwards everything to the wrapped env, and nests the wrapped env's
 * state in its own (`{ env, own }`) so a stack of wrappers checkpoints as one env. A wrapper of
 * your own overrides `reset`/`step`, and `ownState`/`setOwnState` if it keeps statistics.
 *
 * @example A wrapper that doubles rewards
 * ```ts
 * import assert from "node:assert/strict";
 * import { CartPole, Wrapper } from "@proximal/envs";
 * class Double extends Wrapper {
 *   override step(action: number | Float32Array) {
 *     const out = this.env.step(action);
 *     return { ...out, reward: 2 * out.reward };
 *   }
 * }
 * const env = new Double(new CartPole());
 * env.reset({ seed: 0 });
 * assert.equal(env.step(0).reward, 2);
 * ```
 */
export abstract class Wrapper implements Env {
  /** The wrapped env's observation space. */
  readonly observationSpace: Env["observationSpace"];
  /** The wrapped env's action space (a wrapper may change it). */
  readonly actionSpace: Env["actionSpace"];

  /**
   * Wraps `env`.
   *
   * @param env The wrapped env.
   */
  constructor(readonly env: Env) {
    this.observationSpace = env.observationSpace;
    this.actionSpace = env.actionSpace;
  }

  /** Resets the wrapped env. */
  reset(options?: ResetOptions): { observation: Float32Array; info: Record<string, unknown> } {
    return this.env.reset(options);
  }

  /** Steps the wrapped env. */
  step(action: number | Float32Array): StepResult<Float32Array> {
    return this.env.step(action);
  }

  /** The wrapped env's state (null if it has none) and this wrapper's. */
  getState(): unknown {
    return { env: this.env.getState?.() ?? null, own: this.ownState() };
  }

  /** Restores a state from `getState`. */
  setState(state: unknown): void {
    if (!isObject(state) || !("own" in state)) {
      throw new TypeError(`Invalid state of wrapper ${this.constructor.name}: expected {env, own}`);
    }
    if (state.env !== null && state.env !== undefined) this.env.setState?.(state.env);
    this.setOwnState(state.own);
  }

  /** Closes the wrapped env. */
  close(): void {
    this.env.close?.();
  }

  /** This wrapper's own state (its statistics); none by default. */
  protected ownState(): unknown {
    return null;
  }

  /** Restores `ownState`'s state. */
  protected setOwnState(_state: unknown): void {}
}

/**
 * Clips `Box` actions to the action space's bounds (Gymnasium's `ClipAction`).
 *
 * @example Clip a push
 * ```ts
 * import assert from "node:assert/strict";
 * import { Box, type Env } from "@proximal/core";
 * import { ClipAction } from "@proximal/envs";
 * let seen = 0;
 * const env: Env = {
 *   observationSpace: new Box({ low: 0, high: 1, shape: [1] }),
 *   actionSpace: new Box({ low: -2, high: 2, shape: [1] }),
 *   reset: () => ({ observation: new Float32Array(1), info: {} }),
 *   step: (a) => {
 *     seen = (a as Float32Array)[0]!;
 *     return { observation: new Float32Array(1), reward: 0, terminated: true, truncated: false, info: {} };
 *   },
 * };
 * new ClipAction(env).step(Float32Array.of(5));
 * assert.equal(seen, 2);
 * ```
 */
export class ClipAction extends Wrapper {
  /**
   * Wraps a `Box`-action env.
   *
   * @param env The env.
   */
  constructor(env: Env) {
    super(env);
    boxOf(env, "ClipAction");
  }

  /** Clips, then steps. */
  override step(action: number | Float32Array): StepResult<Float32Array> {
    const { low, high } = this.actionSpace as Box;
    const a = Float32Array.from(
      action as Float32Array,
      (v, i) => Math.min(Math.max(v, low[i]!), high[i]!),
    );
    return this.env.step(a);
  }
}

/**
 * Lets the policy act in [-1, 1] and maps its actions linearly onto the env's bounds (Gymnasium's
 * `RescaleAction`): a policy's Gaussian starts near 0 with std 1, which covers [-1, 1] evenly.
 *
 * @example Map ±1 onto [0, 10]
 * ```ts
 * import assert from "node:assert/strict";
 * import { Box, type Env } from "@proximal/core";
 * import { RescaleAction } from "@proximal/envs";
 * let seen = 0;
 * const env: Env = {
 *   observationSpace: new Box({ low: 0, high: 1, shape: [1] }),
 *   actionSpace: new Box({ low: 0, high: 10, shape: [1] }),
 *   reset: () => ({ observation: new Float32Array(1), info: {} }),
 *   step: (a) => {
 *     seen = (a as Float32Array)[0]!;
 *     return { observation: new Float32Array(1), reward: 0, terminated: true, truncated: false, info: {} };
 *   },
 * };
 * new RescaleAction(env).step(Float32Array.of(0.5));
 * assert.equal(seen, 7.5);
 * ```
 */
export class RescaleAction extends Wrapper {
  /** `Box(-1, 1)` of the env's action shape. */
  override readonly actionSpace: Box;
  readonly #inner: Box;

  /**
   * Wraps a `Box`-action env with finite bounds.
   *
   * @param env The env.
   */
  constructor(env: Env) {
    super(env);
    this.#inner = boxOf(env, "RescaleAction");
    if (![...this.#inner.low, ...this.#inner.high].every(Number.isFinite)) {
      throw new RangeError("RescaleAction needs an action space with finite bounds");
    }
    this.actionSpace = new Box({ low: -1, high: 1, shape: this.#inner.shape });
  }

  /** Maps [-1, 1] onto the env's bounds, then steps. */
  override step(action: number | Float32Array): StepResult<Float32Array> {
    const { low, high } = this.#inner;
    const a = Float32Array.from(
      action as Float32Array,
      (v, i) => low[i]! + (Math.min(Math.max(v, -1), 1) + 1) / 2 * (high[i]! - low[i]!),
    );
    return this.env.step(a);
  }
}

/**
 * Normalises observations by a running mean and variance updated with every observation (reset's
 * too), then clips them (Gymnasium's `NormalizeObservation` and CleanRL's clip to ±10).
 * `frozen` stops the updates, for evaluation.
 *
 * @example Observations come out centred
 * ```ts
 * import assert from "node:assert/strict";
 * import { cartpole, NormalizeObservation } from "@proximal/envs";
 * const env = new NormalizeObservation(cartpole.create(cartpole.defaults));
 * env.reset({ seed: 0 });
 * for (let t = 0; t < 50; t++) if (env.step(t % 2).terminated) env.reset();
 * assert.ok(env.statistics.count > 50);
 * ```
 */
export class NormalizeObservation extends Wrapper {
  /** The running statistics of the raw observations. */
  readonly statistics: RunningMeanStd;
  /** When true the statistics stay as they are. */
  frozen = false;
  readonly #epsilon: number;
  readonly #clip: number;

  /**
   * Wraps `env`; statistics start at mean 0, variance 1.
   *
   * @param env The env.
   * @param options Epsilon and clipping.
   */
  constructor(env: Env, options: NormalizeOptions = {}) {
    super(env);
    this.#epsilon = options.epsilon ?? 1e-8;
    this.#clip = options.clip ?? 10;
    const space = env.observationSpace;
    this.statistics = new RunningMeanStd(space.kind === "box" ? space.size : 1);
  }

  /** Resets and normalises the first observation. */
  override reset(options?: ResetOptions): {
    observation: Float32Array;
    info: Record<string, unknown>;
  } {
    const out = this.env.reset(options);
    return { ...out, observation: this.#normalize(out.observation) };
  }

  /** Steps and normalises the observation. */
  override step(action: number | Float32Array): StepResult<Float32Array> {
    const out = this.env.step(action);
    return { ...out, observation: this.#normalize(out.observation) };
  }

  /** The running statistics. */
  protected override ownState(): unknown {
    return this.statistics.getState();
  }

  /** Restores the running statistics. */
  protected override setOwnState(state: unknown): void {
    this.statistics.setState(state as RunningMeanStdState);
  }

  #normalize(observation: Float32Array): Float32Array {
    if (!this.frozen) this.statistics.update(observation);
    const { mean, var: variance } = this.statistics, clip = this.#clip;
    return Float32Array.from(observation, (x, i) => {
      const z = (x - mean[i]!) / Math.sqrt(variance[i]! + this.#epsilon);
      return clip > 0 ? Math.min(Math.max(z, -clip), clip) : z;
    });
  }
}

/**
 * Scales rewards by the running std of the discounted return, then clips them (Gymnasium's
 * `NormalizeReward` and CleanRL's clip to ±10). It also reports each episode's raw return and
 * length as `info.episode = { r, l }` (Gymnasium's `RecordEpisodeStatistics`), which `VectorEnv`
 * reports as the episode's return in place of the sum of scaled rewards.
 *
 * @example Rewards come out scaled, the episode's raw return is kept
 * ```ts
 * import assert from "node:assert/strict";
 * import { cartpole, NormalizeReward } from "@proximal/envs";
 * const env = new NormalizeReward(cartpole.create(cartpole.defaults), { gamma: 0.99 });
 * env.reset({ seed: 0 });
 * let last;
 * do last = env.step(0); while (!last.terminated && !last.truncated);
 * assert.ok(last.reward < 1);
 * assert.equal((last.info.episode as { r: number }).r, (last.info.episode as { l: number }).l);
 * ```
 */
export class NormalizeReward extends Wrapper {
  /** The running statistics of the discounted return. */
  readonly statistics: RunningMeanStd = new RunningMeanStd(1);
  /** When true the statistics stay as they are. */
  frozen = false;
  readonly #gamma: number;
  readonly #epsilon: number;
  readonly #clip: number;
  #discounted = 0;
  #rawReturn = 0;
  #length = 0;

  /**
   * Wraps `env`; statistics start at mean 0, variance 1.
   *
   * @param env The env.
   * @param options Discount, epsilon and clipping.
   */
  constructor(env: Env, options: NormalizeRewardOptions = {}) {
    super(env);
    this.#gamma = options.gamma ?? 0.99;
    this.#epsilon = options.epsilon ?? 1e-8;
    this.#clip = options.clip ?? 10;
  }

  /** Resets and starts counting the raw return. */
  override reset(options?: ResetOptions): {
    observation: Float32Array;
    info: Record<string, unknown>;
  } {
    this.#rawReturn = 0;
    this.#length = 0;
    return this.env.reset(options);
  }

  /** Steps and scales the reward. */
  override step(action: number | Float32Array): StepResult<Float32Array> {
    const out = this.env.step(action);
    this.#rawReturn += out.reward;
    this.#length++;
    // As Gymnasium: the discounted return restarts after a terminal state only, not a truncation.
    this.#discounted = this.#discounted * this.#gamma * (out.terminated ? 0 : 1) + out.reward;
    if (!this.frozen) this.statistics.update([this.#discounted]);
    let reward = out.reward / Math.sqrt(this.statistics.var[0]! + this.#epsilon);
    if (this.#clip > 0) reward = Math.min(Math.max(reward, -this.#clip), this.#clip);
    const info = out.terminated || out.truncated
      ? { ...out.info, episode: { r: this.#rawReturn, l: this.#length } }
      : out.info;
    return { ...out, reward, info };
  }

  /** The running statistics, the discounted return and the episode's raw return so far. */
  protected override ownState(): unknown {
    return {
      statistics: this.statistics.getState(),
      discounted: this.#discounted,
      rawReturn: this.#rawReturn,
      length: this.#length,
    };
  }

  /** Restores `ownState`'s state. */
  protected override setOwnState(state: unknown): void {
    if (
      !isObject(state) || typeof state.discounted !== "number" ||
      typeof state.rawReturn !== "number" || typeof state.length !== "number"
    ) {
      throw new TypeError("Invalid state of NormalizeReward: expected statistics and counters");
    }
    this.statistics.setState(state.statistics as RunningMeanStdState);
    this.#discounted = state.discounted;
    this.#rawReturn = state.rawReturn;
    this.#length = state.length;
  }
}

/** Options of {@linkcode withWrappers}. */
export interface WithWrappersOptions {
  /** The reward normaliser's discount; default 0.99 (the CLI passes PPO's `gamma`). */
  gamma?: number;
  /** Clip of normalised observations; default 10. */
  clipObs?: number;
  /** Clip of normalised rewards; default 10. */
  clipReward?: number;
}

/** What {@linkcode withWrappers} returns. */
export interface WrappedEnvs {
  /** Builds a wrapped env copy for training; its statistics update as it runs. */
  makeEnv: () => Env;
  /**
   * Builds a wrapped env copy for evaluation: the same wrappers but the reward normaliser (so
   * returns are the env's own), with observation statistics pooled from every training copy
   * built so far (in this thread), frozen.
   */
  makeEvalEnv: () => Env;
}

/**
 * Wraps every env copy `makeEnv` builds in the named wrappers, innermost first (CleanRL's
 * `ppo_continuous_action.py` order is `clip-action,normalize-obs,normalize-reward`).
 *
 * @param makeEnv Builds one raw env copy.
 * @param names The wrappers, innermost first; see {@linkcode WRAPPER_NAMES}.
 * @param options The reward normaliser's discount and the clips.
 * @returns Factories of training and evaluation copies.
 * @example Train with normalised observations and rewards, evaluate with frozen statistics
 * ```ts
 * import assert from "node:assert/strict";
 * import { CartPole, withWrappers } from "@proximal/envs";
 * const wrapped = withWrappers(() => new CartPole(), ["normalize-obs", "normalize-reward"]);
 * const env = wrapped.makeEnv();
 * env.reset({ seed: 1 });
 * env.step(0);
 * const evalEnv = wrapped.makeEvalEnv();
 * assert.ok(evalEnv.reset({ seed: 2 }).observation.every((x) => Math.abs(x) <= 10));
 * ```
 */
export function withWrappers(
  makeEnv: () => Env,
  names: readonly string[],
  options: WithWrappersOptions = {},
): WrappedEnvs {
  for (const name of names) {
    if (!(WRAPPER_NAMES as readonly string[]).includes(name)) {
      throw new RangeError(`Unknown wrapper "${name}": choose from ${WRAPPER_NAMES.join(", ")}`);
    }
  }
  const training: NormalizeObservation[] = [];
  const build = (evaluation: boolean): Env => {
    let env = makeEnv();
    for (const name of names as readonly WrapperName[]) {
      if (name === "clip-action") env = new ClipAction(env);
      else if (name === "rescale-action") env = new RescaleAction(env);
      else if (name === "normalize-obs") {
        const wrapper = new NormalizeObservation(env, { clip: options.clipObs ?? 10 });
        if (evaluation) {
          wrapper.statistics.count = 0; // pooled from the training copies alone
          for (const copy of training) wrapper.statistics.merge(copy.statistics.getState());
          if (wrapper.statistics.count === 0) wrapper.statistics.count = 1e-4;
          wrapper.frozen = true;
        } else {
          training.push(wrapper);
        }
        env = wrapper;
      } else if (!evaluation) {
        env = new NormalizeReward(env, {
          gamma: options.gamma ?? 0.99,
          clip: options.clipReward ?? 10,
        });
      }
    }
    return env;
  };
  return { makeEnv: () => build(false), makeEvalEnv: () => build(true) };
}

/** The env's `Box` action space, or an error naming the wrapper. */
function boxOf(env: Env, wrapper: string): Box {
  const space = env.actionSpace;
  if (space.kind !== "box") {
    throw new TypeError(`${wrapper} needs a Box action space, got ${String(space)}`);
  }
  return space;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}
