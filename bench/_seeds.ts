/**
 * The second core on independent runs, for `bench/run.ts`'s JSON (part `seeds`): the CLI's
 * `--seeds` training eight seeds of a preset with a fixed budget each, three ways, taking turns
 * round after round, each timed from spawn to exit:
 *
 * - `oneThread`: `--seeds 1-8 --seed-workers 0`, one seed after another in one thread;
 * - `workers`: `--seeds 1-8` with its default (this thread and one worker on two cores);
 * - `twoProcesses`: `--seeds 1-4` and `--seeds 5-8` with `--seed-workers 0` in two processes at
 *   once: the machine's independent capacity for this work (nothing shared, no synchronisation).
 *
 * The workers' speed-up is oneThread ÷ workers; the capacity oneThread ÷ twoProcesses; the
 * workers' share of the capacity twoProcesses ÷ workers. Every way trains the same 8 runs, which
 * give the same numbers whatever the way (tests/cli_seeds_test.ts).
 *
 * Run alone: `deno run -A bench/_seeds.ts [rounds=3]` prints the JSON.
 */
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** A configuration measured: a preset and each seed's step budget. */
export interface SeedsBenchConfig {
  preset: string;
  totalTimesteps: number;
}

/** The configurations measured unless told otherwise: the direct engine's and tfjs's. */
export const SEEDS_BENCH_CONFIGS: readonly SeedsBenchConfig[] = [
  { preset: "quick", totalTimesteps: 100_000 },
  { preset: "fast", totalTimesteps: 50_000 },
];

/** One configuration's figures (seconds from spawn to exit, per round). */
export interface SeedsBenchResult {
  preset: string;
  seeds: number;
  totalTimestepsPerSeed: number;
  oneThreadSeconds: number[];
  workersSeconds: number[];
  twoProcessesSeconds: number[];
  /** Medians: oneThread ÷ workers. */
  workersSpeedup: number;
  /** oneThread ÷ twoProcesses: what two independent trainers got done against one. */
  independentCapacity: number;
  /** workersSpeedup ÷ independentCapacity (twoProcesses ÷ workers). */
  ofCapacity: number;
  /** Env steps per second of all seeds with the workers (median round). */
  workersStepsPerSecond: number;
}

/**
 * Measures each configuration, the three ways taking turns.
 *
 * @param options Rounds (default 3) and configurations.
 * @returns One result per configuration.
 */
export async function measureSeeds(
  options: { rounds?: number; configs?: readonly SeedsBenchConfig[] } = {},
): Promise<SeedsBenchResult[]> {
  const { rounds = 3, configs = SEEDS_BENCH_CONFIGS } = options;
  const results: SeedsBenchResult[] = [];
  for (const config of configs) {
    const times = { oneThread: [] as number[], workers: [] as number[], two: [] as number[] };
    let steps = 0;
    for (let round = 0; round < rounds; round++) {
      const dir = await Deno.makeTempDir({ prefix: "proximal-seeds-bench-" });
      try {
        const seeds = (list: string, out: string, workers?: number) =>
          cli(config, [
            "--seeds",
            list,
            "--out",
            `${dir}/${out}`,
            ...(workers === undefined ? [] : ["--seed-workers", String(workers)]),
          ]);
        times.oneThread.push(await seeds("1-8", "one", 0));
        times.workers.push(await seeds("1-8", "workers"));
        steps = await stepsOf(`${dir}/workers`);
        const start = performance.now();
        await Promise.all([seeds("1-4", "a", 0), seeds("5-8", "b", 0)]);
        times.two.push((performance.now() - start) / 1000);
      } finally {
        await Deno.remove(dir, { recursive: true });
      }
    }
    const [one, workers, two] = [median(times.oneThread), median(times.workers), median(times.two)];
    results.push({
      preset: config.preset,
      seeds: 8,
      totalTimestepsPerSeed: config.totalTimesteps,
      oneThreadSeconds: times.oneThread.map(round3),
      workersSeconds: times.workers.map(round3),
      twoProcessesSeconds: times.two.map(round3),
      workersSpeedup: round3(one / workers),
      independentCapacity: round3(one / two),
      ofCapacity: round3(two / workers),
      workersStepsPerSecond: Math.round(steps / workers),
    });
  }
  return results;
}

/** One CLI process to its exit; returns its wall seconds (a failure throws with its stderr). */
async function cli(config: SeedsBenchConfig, args: string[]): Promise<number> {
  const start = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "cli/mod.ts",
      "--preset",
      config.preset,
      "--total-timesteps",
      String(config.totalTimesteps),
      "--eval-episodes",
      "0",
      ...args,
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const seconds = (performance.now() - start) / 1000;
  if (!output.success) {
    throw new Error(
      `Seeds bench: the CLI failed (${args.join(" ")}): ${new TextDecoder().decode(output.stderr)}`,
    );
  }
  return seconds;
}

/** All seeds' env steps, from the run's seeds.json. */
async function stepsOf(dir: string): Promise<number> {
  const summary = JSON.parse(await Deno.readTextFile(`${dir}/seeds.json`));
  return summary.runs.reduce((a: number, run: { step?: number }) => a + (run.step ?? 0), 0);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b), mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function round3(x: number): number {
  return Math.round(x * 1000) / 1000;
}

if (import.meta.main) {
  const rounds = Number(Deno.args[0] ?? 3);
  console.log(JSON.stringify(await measureSeeds({ rounds }), null, 2));
}
