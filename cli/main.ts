/**
 * `deno task train`: trains any algorithm plugin on any env plugin from the command line, writes
 * metrics (JSONL and CSV) and checkpoints, resumes, and ends with an evaluation.
 *
 *   deno task train                                  PPO on CartPole-v1, CleanRL's defaults
 *   deno task train --env ./examples/catch_env.ts    a user's env plugin, loaded by path
 *   deno task train --help                           every flag, plugin and option
 *
 * `main` reads as its four phases: parse the command line into a plan, build the trainer, run the
 * training loop, evaluate.
 */
import { parseArgs } from "node:util";
import {
  type AlgoPlugin,
  type BackendName,
  BACKENDS,
  type Env,
  type EnvPlugin,
  evaluatePolicy,
  setupBackend,
  toCamelCase,
  toKebabCase,
  type Trainer,
} from "@proximal/core";
import { withWrappers } from "@proximal/envs";
import { readResumed, type Resumed, type RunConfig, saveRun } from "./_checkpoints.ts";
import { withEnvSource } from "./_env_source.ts";
import {
  FIRST_PASS,
  type FlagValues,
  intFlag,
  joinNegativeValues,
  numberFlag,
  optionsFromFlags,
  parseArgsMessage,
  pluginFlags,
  secondPass,
  TOP_LEVEL,
  UsageError,
} from "./_flags.ts";
import { helpText } from "./_help.ts";
import { typeCheck } from "./_type_check.ts";
import { writeCurves } from "./_curves.ts";
import { MetricsLog } from "./_metrics_log.ts";
import { Progress, RETURN_WINDOW, type RunProgress } from "./_progress.ts";
import { checkResume } from "./_resume.ts";
import { checkOutDir, cutLogs, removeStaleTemps } from "./_run_dir.ts";
import { Watchdog } from "./_watchdog.ts";
import { presetOf, selectPlugins, wrappersFlag } from "./_plugins.ts";
import { readSeedsRequest, trainSeeds } from "./_seeds.ts";

export { type RunProgress, UsageError };

/**
 * Options of {@linkcode main}: where a run's output goes (a caller that runs several, such as
 * `--seeds`, gathers it).
 *
 * @example Keep the lines and the last progress
 * ```ts ignore
 * import { main, type RunProgress } from "@proximal/cli";
 * const lines: string[] = [];
 * let last: RunProgress | undefined;
 * await main(["--total-timesteps", "2048"], { log: (l) => lines.push(l), onProgress: (p) => (last = p) });
 * ```
 */
export interface MainOptions {
  /** Where the run's lines go; default `console.log`. */
  log?: (line: string) => void;
  /** Called with the run's progress (at most every 0.1 s, and at the end) instead of the progress display; default none (the display). */
  onProgress?: (progress: RunProgress) => void;
}

/**
 * Runs the CLI on the given arguments: parses the flags, builds the env and the trainer, trains,
 * checkpoints and evaluates.
 *
 * @param args The command-line arguments (without the program name).
 * @param options Where the output goes (default: the console and the progress display).
 * @throws {UsageError} For a mistake in the arguments, before any training; other errors when a
 * run fails.
 * @example Train CartPole for a few iterations
 * ```ts ignore
 * import { main } from "@proximal/cli";
 * await main(["--total-timesteps", "2048", "--eval-episodes", "0"]);
 * ```
 */
export async function main(args: string[], options: MainOptions = {}): Promise<void> {
  const log = options.log ?? console.log;
  // `--seeds`: one run of this command line per seed, side by side in workers (_seeds.ts).
  const seeds = await readSeedsRequest(args);
  if (seeds) {
    return await trainSeeds(args, seeds, {
      check: async (seedArgs) => {
        const plan = await parse(seedArgs);
        if ("help" in plan) throw new UsageError("Cannot combine --help with --seeds");
        return { env: plan.envPlugin.name, algo: plan.algoPlugin.name };
      },
      run: (seedArgs, output) => main(seedArgs, output),
    });
  }
  const parsed = await parse(args);
  if ("help" in parsed) {
    log(parsed.help);
    return;
  }
  const plan: Plan = { ...parsed, log, onProgress: options.onProgress };
  // Once the watchdog is up (its thread starts beside the build), a signal stops the run cleanly
  // and a hung env call is named (see _watchdog.ts).
  const watchdog = Watchdog.start({
    envCallTimeout: plan.envCallTimeout,
    outDir: plan.outDir,
  });
  try {
    watchdog.phase(`building ${plan.algoPlugin.name} on ${plan.envPlugin.name}`);
    const run = await build(plan, watchdog.envCallRecord);
    await watchdog.ready;
    const training = await train(run, watchdog);
    watchdog.phase("the final evaluation");
    await evaluate(run, training);
    // After the evaluation: drawing imports echarts (~0.3 s), which the result need not wait for.
    watchdog.phase("drawing the learning curves");
    await plotCurves(run);
    run.trainer.dispose();
    // 130 and 143 (128 + the signal's number), as a process ended by the signal would report; a
    // signal during the evaluation counts too (the evaluation then completes: it saves nothing).
    const signal = training.interrupted || watchdog.stopSignal;
    if (signal) Deno.exitCode = signal === "SIGINT" ? 130 : 143;
  } finally {
    watchdog.stop();
  }
}

