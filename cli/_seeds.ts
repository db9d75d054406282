// `--seeds 1-10`: one run per seed, each in `<out>/seed-N` exactly as `--seed N --out <out>/seed-N`
// would write it, run side by side in Deno Workers (`--seed-workers`, by default one per core up to
// the number of seeds: independent runs are the work a second core does best), then a summary of
// the seeds' evaluations in `<out>/seeds.json`. What CleanRL's benchmark script and rl-zoo's
// seeds do with processes; here each worker loads the CLI once and takes seeds from a queue.
import { parseArgs } from "node:util";
import { type FlagValues, joinNegativeValues, UsageError } from "./_flags.ts";
import type { RunProgress } from "./_progress.ts";
import { startWatchdogThread, startWatchdogThreadsWith, type WatchdogThread } from "./_watchdog.ts";
import { SLOTS, type WatchdogInit } from "./_watchdog_layout.ts";
import {
  drawSeeds,
  readEvaluation,
  readSummary,
  type SeedRun,
  SEEDS_FILE,
  SeedsDisplay,
  type SeedsSummary,
  summarize,
  summaryLines,
  writeSummary,
} from "./_seeds_summary.ts";

/** At most this many seeds in one command (a typo such as `1-10000` is refused, not queued). */
const MAX_SEEDS = 1000;

/** The flags `--seeds` takes over from each seed's run. */
const SEED_FLAGS = ["seeds", "seed-workers", "seed", "out", "resume"] as const;

/** One seed's run: its command line (with `--seed` and `--out`, or `--resume`). */
export interface SeedJob {
  seed: number;
  outDir: string;
  args: string[];
}

/** What the main thread posts to a seed's worker: a seed to run, or its watchdog's state. */
export type ToSeedWorker =
  | { type: "job"; job: SeedJob }
  | { type: "watchdog-ready" }
  | { type: "watchdog-failed"; message: string };

/**
 * What a seed's worker posts: progress, then how the run ended; and the run's watchdog thread to
 * start or stop.
 */
export type SeedMessage =
  | { type: "progress"; seed: number; progress: RunProgress }
  | { type: "watchdog-start"; init: WatchdogInit }
  | { type: "watchdog-stop" }
  | {
    type: "done";
    seed: number;
    seconds: number;
    step: number | undefined;
    /** Stopped by Ctrl-C or SIGTERM (with a checkpoint). */
    interrupted: boolean;
  }
  | { type: "failed"; seed: number; seconds: number; step: number | undefined; message: string };

/** What `--seeds` asks for. */
export interface SeedsRequest {
  seeds: number[];
  /** Worker threads besides this one, which runs seeds too (0: one after another here). */
  workers: number;
  /** The directory of a multi-seed run to resume, if `--resume` names one, and its summary. */
  resumeDir: string | undefined;
  previous: SeedsSummary | undefined;
  /** `--out`, if given. */
  out: string | undefined;
}

/**
 * `--seeds` and `--seed-workers` from the command line, or undefined for a single run (also for
 * `--resume` of a single run's directory). `--resume <dir>` of a multi-seed run's directory takes
 * its seeds from its `seeds.json`.
 */
