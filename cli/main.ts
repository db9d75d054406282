/**
 * `deno task train`: trains any algorithm plugin on any env plugin from the command line, writes
 * metrics (JSONL and CSV) and checkpoints, resumes, and ends with an evaluation.
 *
 *   deno task train                                  PPO on CartPole-v1, CleanRL's defaults
 *   deno task train --env ./examples/catch_env.ts    a user's env plugin, loaded by path
 *   deno task train --help                           every flag, plugin and option
 */
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import {
  type AlgoPlugin,
  type BackendName,
  BACKENDS,
  type Checkpoint,
  describePlugin,
  type EnvPlugin,
  type EnvSource,
  evaluatePolicy,
  isModuleReference,
  type PluginOptions,
  readCheckpoint,
  resolveOptions,
  resolvePlugin,
  setupBackend,
  toCamelCase,
  toKebabCase,
  writeCheckpoint,
} from "@proximal/core";
import { builtinEnvModules, builtins } from "./builtins.ts";

/** An error in what the user gave: printed as one line, without a stack. */
class UsageError extends Error {}

const TOP_LEVEL = {
  env: { default: "cartpole", help: "env plugin: a built-in name or a module path/URL" },
  algo: { default: "ppo", help: "algorithm plugin: a built-in name or a module path/URL" },
  seed: { default: "1", help: "seed of everything random (envs, init, sampling)" },
  "total-timesteps": { default: "500000", help: "env-step budget" },
  "num-envs": { default: "4", help: "env copies stepped in lockstep" },
  out: { default: "runs/<env>-<algo>-s<seed>-<time>", help: "output directory" },
  resume: { default: "", help: "resume from a run directory's latest checkpoint" },
  "eval-episodes": { default: "100", help: "episodes of the final evaluation (0 = none)" },
  "stop-at-return": {
    default: "",
    help: "stop once the mean return of the last 20 training episodes reaches this",
  },
  "checkpoint-every": {
    default: "100000",
    help: "env steps between checkpoints (0 = only at the end)",
  },
  backend: { default: "wasm", help: `tfjs backend: ${BACKENDS.join(" or ")}` },
  preset: { default: "", help: "a named set of the algorithm's hyperparameters (see below)" },
} as const;

const RETURN_WINDOW = 20;

interface RunConfig {
  env: string;
  algo: string;
  envOptions: PluginOptions;
  algoOptions: PluginOptions;
  seed: number;
  numEnvs: number;
  totalTimesteps: number;
}

/**
 * Runs the CLI on the given arguments: parses the flags, builds the env and the trainer, trains,
 * checkpoints and evaluates.
 *
 * @param args The command-line arguments (without the program name).
 * @example Train CartPole for a few iterations
 * ```ts ignore
 * import { main } from "@proximal/cli";
 * await main(["--total-timesteps", "2048", "--eval-episodes", "0"]);
 * ```
 */
