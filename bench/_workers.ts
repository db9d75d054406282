/**
 * Training throughput of PPO on CartPole-v1 with `numWorkers` 0 (everything in the main thread:
 * one core), 1 (a worker computes the actor's half of each gradient while the main thread computes
 * the critic's: two cores) and 2 (two workers, one half each; the main thread waits), for
 * `bench/cartpole_bench.ts`'s JSON. Each trainer first runs one untimed iteration (worker start-up,
 * tfjs-wasm compilation, JIT); then the trainers take turns, `iterations` timed iterations each
 * per round, so that load from other processes falls on every worker count alike, and each
 * count's env steps per second is its median over the rounds.
 *
 * Because other processes may hold the cores, it also measures `parallelCapacity`: the work two
 * independent busy workers get done in a second, divided by one worker's (2 on an idle two-core
 * machine, ~1 when another process already keeps a core busy). Speed-ups cannot exceed it.
 *
 * Run alone: `deno run -A bench/_workers.ts` prints the JSON.
 */
import { Ppo, ppo, type PpoOptions } from "@proximal/algos";
import { setupBackend } from "@proximal/core";
import { CartPole } from "@proximal/envs";

/** A configuration to measure. */
export interface WorkersBenchConfig {
  /** Its name in the JSON. */
  name: string;
  /** Env copies. */
  numEnvs: number;
  /** PPO options besides `numWorkers`. */
  options: Partial<PpoOptions>;
}

/** The configurations {@linkcode measureWorkers} measures unless told otherwise. */
export const WORKERS_BENCH_CONFIGS: readonly WorkersBenchConfig[] = (["fast", "cleanrl"] as const)
  .map((name) => {
    const preset = ppo.presets![name]!;
    return { name, numEnvs: preset.numEnvs ?? 4, options: preset.options };
  });

/** One worker count's figures. */
export interface WorkersBenchRun {
  /** `numWorkers`. */
  numWorkers: number;
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
  /** One entry per worker count, in the order measured. */
  runs: WorkersBenchRun[];
  /** Steps/s with 1 worker (two threads computing) ÷ with 0 (the main thread alone). */
  speedup1vs0: number | null;
  /** Steps/s with 2 workers ÷ with 0. */
  speedup2vs0: number | null;
  /** Steps/s with 2 workers ÷ with 1. */
  speedup2vs1: number | null;
  /**
   * Work done by two independent busy workers ÷ one worker's, measured before and after this
   * configuration's runs (the lower): the parallelism the machine had to give (2 when idle).
   */
  parallelCapacity: number;
}

/** Options of {@linkcode measureWorkers}. */
export interface MeasureWorkersOptions {
  /** Configurations; default {@linkcode WORKERS_BENCH_CONFIGS}. */
  configs?: readonly WorkersBenchConfig[];
  /** Worker counts; default `[0, 1, 2]`. */
  workerCounts?: readonly number[];
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
  const counts = options.workerCounts ?? [0, 1, 2];
  const rounds = options.rounds ?? 5, iterations = options.iterations ?? 3;
  const seed = options.seed ?? 1;
  await setupBackend("wasm");
  const results: WorkersBenchResult[] = [];
  for (const config of configs) {
    const batchSize = config.numEnvs * (config.options.numSteps ?? 128);
    const capacityBefore = await parallelCapacity();
    const trainers = counts.map((numWorkers) =>
      new Ppo({
        makeEnv: () => new CartPole(),
        numEnvs: config.numEnvs,
        seed,
        // Enough budget that annealing stays near its start and nobody runs out.
        totalTimesteps: batchSize * (1 + rounds * iterations) * 100,
      }, { ...config.options, numWorkers })
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
      const runs = counts.map((numWorkers, c) => ({
        numWorkers,
        stepsPerSecond: Math.round(median(rates[c]!)),
        rolloutMs: round2(rolloutMs[c]! / (rounds * iterations)),
        updateMs: round2(updateMs[c]! / (rounds * iterations)),
      }));
      const sps = (n: number) => runs.find((r) => r.numWorkers === n)?.stepsPerSecond;
      const ratio = (a: number | undefined, b: number | undefined) =>
        a === undefined || b === undefined ? null : round2(a / b);
      results.push({
        config: config.name,
        batchSize,
        runs,
        speedup1vs0: ratio(sps(1), sps(0)),
        speedup2vs0: ratio(sps(2), sps(0)),
        speedup2vs1: ratio(sps(2), sps(1)),
        parallelCapacity: round2(Math.min(capacityBefore, await parallelCapacity())),
      });
    } finally {
      for (const ppo of trainers) ppo.dispose();
    }
  }
  return results;
}

/** Work of two independent busy workers in one second ÷ one worker's. */
async function parallelCapacity(): Promise<number> {
  const code = `self.onmessage = (e) => {
    const end = performance.now() + e.data;
    let n = 0, x = 0;
    while (performance.now() < end) {
      for (let i = 0; i < 10000; i++) x += Math.sqrt(i + (x % 7));
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
