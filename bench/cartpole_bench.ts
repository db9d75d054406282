/**
 * `deno task bench`: PPO on CartPole-v1 with CleanRL's defaults, three seeds. For each seed it
 * measures training throughput (env steps per second of training) and the wall time and env steps
 * until a 100-episode deterministic evaluation first averages ≥ 475. An evaluation runs whenever
 * the mean of the last 20 training episodes reaches 475; its time counts toward the wall time.
 *
 * Then it measures the policy's hot paths per sample — acting and one update step — on tfjs-wasm
 * beside the same MLP written with plain Float32Arrays, at several widths and batch sizes.
 *
 * Writes JSON (default `bench/results/cartpole_ppo.json`, or `--out FILE`) and prints tables.
 */
import { parseArgs } from "node:util";
import { Ppo } from "@proximal/algos";
import { evaluatePolicy, setupBackend } from "@proximal/core";
import { CartPole } from "@proximal/envs";
import { measureKernels } from "./_kernels.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    out: { type: "string", default: "bench/results/cartpole_ppo.json" },
    seeds: { type: "string", default: "1,2,3" },
    "max-steps": { type: "string", default: "500000" },
  },
});
const seeds = values.seeds.split(",").map(Number);
const maxSteps = Number(values["max-steps"]);
if (!seeds.every(Number.isInteger) || !Number.isInteger(maxSteps) || maxSteps < 1) {
  console.error(
    "error: --seeds takes whole numbers separated by commas, --max-steps a whole number",
  );
  Deno.exit(2);
}
const SOLVED = 475, WINDOW = 20, EVAL_EPISODES = 100;

await setupBackend("wasm");

interface SeedResult {
  seed: number;
  solved: boolean;
  wallSecondsToSolve: number | null;
  envStepsToSolve: number | null;
  evalMean: number;
  evaluations: number;
  trainingStepsPerSecond: number;
}

const runs: SeedResult[] = [];
for (const seed of seeds) {
  const start = performance.now();
  const ppo = new Ppo({
    makeEnv: () => new CartPole(),
    numEnvs: 4,
    seed,
    totalTimesteps: maxSteps,
  });
  const recent: number[] = [];
  let trainMs = 0, evalMean = NaN, evaluations = 0, solvedAt: number | null = null;
  while (!ppo.done) {
    const t0 = performance.now();
    const { episodes } = await ppo.iterate();
    trainMs += performance.now() - t0;
    for (const e of episodes) {
      recent.push(e.return);
      if (recent.length > WINDOW) recent.shift();
    }
    const rolling = recent.reduce((a, b) => a + b, 0) / Math.max(1, recent.length);
    if (recent.length === WINDOW && rolling >= SOLVED) {
      evaluations++;
      evalMean = evaluatePolicy(() => new CartPole(), ppo.policy, { episodes: EVAL_EPISODES }).mean;
      if (evalMean >= SOLVED) {
        solvedAt = (performance.now() - start) / 1000;
        break;
      }
    }
  }
  runs.push({
    seed,
    solved: solvedAt !== null,
    wallSecondsToSolve: solvedAt === null ? null : round(solvedAt),
    envStepsToSolve: solvedAt === null ? null : ppo.step,
    evalMean,
    evaluations,
    trainingStepsPerSecond: Math.round(ppo.step / (trainMs / 1000)),
  });
  console.error(`seed ${seed}: ${JSON.stringify(runs.at(-1))}`);
  ppo.dispose();
}

const kernels = measureKernels({ hidden: [64, 256], batch: [4, 256, 1024] });

const result = {
  benchmark: "cartpole_ppo",
  description:
    "PPO, CleanRL defaults (4 envs × 128 steps, 4 epochs × 4 minibatches), CartPole-v1, tfjs-wasm; solved = 100-episode deterministic eval mean >= 475",
  date: new Date().toISOString(),
  deno: Deno.version.deno,
  backend: "wasm",
  cpus: navigator.hardwareConcurrency,
  runs,
  median: {
    wallSecondsToSolve: median(runs.map((r) => r.wallSecondsToSolve ?? Infinity)),
    envStepsToSolve: median(runs.map((r) => r.envStepsToSolve ?? Infinity)),
    trainingStepsPerSecond: median(runs.map((r) => r.trainingStepsPerSecond)),
  },
  solvedSeeds: runs.filter((r) => r.solved).length,
  kernels,
};
await Deno.mkdir(values.out.replace(/\/[^/]*$/, "") || ".", { recursive: true });
await Deno.writeTextFile(values.out, JSON.stringify(result, null, 2) + "\n");

console.log("seed  solved  wall s  env steps  train steps/s");
for (const r of runs) {
  console.log(
    `${String(r.seed).padEnd(6)}${String(r.solved).padEnd(8)}${
      String(r.wallSecondsToSolve ?? "–").padEnd(8)
    }${String(r.envStepsToSolve ?? "–").padEnd(11)}${r.trainingStepsPerSecond}`,
  );
}
console.log(
  `median: ${result.median.wallSecondsToSolve} s, ${result.median.envStepsToSolve} env steps, ${result.median.trainingStepsPerSecond} steps/s → ${values.out}`,
);

console.log(
  "\nhidden  batch  act µs/sample tfjs / ref (ratio)  update µs/sample tfjs / ref (ratio)",
);
for (const k of kernels) {
  console.log(
    `${String(k.hidden).padEnd(8)}${
      String(k.batch).padEnd(7)
    }${k.actMicrosPerSampleTfjs} / ${k.actMicrosPerSampleReference} (${k.actRatio})`
      .padEnd(48) +
      `${k.updateMicrosPerSampleTfjs} / ${k.updateMicrosPerSampleReference} (${k.updateRatio})`,
  );
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
