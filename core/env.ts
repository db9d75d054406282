/**
 * The environment interface, with Gymnasium's semantics: `reset` starts an
 * episode, `step` advances it and says whether it ended by reaching a terminal
 * state (`terminated`) or by a time limit (`truncated`). The difference matters:
 * a truncated episode's last state still has a value worth bootstrapping.
 */
import type { Box, Discrete, Space } from "./spaces.ts";

/** Extra information an env may return; never used for learning. */
export type Info = Record<string, unknown>;

/** What {@linkcode Env.reset} returns. */
export interface ResetResult<Obs> {
  /** The first observation of the episode. */
  observation: Obs;
  /** Anything else the env wants to report. */
  info: Info;
}

/** What {@linkcode Env.step} returns. */
export interface StepResult<Obs> {
  /** The observation after the action. */
  observation: Obs;
  /** The reward for the action: a finite number. */
  reward: number;
  /** True when a terminal state was reached (no future reward follows). */
  terminated: boolean;
  /** True when the episode was cut off (by a time limit) before a terminal state. */
  truncated: boolean;
  /** Anything else the env wants to report. */
  info: Info;
}

/** Options of {@linkcode Env.reset}. */
export interface ResetOptions {
  /** Reseeds the env's generator before the episode starts; omitted, the stream continues. */
  seed?: number;
}

/**
 * An environment. Observations of numeric envs are `Float32Array`s of the
 * observation space's flat size; actions are integers for `Discrete` spaces
 * and `Float32Array`s for `Box` spaces.
 *
 * An env may also implement `getState`/`setState` (JSON-serialisable), which
 * lets a checkpoint resume mid-episode to identical numbers.
 *
 * @example A one-step env
 * ```ts
 * import assert from "node:assert/strict";
 * import { Box, Discrete, type Env } from "@proximal/core";
 * const coin: Env = {
 *   observationSpace: new Box({ low: 0, high: 1, shape: [1] }),
 *   actionSpace: new Discrete(2),
 *   reset: () => ({ observation: new Float32Array([0]), info: {} }),
 *   step: (action) => ({
 *     observation: new Float32Array([0]),
 *     reward: action === 1 ? 1 : 0,
 *     terminated: true,
 *     truncated: false,
 *     info: {},
 *   }),
 * };
 * assert.ok(coin.step(1).reward === 1);
 * ```
 */
export interface Env<Obs = Float32Array, Act = number | Float32Array, State = unknown> {
  /** The space observations are drawn from. */
  readonly observationSpace: Space;
  /** The space actions are drawn from. */
  readonly actionSpace: Space;
  /** Starts a new episode. */
  reset(options?: ResetOptions): ResetResult<Obs>;
  /** Takes one action. */
  step(action: Act): StepResult<Obs>;
  /** The env's full state, JSON-serialisable, for checkpoints (optional). */
  getState?(): State;
  /** Restores a state returned by `getState` (optional). */
  setState?(state: State): void;
  /** Releases resources (optional). */
  close?(): void;
}

/**
 * The action type of a space: a `number` for `Discrete`, a `Float32Array` for `Box`.
 *
 * @example
 * ```ts
 * import type { ActionOf, Box, Discrete } from "@proximal/core";
 * const push: ActionOf<Box> = Float32Array.of(0.5);
 * const left: ActionOf<Discrete> = 0;
 * ```
 */
export type ActionOf<S extends Space> = S extends Discrete ? number
  : S extends Box ? Float32Array
  : number | Float32Array;

/**
 * An env typed by its action space: its `actionSpace` is an `S`, and `step` receives
 * {@linkcode ActionOf}`<S>`; `State` types `getState`/`setState` (default `unknown`). Annotate an env plugin's `create` with it (or with
 * {@linkcode BoxEnv} / {@linkcode DiscreteEnv}) and `step`'s action is typed with no cast.
 *
 * @example A Box env whose step reads its action as a Float32Array
 * ```ts
 * import assert from "node:assert/strict";
 * import { Box, type EnvOf } from "@proximal/core";
 * const env: EnvOf<Box> = {
 *   observationSpace: new Box({ low: -1, high: 1, shape: [1] }),
 *   actionSpace: new Box({ low: -1, high: 1, shape: [1] }),
 *   reset: () => ({ observation: new Float32Array(1), info: {} }),
 *   step: (action) => ({
 *     observation: new Float32Array(1),
 *     reward: -Math.abs(action[0]!),
 *     terminated: true,
 *     truncated: false,
 *     info: {},
 *   }),
 * };
 * assert.equal(env.step(Float32Array.of(0.5)).reward, -0.5);
 * ```
 */
export interface EnvOf<S extends Space, State = unknown>
  extends Env<Float32Array, ActionOf<S>, State> {
  /** The space actions are drawn from. */
  readonly actionSpace: S;
}

/**
 * An env with `Box` actions: `step` receives a `Float32Array`.
 *
 * @example See {@linkcode EnvOf}
 * ```ts ignore
 * create: (options): BoxEnv => ({ ... }),
 * ```
 */
export type BoxEnv<State = unknown> = EnvOf<Box, State>;

/**
 * An env with `Discrete` actions: `step` receives a `number`.
 *
 * @example See {@linkcode EnvOf}
 * ```ts ignore
 * create: (options): DiscreteEnv => ({ ... }),
 * ```
 */
export type DiscreteEnv<State = unknown> = EnvOf<Discrete, State>;
