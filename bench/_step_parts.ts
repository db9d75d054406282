// What one gradient step of the `quick` preset is made of (16 rows, 31 × 31 networks, the direct
// engine), for README "Issue 16, fourth round": the whole step as PPO takes it (gather the rows,
// normalise their advantages, the direct engine's gradient, Adam), and its parts alone — the
// forward passes (with loading the weights), the loss heads, Adam, the gathering — each timed over
// blocks of 200 calls, taking turns, medians. The parts a second thread could share without
// changing a number (each thread's rows through the networks, one network's weight products each)
// against those that stay on one thread (the heads' summed terms, Adam's norm and step, the rows).
//
//   deno run -A bench/_step_parts.ts [rounds=30]
import { Adam, Rng, setupBackend } from "@proximal/core";
import { cartpolePolicy, syntheticRows } from "./_synthetic_rows.ts";
import { directForward, directGradient } from "../algos/_ppo_direct_engine.ts";
import { emptyRows, FlatWeights, gatherRows } from "../algos/_ppo_engine.ts";
import { actorHead, criticHead } from "../algos/_ppo_heads.ts";

await setupBackend("wasm");
const rounds = Number(Deno.args[0] ?? 30), rows = 16, batch = 256, hidden = 31;
const policy = cartpolePolicy(hidden), space = policy.actionSpace;
const rng = new Rng(1);
const all = syntheticRows(policy, { rows: batch, rng, logProbNoise: 0.1 });
const order = Int32Array.from({ length: batch }, (_, i) => i);
rng.shuffle(order);
const minibatch = emptyRows(all, rows);
gatherRows(all, order, { start: 0, into: minibatch });
const loss = { clipCoef: 0.2, clipVloss: false, entCoef: 0, vfCoef: 0.5, klCoef: 0 };
const weights = new FlatWeights(policy.variables), flat = () => weights.values;
const adam = new Adam(policy.variables, { learningRate: 1e-9, epsilon: 1e-5, maxGradNorm: 0.5 });
const gradient = directGradient(policy, flat);
const actor = directForward(policy, flat, { network: "actor" });
const critic = directForward(policy, flat, { network: "critic" });
const grad = gradient(minibatch, loss).grad;
const logits = actor(minibatch.observations), values = critic(minibatch.observations);

const parts: Record<string, () => void> = {
  "whole step": () => {
    gatherRows(all, order, { start: 16, into: minibatch });
    normalize(minibatch.advantages);
    adam.update(weights.values, gradient(minibatch, loss).grad);
  },
  "gradient (direct engine)": () => gradient(minibatch, loss),
  "forward passes, with the weights loaded":
    () => (actor(minibatch.observations), critic(minibatch.observations)),
  "loss heads":
    () => (actorHead(space, { rows: minibatch, out: logits, logStd: null }, loss),
      criticHead(minibatch, values, loss)),
  "Adam (norm, clip, step)": () => adam.update(weights.values, grad),
  "gather and normalise the rows": () => {
    gatherRows(all, order, { start: 32, into: minibatch });
    normalize(minibatch.advantages);
  },
};
const times: Record<string, number[]> = {};
for (let round = 0; round < rounds; round++) {
  for (const [name, run] of Object.entries(parts)) {
    const t0 = performance.now();
    for (let k = 0; k < 200; k++) run();
    (times[name] ??= []).push((performance.now() - t0) * 1000 / 200);
  }
}
const result: Record<string, number> = {};
for (const [name, ts] of Object.entries(times)) {
  const sorted = ts.slice(2).sort((a, b) => a - b);
  result[name] = Math.round(sorted[sorted.length >> 1]! * 100) / 100;
}
console.log(JSON.stringify({ rows, hidden, microsecondsPerCall: result }, null, 2));

function normalize(x: Float32Array): void {
  let mean = 0;
  for (const v of x) mean += v;
  mean /= x.length;
  let sq = 0;
  for (const v of x) sq += (v - mean) ** 2;
  const std = Math.sqrt(sq / (x.length - 1));
  for (let i = 0; i < x.length; i++) x[i] = (x[i]! - mean) / (std + 1e-8);
}
