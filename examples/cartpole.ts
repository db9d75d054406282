/**
 * The library without the CLI: PPO learns CartPole-v1 through the API, then the trained policy is
 * evaluated on fresh episodes. Copy this to train your own env: pass its factory as `makeEnv`.
 *
 *   deno run -A examples/cartpole.ts [--seed N] [--fast]
 *
 * `--fast` uses PPO's `fast` preset (32 envs), which solves CartPole in a few seconds; without it
 * CleanRL's defaults train for 500,000 steps, as `deno task train` does.
 */
import { parseArgs } from "node:util";
import { Ppo, ppo } from "@proximal/algos";
import { evaluatePolicy, setupBackend } from "@proximal/core";
import { CartPole } from "@proximal/envs";

const { values } = parseArgs({
  args: Deno.args,
  options: { seed: { type: "string", default: "1" }, fast: { type: "boolean", default: false } },
});
const seed = Number(values.seed);
const preset = values.fast ? ppo.presets?.fast : undefined;

await setupBackend("wasm");
const trainer = new Ppo(
  {
    makeEnv: () => new CartPole(),
    numEnvs: preset?.numEnvs ?? 4,
    seed,
    totalTimesteps: 500_000,
  },
  preset?.options,
);
for (let iteration = 1; !trainer.done; iteration++) {
  const { step, episodes } = await trainer.iterate();
  if (iteration % 20 === 0 && episodes.length > 0) {
    const mean = episodes.reduce((sum, e) => sum + e.return, 0) / episodes.length;
    console.log(
      `${step} env steps: mean return ${mean.toFixed(1)} over ${episodes.length} episodes`,
    );
  }
}
const { mean, std } = evaluatePolicy(() => new CartPole(), trainer.policy, { episodes: 100 });
console.log(
  `Deterministic evaluation over 100 episodes: mean return ${mean.toFixed(1)} ± ${std.toFixed(1)}`,
);
trainer.dispose();
