/**
 * CartPole-v1 with Gymnasium's exact dynamics (`gymnasium/envs/classic_control/cartpole.py`,
 * Euler integration) and its `TimeLimit` of 500 steps.
 *
 * A pole is hinged on a cart that moves along a frictionless track; each step pushes the cart
 * left (action 0) or right (action 1) with a force of 10 N and pays a reward of 1. The episode
 * terminates when the cart leaves [-2.4, 2.4] or the pole leans more than 12°, and is truncated
 * after `maxEpisodeSteps` steps.
 */
import {
  Box,
  defineEnv,
  Discrete,
  type Env,
  type EnvPlugin,
  isCount,
  type ResetOptions,
  type ResetResult,
  Rng,
  type RngState,
  type StepResult,
} from "@proximal/core";

// ---------------------------------------------------------------------------
// Physical constants, named and valued as in Gymnasium
// ---------------------------------------------------------------------------
const GRAVITY = 9.8;
const MASSCART = 1.0;
const MASSPOLE = 0.1;
const TOTAL_MASS = MASSPOLE + MASSCART;
/** Half the pole's length. */
const LENGTH = 0.5;
const POLEMASS_LENGTH = MASSPOLE * LENGTH;
const FORCE_MAG = 10.0;
/** Seconds between state updates. */
const TAU = 0.02;
/** The pole angle (radians) beyond which the episode terminates: 12°. */
const THETA_THRESHOLD = 12 * 2 * Math.PI / 360;
/** The cart position beyond which the episode terminates. */
const X_THRESHOLD = 2.4;
/** Each state variable starts uniform in [-RESET_BOUND, RESET_BOUND]. */
const RESET_BOUND = 0.05;

/** Options of {@linkcode CartPole}. */
export interface CartPoleOptions {
  /** Steps after which an episode is truncated (Gymnasium's `TimeLimit`); default 500. */
  maxEpisodeSteps?: number;
}

/**
 * The saved state of a {@linkcode CartPole}, as returned by {@linkcode CartPole.getState}:
 * plain JSON.
 */
export interface CartPoleState {
  /** `[x, xDot, theta, thetaDot]` in float64, or `null` before the first reset. */
  physics: [number, number, number, number] | null;
  /** Steps taken in the current episode. */
  steps: number;
  /** Steps taken after the episode terminated (Gymnasium's `steps_beyond_terminated`). */
  stepsBeyondTerminated: number | null;
  /** The env's random generator, which draws the initial states. */
  rng: { words: RngState; spareNormal: number | null };
}

/**
 * The CartPole-v1 balancing task.
 *
 * Without `reset({ seed })` the generator starts from seed 0, so unseeded copies are identical;
 * `VectorEnv` seeds copy `i` with `seed + i`.
 *
 * @example Balance with a hand-written rule
 * ```ts
 * import assert from "node:assert/strict";
 * import { CartPole } from "@proximal/envs";
 * const env = new CartPole();
 * let { observation } = env.reset({ seed: 1 });
 * let total = 0;
 * for (let t = 0; t < 500; t++) {
 *   const action = observation[2]! + 0.5 * observation[3]! > 0 ? 1 : 0;
 *   const step = env.step(action);
 *   total += step.reward;
 *   observation = step.observation;
 *   if (step.terminated || step.truncated) break;
 * }
 * assert.ok(total > 100);
 * ```
 */
export class CartPole implements Env<Float32Array, number> {
  /** Cart position, cart velocity, pole angle, pole angular velocity. */
  readonly observationSpace: Box = new Box({
    low: [-X_THRESHOLD * 2, -Infinity, -THETA_THRESHOLD * 2, -Infinity],
    high: [X_THRESHOLD * 2, Infinity, THETA_THRESHOLD * 2, Infinity],
  });
  /** 0 pushes the cart left, 1 pushes it right. */
  readonly actionSpace: Discrete = new Discrete(2);
  /** Steps after which an episode is truncated. */
  readonly maxEpisodeSteps: number;

  #rng: Rng = new Rng(0);
  #x = 0;
  #xDot = 0;
  #theta = 0;
  #thetaDot = 0;
  #started = false;
  #steps = 0;
  #stepsBeyondTerminated: number | null = null;