export async function readSeedsRequest(args: string[]): Promise<SeedsRequest | undefined> {
  const options = Object.fromEntries(SEED_FLAGS.map((flag) => [flag, { type: "string" as const }]));
  const values = parseArgs({
    args: joinNegativeValues(args),
    options,
    strict: false,
    allowPositionals: true,
  }).values as FlagValues;
  const resume = typeof values.resume === "string" ? values.resume.replace(/\/$/, "") : undefined;
  const previous = resume === undefined ? undefined : await readSummary(resume);
  const recorded = previous?.runs.map((run) => run.seed);
  if (values.seeds === undefined && recorded === undefined) {
    if (values["seed-workers"] !== undefined) {
      throw new UsageError("Invalid --seed-workers: it sets the workers of --seeds (give --seeds)");
    }
    return undefined;
  }
  if (values.seed !== undefined) {
    throw new UsageError(`Cannot use --seed with --seeds: each of the seeds' runs sets its own`);
  }
  if (recorded && values.out !== undefined) {
    throw new UsageError(
      `Invalid --out ${values.out}: a resumed run continues in its own directory (${resume})`,
    );
  }
  const seeds = values.seeds === undefined ? recorded! : parseSeeds(String(values.seeds));
  if (recorded && values.seeds !== undefined && String(seeds) !== String(recorded)) {
    throw new UsageError(
      `Invalid --seeds ${values.seeds}: ${resume} holds seeds ${
        recorded.join(",")
      }; leave --seeds out to resume them`,
    );
  }
  const cores = navigator.hardwareConcurrency ?? 1;
  // This thread runs seeds too: one worker fewer than lanes.
  let workers = Math.min(cores, seeds.length) - 1;
  if (values["seed-workers"] !== undefined) {
    const raw = String(values["seed-workers"]);
    workers = Number(raw);
    if (!Number.isInteger(workers) || workers < 0 || raw.trim() === "") {
      throw new UsageError(
        `Invalid --seed-workers ${raw}: expected a whole number >= 0 (0 = one seed after another in this thread)`,
      );
    }
    workers = Math.min(workers, seeds.length - 1);
  }
  if (recorded === undefined && resume !== undefined) {
    throw new UsageError(
      `Cannot resume ${resume} with --seeds: it holds one run (no ${SEEDS_FILE}); resume it without --seeds`,
    );
  }
  const out = typeof values.out === "string" ? values.out.replace(/\/$/, "") : undefined;
  if (out !== undefined && await exists(`${out}/${SEEDS_FILE}`)) {
    throw new UsageError(
      `Invalid --out ${out}: it already holds seeds (${SEEDS_FILE}); continue them with --resume ${out}, or choose another --out`,
    );
  }
  return { seeds, workers, resumeDir: previous ? resume : undefined, previous, out };
}

/**
 * A list of seeds: whole numbers and ranges, comma-separated (`1,2,5-8`); each seed once.
 *
 * @param text The flag's value.
 * @returns The seeds in the order given.
 */
export function parseSeeds(text: string): number[] {
  const fail = (detail: string): never => {
    throw new UsageError(`Invalid --seeds ${text}: ${detail}`);
  };
  const seeds: number[] = [];
  for (const item of text.split(",")) {
    const range = /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(item);
    const single = /^\s*(-?\d+)\s*$/.exec(item);
    if (range) {
      const [from, to] = [Number(range[1]), Number(range[2])];
      if (to < from) fail(`the range ${item.trim()} runs backwards`);
      if (to - from >= MAX_SEEDS) fail(`more than ${MAX_SEEDS} seeds`);
      for (let s = from; s <= to; s++) seeds.push(s);
    } else if (single) {
      seeds.push(Number(single[1]));
    } else {
      fail(`expected whole numbers and ranges such as 1,2,5-8, got "${item.trim()}"`);
    }
    if (seeds.length > MAX_SEEDS) fail(`more than ${MAX_SEEDS} seeds`);
  }
  for (const s of seeds) {
    if (!Number.isSafeInteger(s) || Math.abs(s) >= 2 ** 31) fail(`seed ${s} is out of range`);
  }
  const seen = new Set<number>();
  for (const s of seeds) {
    if (seen.has(s)) fail(`seed ${s} is listed twice`);
    seen.add(s);
  }
  return seeds;
}

/**
 * One seed's command line: the user's flags without those `--seeds` decides, then its seed and
 * directory (or the directory to resume).
 */
export function seedArgs(
  args: string[],
  job: { seed: number; outDir: string; resume: boolean },
): string[] {
  const out: string[] = [];
  const joined = joinNegativeValues(args);
  for (let i = 0; i < joined.length; i++) {
    const flag = /^--([^=]+)(=.*)?$/.exec(joined[i]!);
    if (flag && (SEED_FLAGS as readonly string[]).includes(flag[1]!)) {
      if (flag[2] === undefined) i++; // `--flag value`: skip the value too.
      continue;
    }
    out.push(joined[i]!);
  }
  return job.resume
    ? [...out, "--resume", job.outDir]
    : [...out, `--seed=${job.seed}`, "--out", job.outDir];
}

