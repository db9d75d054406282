/**
 * A vectorised env: N copies stepped in lockstep with one flat batch of actions, auto-resetting
 * each copy when its episode ends (the "same-step" reset of SB3 and Gymnasium 0.29: the returned
 * observation is already the next episode's first one, and the last observation of the finished
 * episode is kept in `finalObservations` so a truncated episode can be bootstrapped).
 *
 * It also checks what the envs return, so a buggy env fails loudly at the step it misbehaves.
 */
import type { Env } from "./env.ts";
import { flatSize, type Space } from "./spaces.ts";
import type { EpisodeRecord } from "./trainer.ts";

/** Options of {@linkcode VectorEnv}. */
export interface VectorEnvOptions {
  /** How many env copies; default 4 (CleanRL's). */
  numEnvs?: number;
  /** Copy `i` is first reset with seed `seed + i` (Gymnasium's convention); default 0. */
  seed?: number;
  /** The env's name, for error messages; default `"env"`. */
  name?: string;
  /** Clip `Box` actions to the action space's bounds before stepping; default true. */
  clipActions?: boolean;
}

/** What {@linkcode VectorEnv.step} returns. Arrays are reused between calls: copy to keep. */
export interface VectorStepResult {
  /** `numEnvs × observationSize` observations (after auto-reset). */
  observations: Float32Array;
  /** One reward per copy. */
  rewards: Float32Array;
  /** 1 where the copy's episode reached a terminal state. */
  terminated: Uint8Array;
  /** 1 where the copy's episode was cut off by a time limit (and not terminated). */
  truncated: Uint8Array;
  /** For each copy whose episode ended this step, its last observation; `null` elsewhere. */
  finalObservations: (Float32Array | null)[];
  /** Episodes that ended this step. */
  episodes: EpisodeRecord[];
}

/**
 * Told of every env call a {@linkcode VectorEnv} makes, so that a watchdog on another thread can
 * say which call hangs (a synchronous env call blocks its thread's event loop, signal listeners
 * included). Set it with {@linkcode VectorEnv.callRecorder}.
 */
export interface EnvCallRecorder {
  /**
   * A call starts.
   *
   * @param env The env's name.
   * @param copy The copy's index.
   * @param call `reset()` or `step()`.
   * @param step The vector env's step count.
   */
  enter(env: string, copy: number, call: string, step: number): void;
  /** The call returned or threw. */
  exit(): void;
}

/** The saved state of a {@linkcode VectorEnv}. */
export interface VectorEnvState {
  /** Each copy's own state, or null when the env cannot save one. */
  envs: unknown[];
  /** Current observations. */
  observations: number[];
  /** Running returns of the unfinished episodes. */
  returns: number[];
  /** Running lengths of the unfinished episodes. */
  lengths: number[];
}

/**
 * Steps `numEnvs` copies of an env in lockstep.
 *
 * @example Auto-reset reports finished episodes
 * ```ts
 * import assert from "node:assert/strict";
 * import { Box, Discrete, VectorEnv, type Env } from "@proximal/core";
 * function makeEnv(): Env {
 *   let t = 0;
 *   return {
 *     observationSpace: new Box({ low: 0, high: 10, shape: [1] }),
 *     actionSpace: new Discrete(2),
 *     reset: () => ((t = 0), { observation: new Float32Array([0]), info: {} }),
 *     step: () => ({ observation: new Float32Array([++t]), reward: 1, terminated: t >= 2, truncated: false, info: {} }),
 *   };
 * }
 * const envs = new VectorEnv(makeEnv, { numEnvs: 2 });
 * envs.reset();
 * envs.step(new Int32Array(2));
 * const { episodes, observations } = envs.step(new Int32Array(2));
 * assert.ok(episodes.length === 2 && episodes[0]!.return === 2 && observations[0] === 0);
 * ```
 */
