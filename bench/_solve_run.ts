// One CartPole PPO run in its own process, for bench/run.ts: trains with a preset and seed until a
// 100-episode deterministic evaluation averages >= 475, and prints one JSON line. An evaluation
// runs whenever the mean of the last 20 training episodes reaches 475; its time counts toward the
// wall time. Times "since start" are Deno's performance clock, which starts with the process, so
// they include loading tfjs and compiling its WASM; `startup` gives the milestones on the way to
// the first training iteration (modules loaded, backend ready, trainer built, first iteration
// done — with workers, their start-up too), in seconds since process start.
//
//   deno run -A bench/_solve_run.ts '{"preset":"fast","seed":1}'
//   deno run -A bench/_solve_run.ts '{"preset":"fast","seed":1,"options":{"numWorkers":0}}'
import * as tf from "@tensorflow/tfjs";
import { Ppo, ppo, type PpoOptions } from "@proximal/algos";
import { evaluatePolicy, setupBackend } from "@proximal/core";
import { CartPole } from "@proximal/envs";

// Static imports are loaded and evaluated before the module's first statement runs.
const importedAt = performance.now();

const { preset: presetName, seed, maxSteps = 500_000, options = {} } = JSON.parse(
  Deno.args[0] ?? "{}",
) as {
  preset: string;
  seed: number;
  maxSteps?: number;
  /** Overrides of the preset's options, e.g. `{"numWorkers":0}`. */
  options?: Partial<PpoOptions>;
};
const preset = ppo.presets?.[presetName];
if (!preset) throw new Error(`Unknown PPO preset "${presetName}"`);
const SOLVED = 475, WINDOW = 20, EVAL_EPISODES = 100;

await setupBackend("wasm");
const backendAt = performance.now();
const trainer = new Ppo({
  makeEnv: () => new CartPole(),
  numEnvs: preset.numEnvs ?? 4,
  seed,
  totalTimesteps: maxSteps,
  // Workers (`options.numWorkers`; no preset sets them) build their envs from this module.
  envSource: { module: `${import.meta.resolve("@proximal/envs")}#cartpole`, options: {} },
}, { ...preset.options, ...options });
const trainerAt = performance.now();
let firstIterationAt = NaN;

let peakRss = 0, peakTensorBytes = 0;
const recent: number[] = [];
let trainMs = 0, rolloutMs = 0, updateMs = 0, evaluations = 0, evalMean = NaN;
let anchor: { trainSeconds: number; envSteps: number; sinceStartSeconds: number } | null = null;
let solved: { envSteps: number; sinceStartSeconds: number; trainSeconds: number } | null = null;
while (!trainer.done) {
  const t0 = performance.now();
  const { episodes, metrics } = await trainer.iterate();
  trainMs += performance.now() - t0;
  if (Number.isNaN(firstIterationAt)) firstIterationAt = performance.now();
  rolloutMs += metrics["perf/rollout_ms"] ?? 0;
  updateMs += metrics["perf/update_ms"] ?? 0;
  peakRss = Math.max(peakRss, Deno.memoryUsage().rss);
  peakTensorBytes = Math.max(peakTensorBytes, tf.memory().numBytes);
  for (const e of episodes) {
    recent.push(e.return);
    if (recent.length > WINDOW) recent.shift();
  }
  const rolling = recent.reduce((a, b) => a + b, 0) / Math.max(1, recent.length);
  if (recent.length === WINDOW && rolling >= SOLVED) {
    anchor ??= {
      trainSeconds: trainMs / 1000,
      envSteps: trainer.step,
      sinceStartSeconds: performance.now() / 1000,
    };
    evaluations++;
    evalMean = evaluatePolicy(() => new CartPole(), trainer.policy, {
      episodes: EVAL_EPISODES,
    }).mean;
    if (evalMean >= SOLVED) {
      solved = {
        envSteps: trainer.step,
        sinceStartSeconds: performance.now() / 1000,
        trainSeconds: trainMs / 1000,
      };
      break;
    }
  }
}
const epochs = trainer.options.updateEpochs;
console.log(JSON.stringify({
  preset: presetName,
  seed,
  numWorkers: trainer.options.numWorkers,
  startup: {
    importedSeconds: importedAt / 1000,
    backendSeconds: backendAt / 1000,
    trainerSeconds: trainerAt / 1000,
    firstIterationSeconds: firstIterationAt / 1000,
  },
  anchor,
  solved,
  evalMean,
  evaluations,
  envSteps: trainer.step,
  trainSeconds: trainMs / 1000,
  trainingStepsPerSecond: Math.round(trainer.step / (trainMs / 1000)),
  rolloutMicrosPerEnvStep: (rolloutMs * 1000) / trainer.step,
  // Every sample passes through `updateEpochs` gradient steps (fewer if target-KL stops early).
  updateMicrosPerSampleEpoch: (updateMs * 1000) / (trainer.step * epochs),
  peakRssMiB: peakRss / 2 ** 20,
  peakTensorMiB: peakTensorBytes / 2 ** 20,
}));
trainer.dispose();
