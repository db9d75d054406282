/**
 * Point mass: a continuous-control env plugin (`Box` actions), to copy when writing your own. It
 * trains with `--preset continuous` alone:
 *
 * ```sh
 * deno task train --env ./examples/point_mass.ts --preset continuous
 * ```
 *
 * A puck on a plane starts at rest at a uniformly random point of `[−start, start]²` (`start` 10
 * m by default) and is pushed by a force of up to 2 N on each axis (mass 1 kg, `dt` 0.05 s, a
 * little friction, walls at ±20 m). Each step pays minus its distance to the origin in metres, so
 * an episode's return (200 steps, then truncated) is minus the sum of its distances: about
 * −1,500 for a puck left where it starts, and about −300 for a policy that pushes it to the
 * origin as fast as it can and holds it there. The observation is the position (m) and velocity
 * (m/s), unscaled — numbers of several units, rewards of several units per step: the scales
 * the `continuous` preset's normalising wrappers exist for.
 *
 * Seeding and exact resume: `reset({ seed })` reseeds the env's own `Rng`, and `getState`/
 * `setState` save and restore the puck and that `Rng`, so a checkpoint resumes mid-episode to
 * the same numbers.
 *
 * @module
 */
import {
  Box,
  type BoxEnv,
  defineEnv,
  type EnvPlugin,
  type ResetOptions,
  type ResetResult,
  Rng,
  type StepResult,
} from "@proximal/core";

/** The options of {@linkcode pointMass}, each one a command-line flag (`--start 5`). */
export type PointMassOptions = {
  /** Half-width of the square the puck starts in, in metres. */
  start: number;
  /** Steps per episode before it is truncated. */
  maxEpisodeSteps: number;
};

/** The saved state of a {@linkcode PointMass} env (plain JSON). */
export interface PointMassState {
  /** Position and velocity: x, y, vx, vy. */
  puck: number[];
  /** Steps taken in the episode. */
  steps: number;
  /** The env's random stream. */
  rng: ReturnType<Rng["getState"]>;
}

const DT = 0.05;
const MAX_FORCE = 2;
const FRICTION = 0.1;
const WALL = 20;

/**
 * The point-mass env: a `BoxEnv`, so `step` receives the force as a `Float32Array` with no cast.
 *
 * @example One push
 * ```ts
 * import assert from "node:assert/strict";
 * import { PointMass } from "./point_mass.ts";
 * const env = new PointMass({ start: 10, maxEpisodeSteps: 200 });
 * const { observation } = env.reset({ seed: 1 });
 * const step = env.step(Float32Array.of(2, 0));
 * assert.ok(step.observation[2]! > observation[2]!); // pushed along x
 * ```
 */
export class PointMass implements BoxEnv<PointMassState> {
  /** Position (m) and velocity (m/s), within the walls. */
  readonly observationSpace: Box = new Box({
    low: [-WALL, -WALL, -Infinity, -Infinity],
    high: [WALL, WALL, Infinity, Infinity],
  });
  /** The force on each axis, in newtons. */
  readonly actionSpace: Box = new Box({ low: -MAX_FORCE, high: MAX_FORCE, shape: [2] });
  readonly #options: PointMassOptions;
  #rng = new Rng(0);
  #puck = [0, 0, 0, 0];
  #steps = 0;

  /**
   * Builds the env; call `reset` before `step`.
   *
   * @param options Start square and episode length.
   */
  constructor(options: PointMassOptions) {
    this.#options = options;
  }

  /**
   * Starts an episode at a random point, at rest.
   *
   * @param options `seed` reseeds the env's random stream.
   * @returns The first observation.
   */
  reset(options: ResetOptions = {}): ResetResult<Float32Array> {
    if (options.seed !== undefined) this.#rng = new Rng(options.seed);
    const s = this.#options.start;
    this.#puck = [this.#rng.range(-s, s), this.#rng.range(-s, s), 0, 0];
    this.#steps = 0;
    return { observation: Float32Array.from(this.#puck), info: {} };
  }

  /**
   * Pushes the puck for one step.
   *
   * @param force The force on x and y, clipped to ±2 N.
   * @returns The new observation and minus the distance to the origin.
   */
  step(force: Float32Array): StepResult<Float32Array> {
    const p = this.#puck;
    for (let axis = 0; axis < 2; axis++) {
      const f = Math.min(Math.max(force[axis]!, -MAX_FORCE), MAX_FORCE);
      p[axis + 2] = p[axis + 2]! + (f - FRICTION * p[axis + 2]!) * DT;
      p[axis] = p[axis]! + p[axis + 2]! * DT;
      if (Math.abs(p[axis]!) > WALL) {
        p[axis] = Math.sign(p[axis]!) * WALL;
        p[axis + 2] = 0;
      }
    }
    this.#steps++;
    return {
      observation: Float32Array.from(p),
      reward: -Math.hypot(p[0]!, p[1]!),
      terminated: false,
      truncated: this.#steps >= this.#options.maxEpisodeSteps,
      info: {},
    };
  }

  /**
   * The puck, the step count and the random stream.
   *
   * @returns A JSON-serialisable state.
   */
  getState(): PointMassState {
    return { puck: [...this.#puck], steps: this.#steps, rng: this.#rng.getState() };
  }

  /**
   * Restores a state from `getState`.
   *
   * @param state The state.
   */
  setState(state: PointMassState): void {
    this.#puck = [...state.puck];
    this.#steps = state.steps;
    this.#rng.setState(state.rng);
  }
}

/**
 * The point-mass env plugin: `deno task train --env ./examples/point_mass.ts`.
 *
 * @example Create an env through the plugin
 * ```ts
 * import { pointMass } from "./point_mass.ts";
 * const env = pointMass.create(pointMass.defaults);
 * env.reset({ seed: 1 });
 * ```
 */
export const pointMass: EnvPlugin<PointMassOptions> = defineEnv<PointMassOptions>({
  kind: "env",
  name: "point-mass",
  description: "Push a puck to the origin (Box actions: force on x and y)",
  defaults: { start: 10, maxEpisodeSteps: 200 },
  help: {
    start: "half-width of the start square, in metres",
    maxEpisodeSteps: "steps before an episode is truncated",
  },
  create: (options) => new PointMass(options),
});
