/**
 * Plugins: plain typed objects that create envs, algorithms and reward sources. The CLI finds
 * them by name in a registry (a `Map`) or loads them from a user's module by path or URL.
 */
import type { Env } from "./env.ts";
import type { RewardSource } from "./reward_source.ts";
import type { Trainer } from "./trainer.ts";

/** A plugin option's value: options are flat so that each maps to one CLI flag. */
export type OptionValue = number | string | boolean;

/** A plugin's options: a flat record of numbers, strings and booleans. */
export type PluginOptions = Record<string, OptionValue>;

/** What every plugin has. `defaults` fixes each option's type and default value. */
export interface PluginBase<K extends string, O extends PluginOptions> {
  /** What the plugin creates. */
  readonly kind: K;
  /** Its name in the registry and on the command line, e.g. `cartpole`. */
  readonly name: string;
  /** Other names the registry finds it by, e.g. an earlier name; default none. */
  readonly aliases?: readonly string[];
  /** One line for `--help`. */
  readonly description: string;
  /** Every option with its default value. */
  readonly defaults: Readonly<O>;
  /** One line of help per option (shown by `--help`). */
  readonly help?: { readonly [P in keyof O]?: string };
  /**
   * Other names of options, `{ alias: option }` (camelCase, so `--alias` is a flag too), e.g. an
   * option's earlier name; default none.
   */
  readonly optionAliases?: { readonly [alias: string]: keyof O & string };
}

/**
 * Creates one copy of an env. The vector env calls `create` once per copy.
 *
 * @example A user-written env plugin
 * ```ts
 * import { Box, defineEnv, Discrete } from "@proximal/core";
 * export const coin = defineEnv({
 *   kind: "env",
 *   name: "coin",
 *   description: "Guess heads (1) for a reward of 1",
 *   defaults: { payout: 1 },
 *   create: (options) => ({
 *     observationSpace: new Box({ low: 0, high: 1, shape: [1] }),
 *     actionSpace: new Discrete(2),
 *     reset: () => ({ observation: new Float32Array(1), info: {} }),
 *     step: (action) => ({
 *       observation: new Float32Array(1),
 *       reward: action === 1 ? options.payout : 0,
 *       terminated: true,
 *       truncated: false,
 *       info: {},
 *     }),
 *   }),
 * });
 * ```
 */
export interface EnvPlugin<O extends PluginOptions = PluginOptions> extends PluginBase<"env", O> {
  /** Makes one env copy with the given (complete) options. */
  create(options: O): Env;
  /**
   * Algorithms made for this env, which `--algo NAME` finds before the registry's of the same
   * name: a text env brings PPO wired to a language-model policy, SFT, reward-model training and
   * DPO. Default none.
   */
  readonly algos?: readonly AlgoPlugin[];
}

/**
 * An env plugin by reference, for threads that cannot share `makeEnv`: a module reference that
 * {@linkcode resolvePlugin} loads (an absolute URL, with `#name` when the module exports several
 * env plugins) and the plugin's complete options.
 *
 * @example CartPole from the envs package
 * ```ts
 * import type { EnvSource } from "@proximal/core";
 * const source: EnvSource = {
 *   module: `${import.meta.resolve("@proximal/envs")}#cartpole`,
 *   options: {},
 * };
 * ```
 */
export interface EnvSource {
  /** The module reference, e.g. `file:///home/me/my_env.ts#coin`. */
  module: string;
  /** The plugin's options. */
  options: PluginOptions;
}

/** What an algorithm plugin receives besides its own options. */
export interface AlgoContext {
  /** Makes one env copy; called `numEnvs` times. */
  makeEnv(): Env;
  /** How many env copies to step in lockstep. */
  numEnvs: number;
  /** The run's seed. */
  seed: number;
  /** The env-step budget (drives learning-rate annealing). */
  totalTimesteps: number;
  /** The env's name, for error messages; default `"env"`. */
  envName?: string;
  /** The env plugin's complete options, for algorithms that read them (a text env's prompt length). */
  envOptions?: Readonly<PluginOptions>;
  /** The run's output directory, for artefacts beside the checkpoints (a pairs file). */
  outDir?: string;
  /**
   * Where another thread can build the env (`makeEnv` is a function, which cannot cross to a
   * Worker): PPO's `numWorkers` builds each worker's env copies from it. The CLI sets it.
   */
  envSource?: EnvSource;
  /**
   * Where threads that run env calls off the main thread (PPO's `numWorkers`) record them, so
   * that a watchdog can name a hung one: a record from `createEnvCallRecord`, worker `w` writing
   * its slot `1 + w` with a `SharedEnvCallRecorder`. The CLI sets it; default none (unrecorded).
   *
   * @example
   * ```ts ignore
   * const context = { makeEnv, numEnvs: 4, seed: 1, totalTimesteps: 1e5, envCallRecord: createEnvCallRecord(3) };
   * ```
   */
  envCallRecord?: SharedArrayBuffer;
}

/**
 * Creates a trainer for an env.
 *
 * @example Look up an algorithm's defaults
 * ```ts ignore
 * import type { AlgoPlugin } from "@proximal/core";
 * declare const ppo: AlgoPlugin;
 * console.log(ppo.defaults);
 * ```
 */
export interface AlgoPlugin<O extends PluginOptions = PluginOptions> extends PluginBase<"algo", O> {
  /** Builds a trainer from options and the run's context (asynchronously when it loads files). */
  create(options: O, context: AlgoContext): Trainer | Promise<Trainer>;
  /** Named sets of hyperparameters (`--preset NAME`), applied before explicit flags; default none. */
  readonly presets?: Readonly<Record<string, AlgoPreset<O>>>;
}

