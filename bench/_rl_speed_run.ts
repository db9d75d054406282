// One measurement of `rlSpeed` (bench/_rl_speed.ts): a text-env RL stage built as the CLI builds
// it (`deno task train --env text-completion --algo <algo> --model … --reward …`), a few training
// iterations timed one by one. Run with `--config <checkout>/deno.json` to time another checkout's
// code (e.g. the previous main): it uses only the stage plugins' public API, which both have.
//
//   deno run -A [--config DIR/deno.json] bench/_rl_speed_run.ts '{"algo":"rlhf-ppo",
//     "model":"runs/sft","reward":"runs/rm","iterations":4}'
//
// Prints one JSON line per iteration, then a summary line: generated tokens, wall and CPU
// milliseconds (the process's user + system time, steadier than wall time on a loaded machine),
// and the iteration's rollout (PPO: generation, reward and KL leash; GRPO/RLOO: sampling) and
// update milliseconds from the trainer's `perf/*` metrics.
import process from "node:process";
import { type AlgoPlugin, type PluginOptions, resolveOptions, setupBackend } from "@proximal/core";
import { textCompletion } from "@proximal/envs";
import { grpoStage, rlhfPpoStage, rlooStage } from "@proximal/rlhf";

const args = JSON.parse(Deno.args[0] ?? "{}") as {
  algo: "rlhf-ppo" | "grpo" | "rloo";
  model: string;
  reward: string;
  iterations?: number;
  numEnvs?: number;
  totalTimesteps?: number;
  seed?: number;
  options?: Record<string, unknown>;
};
await setupBackend("wasm");
const plugins: Record<string, AlgoPlugin<PluginOptions>> = {
  "rlhf-ppo": rlhfPpoStage as unknown as AlgoPlugin<PluginOptions>,
  grpo: grpoStage as unknown as AlgoPlugin<PluginOptions>,
  rloo: rlooStage as unknown as AlgoPlugin<PluginOptions>,
};
const plugin = plugins[args.algo];
if (!plugin) throw new Error(`Unknown algo "${args.algo}": choose rlhf-ppo, grpo or rloo`);
const envOptions = textCompletion.defaults;
const trainer = await plugin.create(
  resolveOptions(plugin, { model: args.model, reward: args.reward, ...args.options }),
  {
    makeEnv: () => textCompletion.create(envOptions),
    numEnvs: args.numEnvs ?? 32,
    seed: args.seed ?? 1,
    // The README's command: 30,720 tokens (60 PPO iterations), so learning rates anneal alike.
    totalTimesteps: args.totalTimesteps ?? 30720,
    envName: "text-completion",
    envOptions,
  },
);
const cpuMs = () => {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1000;
};
interface Row {
  iteration: number;
  tokens: number;
  wallMs: number;
  cpuMs: number;
  rolloutMs: number;
  updateMs: number;
}
const rows: Row[] = [];
for (let i = 0; i < (args.iterations ?? 4) && !trainer.done; i++) {
  const before = trainer.step, wall0 = performance.now(), cpu0 = cpuMs();
  const { metrics } = await trainer.iterate();
  const row: Row = {
    iteration: i,
    tokens: trainer.step - before,
    wallMs: performance.now() - wall0,
    cpuMs: cpuMs() - cpu0,
    rolloutMs: metrics["perf/rollout_ms"] ?? metrics["perf/sample_ms"] ?? NaN,
    updateMs: metrics["perf/update_ms"] ?? NaN,
  };
  rows.push(row);
  console.log(JSON.stringify(row));
}
// Past the first iteration, which also compiles the kernels and fills the caches.
const steady = rows.length > 1 ? rows.slice(1) : rows;
const sum = (f: (r: Row) => number) => steady.reduce((a, r) => a + f(r), 0);
const tokens = sum((r) => r.tokens);
console.log(JSON.stringify({
  summary: true,
  algo: args.algo,
  iterations: steady.length,
  tokens,
  tokensPerSecond: tokens / (sum((r) => r.wallMs) / 1000),
  tokensPerCpuSecond: tokens / (sum((r) => r.cpuMs) / 1000),
  rolloutTokensPerSecond: tokens / (sum((r) => r.rolloutMs) / 1000),
  updateTokensPerSecond: tokens / (sum((r) => r.updateMs) / 1000),
  rolloutMsPerIteration: sum((r) => r.rolloutMs) / steady.length,
  updateMsPerIteration: sum((r) => r.updateMs) / steady.length,
}));
Deno.exit(0);