/** What the command line asks for, checked, before anything is built. */
interface Plan {
  config: RunConfig;
  envPlugin: EnvPlugin;
  algoPlugin: AlgoPlugin;
  /** `--preset`, recorded in config.json for plot legends. */
  preset: string | undefined;
  resumed: Resumed | undefined;
  /** What a resumed run changes (applied), one line each, printed when it starts. */
  resumeNotices: string[];
  evalEpisodes: number;
  checkpointEvery: number;
  stopAtReturn: number | undefined;
  backend: BackendName;
  /** Seconds one env call may take (0 = no limit). */
  envCallTimeout: number;
  outDir: string;
  /** Where the run's lines go, and its progress (else the display). */
  log: (line: string) => void;
  onProgress: ((progress: RunProgress) => void) | undefined;
}

/** A plan with its trainer built. */
interface Run extends Plan {
  trainer: Trainer;
  makeEnv: () => Env;
  /** Env copies for the final evaluation: the wrappers' trained statistics, frozen. */
  makeEvalEnv: () => Env;
}

/** How training ended. */
interface Training {
  seconds: number;
  /** The signal that stopped the run early, if one did. */
  interrupted: "SIGINT" | "SIGTERM" | false;
}

// ──────────────────────────────── 1. Parse ────────────────────────────────

/**
 * Two passes over the arguments: the first finds the plugins (and a run to resume), whose options
 * decide which flags exist; the second, strict, reads every flag.
 */
async function parse(
  cliArgs: string[],
): Promise<Omit<Plan, "log" | "onProgress"> | { help: string }> {
  const args = joinNegativeValues(cliArgs);
  const first = parseArgs({ args, options: FIRST_PASS, strict: false, allowPositionals: true })
    .values;
  const resumeDir = typeof first.resume === "string" ? first.resume.replace(/\/$/, "") : undefined;
  const resumed = resumeDir === undefined ? undefined : await readResumed(resumeDir);
  if (first.check === true) await typeCheck([stringOr(first.env), stringOr(first.algo)]);
  const { envRef, algoRef, envPlugin, algoPlugin } = await selectPlugins(first, resumed);
  if (first.help) return { help: helpText(envPlugin, algoPlugin) };

  const flags = pluginFlags([envPlugin, algoPlugin]);
  let values: FlagValues;
  try {
    const options = secondPass(flags.keys());
    const parsed = parseArgs({ args, options, strict: true, allowPositionals: false });
    values = parsed.values as FlagValues;
  } catch (e) {
    throw new UsageError(
      parseArgsMessage(e as Error, [...Object.keys(TOP_LEVEL), ...flags.keys()]),
    );
  }
  const given = { env: {} as Record<string, unknown>, algo: {} as Record<string, unknown> };
  for (const [flag, kind] of flags) {
    if (values[flag] !== undefined) given[kind][toCamelCase(flag)] = values[flag];
  }
  const preset = presetOf(algoPlugin, values.preset);
  const saved = resumed?.config;
  const backend = (values.backend ?? saved?.backend ?? TOP_LEVEL.backend.default) as string;
  if (!(BACKENDS as readonly string[]).includes(backend)) {
    throw new UsageError(`Invalid --backend "${backend}": expected ${BACKENDS.join(" or ")}`);
  }
  const config: RunConfig = {
    env: envRef,
    algo: algoRef,
    envOptions: optionsFromFlags(envPlugin, { ...saved?.envOptions, ...given.env }),
    algoOptions: optionsFromFlags(algoPlugin, {
      ...saved?.algoOptions,
      ...preset?.options,
      ...given.algo,
    }),
    seed: intFlag(values, "seed", { min: -(2 ** 31), fallback: saved?.seed }),
    // A preset's env count before the resumed run's, so that a preset that changes it is refused.
    numEnvs: intFlag(values, "num-envs", { min: 1, fallback: preset?.numEnvs ?? saved?.numEnvs }),
    totalTimesteps: intFlag(values, "total-timesteps", {
      min: 1,
      fallback: saved?.totalTimesteps,
    }),
    backend,
    evalEpisodes: intFlag(values, "eval-episodes", { min: 0, fallback: saved?.evalEpisodes }),
    checkpointEvery: intFlag(values, "checkpoint-every", {
      min: 0,
      fallback: saved?.checkpointEvery,
    }),
    stopAtReturn: values["stop-at-return"] === undefined
      ? saved?.stopAtReturn ?? null
      : numberFlag(values, "stop-at-return"),
    wrappers: wrappersFlag(values.wrappers, resumed, preset?.wrappers),
  };
  const resumeNotices = resumed
    ? checkResume(resumed, config, {
      given: new Set(Object.keys(values).filter((flag) => values[flag] !== undefined)),
      preset: typeof values.preset === "string" && values.preset !== "" ? values.preset : undefined,
      envPlugin,
      algoPlugin,
    })
    : [];
  checkBudget(config);
  const outDir = typeof values.out === "string" ? values.out.replace(/\/$/, "") : resumeDir ??
    `runs/${baseName(envPlugin.name)}-${algoPlugin.name}-s${config.seed}-${timestamp()}`;
  await checkOutDir(outDir, resumeDir === undefined ? {} : { resumeDir });
  const envCallTimeout = numberFlag(values, "env-call-timeout");
  if (envCallTimeout < 0) {
    throw new UsageError(
      `Invalid --env-call-timeout ${envCallTimeout}: expected seconds >= 0 (0 = no limit)`,
    );
  }
  return {
    config,
    envPlugin,
    algoPlugin,
    preset: preset ? values.preset as string : undefined,
    resumed,
    resumeNotices,
    evalEpisodes: config.evalEpisodes,
    checkpointEvery: config.checkpointEvery,
    stopAtReturn: config.stopAtReturn ?? undefined,
    backend: backend as BackendName,
    envCallTimeout,
    outDir,
  };
}

