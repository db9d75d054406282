// One throughput measurement of PPO with workers in its own process, for bench/_workers.ts: a
// preset's options (and overrides) with `numWorkers`/`numShards`, a warm-up of 3 iterations (worker start-up,
// tfjs-wasm compilation, JIT), then iterations for `seconds`; prints one JSON line with env steps
// per second, the mean rollout and update times per iteration, and the process's CPU time per
// wall second (about 1 with one busy thread, 2 with both cores busy; Linux only, else null).
//
//   deno run -A bench/_workers_run.ts '{"preset":"fast","numWorkers":2,"numShards":2,"seconds":4}'
import { Ppo, ppo, type PpoOptions } from "@proximal/algos";
import { setupBackend } from "@proximal/core";
import { CartPole } from "@proximal/envs";

const args = JSON.parse(Deno.args[0] ?? "{}") as {
  preset: string;
  /** Overrides of the preset's options (e.g. a wider network). */
  options?: Partial<PpoOptions>;
  numWorkers: number;
  numShards: number;
  seconds: number;
  seed?: number;
};
const preset = ppo.presets?.[args.preset];
if (!preset) throw new Error(`Unknown PPO preset "${args.preset}"`);

await setupBackend("wasm");
const trainer = new Ppo({
  makeEnv: () => new CartPole(),
  numEnvs: preset.numEnvs ?? 4,
  seed: args.seed ?? 1,
  // Enough budget that annealing stays near its start.
  totalTimesteps: 1e9,
  envSource: { module: `${import.meta.resolve("@proximal/envs")}#cartpole`, options: {} },
}, {
  ...preset.options,
  ...args.options,
  numWorkers: args.numWorkers,
  numShards: args.numShards,
  // The workers' own throughput: no trial that could hand the run back to this thread.
  workersIfFaster: false,
});
// The workers' throughput, not the hand-over's: wait for them before the warm-up.
await trainer.ready;

/** User + system CPU seconds of this process (all threads), or null off Linux. */
function cpuSeconds(): number | null {
  if (Deno.build.os !== "linux") return null;
  const fields = Deno.readTextFileSync("/proc/self/stat").split(") ")[1]!.split(" ");
  // utime and stime are fields 14 and 15 of stat, 12 and 13 after the command name.
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

for (let i = 0; i < 3; i++) await trainer.iterate();
const cpuStart = cpuSeconds(), start = performance.now(), stepStart = trainer.step;
let rolloutMs = 0, updateMs = 0, iterations = 0;
while (performance.now() - start < args.seconds * 1000) {
  const { metrics } = await trainer.iterate();
  rolloutMs += metrics["perf/rollout_ms"]!;
  updateMs += metrics["perf/update_ms"]!;
  iterations++;
}
const seconds = (performance.now() - start) / 1000, cpuEnd = cpuSeconds();
trainer.dispose();
console.log(JSON.stringify({
  stepsPerSecond: (trainer.step - stepStart) / seconds,
  rolloutMs: rolloutMs / iterations,
  updateMs: updateMs / iterations,
  cpuPerWall: cpuStart === null || cpuEnd === null ? null : (cpuEnd - cpuStart) / seconds,
}));
