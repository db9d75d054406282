/**
 * Training throughput of PPO on CartPole-v1 with and without Deno Workers, for `bench/run.ts`'s
 * JSON: `numWorkers` 0 (everything in the main thread), 1 and 2 workers with 1 shard (the
 * default: the same numbers as no workers), 1 and 2 workers with 2 shards (the same numbers as
 * each other; the rollout also runs in parallel): each 2-vs-1 speed-up compares like with like. Each measurement is a process of its
 * own (`bench/_workers_run.ts`: a warm-up, then `seconds` of training), as a user runs one
 * trainer per process; the set-ups take turns, round after round, so that load from other
 * processes falls on each alike, and each one's figures are its medians over the rounds.
 *
 * Because the parallelism a machine gives depends on the work, it also measures capacities:
 * two trainers with 0 workers in two processes at once against one alone
 * (`independentCapacity`, this workload with nothing shared and no synchronisation), and
 * the work two independent busy workers get done in a second, divided by one worker's, for plain
 * arithmetic (`parallelCapacity`, 2 on an idle two-core machine) and for allocating small typed
 * arrays, as every tfjs op does (`allocationCapacity`). Speed-ups cannot exceed them.
 *
 * Run alone: `deno run -A bench/_workers.ts` prints the JSON.
 */
import { ppo, ppoDefaults, type PpoOptions } from "@proximal/algos";

/** The set-ups measured: `[numWorkers, numShards]`. */
const SETUPS: readonly (readonly [number, number])[] = [[0, 1], [1, 1], [2, 1], [1, 2], [2, 2]];

/** A configuration {@linkcode measureWorkers} measures: a PPO preset, maybe with overrides. */
export interface WorkersBenchConfig {
  /** The name in the results. */
  name: string;
  /** The PPO preset. */
  preset: string;
  /** Overrides of its options. */
  options?: Partial<PpoOptions>;
}

/**
 * The configurations {@linkcode measureWorkers} measures unless told otherwise: two presets, and
 * `cleanrl` on 256-wide layers, where a gradient step's arithmetic outweighs its kernel launches.
 */
export const WORKERS_BENCH_CONFIGS: readonly WorkersBenchConfig[] = [
  { name: "fast", preset: "fast" },
  { name: "cleanrl", preset: "cleanrl" },
  { name: "cleanrl, hidden 256", preset: "cleanrl", options: { hiddenSize: 256 } },
];

/** One set-up's figures. */
export interface WorkersBenchRun {
  /** `numWorkers`. */
  numWorkers: number;
  /** `numShards`. */
  numShards: number;
  /** Median over rounds of env steps per second of training (rollout + update). */
  stepsPerSecond: number;
  /** Median over rounds of the mean `perf/rollout_ms` per iteration. */
  rolloutMs: number;
  /** Median over rounds of the mean `perf/update_ms` per iteration. */
  updateMs: number;
  /** Median over rounds of the process's CPU seconds per wall second (null off Linux). */
  cpuPerWall: number | null;
}

/** One configuration's figures. */
export interface WorkersBenchResult {
  /** The PPO preset's name. */
  config: string;
  /** Env steps per iteration. */
  batchSize: number;
  /** One entry per set-up, in the order measured. */
  runs: WorkersBenchRun[];
  /** Steps/s with 1 worker and 1 shard ÷ with 0 workers: the same numbers, in a worker. */
  speedup1vs0: number | null;
  /**
   * Steps/s with 2 workers ÷ with 1 worker, both with 1 shard (the default: the numbers of no
   * workers; the rollout in one worker, the update's actor and critic halves in two).
   */
  speedup2vs1OneShard: number | null;
  /** Steps/s with 2 workers and 1 shard ÷ with 0 workers: the same numbers. */
  speedup2vs0OneShard: number | null;
  /** Steps/s with 2 workers (2 shards) ÷ with 0 workers. */
  speedup2vs0: number | null;
  /** Steps/s with 2 workers ÷ with 1 worker, both with 2 shards: the same computation. */
  speedup2vs1: number | null;
  /**
   * Work done by two independent busy workers ÷ one worker's, plain arithmetic, measured before
   * and after this configuration's runs (the lower): the parallelism the machine had to give.
   */
  parallelCapacity: number;
  /** The same for allocating small typed arrays (what each tfjs op does several times). */
  allocationCapacity: number;
  /**
   * Steps/s of two trainers with 0 workers, each in a process of its own, running at once ÷ one
   * trainer's alone (medians over rounds): what this very workload gains from the second core
   * with no synchronisation and nothing shared but the machine, the ceiling for `speedup2vs1`.
   */
  independentCapacity: number | null;
}

/** Options of {@linkcode measureWorkers}. */
export interface MeasureWorkersOptions {
  /** Configurations; default {@linkcode WORKERS_BENCH_CONFIGS}. */
  configs?: readonly WorkersBenchConfig[];
  /** Rounds of turns; default 3. */
  rounds?: number;
  /** Timed seconds of each measurement; default 4. */
  seconds?: number;
}

/**
 * Measures env steps per second for each configuration and worker count.
 *
 * @param options See {@linkcode MeasureWorkersOptions}.
 * @returns One result per configuration.
 * @example One quick configuration
 * ```ts ignore
 * const [result] = await measureWorkers({ configs: [{ name: "fast", preset: "fast" }], rounds: 1 });
 * console.log(result!.speedup2vs1);
 * ```
 */
