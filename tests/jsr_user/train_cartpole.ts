// PPO on CartPole through the library API, imported from JSR as a user project would.
import { Ppo } from "@proximal/algos";
import { evaluatePolicy, setupBackend } from "@proximal/core";
import { CartPole } from "@proximal/envs";

/** Trains for `steps` env steps (fast preset's settings) and returns the evaluation's mean. */
export async function trainCartPole(steps: number): Promise<number> {
  await setupBackend("wasm");
  const ppo = new Ppo(
    { makeEnv: () => new CartPole(), numEnvs: 32, seed: 1, totalTimesteps: steps },
    { numSteps: 32, updateEpochs: 2, learningRate: 4e-3, gamma: 0.98, entCoef: 0 },
  );
  while (!ppo.done) await ppo.iterate();
  const { mean } = evaluatePolicy(() => new CartPole(), ppo.policy, { episodes: 10 });
  ppo.dispose();
  return mean;
}

if (import.meta.main) console.log(await trainCartPole(Number(Deno.args[0] ?? 50_000)));
