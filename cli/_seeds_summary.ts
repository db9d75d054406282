// The record and the display of a `--seeds` run (see _seeds.ts): `seeds.json` (each seed's run and
// the evaluation across them), the live line and a line per finished seed, the closing summary and
// the seeds' learning curves in one picture.
import { UsageError } from "./_flags.ts";
import type { RunProgress } from "./_progress.ts";

/** The summary's file in the seeds' directory (also how `--resume <out>` knows it holds seeds). */
export const SEEDS_FILE = "seeds.json";

/** One seed's line in `seeds.json`. */
export interface SeedRun {
  seed: number;
  outDir: string;
  status: "queued" | "done" | "interrupted" | "failed";
  /** Steps trained, in the trainer's unit. */
  step?: number;
  /** Wall seconds of the seed's run in its thread (set-up, training, evaluation, curves). */
  seconds?: number;
  /** The final evaluation's mean and std (`eval.json`), if it ran. */
  evaluation?: { mean: number; std: number };
  /** Why the run failed. */
  error?: string;
}

/** `seeds.json`: every seed's run and the evaluation across them. */
export interface SeedsSummary {
  /** The command line that started the seeds (a resumed seed that had not started takes it). */
  args: string[];
  runs: SeedRun[];
  workers: number;
  /** Wall seconds of the whole command (the latest, if resumed). */
  seconds: number;
  /** Steps (the trainer's unit) per wall second, all seeds together, in the latest command. */
  stepsPerSecond: number;
  /** Mean, std, min and max of the seeds' evaluation means (the seeds that have one). */
  evaluation: { mean: number; std: number; min: number; max: number; seeds: number } | null;
}