/** What {@linkcode trainSeeds} needs from `main`. */
export interface SeedsRunner {
  /** Checks one seed's command line as a single run would (throws its UsageError). */
  check(args: string[]): Promise<{ env: string; algo: string }>;
  /** Runs one seed in this thread (`--seed-workers 0`). */
  run(
    args: string[],
    output: { log: (line: string) => void; onProgress: (p: RunProgress) => void },
  ): Promise<void>;
}

/**
 * Runs every seed of the request, `workers` at a time, and writes `seeds.json`. A seed that fails
 * is reported and the others go on; Ctrl-C or SIGTERM stops the running seeds at their next
 * iteration with a checkpoint (their watchdogs hear it) and starts no more: `--resume <out>`
 * continues them all.
 */
export async function trainSeeds(
  args: string[],
  request: SeedsRequest,
  runner: SeedsRunner,
): Promise<void> {
  const { seeds, workers } = request;
  const outDir = request.resumeDir ?? request.out;
  const jobs = await plannedJobs(args, request, runner);
  const firstArgs = request.previous?.args ?? args;
  const stepsBefore = (request.previous?.runs ?? []).reduce((a, run) => a + (run.step ?? 0), 0);
  const dir = outDir ?? jobs.dir;
  const started = performance.now();
  const queued = new Map(jobs.list.map((job, i) => [job.seed, i]));
  // The seeds in the order given; a resumed directory's finished ones as they were.
  const runs: SeedRun[] = seeds.map((seed) =>
    jobs.kept.find((run) => run.seed === seed) ??
      { seed, outDir: jobs.list[queued.get(seed)!]!.outDir, status: "queued" }
  );
  await Deno.mkdir(dir, { recursive: true });
  // One write at a time (the lanes finish seeds at any moment), each of the summary as it is then.
  let writing = Promise.resolve();
  const save = (): Promise<SeedsSummary> => {
    const summary = summarize(runs, {
      args: firstArgs,
      workers,
      seconds: secondsSince(started),
      stepsBefore,
    });
    writing = writing.then(() => writeSummary(dir, summary));
    return writing.then(() => summary);
  };
  await save();
  console.log(
    `Training ${jobs.names.algo} on ${jobs.names.env}: seeds ${seeds.join(", ")} on ${
      workers === 0
        ? "this thread, one after another"
        : `this thread and ${workers} worker${workers > 1 ? "s" : ""}`
    } → ${dir}`,
  );
  const display = new SeedsDisplay(seeds.length);
  let stopping: Deno.Signal | undefined;
  // The running seeds' watchdogs. This thread's listeners keep a signal from ending the process,
  // so a seed whose watchdog did not listen yet (a worker loading the CLI, a run being built)
  // would miss it and train to the end: each is told here, when the signal comes or it starts.
  const watchdogs = new Set<WatchdogInit>();
  const watched = (init: WatchdogInit): () => void => {
    watchdogs.add(init);
    if (stopping) markStopped(init, stopping);
    return () => watchdogs.delete(init);
  };
  startWatchdogThreadsWith((init) => {
    const thread = startWatchdogThread({ ...init, othersListen: true }), forget = watched(init);
    return { ready: thread.ready, stop: () => (forget(), thread.stop()) };
  });
  const onSignal = (signal: Deno.Signal) => () => {
    stopping ??= signal;
    for (const init of watchdogs) markStopped(init, stopping);
  };
  const listeners = (["SIGINT", "SIGTERM"] as const).map((s) => [s, onSignal(s)] as const);
  for (const [signal, listener] of listeners) Deno.addSignalListener(signal, listener);
  const finish = (run: SeedRun, result: SeedMessage & { type: "done" | "failed" }) => {
    run.seconds = result.seconds;
    if (result.type === "failed") {
      run.status = "failed";
      run.error = result.message;
    } else {
      run.status = result.interrupted ? "interrupted" : "done";
    }
    if (result.step !== undefined) run.step = result.step;
    display.finished(run);
  };
  try {
    const queue = [...jobs.list];
    const next = () => (stopping === undefined ? queue.shift() : undefined);
    const lane = async (worker: SeedWorker | null) => {
      for (let job = next(); job !== undefined; job = next()) {
        const run = runs.find((r) => r.seed === job!.seed)!;
        const onProgress = (p: RunProgress) => display.progress(run.seed, p);
        const result = worker
          ? await worker.run(job!, onProgress, watched)
          : await runHere(runner, job!, onProgress);
        await readEvaluation(run);
        finish(run, result);
        await save();
      }
      worker?.terminate();
    };
    // This thread starts at once (the CLI is loaded); each worker joins once it has loaded it.
    const extra = Math.min(workers, queue.length - 1);
    const lanes = [lane(null), ...Array.from({ length: extra }, () => lane(new SeedWorker()))];
    await Promise.all(lanes);
  } finally {
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
    startWatchdogThreadsWith(startWatchdogThread);
    display.end();
  }
  const summary = await save();
  for (const line of summaryLines(summary, dir)) console.log(line);
  console.log(await drawSeeds(dir, runs));
  const failed = runs.filter((run) => run.status === "failed");
  if (failed.length > 0) {
    throw new Error(
      `${failed.length} of ${runs.length} seeds failed: ${
        failed.map((run) => `seed ${run.seed} (${run.error})`).join("; ")
      }`,
    );
  }
  if (stopping || runs.some((run) => run.status !== "done")) {
    Deno.exitCode = (stopping ?? "SIGINT") === "SIGINT" ? 130 : 143;
  }
}