export async function main(args: string[]): Promise<void> {
  // Pass 1: only the flags that decide which plugins (and so which further flags) exist.
  const first = parseArgs({
    args,
    options: {
      env: { type: "string" },
      algo: { type: "string" },
      resume: { type: "string" },
      help: { type: "boolean", short: "h" },
    },
    strict: false,
    allowPositionals: true,
  }).values;

  let resumed: { checkpoint: Checkpoint; config: RunConfig; path: string } | undefined;
  if (typeof first.resume === "string") {
    const path = `${first.resume.replace(/\/$/, "")}/latest.ckpt`;
    const checkpoint = await readCheckpoint(path).catch((e: Error) => {
      throw new UsageError(e.message);
    });
    const config = checkpoint.meta.run as RunConfig | undefined;
    if (!config || typeof config.env !== "string" || typeof config.algo !== "string") {
      throw new UsageError(`Cannot resume from ${path}: it was not written by deno task train`);
    }
    for (const kind of ["env", "algo"] as const) {
      const given = first[kind];
      if (typeof given === "string" && given !== config[kind]) {
        throw new UsageError(
          `Cannot resume from ${path}: it was trained with --${kind} ${config[kind]}, not ${given}`,
        );
      }
    }
    resumed = { checkpoint, config, path };
  }

  const envRef = typeof first.env === "string" ? first.env : resumed?.config.env ?? "cartpole";
  const algoRef = typeof first.algo === "string" ? first.algo : resumed?.config.algo ?? "ppo";
  const envPlugin = await resolvePlugin(builtins, "env", envRef).catch(asUsageError);
  // An env may bring algorithms of its own (text-preference: sft, reward-model, ppo, dpo).
  const algoPlugin = envPlugin.algos?.find((a) => a.name === algoRef) ??
    await resolvePlugin(builtins, "algo", algoRef).catch(asUsageError);

  if (first.help) {
    console.log(helpText(envPlugin, algoPlugin));
    return;
  }

  // Pass 2: strict, with every plugin option as a flag.
  const pluginFlags = new Map<string, "env" | "algo">();
  for (const plugin of [envPlugin, algoPlugin]) {
    for (const key of Object.keys(plugin.defaults)) {
      const flag = toKebabCase(key);
      if (flag in TOP_LEVEL || flag === "help") {
        throw new UsageError(
          `Option "${key}" of ${plugin.kind} plugin "${plugin.name}" clashes with the flag --${flag}`,
        );
      }
      if (pluginFlags.has(flag)) {
        throw new UsageError(
          `Option --${flag} is defined by both the env and the algorithm; rename one of them`,
        );
      }
      pluginFlags.set(flag, plugin.kind);
    }
  }
  const options: Record<string, { type: "string" | "boolean"; short?: string }> = {
    help: { type: "boolean", short: "h" },
  };
  for (const flag of [...Object.keys(TOP_LEVEL), ...pluginFlags.keys()]) {
    options[flag] = { type: "string" };
  }
  let values: Record<string, string | boolean | undefined>;
  try {
    const parsed = parseArgs({ args, options, strict: true, allowPositionals: false });
    values = parsed.values as Record<string, string | boolean | undefined>;
  } catch (e) {
    throw new UsageError(parseArgsMessage(e as Error));
  }

  const given = { env: {} as Record<string, unknown>, algo: {} as Record<string, unknown> };
  for (const [flag, kind] of pluginFlags) {
    if (values[flag] !== undefined) given[kind][toCamelCase(flag)] = values[flag];
  }
  const presetName = typeof values.preset === "string" ? values.preset : "";
  const preset = presetName === "" ? undefined : algoPlugin.presets?.[presetName];
  if (presetName !== "" && !preset) {
    const names = Object.keys(algoPlugin.presets ?? {});
    throw new UsageError(
      `Unknown --preset "${presetName}" for algo ${algoPlugin.name}: ${
        names.length > 0 ? `choose ${names.join(", ")}` : "it has no presets"
      }`,
    );
  }
  const config: RunConfig = {
    env: envRef,
    algo: algoRef,
    envOptions: resolveOptionsOrExit(envPlugin, { ...resumed?.config.envOptions, ...given.env }),
    algoOptions: resolveOptionsOrExit(algoPlugin, {
      ...resumed?.config.algoOptions,
      ...preset?.options,
      ...given.algo,
    }),
    seed: intFlag(values, "seed", { min: -(2 ** 31), fallback: resumed?.config.seed }),
    numEnvs: intFlag(values, "num-envs", {
      min: 1,
      fallback: resumed?.config.numEnvs ?? preset?.numEnvs,
    }),
    totalTimesteps: intFlag(values, "total-timesteps", {
      min: 1,
      fallback: resumed?.config.totalTimesteps,
    }),
  };
  if (resumed && config.numEnvs !== resumed.config.numEnvs) {
    throw new UsageError(
      `Cannot resume from ${resumed.path}: it ran ${resumed.config.numEnvs} envs, not --num-envs ${config.numEnvs}`,
    );
  }
  const evalEpisodes = intFlag(values, "eval-episodes", { min: 0 });
  const checkpointEvery = intFlag(values, "checkpoint-every", { min: 0 });
  const stopAtReturn = values["stop-at-return"] === undefined
    ? undefined
    : numberFlag(values, "stop-at-return");
  const backend = (values.backend ?? TOP_LEVEL.backend.default) as string;
  if (!(BACKENDS as readonly string[]).includes(backend)) {
    throw new UsageError(`Invalid --backend "${backend}": expected ${BACKENDS.join(" or ")}`);
  }
  const outDir = typeof values.out === "string"
    ? values.out
    : typeof first.resume === "string"
    ? first.resume.replace(/\/$/, "")
    : `runs/${baseName(envPlugin.name)}-${algoPlugin.name}-s${config.seed}-${timestamp()}`;

  await setupBackend(backend as BackendName);
  const envName = envPlugin.name;
  const makeEnv = () => envPlugin.create(config.envOptions);
  let trainer;
  try {
    trainer = await algoPlugin.create(config.algoOptions, {
      makeEnv,
      numEnvs: config.numEnvs,
      seed: config.seed,
      totalTimesteps: config.totalTimesteps,
      envName,
      envOptions: config.envOptions,
      outDir,
      ...withEnvSource(envRef, envName, config.envOptions),
    });
  } catch (e) {
    // Bad option values and envs that fail their first reset surface here, before any training.
    throw new UsageError(`Cannot start ${algoPlugin.name} on ${envName}: ${(e as Error).message}`);
  }
  if (resumed) {
    await trainer.restore({
      meta: resumed.checkpoint.meta.trainer as Record<string, unknown>,
      tensors: resumed.checkpoint.tensors,
    });
    console.log(`Resumed from ${resumed.path} at step ${trainer.step.toLocaleString("en-US")}`);
  }

  await Deno.mkdir(outDir, { recursive: true });
  await Deno.writeTextFile(
    `${outDir}/config.json`,
    JSON.stringify(
      { ...config, backend, evalEpisodes, stopAtReturn: stopAtReturn ?? null },
      null,
      2,
    ),
  );
  const log = await MetricsLog.open(outDir, trainer.metricNames);
  const progress = new Progress(config.totalTimesteps);
  // latest.ckpt is what --resume reads; periodic saves also keep a copy per step, as SB3's
  // CheckpointCallback does, so an earlier policy can be picked up later.
  const save = async (options: { keep: boolean }) => {
    const { meta, tensors } = await trainer.save();
    const checkpoint = { meta: { run: config, trainer: meta }, tensors };
    if (options.keep) {
      const name = `step-${String(trainer.step).padStart(9, "0")}.ckpt`;
      await writeCheckpoint(`${outDir}/checkpoints/${name}`, checkpoint);
    }
    await writeCheckpoint(`${outDir}/latest.ckpt`, checkpoint);
    return `${outDir}/latest.ckpt`;
  };

  let interrupted = false;
  const onSigint = () => interrupted = true;
  Deno.addSignalListener("SIGINT", onSigint);
  console.log(
    `Training ${algoPlugin.name} on ${envName} (seed ${config.seed}, ${config.numEnvs} envs, ${
      config.totalTimesteps.toLocaleString("en-US")
    } steps, ${backend}) → ${outDir}`,
  );
  const trainStart = performance.now();
  const recent: number[] = [];
  let stopReason = trainer.progress === undefined ? "step budget reached" : "training finished";
  let lastCheckpoint = Math.floor(trainer.step / Math.max(1, checkpointEvery));
  while (!trainer.done) {
    const report = await trainer.iterate();
    for (const e of report.episodes) {
      recent.push(e.return);
      if (recent.length > RETURN_WINDOW) recent.shift();
    }
    const rolling = recent.length > 0 ? recent.reduce((a, b) => a + b, 0) / recent.length : NaN;
    await log.write(report.step, (performance.now() - trainStart) / 1000, report.metrics);
    progress.update(report, { rolling, fraction: trainer.progress });
    if (checkpointEvery > 0 && Math.floor(report.step / checkpointEvery) > lastCheckpoint) {
      lastCheckpoint = Math.floor(report.step / checkpointEvery);
      await save({ keep: true });
    }
    if (stopAtReturn !== undefined && recent.length >= RETURN_WINDOW && rolling >= stopAtReturn) {
      stopReason = `mean return of the last ${RETURN_WINDOW} episodes reached ${
        rolling.toFixed(1)
      }`;
      break;
    }
    if (interrupted) {
      stopReason = "interrupted";
      break;
    }
  }
  Deno.removeSignalListener("SIGINT", onSigint);
  progress.end();
  const trainSeconds = (performance.now() - trainStart) / 1000;
  log.close();
  const saved = await save({ keep: false });
  console.log(
    `Stopped (${stopReason}) after ${trainer.step.toLocaleString("en-US")} env steps in ${
      trainSeconds.toFixed(1)
    } s of training; checkpoint ${saved}`,
  );

  if (evalEpisodes > 0 && !interrupted && trainer.finalEvaluation) {
    const evalStart = performance.now();
    const { metrics, summary, details } = await trainer.finalEvaluation({ episodes: evalEpisodes });
    // Deno's performance clock starts with the process, so this includes loading tfjs.
    const sinceStart = performance.now() / 1000;
    await Deno.writeTextFile(
      `${outDir}/eval.json`,
      JSON.stringify(
        {
          ...metrics,
          details: details ?? {},
          envSteps: trainer.step,
          trainSeconds,
          evalSeconds: (performance.now() - evalStart) / 1000,
          secondsSinceStart: sinceStart,
        },
        null,
        2,
      ),
    );
    console.log(`Evaluation (${sinceStart.toFixed(1)} s since start):`);
    for (const line of summary) console.log(`  ${line}`);
  } else if (evalEpisodes > 0 && !interrupted) {
    const evalStart = performance.now();
    const result = evaluatePolicy(makeEnv, trainer.policy, {
      episodes: evalEpisodes,
      name: envName,
    });
    // Deno's performance clock starts with the process, so this includes loading tfjs.
    const sinceStart = performance.now() / 1000;
    await Deno.writeTextFile(
      `${outDir}/eval.json`,
      JSON.stringify(
        {
          episodes: evalEpisodes,
          mean: result.mean,
          std: result.std,
          returns: result.returns,
          envSteps: trainer.step,
          trainSeconds,
          evalSeconds: (performance.now() - evalStart) / 1000,
          secondsSinceStart: sinceStart,
        },
        null,
        2,
      ),
    );
    console.log(
      `Evaluation over ${evalEpisodes} episodes (deterministic): mean return ${
        result.mean.toFixed(1)
      } ± ${result.std.toFixed(1)} — ${trainer.step.toLocaleString("en-US")} env steps, ${
        sinceStart.toFixed(1)
      } s since start`,
    );
  }
  trainer.dispose();
}

