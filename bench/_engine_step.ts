// One PPO gradient step of CartPole-sized networks through the MLP, packed and direct engines
// (and the direct engine with its JavaScript kernels), taking turns in blocks of 10 steps; prints
// the median and fastest ms per step of each and the largest gradient difference from the MLP
// engine's (the closed form through tfjs).
//
//   deno run -A bench/_engine_step.ts [rows=16] [hidden=31] [rounds=30]
import { Rng, setupBackend } from "@proximal/core";
import { cartpolePolicy, syntheticRows } from "./_synthetic_rows.ts";
import { mlpGradient } from "../algos/_ppo_mlp_engine.ts";
import { packedGradient } from "../algos/_ppo_packed_engine.ts";
import { directGradient } from "../algos/_ppo_direct_engine.ts";
import { FlatWeights, type GradientEngine } from "../algos/_ppo_engine.ts";

await setupBackend("wasm");
const [n, hidden, rounds] = [16, 31, 30].map((d, i) => Number(Deno.args[i] ?? d)) as [
  number,
  number,
  number,
];
const policy = cartpolePolicy(hidden);
const minibatch = syntheticRows(policy, { rows: n, rng: new Rng(1), logProbNoise: 0.1 });
const loss = { clipCoef: 0.2, clipVloss: false, entCoef: 0, vfCoef: 0.5, klCoef: 0 };
const weights = new FlatWeights(policy.variables), flat = () => weights.values;
const engines: Record<string, GradientEngine> = {
  mlp: mlpGradient(policy),
  packed: packedGradient(policy, flat),
  direct: directGradient(policy, flat),
  directJs: directGradient(policy, flat, { kernel: "js" }),
};
const reference = engines.mlp!(minibatch, loss).grad;
const times: Record<string, number[]> = {};
for (let round = 0; round < rounds; round++) {
  for (const [name, engine] of Object.entries(engines)) {
    const t0 = performance.now();
    for (let k = 0; k < 10; k++) engine(minibatch, loss);
    (times[name] ??= []).push((performance.now() - t0) / 10);
  }
}
for (const [name, engine] of Object.entries(engines)) {
  const grad = engine(minibatch, loss).grad;
  const diff = Math.max(...grad.map((g, i) => Math.abs(g - reference[i]!)));
  const sorted = times[name]!.slice(1).sort((a, b) => a - b);
  console.log(
    `${name.padEnd(8)} ${n} rows, ${hidden} wide: median ${
      sorted[sorted.length >> 1]!.toFixed(3)
    } ms/step, fastest ${sorted[0]!.toFixed(3)}, max |grad − mlp's| ${diff.toExponential(1)}`,
  );
}
policy.dispose();