/**
 * Each seed's command line and directory, every one checked as a single run would check it before
 * anything starts; resuming, the seeds that finished keep their result and are not run again.
 */
async function plannedJobs(
  args: string[],
  request: SeedsRequest,
  runner: SeedsRunner,
): Promise<
  { list: SeedJob[]; dir: string; names: { env: string; algo: string }; kept: SeedRun[] }
> {
  const base = request.resumeDir ?? request.out;
  const jobFor = async (seed: number, dir: string): Promise<SeedJob> => {
    const outDir = `${dir}/seed-${seed}`;
    // A seed of a resumed directory continues if it saved a checkpoint, else starts afresh.
    const resume = request.resumeDir !== undefined && await exists(`${outDir}/latest.ckpt`);
    // One that had not started takes the first command line, then this one's flags (the last
    // of a flag given twice wins).
    const given = resume ? args : [...request.previous?.args ?? [], ...args];
    return { seed, outDir, args: seedArgs(given, { seed, outDir, resume }) };
  };
  // The default directory is named after the plugins, which checking a command line resolves.
  const names = await runner.check(
    (await jobFor(request.seeds[0]!, base ?? `runs/.seeds-${crypto.randomUUID()}`)).args,
  );
  const dir = base ??
    `runs/${safe(names.env)}-${safe(names.algo)}-seeds${request.seeds[0]}-${request.seeds.at(-1)}-${
      new Date().toISOString().replace(/[-:]/g, "").replace(/\..*/, "")
    }`;
  const kept = request.previous?.runs.filter((run) => run.status === "done") ?? [];
  const list: SeedJob[] = [];
  for (const seed of request.seeds) {
    if (kept.some((run) => run.seed === seed)) continue;
    const job = await jobFor(seed, dir);
    await runner.check(job.args);
    list.push(job);
  }
  return { list, dir, names, kept };
}