// ──────────────────────────────── Output ────────────────────────────────

/** Appends one row per iteration to metrics.jsonl and metrics.csv (fixed columns). */
class MetricsLog {
  private constructor(
    readonly columns: readonly string[],
    readonly jsonl: Deno.FsFile,
    readonly csv: Deno.FsFile,
  ) {}

  static async open(dir: string, metricNames: readonly string[]): Promise<MetricsLog> {
    const columns = ["step", "time", ...metricNames];
    const csvPath = `${dir}/metrics.csv`;
    const fresh = !(await exists(csvPath));
    const jsonl = await Deno.open(`${dir}/metrics.jsonl`, { append: true, create: true });
    const csv = await Deno.open(csvPath, { append: true, create: true });
    const log = new MetricsLog(columns, jsonl, csv);
    if (fresh) await log.#append(csv, columns.join(",") + "\n");
    return log;
  }

  async write(step: number, time: number, metrics: Record<string, number>): Promise<void> {
    const row: Record<string, number | null> = { step, time: round(time) };
    for (const [k, v] of Object.entries(metrics)) row[k] = Number.isFinite(v) ? v : null;
    await this.#append(this.jsonl, JSON.stringify(row) + "\n");
    await this.#append(this.csv, this.columns.map((c) => row[c] ?? "").join(",") + "\n");
  }

