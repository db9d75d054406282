/**
 * Training throughput of PPO on CartPole-v1 with and without Deno Workers, for `bench/run.ts`'s
 * JSON: `numWorkers` 0 (everything in the main thread), 1 worker with 1 shard (the same numbers,
 * computed in a worker), 1 worker with 2 shards and 2 workers with 2 shards (the same numbers as
 * each other: the 2-vs-1 speed-up compares like with like). Each trainer first runs one untimed
 * iteration (worker start-up, tfjs-wasm compilation, JIT); then the trainers take turns,
 * `iterations` timed iterations each per round, so that load from other processes falls on every
 * set-up alike, and each one's env steps per second is its median over the rounds.
 *
 * Because the parallelism a machine gives depends on the work, it also measures two capacities:
 * the work two independent busy workers get done in a second, divided by one worker's, for plain
 * arithmetic (`parallelCapacity`, 2 on an idle two-core machine) and for allocating small typed
 * arrays, as every tfjs op does (`allocationCapacity`). Speed-ups cannot exceed them.
 *
 * Run alone: `deno run -A bench/_workers.ts` prints the JSON.
 */
import { Ppo, ppo, type PpoOptions } from "@proximal/algos";
import { setupBackend } from "@proximal/core";
import { CartPole } from "@proximal/envs";

/** Where the workers load CartPole from. */
const CARTPOLE_SOURCE = {
  module: `${import.meta.resolve("@proximal/envs")}#cartpole`,
  options: {},
};

/** The set-ups measured: `[numWorkers, numShards]`. */
const SETUPS: readonly (readonly [number, number])[] = [[0, 1], [1, 1], [1, 2], [2, 2]];

/** A configuration to measure. */
export interface WorkersBenchConfig {
  /** Its name in the JSON. */
  name: string;
  /** Env copies. */
  numEnvs: number;
  /** PPO options besides `numWorkers` and `numShards`. */
  options: Partial<PpoOptions>;
}

/** The configurations {@linkcode measureWorkers} measures unless told otherwise. */
export const WORKERS_BENCH_CONFIGS: readonly WorkersBenchConfig[] = (["fast", "cleanrl"] as const)
  .map((name) => {
    const preset = ppo.presets![name]!;
    return { name, numEnvs: preset.numEnvs ?? 4, options: preset.options };
  });

/** One set-up's figures. */
export interface WorkersBenchRun {
  /** `numWorkers`. */
  numWorkers: number;
  /** `numShards`. */
  numShards: number;
  /** Median over rounds of env steps per second of training (rollout + update). */
  stepsPerSecond: number;
  /** Mean `perf/rollout_ms` per iteration over the timed iterations. */
  rolloutMs: number;
  /** Mean `perf/update_ms` per iteration over the timed iterations. */
  updateMs: number;
}

/** One configuration's figures. */
export interface WorkersBenchResult {
  /** The configuration's name. */
  config: string;
  /** Env steps per iteration. */
  batchSize: number;
  /** One entry per set-up, in the order measured. */
  runs: WorkersBenchRun[];
  /** Steps/s with 1 worker and 1 shard ÷ with 0 workers: the same numbers, in a worker. */
  speedup1vs0: number | null;
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
}

/** Options of {@linkcode measureWorkers}. */
export interface MeasureWorkersOptions {
  /** Configurations; default {@linkcode WORKERS_BENCH_CONFIGS}. */
  configs?: readonly WorkersBenchConfig[];
  /** Rounds of turns; default 5. */
  rounds?: number;
  /** Timed iterations per trainer per round; default 3. */
  iterations?: number;
  /** The seed; default 1. */
  seed?: number;
}

/**
 * Measures env steps per second for each configuration and worker count.
 *
 * @param options See {@linkcode MeasureWorkersOptions}.
 * @returns One result per configuration.
 * @example One quick configuration
 * ```ts ignore
 * const [result] = await measureWorkers({ configs: [WORKERS_BENCH_CONFIGS[0]!], rounds: 1 });
 * console.log(result!.speedup2vs1);
 * ```
 */
export async function measureWorkers(
  options: MeasureWorkersOptions = {},
): Promise<WorkersBenchResult[]> {
  const configs = options.configs ?? WORKERS_BENCH_CONFIGS;
  const counts = SETUPS;
  const rounds = options.rounds ?? 5, iterations = options.iterations ?? 3;
  const seed = options.seed ?? 1;
  await setupBackend("wasm");
  const results: WorkersBenchResult[] = [];
  for (const config of configs) {
    const batchSize = config.numEnvs * (config.options.numSteps ?? 128);
    const capacityBefore = await parallelCapacity(ARITHMETIC);
    const allocationBefore = await parallelCapacity(ALLOCATION);
    const trainers = counts.map(([numWorkers, numShards]) =>
      new Ppo({
        makeEnv: () => new CartPole(),
        numEnvs: config.numEnvs,
        seed,
        // Enough budget that annealing stays near its start and nobody runs out.
        totalTimesteps: batchSize * (1 + rounds * iterations) * 100,
        envSource: CARTPOLE_SOURCE,
      }, { ...config.options, numWorkers, numShards: numWorkers === 0 ? 0 : numShards })
    );
    try {
      for (const ppo of trainers) await ppo.iterate();
      const rates = counts.map(() => [] as number[]);
      const rolloutMs = counts.map(() => 0), updateMs = counts.map(() => 0);
      for (let round = 0; round < rounds; round++) {
        for (let c = 0; c < counts.length; c++) {
          const ppo = trainers[c]!;
          const start = performance.now();
          for (let i = 0; i < iterations; i++) {
            const { metrics } = await ppo.iterate();
            rolloutMs[c]! += metrics["perf/rollout_ms"]!;
            updateMs[c]! += metrics["perf/update_ms"]!;
          }
          rates[c]!.push(batchSize * iterations / ((performance.now() - start) / 1000));
        }
      }
      const runs = counts.map(([numWorkers, numShards], c) => ({
        numWorkers,
        numShards,
        stepsPerSecond: Math.round(median(rates[c]!)),
        rolloutMs: round2(rolloutMs[c]! / (rounds * iterations)),
        updateMs: round2(updateMs[c]! / (rounds * iterations)),
      }));
      const sps = (w: number, s: number) =>
        runs.find((r) => r.numWorkers === w && r.numShards === s)?.stepsPerSecond;
      const ratio = (a: number | undefined, b: number | undefined) =>
        a === undefined || b === undefined ? null : round2(a / b);
      results.push({
        config: config.name,
        batchSize,
        runs,
        speedup1vs0: ratio(sps(1, 1), sps(0, 1)),
        speedup2vs0: ratio(sps(2, 2), sps(0, 1)),
        speedup2vs1: ratio(sps(2, 2), sps(1, 2)),
        parallelCapacity: round2(Math.min(capacityBefore, await parallelCapacity(ARITHMETIC))),
        allocationCapacity: round2(Math.min(allocationBefore, await parallelCapacity(ALLOCATION))),
      });
    } finally {
      for (const ppo of trainers) ppo.dispose();
    }
  }
  return results;
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