/** A named set of hyperparameters of an algorithm plugin, chosen with `--preset NAME`. */
export interface AlgoPreset<O extends PluginOptions = PluginOptions> {
  /** One line for `--help`: what the preset is for and where its values come from. */
  readonly description: string;
  /** The options it sets; the others keep their defaults. */
  readonly options: Readonly<Partial<O>>;
  /** The number of env copies it was tuned with, used unless `--num-envs` is given. */
  readonly numEnvs?: number;
  /**
   * The env wrappers it was tuned with (`withWrappers` names in `@proximal/envs`, innermost
   * first), used unless `--wrappers` is given; default none.
   */
  readonly wrappers?: readonly string[];
}

/**
 * Creates a reward source (a reward model or a judge).
 *
 * @example A constant reward
 * ```ts
 * import type { RewardPlugin } from "@proximal/core";
 * export const zero: RewardPlugin<{ value: number }> = {
 *   kind: "reward",
 *   name: "zero",
 *   description: "Scores everything the same",
 *   defaults: { value: 0 },
 *   create: (o) => ({ name: "zero", score: (b) => Promise.resolve(new Float32Array(b.length).fill(o.value)) }),
 * };
 * ```
 */
export interface RewardPlugin<O extends PluginOptions = PluginOptions>
  extends PluginBase<"reward", O> {
  /** Builds the reward source. */
  create(options: O): RewardSource | Promise<RewardSource>;
}

/** Any plugin. */
export type Plugin = EnvPlugin | AlgoPlugin | RewardPlugin;

/** The plugin kinds. */
export type PluginKind = Plugin["kind"];

/** The plugin type of a kind. */
export type PluginOfKind<K extends PluginKind> = Extract<Plugin, { kind: K }>;

/**
 * The option types a plugin's `defaults` imply, widened from literals: `{ lr: 0.1 }` gives
 * `{ lr: number }`.
 *
 * @example Widening
 * ```ts
 * import type { WidenOptions } from "@proximal/core";
 * const options: WidenOptions<{ lr: 0.1; tag: "a" }> = { lr: 0.5, tag: "b" };
 * console.log(options);
 * ```
 */
export type WidenOptions<D> = {
  -readonly [K in keyof D]: D[K] extends number ? number
    : D[K] extends string ? string
    : D[K] extends boolean ? boolean
    : never;
};

/** A plugin literal as written by its author, before its option types are widened. */
export type PluginDefinition<K extends string, D extends PluginOptions, T> = {
  /** What the plugin creates. */
  readonly kind: K;
  /** Its name. */
  readonly name: string;
  /** Other names the registry finds it by. */
  readonly aliases?: readonly string[];
  /** One line for `--help`. */
  readonly description: string;
  /** Every option with its default value. */
  readonly defaults: D;
  /** One line of help per option. */
  readonly help?: { readonly [P in keyof NoInfer<D>]?: string };
  /** Other names of options, `{ alias: option }`. */
  readonly optionAliases?: { readonly [alias: string]: keyof NoInfer<D> & string };
} & T;

/**
 * Declares an env plugin; returns its argument unchanged, with its options' types inferred from
 * `defaults` (widened: a default of `1` makes the option a `number`).
 *
 * @param plugin The plugin object.
 * @returns The same object.
 * @example See {@linkcode EnvPlugin}
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineEnv } from "@proximal/core";
 * const p = defineEnv({ kind: "env", name: "x", description: "", defaults: { size: 3 }, create: (o) => { throw new Error(`unused ${o.size + 1}`); } });
 * assert.ok(p.name === "x");
 * ```
 */
export function defineEnv<D extends PluginOptions>(
  plugin: PluginDefinition<
    "env",
    D,
    { create(options: WidenOptions<D>): Env; readonly algos?: readonly AlgoPlugin[] }
  >,
): EnvPlugin<WidenOptions<D>> {
  return plugin as unknown as EnvPlugin<WidenOptions<D>>;
}

/**
 * Declares an algorithm plugin; returns its argument unchanged, with widened option types.
 *
 * @param plugin The plugin object.
 * @returns The same object.
 * @example Identity
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineAlgo } from "@proximal/core";
 * const p = defineAlgo({ kind: "algo", name: "noop", description: "", defaults: {}, create: () => { throw new Error("unused"); } });
 * assert.ok(p.kind === "algo");
 * ```
 */
export function defineAlgo<D extends PluginOptions>(
  plugin: PluginDefinition<
    "algo",
    D,
    {
      create(options: WidenOptions<D>, context: AlgoContext): Trainer | Promise<Trainer>;
      readonly presets?: Readonly<Record<string, AlgoPreset<WidenOptions<D>>>>;
    }
  >,
): AlgoPlugin<WidenOptions<D>> {
  return plugin as unknown as AlgoPlugin<WidenOptions<D>>;
}

/**
 * Declares a reward plugin; returns its argument unchanged, with widened option types.
 *
 * @param plugin The plugin object.
 * @returns The same object.
 * @example Identity
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineReward } from "@proximal/core";
 * const p = defineReward({ kind: "reward", name: "z", description: "", defaults: {}, create: () => ({ name: "z", score: (b) => Promise.resolve(new Float32Array(b.length)) }) });
 * assert.ok(p.kind === "reward");
 * ```
 */
export function defineReward<D extends PluginOptions>(
  plugin: PluginDefinition<
    "reward",
    D,
    { create(options: WidenOptions<D>): RewardSource | Promise<RewardSource> }
  >,
): RewardPlugin<WidenOptions<D>> {
  return plugin as unknown as RewardPlugin<WidenOptions<D>>;
}
