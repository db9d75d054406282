// Per-sample cost of the PPO policy's two hot paths on tfjs-wasm — acting (a batched forward
// pass) and one update step (forward, PPO loss, backward, Adam) — beside the same arithmetic in
// plain Float32Array code (ReferenceMlp), measured in the same process. The update step is PPO's
// own, measured through its public API: a trainer whose update is one minibatch of `batch` rows
// for many epochs, `perf/update_ms` over the epochs (so it includes gathering and normalising the
// minibatch, a few µs).
import { Ppo } from "@proximal/algos";
import { Box, Discrete, Rng } from "@proximal/core";
import { CartPole } from "@proximal/envs";
import { MlpPolicy } from "@proximal/models";
import { ReferenceMlp } from "./_reference_mlp.ts";

/** One row of the kernel table. */
export interface KernelRow {
  hidden: number;
  batch: number;
  actMicrosPerSampleTfjs: number;
  actMicrosPerSampleReference: number;
  actRatio: number;
  updateMicrosPerSampleTfjs: number;
  updateMicrosPerSampleReference: number;
  updateRatio: number;
}

function msPerCall(fn: () => void, calls: number): number {
  for (let i = 0; i < 3; i++) fn();
  const start = performance.now();
  for (let i = 0; i < calls; i++) fn();
  return (performance.now() - start) / calls;
}

/** Milliseconds per update step of PPO with one minibatch of `batch` rows (CartPole). */
async function updateMs(hidden: number, batch: number, steps: number): Promise<number> {
  const numEnvs = Math.min(4, batch);
  const trainer = new Ppo({
    makeEnv: () => new CartPole(),
    numEnvs,
    seed: 1,
    totalTimesteps: 2 * batch,
  }, {
    numSteps: batch / numEnvs,
    numMinibatches: 1,
    updateEpochs: steps,
    hiddenSize: hidden,
    annealLr: false,
  });
  await trainer.iterate(); // Warm-up.
  const { metrics } = await trainer.iterate();
  trainer.dispose();
  return metrics["perf/update_ms"]! / steps;
}

/** Measures CartPole-shaped actor-critic MLPs (4 inputs, 2 actions) at each width and batch. */
export async function measureKernels(
  options: { hidden: number[]; batch: number[] },
): Promise<KernelRow[]> {
  const rows: KernelRow[] = [];
  const obsSpace = new Box({ low: -Infinity, high: Infinity, shape: [4] });
  for (const hidden of options.hidden) {
    for (const batch of options.batch) {
      const calls = Math.max(5, Math.round(20_000 / (batch * hidden / 16)));
      const policy = new MlpPolicy(obsSpace, new Discrete(2), {
        hiddenSizes: [hidden, hidden],
        seed: 1,
      });
      const rng = new Rng(0);
      const obs = Float32Array.from({ length: batch * 4 }, () => rng.normal());
      const tfAct = msPerCall(() => policy.act(obs, { rng }), calls);
      policy.dispose();
      const tfUpdate = await updateMs(hidden, batch, Math.ceil(calls / 3));

      const actor = new ReferenceMlp([4, hidden, hidden, 2]);
      const critic = new ReferenceMlp([4, hidden, hidden, 1]);
      const gradActor = new Float32Array(batch * 2).fill(0.01);
      const gradCritic = new Float32Array(batch).fill(0.01);
      const refAct = msPerCall(() => {
        actor.forward(obs, batch);
        critic.forward(obs, batch);
      }, calls);
      const refUpdate = msPerCall(() => {
        actor.forward(obs, batch);
        critic.forward(obs, batch);
        actor.backward(gradActor, batch);
        critic.backward(gradCritic, batch);
      }, Math.ceil(calls / 3));
      const perSample = (ms: number) => Math.round((ms * 1000 / batch) * 100) / 100;
      rows.push({
        hidden,
        batch,
        actMicrosPerSampleTfjs: perSample(tfAct),
        actMicrosPerSampleReference: perSample(refAct),
        actRatio: Math.round((tfAct / refAct) * 100) / 100,
        updateMicrosPerSampleTfjs: perSample(tfUpdate),
        updateMicrosPerSampleReference: perSample(refUpdate),
        updateRatio: Math.round((tfUpdate / refUpdate) * 100) / 100,
      });
    }
  }
  return rows;
}