/**
 * Refuses a budget below one rollout of an algorithm that collects `numSteps` steps per env copy
 * (it would run one rollout anyway and report more than 100 % of the budget).
 */
function checkBudget(config: RunConfig): void {
  const numSteps = config.algoOptions.numSteps;
  if (typeof numSteps !== "number") return;
  const rollout = config.numEnvs * numSteps;
  if (config.totalTimesteps < rollout) {
    throw new UsageError(
      `Invalid --total-timesteps ${config.totalTimesteps}: below one rollout (--num-envs ${config.numEnvs} × --num-steps ${numSteps} = ${
        rollout.toLocaleString("en-US")
      } steps)`,
    );
  }
}

// ──────────────────────────────── 2. Build ────────────────────────────────

/** Sets up the backend, builds the trainer (restoring a resumed run's) and writes config.json. */
async function build(plan: Plan, envCallRecord: SharedArrayBuffer): Promise<Run> {
  const { config, envPlugin, algoPlugin, resumed, outDir } = plan;
  await setupBackend(plan.backend);
  const { makeEnv, makeEvalEnv, envSource } = envFactories(plan);
  let trainer: Trainer;
  try {
    trainer = await algoPlugin.create(config.algoOptions, {
      makeEnv,
      numEnvs: config.numEnvs,
      seed: config.seed,
      totalTimesteps: config.totalTimesteps,
      envName: envPlugin.name,
      envOptions: config.envOptions,
      outDir,
      envCallRecord,
      ...envSource,
    });
  } catch (e) {
    // Bad option values and envs that fail their first reset surface here, before any training;
    // an option named by its flag (`option learningRate` → `option --learning-rate`).
    const message = (e as Error).message.replace(
      /\boption (\w+)\b/,
      (whole, key: string) => key in config.algoOptions ? `option --${toKebabCase(key)}` : whole,
    );
    throw new UsageError(`Cannot start ${algoPlugin.name} on ${envPlugin.name}: ${message}`);
  }
  if (resumed) {
    await trainer.restore(resumed.trainer);
    const step = trainer.step;
    if (config.totalTimesteps !== resumed.config.totalTimesteps && config.totalTimesteps <= step) {
      throw new UsageError(
        `Invalid --total-timesteps ${config.totalTimesteps}: the run being resumed is already at step ${
          step.toLocaleString("en-US")
        }`,
      );
    }
    plan.log(`Resumed from ${resumed.path} at step ${step.toLocaleString("en-US")}`);
    for (const notice of plan.resumeNotices) plan.log(`  applied: ${notice}`);
    if (plan.resumeNotices.some((notice) => notice.startsWith("--total-timesteps"))) {
      plan.log("  (a schedule over the budget, e.g. PPO's --anneal-lr, follows the new one)");
    }
    const probe = makeEnv();
    if (typeof probe.getState !== "function") {
      plan.log(
        `  note: env "${envPlugin.name}" has no getState(), so its episodes restart from a reset instead of continuing where the checkpoint left them: from here the numbers differ from an uninterrupted run's`,
      );
    }
    probe.close?.();
  }
  await Deno.mkdir(outDir, { recursive: true });
  // A resumed run without --preset keeps the preset it was started with, for its plot's legend.
  const preset = plan.preset ?? (resumed ? await recordedPreset(outDir) : undefined);
  await Deno.writeTextFile(
    `${outDir}/config.json`,
    JSON.stringify(
      { ...config, ...(preset === undefined ? {} : { preset }), unit: unitOf(trainer) },
      null,
      2,
    ),
  );
  return { ...plan, trainer, makeEnv, makeEvalEnv };
}