export class VectorEnv {
  /**
   * Told of every env call of every vector env on this thread (the CLI's watchdog); default none.
   *
   * @example Count the calls
   * ```ts
   * import assert from "node:assert/strict";
   * import { VectorEnv } from "@proximal/core";
   * import { CartPole } from "@proximal/envs";
   * let calls = 0;
   * VectorEnv.callRecorder = { enter: () => calls++, exit: () => {} };
   * new VectorEnv(() => new CartPole(), { numEnvs: 2 }).reset();
   * VectorEnv.callRecorder = undefined;
   * assert.equal(calls, 2);
   * ```
   */
  static callRecorder: EnvCallRecorder | undefined = undefined;
  /** The number of copies. */
  readonly numEnvs: number;
  /** Floats per observation. */
  readonly observationSize: number;
  /** Floats per action (1 for `Discrete`). */
  readonly actionSize: number;
  /** The copies' observation space. */
  readonly observationSpace: Space;
  /** The copies' action space. */
  readonly actionSpace: Space;
  /** The env copies themselves. */
  readonly envs: readonly Env[];
  readonly #name: string;
  readonly #seed: number;
  readonly #clipActions: boolean;
  #observations: Float32Array;
  #returns: Float64Array;
  #lengths: Int32Array;
  #stepCount = 0;
  #result: VectorStepResult;

