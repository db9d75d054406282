// Resume is exact or refused: what a run's numbers depend on comes from its checkpoint, and a flag
// that would change it is refused; a change that leaves the numbers alone is applied and said.
import { type AlgoPlugin, type EnvPlugin, toKebabCase } from "@proximal/core";
import type { Resumed, RunConfig } from "./_checkpoints.ts";
import { optionsFromFlags, UsageError } from "./_flags.ts";

/**
 * Plugin options a resumed run may change: `numWorkers` decides how PPO's work is spread, not its
 * numbers (a change of its shards is refused by PPO itself when it restores); `epochs` is an
 * epoch-based stage's budget, as `--total-timesteps` is PPO's; `pairs` names a file whose content
 * the text stages check against their checkpoint's fingerprint themselves.
 */
const SAFE_OPTIONS: ReadonlySet<string> = new Set(["numWorkers", "epochs", "pairs"]);

/** Where the flags of a resumed run came from, to name them in messages. */
export interface ResumeOrigin {
  /** The flags given on the command line (kebab-case, without `--`). */
  given: ReadonlySet<string>;
  /** The `--preset` given, if any. */
  preset: string | undefined;
  envPlugin: EnvPlugin;
  algoPlugin: AlgoPlugin;
}

/**
 * Compares the configuration a resumed run would have with the one its checkpoint recorded.
 * Throws a {@linkcode UsageError} naming the first flag that would change the run's numbers;
 * returns one line per change that is applied (a new budget, evaluation, checkpoint interval,
 * stopping return or worker count).
 */
export function checkResume(resumed: Resumed, config: RunConfig, origin: ResumeOrigin): string[] {
  const saved = resumed.config;
  const refuse = (flag: string, now: unknown, before: unknown): never => {
    const source = origin.given.has(flag) || origin.preset === undefined
      ? ""
      : ` as --preset ${origin.preset} sets`;
    throw new UsageError(
      `Cannot resume from ${resumed.path}: the run has --${flag} ${show(before)}, not ${
        show(now)
      }${source} (its numbers depend on it: start a new run with another --out to change it)`,
    );
  };
  if (config.seed !== saved.seed) refuse("seed", config.seed, saved.seed);
  if (config.numEnvs !== saved.numEnvs) refuse("num-envs", config.numEnvs, saved.numEnvs);
  if (saved.backend !== undefined && config.backend !== saved.backend) {
    refuse("backend", config.backend, saved.backend);
  }
  const notices: string[] = [];
  const compare = (now: Record<string, unknown>, before: Record<string, unknown>) => {
    for (const key of new Set([...Object.keys(now), ...Object.keys(before)])) {
      if (JSON.stringify(now[key]) === JSON.stringify(before[key])) continue;
      const flag = toKebabCase(key);
      if (!SAFE_OPTIONS.has(key)) refuse(flag, now[key], before[key]);
      notices.push(`--${flag} ${show(now[key])} (was ${show(before[key])})`);
    }
  };
  // The saved options resolved again, so an option added since fills in the same default.
  compare(config.envOptions, optionsFromFlags(origin.envPlugin, saved.envOptions));
  compare(config.algoOptions, optionsFromFlags(origin.algoPlugin, saved.algoOptions));
  const settings = [
    ["total-timesteps", config.totalTimesteps, saved.totalTimesteps],
    ["eval-episodes", config.evalEpisodes, saved.evalEpisodes],
    ["checkpoint-every", config.checkpointEvery, saved.checkpointEvery],
    ["stop-at-return", config.stopAtReturn, saved.stopAtReturn],
  ] as const;
  for (const [flag, now, before] of settings) {
    if (before !== undefined && now !== before) {
      notices.push(`--${flag} ${show(now)} (was ${show(before)})`);
    }
  }
  return notices;
}

function show(value: unknown): string {
  if (typeof value === "number") {
    return Number.isSafeInteger(value) ? value.toLocaleString("en-US") : String(value);
  }
  if (value === null || value === undefined) return "none";
  return typeof value === "string" ? value : JSON.stringify(value);
}