export async function measureWorkers(
  options: MeasureWorkersOptions = {},
): Promise<WorkersBenchResult[]> {
  const configs = options.configs ?? WORKERS_BENCH_CONFIGS;
  const rounds = options.rounds ?? 3, seconds = options.seconds ?? 4;
  const results: WorkersBenchResult[] = [];
  for (const { name, preset, options: overrides } of configs) {
    const { options: presetOptions, numEnvs = 4 } = ppo.presets![preset]!;
    const batchSize = numEnvs * (presetOptions.numSteps ?? ppoDefaults.numSteps);
    const capacityBefore = await parallelCapacity(ARITHMETIC);
    const allocationBefore = await parallelCapacity(ALLOCATION);
    const samples = SETUPS.map(() => [] as MeasuredRun[]);
    const pairs: number[] = [];
    for (let round = 0; round < rounds; round++) {
      for (const [c, [numWorkers, numShards]] of SETUPS.entries()) {
        samples[c]!.push(
          await measureOnce({ preset, options: overrides ?? {}, numWorkers, numShards, seconds }),
        );
      }
      const alone = { preset, options: overrides ?? {}, numWorkers: 0, numShards: 1, seconds };
      const pair = await Promise.all([measureOnce(alone), measureOnce(alone)]);
      pairs.push(pair[0]!.stepsPerSecond + pair[1]!.stepsPerSecond);
    }
    const runs = SETUPS.map(([numWorkers, numShards], c) => {
      const of = (key: keyof MeasuredRun) => samples[c]!.map((m) => m[key] ?? NaN);
      const cpu = median(of("cpuPerWall"));
      return {
        numWorkers,
        numShards,
        stepsPerSecond: Math.round(median(of("stepsPerSecond"))),
        rolloutMs: round2(median(of("rolloutMs"))),
        updateMs: round2(median(of("updateMs"))),
        cpuPerWall: Number.isNaN(cpu) ? null : round2(cpu),
      };
    });
    const sps = (w: number, s: number) =>
      runs.find((r) => r.numWorkers === w && r.numShards === s)?.stepsPerSecond;
    const ratio = (a: number | undefined, b: number | undefined) =>
      a === undefined || b === undefined ? null : round2(a / b);
    results.push({
      config: name,
      batchSize,
      runs,
      speedup1vs0: ratio(sps(1, 1), sps(0, 1)),
      speedup2vs1OneShard: ratio(sps(2, 1), sps(1, 1)),
      speedup2vs0OneShard: ratio(sps(2, 1), sps(0, 1)),
      speedup2vs0: ratio(sps(2, 2), sps(0, 1)),
      speedup2vs1: ratio(sps(2, 2), sps(1, 2)),
      parallelCapacity: round2(Math.min(capacityBefore, await parallelCapacity(ARITHMETIC))),
      allocationCapacity: round2(Math.min(allocationBefore, await parallelCapacity(ALLOCATION))),
      independentCapacity: ratio(median(pairs), sps(0, 1)),
    });
  }
  return results;
}

/** What one `bench/_workers_run.ts` process prints. */
interface MeasuredRun {
  stepsPerSecond: number;
  rolloutMs: number;
  updateMs: number;
  cpuPerWall: number | null;
}

/** One measurement in a process of its own. */
async function measureOnce(
  args: {
    preset: string;
    options: Partial<PpoOptions>;
    numWorkers: number;
    numShards: number;
    seconds: number;
  },
): Promise<MeasuredRun> {
  const script = new URL("./_workers_run.ts", import.meta.url);
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", script.href, JSON.stringify(args)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  const text = new TextDecoder().decode(output.stdout).trim();
  if (!output.success) {
    throw new Error(
      `bench/_workers_run.ts ${JSON.stringify(args)} failed: ${
        new TextDecoder().decode(output.stderr).trim().split("\n").slice(-3).join(" | ")
      }`,
    );
  }
  return JSON.parse(text.split("\n").at(-1)!) as MeasuredRun;
}

/** Busy work for {@linkcode parallelCapacity}: arithmetic. */
const ARITHMETIC = "for (let i = 0; i < 10000; i++) x += Math.sqrt(i + (x % 7));";
/** Busy work for {@linkcode parallelCapacity}: small typed arrays with their buffers. */
const ALLOCATION =
  "for (let i = 0; i < 200; i++) x += new Int32Array([i, 2, 3]).buffer.byteLength;";

/** Work of two independent busy workers in one second ÷ one worker's. */
async function parallelCapacity(body: string): Promise<number> {
  const code = `self.onmessage = (e) => {
    const end = performance.now() + e.data;
    let n = 0, x = 0;
    while (performance.now() < end) {
      ${body}
      n++;
    }
    self.postMessage(n);
  };`;
  const url = `data:application/javascript,${encodeURIComponent(code)}`;
  const work = async (threads: number) => {
    const workers = Array.from({ length: threads }, () => new Worker(url, { type: "module" }));
    try {
      const counts = await Promise.all(workers.map((w) =>
        new Promise<number>((resolve) => {
          w.onmessage = (e: MessageEvent<number>) => resolve(e.data);
          w.postMessage(1000);
        })
      ));
      return counts.reduce((a, b) => a + b, 0);
    } finally {
      for (const w of workers) w.terminate();
    }
  };
  const one = await work(1), two = await work(2), oneAgain = await work(1);
  return two / ((one + oneAgain) / 2);
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b), mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function round2(x: number): number {
  return Math.round(x * 100) / 100;
}

if (import.meta.main) console.log(JSON.stringify(await measureWorkers(), null, 2));
