// The CLI's flags: the top-level table, the plugin options that become flags, the parsing of
// numbers, and the one-line messages of what the user got wrong.
import type { ParseArgsOptionsConfig } from "node:util";
import {
  type AlgoPlugin,
  BACKENDS,
  type EnvPlugin,
  type PluginOptions,
  resolveOptions,
  toKebabCase,
} from "@proximal/core";

/**
 * A mistake in the command line (a flag, a plugin reference, an option's value, a checkpoint to
 * resume): `main` throws it before any training, and run as a program the CLI prints its message
 * as one line, without a stack, and exits with code 2 (1 for any other failure).
 *
 * @example Tell a usage error from a failed run
 * ```ts
 * import assert from "node:assert/strict";
 * import { main, UsageError } from "@proximal/cli";
 * await assert.rejects(main(["--num-envs", "0"]), UsageError);
 * ```
 */
export class UsageError extends Error {}

/** The flags every run has, with their defaults and help lines. */
export const TOP_LEVEL = {
  env: {
    type: "<name|path>",
    default: "cartpole",
    help: "env plugin: a built-in name or a module path/URL",
  },
  algo: {
    type: "<name|path>",
    default: "ppo",
    help: "algorithm plugin: a built-in name or a module path/URL",
  },
  seed: {
    type: "<integer>",
    default: "1",
    help: "seed of everything random (envs, init, sampling)",
  },
  seeds: {
    type: "<list>",
    default: "",
    help:
      "one run per seed (1,2,5-8), each in <out>/seed-N, side by side in workers; a summary in <out>/seeds.json",
  },
  "seed-workers": {
    type: "<integer>",
    default: "cores - 1",
    help:
      "worker threads of --seeds besides this one, which runs seeds too (0 = one after another)",
  },
  "total-timesteps": { type: "<integer>", default: "500000", help: "env-step budget" },
  "num-envs": { type: "<integer>", default: "4", help: "env copies stepped in lockstep" },
  out: { type: "<dir>", default: "runs/<env>-<algo>-s<seed>-<time>", help: "output directory" },
  resume: { type: "<dir>", default: "", help: "resume from a run directory's latest checkpoint" },
  "eval-episodes": {
    type: "<integer>",
    default: "100",
    help: "episodes of the final evaluation (0 = none)",
  },
  "stop-at-return": {
    type: "<number>",
    default: "",
    help: "stop once the mean return of the last 20 training episodes reaches this",
  },
  "checkpoint-every": {
    type: "<integer>",
    default: "100000",
    help: "steps between checkpoints, in the trainer's unit (0 = only at the end)",
  },
  backend: { type: "<wasm|cpu>", default: "wasm", help: `tfjs backend: ${BACKENDS.join(" or ")}` },
  preset: {
    type: "<name>",
    default: "",
    help: "a named set of the algorithm's hyperparameters (see below)",
  },
  "env-call-timeout": {
    type: "<seconds>",
    default: "300",
    help: "seconds one env call (reset, step) may take before the run is stopped (0 = no limit)",
  },
  check: {
    type: "",
    default: "",
    help: "type-check the --env/--algo modules (deno check) before training; takes no value",
  },
  wrappers: {
    type: "<a,b,…>",
    default: "",
    help:
      "env wrappers, innermost first: clip-action, rescale-action, normalize-obs, normalize-reward (none = no wrappers)",
  },
} as const;

/** A top-level flag. */
export type TopLevelFlag = keyof typeof TOP_LEVEL;

/** Parsed flags by name. */
export type FlagValues = Record<string, string | boolean | undefined>;

/** The flags that decide which plugins (and so which further flags) exist: parsed first. */
export const FIRST_PASS: ParseArgsOptionsConfig = {
  env: { type: "string" },
  algo: { type: "string" },
  resume: { type: "string" },
  help: { type: "boolean", short: "h" },
  check: { type: "boolean" },
};

/**
 * Every plugin option as a flag (`learningRate` → `--learning-rate`, and its aliases), with the
 * kind of plugin it belongs to; refuses an option that clashes with a top-level flag or with an
 * option of the other plugin.
 */
export function pluginFlags(
  plugins: readonly (EnvPlugin | AlgoPlugin)[],
): Map<string, "env" | "algo"> {
  const flags = new Map<string, "env" | "algo">();
  for (const plugin of plugins) {
    for (
      const key of [...Object.keys(plugin.defaults), ...Object.keys(plugin.optionAliases ?? {})]
    ) {
      const flag = toKebabCase(key);
      if (flag in TOP_LEVEL || flag === "help") {
        throw new UsageError(
          `Option "${key}" of ${plugin.kind} plugin "${plugin.name}" clashes with the flag --${flag}`,
        );
      }
      if (flags.has(flag)) {
        throw new UsageError(
          `Option --${flag} is defined by both the env and the algorithm; rename one of them`,
        );
      }
      flags.set(flag, plugin.kind);
    }
  }
  return flags;
}