  close(): void {
    this.jsonl.close();
    this.csv.close();
  }

  async #append(file: Deno.FsFile, text: string): Promise<void> {
    const bytes = new TextEncoder().encode(text);
    let written = 0;
    while (written < bytes.length) written += await file.write(bytes.subarray(written));
  }
}

/** A live status line on a terminal; plain lines every ~10 % (or 10 s) otherwise. */
class Progress {
  readonly #tty = Deno.stderr.isTerminal();
  readonly #total: number;
  #lastPrint = 0;
  #lastFraction = 0;
  constructor(total: number) {
    this.#total = total;
  }

  update(
    report: { step: number; metrics: Record<string, number> },
    options: { rolling: number; fraction: number | undefined },
  ): void {
    const { step, metrics } = report;
    const fraction = options.fraction ?? step / this.#total;
    const sps = metrics["charts/SPS"];
    // Text envs pay their reward through a reward source, not the env: show that instead.
    const reward = metrics["env/reward_mean"];
    const line = [
      options.fraction === undefined
        ? `step ${step.toLocaleString("en-US")}/${this.#total.toLocaleString("en-US")}`
        : `step ${step.toLocaleString("en-US")}`,
      `(${Math.floor(100 * fraction)}%)`,
      sps === undefined ? "" : ` ${Math.round(sps).toLocaleString("en-US")} SPS`,
      reward !== undefined
        ? ` reward ${reward.toFixed(3)}`
        : options.fraction === undefined
        ? ` return ${
          Number.isNaN(options.rolling) ? "–" : options.rolling.toFixed(1)
        } (last ${RETURN_WINDOW})`
        : "",
    ].join(" ").replace(/ +$/, "");
    const now = performance.now();
    if (this.#tty) {
      if (now - this.#lastPrint < 100) return;
      Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[2K${line}`));
      this.#lastPrint = now;
    } else if (fraction - this.#lastFraction >= 0.1 || now - this.#lastPrint > 10_000) {
      console.log(line);
      this.#lastFraction = fraction;
      this.#lastPrint = now;
    }
  }

  end(): void {
    if (this.#tty) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
  }
}

function helpText(env: EnvPlugin, algo: AlgoPlugin): string {
  const lines = [
    "Usage: deno task train [--env NAME|PATH] [--algo NAME|PATH] [flags] [plugin options]",
    "",
    "Flags:",
  ];
  for (const [flag, { default: d, help }] of Object.entries(TOP_LEVEL)) {
    lines.push(`  --${flag.padEnd(18)} ${help}${d === "" ? "" : ` (default: ${d})`}`);
  }
  lines.push("  --help, -h           this text", "");
  const kinds = ["env", "algo"] as const;
  for (const kind of kinds) {
    const names = [...builtins.values()].filter((p) => p.kind === kind).map((p) => p.name);
    lines.push(`Built-in ${kind} plugins: ${names.join(", ")}`);
  }
  for (const [name, preset] of Object.entries(algo.presets ?? {})) {
    const set = Object.entries(preset.options).map(([k, v]) => `--${toKebabCase(k)} ${v}`);
    if (preset.numEnvs !== undefined) set.unshift(`--num-envs ${preset.numEnvs}`);
    lines.push(
      `Preset ${algo.name} --preset ${name}: ${preset.description}`,
      `  = ${set.join(" ")}`,
    );
  }
  if (env.algos?.length) {
    lines.push(`Algorithms of env ${env.name}: ${env.algos.map((a) => a.name).join(", ")}`);
  }
  lines.push(
    "",
    "Options of the selected plugins (pick others with --env/--algo before --help):",
    "",
    describePlugin(env),
    "",
    describePlugin(algo),
    "",
    "Boolean options take a value: --anneal-lr false",
  );
  return lines.join("\n");
}

// ──────────────────────────────── Flag parsing ────────────────────────────────

function intFlag(
  values: Record<string, string | boolean | undefined>,
  flag: keyof typeof TOP_LEVEL,
  options: { min: number; fallback?: number | undefined },
): number {
  if (values[flag] === undefined && options.fallback !== undefined) return options.fallback;
  const n = numberFlag(values, flag);
  if (!Number.isInteger(n) || n < options.min) {
    throw new UsageError(
      `Invalid --${flag} ${values[flag]}: expected a whole number >= ${options.min}`,
    );
  }
  return n;
}

function numberFlag(
  values: Record<string, string | boolean | undefined>,
  flag: keyof typeof TOP_LEVEL,
): number {
  const raw = String(values[flag] ?? TOP_LEVEL[flag].default);
  const n = raw.trim() === "" ? NaN : Number(raw);
  if (!Number.isFinite(n)) throw new UsageError(`Invalid --${flag} "${raw}": expected a number`);
  return n;
}

function resolveOptionsOrExit<O extends PluginOptions>(
  plugin: EnvPlugin<O> | AlgoPlugin<O>,
  given: Record<string, unknown>,
): O {
  try {
    return resolveOptions(plugin, given);
  } catch (e) {
    throw new UsageError(
      (e as Error).message.replace(/Option "(\w+)"/, (_, k) => `--${toKebabCase(k)}`),
    );
  }
}

function parseArgsMessage(e: Error): string {
  const code = (e as { code?: string }).code;
  const flag = e.message.match(/'(-[^']*)'/)?.[1];
  if (code === "ERR_PARSE_ARGS_UNKNOWN_OPTION" && flag) {
    return `Unknown flag ${flag.split("=")[0]}: see --help for the flags and plugin options`;
  }
  if (code === "ERR_PARSE_ARGS_UNEXPECTED_POSITIONAL") {
    return `Unexpected argument: ${e.message.match(/'([^']*)'/)?.[1] ?? ""} (flags start with --)`;
  }
  if (code === "ERR_PARSE_ARGS_INVALID_OPTION_VALUE" && flag) {
    return `Flag ${flag.split(" ")[0]} needs a value`;
  }
  return e.message;
}

function asUsageError(e: Error): never {
  throw new UsageError(e.message);
}

function baseName(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]+/g, "_");
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "");
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}

if (import.meta.main) {
  try {
    await main(Deno.args);
  } catch (e) {
    const error = e as Error;
    if (Deno.env.get("PROXIMAL_DEBUG")) console.error(error.stack);
    else console.error(`error: ${error.message}`);
    Deno.exit(error instanceof UsageError ? 2 : 1);
  }
}

/** Where a worker thread can load the env plugin: the module the CLI loaded it from, by name. */
function withEnvSource(
  ref: string,
  name: string,
  options: PluginOptions,
): { envSource?: EnvSource } {
  if (!isModuleReference(ref)) {
    const module = builtinEnvModules[name];
    return module ? { envSource: { module, options } } : {};
  }
  const hash = ref.lastIndexOf("#");
  const specifier = hash < 0 ? ref : ref.slice(0, hash);
  const url = /^(file|https?|jsr|npm):/.test(specifier)
    ? specifier
    : pathToFileURL(resolve(specifier)).href;
  return { envSource: { module: `${url}#${name}`, options } };
}