  /**
   * Makes `numEnvs` copies with `makeEnv` and checks that they agree on their spaces.
   *
   * @param makeEnv Creates one copy.
   * @param options See {@linkcode VectorEnvOptions}.
   */
  constructor(makeEnv: () => Env, options: VectorEnvOptions = {}) {
    const numEnvs = options.numEnvs ?? 4;
    this.#name = options.name ?? "env";
    if (!Number.isInteger(numEnvs) || numEnvs < 1) {
      throw new RangeError(`The number of envs must be a whole number >= 1, got ${numEnvs}`);
    }
    this.numEnvs = numEnvs;
    this.#seed = options.seed ?? 0;
    this.#clipActions = options.clipActions ?? true;
    const envs: Env[] = [];
    for (let i = 0; i < numEnvs; i++) envs.push(checkEnvShape(makeEnv(), this.#name));
    const first = envs[0]!;
    this.observationSpace = first.observationSpace;
    this.actionSpace = first.actionSpace;
    for (const env of envs) {
      if (
        String(env.observationSpace) !== String(first.observationSpace) ||
        String(env.actionSpace) !== String(first.actionSpace)
      ) {
        throw new Error(`Env "${this.#name}" copies disagree on their spaces`);
      }
    }
    this.envs = envs;
    this.observationSize = flatSize(this.observationSpace);
    this.actionSize = flatSize(this.actionSpace);
    this.#observations = new Float32Array(numEnvs * this.observationSize);
    this.#returns = new Float64Array(numEnvs);
    this.#lengths = new Int32Array(numEnvs);
    this.#result = {
      observations: this.#observations,
      rewards: new Float32Array(numEnvs),
      terminated: new Uint8Array(numEnvs),
      truncated: new Uint8Array(numEnvs),
      finalObservations: new Array(numEnvs).fill(null),
      episodes: [],
    };
  }

  /**
   * Resets every copy, copy `i` with seed `seed + i`.
   *
   * @returns The `numEnvs × observationSize` first observations (a live buffer: copy to keep).
   * @example See {@linkcode VectorEnv}
   * ```ts ignore
   * const observations = envs.reset();
   * ```
   */
  reset(): Float32Array {
    for (let i = 0; i < this.numEnvs; i++) {
      const { observation } = this.#call(
        i,
        "reset()",
        (env) => env.reset({ seed: this.#seed + i }),
      );
      this.#writeObservation(i, observation, "reset()");
    }
    this.#returns.fill(0);
    this.#lengths.fill(0);
    return this.#observations;
  }

  /**
   * Steps every copy with its action and resets the copies whose episodes ended.
   *
   * @param actions `numEnvs` action indices (`Discrete`) or `numEnvs × actionSize` floats (`Box`).
   * @returns The step's results; see {@linkcode VectorStepResult}.
   * @example See {@linkcode VectorEnv}
   * ```ts ignore
   * const { rewards, episodes } = envs.step(Int32Array.from([0, 1]));
   * ```
   */
  step(actions: Int32Array | Float32Array): VectorStepResult {
    const n = this.numEnvs, space = this.actionSpace;
    if (actions.length !== n * this.actionSize) {
      throw new RangeError(
        `Expected ${
          n * this.actionSize
        } actions for ${n} copies of env "${this.#name}", got ${actions.length}`,
      );
    }
    const result = this.#result;
    result.episodes = [];
    this.#stepCount++;
    for (let i = 0; i < n; i++) {
      let action: number | Float32Array;
      if (space.kind === "discrete") {
        action = actions[i]!;
      } else {
        const a = Float32Array.from(
          actions.subarray(i * this.actionSize, (i + 1) * this.actionSize),
        );
        if (this.#clipActions) {
          for (let j = 0; j < a.length; j++) {
            a[j] = Math.min(Math.max(a[j]!, space.low[j]!), space.high[j]!);
          }
        }
        action = a;
      }
      const out = this.#call(i, "step()", (env) => env.step(action));
      this.#checkStep(i, out);
      const terminated = out.terminated, truncated = out.truncated && !terminated;
      result.rewards[i] = out.reward;
      result.terminated[i] = terminated ? 1 : 0;
      result.truncated[i] = truncated ? 1 : 0;
      this.#returns[i]! += out.reward;
      this.#lengths[i]!++;
      if (terminated || truncated) {
        result.finalObservations[i] = this.#toFloat32(out.observation, i, "step()");
        // A reward-scaling wrapper reports the env's own return as Gymnasium's `info.episode`.
        const own = isObject(out.info) && isObject(out.info.episode) ? out.info.episode : {};
        result.episodes.push({
          envIndex: i,
          return: typeof own.r === "number" ? own.r : this.#returns[i]!,
          length: this.#lengths[i]!,
          truncated,
          info: isObject(out.info) ? out.info : {},
        });
        this.#returns[i] = 0;
        this.#lengths[i] = 0;
        this.#writeObservation(
          i,
          this.#call(i, "reset()", (env) => env.reset()).observation,
          "reset()",
        );
      } else {
        result.finalObservations[i] = null;
        this.#writeObservation(i, out.observation, "step()");
      }
    }
    return result;
  }

  /**
   * The copies' states and the running episode statistics, for checkpoints. A copy without
   * `getState` is saved as `null` and is reset on restore.
   *
   * @returns A JSON-serialisable state.
   * @example Save
   * ```ts ignore
   * const state = envs.getState();
   * ```
   */
  getState(): VectorEnvState {
    return {
      envs: this.envs.map((env) => env.getState?.() ?? null),
      observations: Array.from(this.#observations),
      returns: Array.from(this.#returns),
      lengths: Array.from(this.#lengths),
    };
  }

  /**
   * Restores a state from {@linkcode VectorEnv.getState}.
   *
   * @param state The saved state.
   * @returns The current observations.
   * @example Restore
   * ```ts ignore
   * envs.setState(saved);
   * ```
   */
  setState(state: VectorEnvState): Float32Array {
    const n = this.numEnvs;
    if (
      !state || !Array.isArray(state.envs) || state.envs.length !== n ||
      !Array.isArray(state.observations) || state.observations.length !== this.#observations.length
    ) {
      throw new Error(
        `Cannot restore ${n} copies of env "${this.#name}": the saved vector env state does not match (saved with a different --num-envs or env?)`,
      );
    }
    let resetAny = false;
    this.#observations.set(state.observations);
    for (let i = 0; i < n; i++) {
      const saved = state.envs[i], env = this.envs[i]!;
      if (saved !== null && env.setState) {
        env.setState(saved);
        this.#returns[i] = state.returns[i] ?? 0;
        this.#lengths[i] = state.lengths[i] ?? 0;
      } else {
        const { observation } = this.#call(i, "reset()", (e) => e.reset({ seed: this.#seed + i }));
        this.#writeObservation(i, observation, "reset()");
        this.#returns[i] = 0;
        this.#lengths[i] = 0;
        resetAny = true;
      }
    }
    if (resetAny) this.#stepCount = 0;
    return this.#observations;
  }

  /** Closes every copy. */
  close(): void {
    for (const env of this.envs) env.close?.();
  }

  /**
   * Calls copy `i`'s env, telling the recorder, and wraps what it throws with the env's name, the
   * copy, the call and the step: `Env "cartpole" copy 3 threw in step() at vector step 1,024: …`.
   */
  #call<T>(i: number, call: string, fn: (env: Env) => T): T {
    const recorder = VectorEnv.callRecorder;
    recorder?.enter(this.#name, i, call, this.#stepCount);
    try {
      return fn(this.envs[i]!);
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      throw new Error(
        `Env "${this.#name}" copy ${i} threw in ${call} at vector step ${
          this.#stepCount.toLocaleString("en-US")
        }: ${message}`,
        { cause: error },
      );
    } finally {
      recorder?.exit();
    }
  }

  #checkStep(i: number, out: unknown): void {
    const where = () => `Env "${this.#name}" (copy ${i}) step() at vector step ${this.#stepCount}`;
    if (typeof out !== "object" || out === null) {
      throw new TypeError(
        `${where()} returned ${out === null ? "null" : typeof out}, not an object`,
      );
    }
    const r = out as Record<string, unknown>;
    if (typeof r.reward !== "number" || !Number.isFinite(r.reward)) {
      const got = typeof r.reward === "number" ? String(r.reward) : `a ${typeof r.reward}`;
      throw new TypeError(`${where()} returned a reward that is not a finite number: ${got}`);
    }
    if (typeof r.terminated !== "boolean" || typeof r.truncated !== "boolean") {
      throw new TypeError(
        `${where()} must return booleans "terminated" and "truncated", got ${typeof r
          .terminated} and ${typeof r.truncated}`,
      );
    }
  }

  #toFloat32(observation: unknown, i: number, call: string): Float32Array {
    const obs = new Float32Array(this.observationSize);
    this.#copyChecked(observation, { i, call, into: obs, at: 0 });
    return obs;
  }

  #writeObservation(i: number, observation: unknown, call: string): void {
    // Straight into the batch: a copy per step cost ~5 % of a small PPO run.
    this.#copyChecked(observation, {
      i,
      call,
      into: this.#observations,
      at: i * this.observationSize,
    });
  }

  /** Checks an env's observation (its length, every value finite as float32), then copies it. */
  #copyChecked(
    observation: unknown,
    where: { i: number; call: string; into: Float32Array; at: number },
  ): void {
    const size = this.observationSize, { i, call, into, at } = where;
    const isArray = observation instanceof Float32Array || observation instanceof Float64Array ||
      Array.isArray(observation);
    if (!isArray || (observation as ArrayLike<number>).length !== size) {
      const got = isArray
        ? `${(observation as ArrayLike<number>).length} values`
        : observation === null
        ? "null"
        : typeof observation;
      throw new TypeError(
        `Env "${this.#name}" (copy ${i}) ${call} returned an observation of ${got}; its observation space ${this.observationSpace} needs ${size}`,
      );
    }
    const values = observation as ArrayLike<number>;
    for (let j = 0; j < size; j++) {
      // As a Float32Array stores it: a finite double beyond float32's range becomes infinite.
      const value = Math.fround(values[j]!);
      if (!Number.isFinite(value)) {
        throw new TypeError(
          `Env "${this.#name}" (copy ${i}) ${call} returned a non-finite observation: element ${j} is ${value}`,
        );
      }
    }
    into.set(values, at);
  }
}

function checkEnvShape(env: unknown, name: string): Env {
  if (typeof env !== "object" || env === null) {
    throw new TypeError(
      `Env plugin "${name}" create() returned ${env === null ? "null" : typeof env}, not an env`,
    );
  }
  const e = env as Record<string, unknown>;
  for (const method of ["reset", "step"]) {
    if (typeof e[method] !== "function") {
      throw new TypeError(`Env plugin "${name}" created an env without a ${method}() method`);
    }
  }
  for (const key of ["observationSpace", "actionSpace"]) {
    const space = e[key] as { kind?: unknown } | undefined;
    if (!space || (space.kind !== "discrete" && space.kind !== "box")) {
      throw new TypeError(
        `Env plugin "${name}" created an env whose ${key} is not a Discrete or Box space`,
      );
    }
  }
  return env as Env;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}