/** The second, strict pass's table: the top-level flags and the plugins' options. */
export function secondPass(flags: Iterable<string>): ParseArgsOptionsConfig {
  const options: ParseArgsOptionsConfig = { help: { type: "boolean", short: "h" } };
  for (const flag of [...Object.keys(TOP_LEVEL), ...flags]) options[flag] = { type: "string" };
  options.check = { type: "boolean" };
  return options;
}

/** A whole-number flag at least `min`; `fallback` (a resumed run's, a preset's) when not given. */
export function intFlag(
  values: FlagValues,
  flag: TopLevelFlag,
  options: { min: number; fallback?: number | undefined },
): number {
  if (values[flag] === undefined && options.fallback !== undefined) return options.fallback;
  const n = numberFlag(values, flag);
  if (!Number.isInteger(n) || n < options.min) {
    throw new UsageError(
      `Invalid --${flag} ${values[flag]}: expected a whole number >= ${options.min}`,
    );
  }
  if (!Number.isSafeInteger(n)) {
    throw new UsageError(
      `Invalid --${flag} ${values[flag]}: too large to count exactly (at most ${
        Number.MAX_SAFE_INTEGER.toLocaleString("en-US")
      })`,
    );
  }
  return n;
}

/** A finite-number flag, or its default. */
export function numberFlag(values: FlagValues, flag: TopLevelFlag): number {
  const raw = String(values[flag] ?? TOP_LEVEL[flag].default);
  const n = raw.trim() === "" ? NaN : Number(raw);
  if (!Number.isFinite(n)) throw new UsageError(`Invalid --${flag} "${raw}": expected a number`);
  return n;
}

/** A plugin's complete options; an error names the flags rather than the option names. */
export function optionsFromFlags<O extends PluginOptions>(
  plugin: EnvPlugin<O> | AlgoPlugin<O>,
  given: Record<string, unknown>,
): O {
  try {
    return resolveOptions(plugin, given);
  } catch (e) {
    throw new UsageError(
      (e as Error).message.replace(
        /^Options? ("\w+"(?: and "\w+")?)/,
        (_, names: string) => names.replace(/"(\w+)"/g, (_, k: string) => `--${toKebabCase(k)}`),
      ),
    );
  }
}

/** Flags that take no value. */
const SWITCHES = new Set(["help", "check"]);

/**
 * The arguments with a negative number after a flag joined to it (`--seed -3` → `--seed=-3`):
 * `node:util`'s parser otherwise reads `-3` as a short flag and the flag as missing its value.
 */
export function joinNegativeValues(args: readonly string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!, next = args[i + 1];
    const flag = /^--([^=]+)$/.exec(arg)?.[1];
    if (
      flag !== undefined && !SWITCHES.has(flag) && next !== undefined &&
      /^-(\d|\.\d|Infinity$)/.test(next)
    ) {
      out.push(`${arg}=${next}`);
      i++;
    } else {
      out.push(arg);
    }
  }
  return out;
}

/**
 * The known flag nearest to an unknown one (`--learning_rate` → `--learning-rate`): underscores
 * and case ignored, then the smallest edit distance, if it is small for the name's length.
 */
export function nearestFlag(unknown: string, known: Iterable<string>): string | undefined {
  const wanted = unknown.replace(/^-+/, "").split("=")[0]!.toLowerCase().replace(/_/g, "-");
  let best: string | undefined, bestDistance = Infinity;
  for (const flag of known) {
    const d = editDistance(wanted, flag);
    if (d < bestDistance) [best, bestDistance] = [flag, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.floor(wanted.length / 4))
    ? best
    : undefined;
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = row;
  }
  return previous[b.length]!;
}

/** `node:util`'s parse errors, as one line that says what to do (and the nearest known flag). */
export function parseArgsMessage(e: Error, known: Iterable<string> = []): string {
  const code = (e as { code?: string }).code;
  const flag = e.message.match(/'(-[^']*)'/)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && flag) {
    const name = flag.split("=")[0];
    const near = nearestFlag(name!, known);
    return near === undefined
      ? `Unknown flag ${name}: see --help for the flags and plugin options`
      : `Unknown flag ${name}: did you mean --${near}? (see --help)`;
  }
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    return `Unexpected argument: ${e.message.match(/'([^']*)'/)?.[1] ?? ""} (flags start with --)`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && flag) {
    return `Flag ${flag.split(" ")[0]} needs a value`;
  }
  return e.message;
}

/** Rethrows an error as a usage error (a bad plugin reference, an unreadable checkpoint). */
export function asUsageError(e: Error): never {
  throw new UsageError(e.message);
}