/** One seed in this thread, reported as a worker reports it. */
async function runHere(
  runner: SeedsRunner,
  job: SeedJob,
  onProgress: (p: RunProgress) => void,
): Promise<SeedMessage & { type: "done" | "failed" }> {
  const start = performance.now(), lines: string[] = [];
  let step: number | undefined;
  const exitCode = Deno.exitCode;
  try {
    await runner.run(job.args, {
      log: (line) => lines.push(line),
      onProgress: (p) => (step = p.step, onProgress(p)),
    });
    const interrupted = Deno.exitCode === 130 || Deno.exitCode === 143;
    return { type: "done", seed: job.seed, seconds: secondsSince(start), step, interrupted };
  } catch (e) {
    return {
      type: "failed",
      seed: job.seed,
      seconds: secondsSince(start),
      step,
      message: (e as Error).message,
    };
  } finally {
    Deno.exitCode = exitCode;
    await writeOutput(job.outDir, lines);
  }
}

/**
 * A worker thread that runs seeds one at a time (it loads the CLI once); this thread starts its
 * runs' watchdog threads.
 */
class SeedWorker {
  readonly #worker = new Worker(new URL("./_seed_worker.ts", import.meta.url), { type: "module" });
  #watchdog: WatchdogThread | undefined;
  #forget: (() => void) | undefined;

  #post(message: ToSeedWorker): void {
    this.#worker.postMessage(message);
  }

  /**
   * Runs one seed; a worker that dies reports the seed as failed. `watched` is told of the run's
   * watchdog (and returns how to forget it).
   */
  run(
    job: SeedJob,
    onProgress: (p: RunProgress) => void,
    watched: (init: WatchdogInit) => () => void,
  ): Promise<SeedMessage & { type: "done" | "failed" }> {
    const start = performance.now();
    let step: number | undefined;
    return new Promise((resolve) => {
      this.#worker.onmessage = (event: MessageEvent<SeedMessage>) => {
        const message = event.data;
        if (message.type === "progress") {
          step = message.progress.step;
          onProgress(message.progress);
        } else if (message.type === "watchdog-start") {
          this.#stopWatchdog();
          this.#forget = watched(message.init);
          const watchdog = this.#watchdog = startWatchdogThread({
            ...message.init,
            othersListen: true,
          });
          watchdog.ready.then(
            () => this.#post({ type: "watchdog-ready" }),
            (e: Error) => this.#post({ type: "watchdog-failed", message: e.message }),
          );
        } else if (message.type === "watchdog-stop") {
          this.#stopWatchdog();
        } else {
          resolve(message);
        }
      };
      this.#worker.onerror = (event) => {
        event.preventDefault();
        resolve({
          type: "failed",
          seed: job.seed,
          seconds: secondsSince(start),
          step,
          message: `its worker died: ${event.message}`,
        });
      };
      this.#post({ type: "job", job });
    });
  }

  #stopWatchdog(): void {
    this.#watchdog?.stop();
    this.#forget?.();
    this.#watchdog = this.#forget = undefined;
  }

  terminate(): void {
    this.#stopWatchdog();
    this.#worker.terminate();
  }
}

/**
 * Records `signal` as a run's first signal unless its watchdog heard one: the run stops at its
 * next iteration with a checkpoint, as if its watchdog had heard it (the signal count is left to
 * the watchdog, so a second signal it hears still stops at once only if it heard the first).
 */
function markStopped(init: WatchdogInit, signal: Deno.Signal): void {
  const ints = new Int32Array(init.buffer, 0, SLOTS.ints);
  Atomics.compareExchange(ints, SLOTS.firstSignal, 0, signal === "SIGINT" ? 2 : 15);
}

/** A seed's printed lines, to `<its dir>/output.log` (appended: a resumed run adds its own). */
export async function writeOutput(outDir: string, lines: string[]): Promise<void> {
  if (lines.length === 0) return;
  try {
    await Deno.writeTextFile(`${outDir}/output.log`, lines.join("\n") + "\n", { append: true });
  } catch {
    // A run that failed before making its directory has only its error, which the summary keeps.
  }
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch {
    return false;
  }
}

function safe(name: string): string {
  return name.replace(/[^A-Za-z0-9_-]+/g, "_");
}

function secondsSince(start: number): number {
  return (performance.now() - start) / 1000;
}