/**
 * The env factories: the plugin's copies, wrapped in `--wrappers` (statistics per copy, frozen
 * for evaluation), and the env's module for worker threads. Wrapped envs stay on this thread: a
 * worker would build unwrapped copies from the module.
 */
function envFactories(
  plan: Plan,
): {
  makeEnv: () => Env;
  makeEvalEnv: () => Env;
  envSource: ReturnType<typeof withEnvSource>;
} {
  const { config, envPlugin } = plan;
  const makeEnv = () => envPlugin.create(config.envOptions);
  if (config.wrappers === "") {
    const envSource = withEnvSource(config.env, envPlugin.name, config.envOptions);
    return { makeEnv, makeEvalEnv: makeEnv, envSource };
  }
  const workers = config.algoOptions.numWorkers;
  if (typeof workers === "number" && workers > 0) {
    throw new UsageError(
      `Cannot use --wrappers ${config.wrappers} with --num-workers ${workers}: wrapped envs run on the main thread (use --num-workers 0)`,
    );
  }
  const gamma = config.algoOptions.gamma;
  try {
    const wrapped = withWrappers(makeEnv, config.wrappers.split(","), {
      ...(typeof gamma === "number" ? { gamma } : {}),
    });
    return { ...wrapped, envSource: {} };
  } catch (e) {
    throw new UsageError(`Invalid --wrappers ${config.wrappers}: ${(e as Error).message}`);
  }
}

// ──────────────────────────────── 3. Run ────────────────────────────────

/**
 * Iterates until the trainer is done, `--stop-at-return` is reached or Ctrl-C: a metrics row and
 * a progress update per iteration, a checkpoint every `--checkpoint-every` steps and at the end.
 */
async function train(run: Run, watchdog: Watchdog): Promise<Training> {
  const { trainer, config, outDir, checkpointEvery, stopAtReturn } = run;
  const unit = unitOf(trainer);
  // A resumed run first drops the rows logged after its checkpoint (a crash between the two), and
  // its time column continues from the checkpoint's row.
  let timeOffset = 0;
  if (run.resumed) {
    const stale = await removeStaleTemps(outDir);
    if (stale > 0) {
      run.log(`  removed ${stale} temporary file(s) left by a write that was interrupted`);
    }
    const cut = await cutLogs(outDir, trainer.step);
    timeOffset = cut.time;
    if (cut.dropped > 0) {
      run.log(
        `  dropped ${cut.dropped} metrics rows logged after the checkpoint (they are logged again)`,
      );
    }
  }
  const log = await MetricsLog.open(outDir, trainer.metricNames);
  const progress = new Progress(config.totalTimesteps, unit, run.onProgress);
  const save = async (keep: boolean) => {
    watchdog.phase("saving a checkpoint");
    return await saveRun(trainer, { config, outDir, keep });
  };

  let interrupted: Training["interrupted"] = false;
  run.log(
    `Training ${run.algoPlugin.name} on ${run.envPlugin.name} (seed ${config.seed}, ${config.numEnvs} envs, ${
      config.totalTimesteps.toLocaleString("en-US")
    } steps, ${run.backend}) → ${outDir}`,
  );
  const start = performance.now();
  const recent: number[] = [];
  let stopReason = trainer.progress === undefined ? "step budget reached" : "training finished";
  let lastCheckpoint = Math.floor(trainer.step / Math.max(1, checkpointEvery));
  while (!trainer.done) {
    watchdog.phase(`${run.algoPlugin.name} iterate()`);
    const report = await trainer.iterate();
    for (const e of report.episodes) {
      recent.push(e.return);
      if (recent.length > RETURN_WINDOW) recent.shift();
    }
    const rolling = recent.length > 0 ? recent.reduce((a, b) => a + b, 0) / recent.length : NaN;
    await log.write(report.step, timeOffset + (performance.now() - start) / 1000, report.metrics);
    progress.update(report, { rolling, fraction: trainer.progress });
    if (checkpointEvery > 0 && Math.floor(report.step / checkpointEvery) > lastCheckpoint) {
      lastCheckpoint = Math.floor(report.step / checkpointEvery);
      await save(true);
    }
    if (stopAtReturn !== undefined && recent.length >= RETURN_WINDOW && rolling >= stopAtReturn) {
      stopReason = `mean return of the last ${RETURN_WINDOW} episodes reached ${
        rolling.toFixed(1)
      }`;
      break;
    }
    const signal = watchdog.stopSignal;
    if (signal !== undefined) {
      interrupted = signal;
      stopReason = `interrupted by ${signal}`;
      break;
    }
  }
  progress.end();
  const seconds = (performance.now() - start) / 1000;
  log.close();
  const saved = await save(false);
  run.log(
    `Stopped (${stopReason}) after ${trainer.step.toLocaleString("en-US")} ${unit} in ${
      seconds.toFixed(1)
    } s of training; checkpoint ${saved}`,
  );
  return { seconds, interrupted };
}