/** A multi-seed run's summary, or undefined if the directory holds none. */
export async function readSummary(dir: string): Promise<SeedsSummary | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${dir}/${SEEDS_FILE}`);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new UsageError(`Cannot read ${dir}/${SEEDS_FILE}: ${(e as Error).message}`);
  }
  try {
    const summary = JSON.parse(text) as SeedsSummary;
    const seeds = summary.runs.map((run) => run.seed);
    if (seeds.length === 0 || !seeds.every(Number.isSafeInteger)) throw new Error("no seeds");
    if (!Array.isArray(summary.args) || !summary.args.every((a) => typeof a === "string")) {
      throw new Error("no command line");
    }
    return summary;
  } catch (e) {
    throw new UsageError(
      `Cannot resume ${dir}: ${SEEDS_FILE} is not a seeds summary (${(e as Error).message})`,
    );
  }
}

/** The seed's `eval.json` (mean and std), if its run wrote one. */
export async function readEvaluation(run: SeedRun): Promise<void> {
  try {
    const result = JSON.parse(await Deno.readTextFile(`${run.outDir}/eval.json`));
    if (Number.isFinite(result.mean) && Number.isFinite(result.std)) {
      run.evaluation = { mean: result.mean, std: result.std };
    }
  } catch {
    // No evaluation: --eval-episodes 0, an interrupted or failed run, or a text stage's judge.
  }
}

/** The seeds' runs with the evaluation across them. */
export function summarize(
  runs: SeedRun[],
  options: { args: string[]; workers: number; seconds: number; stepsBefore: number },
): SeedsSummary {
  const means = runs.flatMap((run) => run.evaluation ? [run.evaluation.mean] : []);
  const mean = means.reduce((a, b) => a + b, 0) / means.length;
  const std = Math.sqrt(means.reduce((a, b) => a + (b - mean) ** 2, 0) / means.length);
  const steps = runs.reduce((a, run) => a + (run.step ?? 0), 0) - options.stepsBefore;
  return {
    args: options.args,
    runs,
    workers: options.workers,
    seconds: options.seconds,
    stepsPerSecond: options.seconds > 0 ? steps / options.seconds : 0,
    evaluation: means.length === 0 ? null : {
      mean,
      std,
      min: Math.min(...means),
      max: Math.max(...means),
      seeds: means.length,
    },
  };
}

/** The closing lines: every seed's result, then the evaluation across seeds. */
export function summaryLines(summary: SeedsSummary, dir: string): string[] {
  const lines: string[] = [];
  const { evaluation: e, runs } = summary;
  const done = runs.filter((run) => run.status === "done").length;
  lines.push(
    `Seeds: ${done} of ${runs.length} done in ${summary.seconds.toFixed(1)} s (${
      Math.round(summary.stepsPerSecond).toLocaleString("en-US")
    } steps/s in all) → ${dir}/${SEEDS_FILE}`,
  );
  if (e) {
    lines.push(
      `  evaluation across ${e.seeds} seeds: mean return ${e.mean.toFixed(1)} ± ${
        e.std.toFixed(1)
      } (min ${e.min.toFixed(1)}, max ${e.max.toFixed(1)})`,
    );
  }
  const left = runs.filter((run) => run.status !== "done").map((run) => run.seed);
  if (left.length > 0) {
    lines.push(`  not finished: seeds ${left.join(", ")} (continue with --resume ${dir})`);
  }
  return lines;
}

/** A live line of the running seeds on a terminal, and a line per finished seed. */
export class SeedsDisplay {
  readonly #tty = Deno.stderr.isTerminal();
  readonly #running = new Map<number, RunProgress>();
  readonly #total: number;
  #done = 0;
  #lastDraw = 0;

  constructor(total: number) {
    this.#total = total;
  }

  progress(seed: number, progress: RunProgress): void {
    this.#running.set(seed, progress);
    if (!this.#tty || performance.now() - this.#lastDraw < 100) return;
    this.#lastDraw = performance.now();
    const each = [...this.#running].map(([s, p]) =>
      `seed ${s} ${Math.floor(100 * (p.fraction ?? p.step / p.total))}%${
        Number.isNaN(p.rolling) ? "" : ` return ${p.rolling.toFixed(1)}`
      }`
    );
    const line = `${this.#done}/${this.#total} seeds done · ${each.join(" · ")}`;
    Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[2K${line}`));
  }

  finished(run: SeedRun): void {
    this.#running.delete(run.seed);
    this.#done++;
    if (this.#tty) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[2K"));
    const what = run.status === "failed"
      ? `failed: ${run.error}`
      : run.evaluation
      ? `evaluation ${run.evaluation.mean.toFixed(1)} ± ${run.evaluation.std.toFixed(1)}`
      : run.status === "interrupted"
      ? "interrupted (checkpoint saved)"
      : "no evaluation";
    console.log(
      `  seed ${run.seed}: ${what} — ${(run.step ?? 0).toLocaleString("en-US")} steps, ${
        (run.seconds ?? 0).toFixed(1)
      } s (${run.outDir})`,
    );
  }

  end(): void {
    if (this.#tty) Deno.stderr.writeSync(new TextEncoder().encode("\r\x1b[2K"));
  }
}

/**
 * The seeds' learning curves in one picture, `<dir>/curves.svg`: their mean with a band from the
 * lowest to the highest (`deno task plot`'s overlay); a line saying where, or why not.
 */
export async function drawSeeds(dir: string, runs: SeedRun[]): Promise<string> {
  const { overlaySvg, readRun } = await import("./plot.ts");
  const read = await Promise.allSettled(runs.map((run) => readRun(run.outDir)));
  const metrics = read.flatMap((r) => r.status === "fulfilled" ? [r.value] : []);
  if (metrics.length === 0) return "No learning curves of the seeds: no seed logged a row";
  const path = `${dir}/curves.svg`;
  try {
    await Deno.writeTextFile(
      `${path}.tmp`,
      overlaySvg(metrics, { title: `seeds ${runs.map((r) => r.seed).join(", ")}` }),
    );
    await Deno.rename(`${path}.tmp`, path);
  } catch (e) {
    return `No learning curves of the seeds: ${(e as Error).message}`;
  }
  return `Learning curves of the ${metrics.length} seeds: ${path}`;
}

/** Writes `seeds.json` through a temporary file and a rename. */
export async function writeSummary(dir: string, summary: SeedsSummary): Promise<void> {
  const path = `${dir}/${SEEDS_FILE}`;
  await Deno.writeTextFile(`${path}.tmp`, JSON.stringify(summary, null, 2) + "\n");
  await Deno.rename(`${path}.tmp`, path);
}