  /**
   * Creates the env; call {@linkcode CartPole.reset} before stepping.
   *
   * @param options See {@linkcode CartPoleOptions}.
   */
  constructor(options: CartPoleOptions = {}) {
    const max = options.maxEpisodeSteps ?? 500;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`CartPole maxEpisodeSteps must be a whole number >= 1, got ${max}`);
    }
    this.maxEpisodeSteps = max;
  }

  /**
   * Starts an episode with every state variable uniform in [-0.05, 0.05].
   *
   * @param options `seed` reseeds the env's generator; omitted, its stream continues.
   * @returns The first observation.
   * @example Same seed, same start
   * ```ts
   * import assert from "node:assert/strict";
   * import { CartPole } from "@proximal/envs";
   * const a = new CartPole().reset({ seed: 3 }).observation;
   * const b = new CartPole().reset({ seed: 3 }).observation;
   * assert.ok(a.every((v, i) => v === b[i]));
   * ```
   */
  reset(options: ResetOptions = {}): ResetResult<Float32Array> {
    if (options.seed !== undefined) this.#rng = new Rng(options.seed);
    const rng = this.#rng;
    this.#x = rng.range(-RESET_BOUND, RESET_BOUND);
    this.#xDot = rng.range(-RESET_BOUND, RESET_BOUND);
    this.#theta = rng.range(-RESET_BOUND, RESET_BOUND);
    this.#thetaDot = rng.range(-RESET_BOUND, RESET_BOUND);
    this.#started = true;
    this.#steps = 0;
    this.#stepsBeyondTerminated = null;
    return { observation: this.#observe(), info: {} };
  }

  /**
   * Pushes the cart and advances the physics by one 0.02 s Euler step.
   *
   * @param action 0 (push left) or 1 (push right).
   * @returns The new observation, reward 1 (0 for steps after termination), and whether the
   * episode terminated or was truncated (both can be true on the same step).
   * @example Push right
   * ```ts
   * import assert from "node:assert/strict";
   * import { CartPole } from "@proximal/envs";
   * const env = new CartPole();
   * const before = env.reset({ seed: 0 }).observation;
   * const after = env.step(1).observation;
   * assert.ok(after[1]! > before[1]!);
   * ```
   */
  step(action: number): StepResult<Float32Array> {
    if (action !== 0 && action !== 1) {
      throw new RangeError(`CartPole action must be 0 or 1, got ${action}`);
    }
    if (!this.#started) throw new Error("Cannot step CartPole: call reset() first");

    // Gymnasium's equations of motion (Florian, "Correct equations for the dynamics of the
    // cart-pole system"), integrated with explicit Euler from the old values.
    const force = action === 1 ? FORCE_MAG : -FORCE_MAG;
    const x = this.#x, xDot = this.#xDot, theta = this.#theta, thetaDot = this.#thetaDot;
    const cosTheta = Math.cos(theta);
    const sinTheta = Math.sin(theta);
    const temp = (force + POLEMASS_LENGTH * thetaDot ** 2 * sinTheta) / TOTAL_MASS;
    const thetaAcc = (GRAVITY * sinTheta - cosTheta * temp) /
      (LENGTH * (4.0 / 3.0 - MASSPOLE * cosTheta ** 2 / TOTAL_MASS));
    const xAcc = temp - POLEMASS_LENGTH * thetaAcc * cosTheta / TOTAL_MASS;
    this.#x = x + TAU * xDot;
    this.#xDot = xDot + TAU * xAcc;
    this.#theta = theta + TAU * thetaDot;
    this.#thetaDot = thetaDot + TAU * thetaAcc;
    this.#steps++;

    const terminated = this.#x < -X_THRESHOLD || this.#x > X_THRESHOLD ||
      this.#theta < -THETA_THRESHOLD || this.#theta > THETA_THRESHOLD;
    let reward = 1;
    if (terminated) {
      // Like Gymnasium, the terminating step pays 1 and any step after it pays nothing.
      if (this.#stepsBeyondTerminated === null) {
        this.#stepsBeyondTerminated = 0;
      } else {
        this.#stepsBeyondTerminated++;
        reward = 0;
      }
    }
    // TimeLimit semantics: truncated once the step budget is spent, even if also terminated.
    const truncated = this.#steps >= this.maxEpisodeSteps;
    return { observation: this.#observe(), reward, terminated, truncated, info: {} };
  }

  /**
   * The env's full state, for checkpoints.
   *
   * @returns A JSON-serialisable {@linkcode CartPoleState}.
   * @example Replay a step
   * ```ts
   * import assert from "node:assert/strict";
   * import { CartPole } from "@proximal/envs";
   * const env = new CartPole();
   * env.reset({ seed: 2 });
   * const saved = env.getState();
   * const first = env.step(1).observation;
   * env.setState(saved);
   * assert.ok(env.step(1).observation.every((v, i) => v === first[i]));
   * ```
   */
  getState(): CartPoleState {
    return {
      physics: this.#started ? [this.#x, this.#xDot, this.#theta, this.#thetaDot] : null,
      steps: this.#steps,
      stepsBeyondTerminated: this.#stepsBeyondTerminated,
      rng: this.#rng.getState(),
    };
  }

  /**
   * Restores a state returned by {@linkcode CartPole.getState}. Also a way to start an episode
   * from a chosen physical state.
   *
   * @param state A {@linkcode CartPoleState}.
   * @example Start from a chosen state
   * ```ts
   * import assert from "node:assert/strict";
   * import { CartPole } from "@proximal/envs";
   * const env = new CartPole();
   * env.setState({ ...env.getState(), physics: [0, 0, 0.1, 0], steps: 0 });
   * assert.ok(Math.abs(env.step(1).observation[2]! - 0.1) < 1e-6);
   * ```
   */
  setState(state: unknown): void {
    if (typeof state !== "object" || state === null) {
      throw restoreError(`expected an object, got ${String(state)}`);
    }
    const { physics, steps, stepsBeyondTerminated, rng } = state as Partial<CartPoleState>;
    if (
      physics !== null &&
      (!Array.isArray(physics) || physics.length !== 4 ||
        !physics.every((v) => typeof v === "number" && Number.isFinite(v)))
    ) {
      throw restoreError(
        `physics must be four finite numbers or null, got ${JSON.stringify(physics)}`,
      );
    }
    if (!isCount(steps)) {
      throw restoreError(`steps must be a whole number >= 0, got ${JSON.stringify(steps)}`);
    }
    if (stepsBeyondTerminated !== null && !isCount(stepsBeyondTerminated)) {
      throw restoreError(
        `stepsBeyondTerminated must be null or a whole number >= 0, got ${
          JSON.stringify(stepsBeyondTerminated)
        }`,
      );
    }
    if (typeof rng !== "object" || rng === null) {
      throw restoreError(`rng must be a saved generator state, got ${JSON.stringify(rng)}`);
    }
    if (rng.spareNormal !== null && !Number.isFinite(rng.spareNormal)) {
      throw restoreError(
        `rng.spareNormal must be a finite number or null, got ${JSON.stringify(rng.spareNormal)}`,
      );
    }
    // Rng.setState validates the words; restore into a fresh generator so that a bad state
    // leaves this env untouched.
    const restored = new Rng(0);
    restored.setState(rng);
    this.#rng = restored;
    if (physics) {
      [this.#x, this.#xDot, this.#theta, this.#thetaDot] = physics;
      this.#started = true;
    } else {
      this.#x =
        this.#xDot =
        this.#theta =
        this.#thetaDot =
          0;
      this.#started = false;
    }
    this.#steps = steps;
    this.#stepsBeyondTerminated = stepsBeyondTerminated;
  }

  #observe(): Float32Array {
    return Float32Array.of(this.#x, this.#xDot, this.#theta, this.#thetaDot);
  }
}

function restoreError(why: string): TypeError {
  return new TypeError(`Cannot restore CartPole: ${why}`);
}

/** Options of the {@linkcode cartpole} plugin. */
export type CartPolePluginOptions = { maxEpisodeSteps: number };

/**
 * The `cartpole` env plugin: CartPole-v1, truncated after `maxEpisodeSteps` (default 500).
 *
 * @example Create an env from the plugin
 * ```ts
 * import assert from "node:assert/strict";
 * import { cartpole } from "@proximal/envs";
 * const env = cartpole.create({ ...cartpole.defaults, maxEpisodeSteps: 200 });
 * assert.ok(env.reset({ seed: 0 }).observation.length === 4);
 * ```
 */
export const cartpole: EnvPlugin<CartPolePluginOptions> = defineEnv<CartPolePluginOptions>({
  kind: "env",
  name: "cartpole",
  description: "CartPole-v1: balance a pole on a cart (Gymnasium's dynamics, reward 1 per step)",
  defaults: { maxEpisodeSteps: 500 },
  help: { maxEpisodeSteps: "Steps after which an episode is truncated (Gymnasium's TimeLimit)" },
  create: (options) => new CartPole({ maxEpisodeSteps: options.maxEpisodeSteps }),
});