/** Draws the run's learning curves to `<out>/curves.svg`, or says why it could not. */
async function plotCurves(run: Run): Promise<void> {
  const written = await writeCurves(run.outDir);
  if ("path" in written) run.log(`Learning curves: ${written.path}`);
  else run.log(`No learning curves: ${written.skipped}`);
}

// ──────────────────────────────── 4. Evaluate ────────────────────────────────

/**
 * The trainer's own evaluation if it has one (a text stage's judge and samples), else
 * deterministic episodes of its policy; written to eval.json and summarised. Skipped after Ctrl-C
 * and with `--eval-episodes 0`.
 */
async function evaluate(run: Run, training: Training): Promise<void> {
  const { trainer, evalEpisodes, outDir } = run;
  if (evalEpisodes === 0 || training.interrupted) return;
  const start = performance.now();
  const timing = () => ({
    envSteps: trainer.step,
    trainSeconds: training.seconds,
    evalSeconds: (performance.now() - start) / 1000,
    // Deno's performance clock starts with the process, so this includes loading tfjs.
    secondsSinceStart: performance.now() / 1000,
  });
  const write = (result: Record<string, unknown>) =>
    Deno.writeTextFile(`${outDir}/eval.json`, JSON.stringify(result, null, 2));
  if (trainer.finalEvaluation) {
    const { metrics, summary, details } = await trainer.finalEvaluation({ episodes: evalEpisodes });
    const times = timing();
    await write({ ...metrics, details: details ?? {}, ...times });
    run.log(`Evaluation (${times.secondsSinceStart.toFixed(1)} s since start):`);
    for (const line of summary) run.log(`  ${line}`);
  } else if (trainer.policy) {
    const result = evaluatePolicy(run.makeEvalEnv, trainer.policy, {
      episodes: evalEpisodes,
      name: run.envPlugin.name,
    });
    const times = timing();
    const { mean, std, returns } = result;
    await write({ episodes: evalEpisodes, mean, std, returns, ...times });
    run.log(
      `Evaluation over ${evalEpisodes} episodes (deterministic): mean return ${mean.toFixed(1)} ± ${
        std.toFixed(1)
      } — ${trainer.step.toLocaleString("en-US")} ${unitOf(trainer)}, ${
        times.secondsSinceStart.toFixed(1)
      } s since start`,
    );
  } else {
    run.log(`No evaluation: ${trainer.algo} has no policy to run and no evaluation of its own`);
  }
}

// ──────────────────────────────── Small helpers ────────────────────────────────

/** What the trainer's `step` counts; a trainer from a JavaScript module may not say. */
function unitOf(trainer: Trainer): string {
  return trainer.unit ?? "steps";
}

/** The `preset` an earlier config.json of this run directory recorded, if any. */
async function recordedPreset(outDir: string): Promise<string | undefined> {
  try {
    const config = JSON.parse(await Deno.readTextFile(`${outDir}/config.json`));
    return typeof config?.preset === "string" ? config.preset : undefined;
  } catch {
    return undefined; // No earlier config.json (a checkpoint copied elsewhere): no preset to keep.
  }
}

function stringOr(value: string | boolean | undefined): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function baseName(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]+/g, "_");
}

function timestamp(): string {
  return new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "");
}
