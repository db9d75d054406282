// Per-sample cost of the PPO policy's two hot paths on tfjs-wasm — acting (a batched forward
// pass) and one update step (forward, PPO loss, backward, Adam) — beside the same arithmetic in
// plain Float32Array code (ReferenceMlp), measured in the same process.
import * as tf from "@tensorflow/tfjs";
import { Adam, Box, Discrete, Rng } from "@proximal/core";
import { MlpPolicy } from "@proximal/models";
import { actorHalf, criticHalf } from "../algos/_ppo_grad.ts";
import { assignFlat, joinHalves, readFlat } from "../algos/_ppo_pool.ts";
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

/** Measures CartPole-shaped actor-critic MLPs (4 inputs, 2 actions) at each width and batch. */
export function measureKernels(options: { hidden: number[]; batch: number[] }): KernelRow[] {
  const rows: KernelRow[] = [];
  const obsSpace = new Box({ low: -Infinity, high: Infinity, shape: [4] });
  for (const hidden of options.hidden) {
    for (const batch of options.batch) {
      const calls = Math.max(5, Math.round(20_000 / (batch * hidden / 16)));
      const policy = new MlpPolicy(obsSpace, new Discrete(2), {
        hiddenSizes: [hidden, hidden],
        seed: 1,
      });
      const adam = new Adam(policy.variables, {});
      const rng = new Rng(0);
      const obs = Float32Array.from({ length: batch * 4 }, () => rng.normal());
      const actions = Int32Array.from({ length: batch }, () => rng.int(2));
      const zeros = new Float32Array(batch);
      const adv = Float32Array.from({ length: batch }, () => rng.normal());
      const tfAct = msPerCall(() => policy.act(obs, { rng }), calls);
      // PPO's own update step: the tape-free halves (algos/_ppo_grad.ts), Adam, then the weights.
      const params = readFlat(policy.variables);
      const size = (vars: readonly tf.Variable[]) => vars.reduce((n, v) => n + v.size, 0);
      const sizes = {
        actorLayers: size(policy.actorVariables),
        critic: size(policy.criticVariables),
        logStd: 0,
      };
      const minibatch = {
        observations: obs,
        actions,
        logProbs: zeros,
        values: zeros,
        advantages: adv,
        returns: adv,
      };
      const loss = { clipCoef: 0.2, clipVloss: true, entCoef: 0.01, vfCoef: 0.5, klCoef: 0 };
      const tfUpdate = msPerCall(() => {
        const { grad } = joinHalves(
          actorHalf(policy, minibatch, loss),
          criticHalf(policy, minibatch, loss),
          sizes,
        );
        adam.update(params, grad);
        assignFlat(policy.variables, params);
      }, Math.ceil(calls / 3));
      policy.dispose();

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
