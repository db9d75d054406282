// PPO with Deno Workers (numWorkers): 0, 1 and 2 workers give the same numbers at a seed, bit for
// bit; a checkpoint resumes exactly under another worker count; a run with workers learns
// CartPole; dispose ends the workers; a set-up they cannot serve is refused with the reason. Speed
// is measured by bench/_workers.ts, never asserted here.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Ppo, type PpoContext, type PpoOptions } from "@proximal/algos";
import {
  decodeCheckpoint,
  encodeCheckpoint,
  evaluatePolicy,
  MlpPolicy,
  setupBackend,
} from "@proximal/core";
import { CartPole } from "@proximal/envs";
import { reach } from "./fixtures/reach_env.ts";

await setupBackend("wasm");

function cartpolePpo(
  numWorkers: number,
  totalTimesteps: number,
  options: Partial<PpoOptions> = {},
  context: Partial<PpoContext> = {},
): Ppo {
  return new Ppo(
    { makeEnv: () => new CartPole(), numEnvs: 4, seed: 3, totalTimesteps, ...context },
    { numSteps: 64, numMinibatches: 2, ...options, numWorkers },
  );
}

/** Metrics without wall-clock ones (SPS, perf/*), which legitimately differ between runs. */
function deterministicPart(metrics: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(metrics).filter(([k]) => k !== "charts/SPS" && !k.startsWith("perf/")),
  );
}

function weights(ppo: Ppo): number[][] {
  return ppo.policy.variables.map((v) => Array.from(v.dataSync()));
}

/** Every iteration's metrics, then the weights; disposes the trainer. */
async function run(ppo: Ppo) {
  const rows = [];
  while (!ppo.done) rows.push(deterministicPart((await ppo.iterate()).metrics));
  const result = { rows, weights: weights(ppo) };
  ppo.dispose();
  return result;
}

Deno.test("0, 1 and 2 workers give the same metrics and weights at a seed, bit for bit (CartPole)", async () => {
  const none = await run(cartpolePpo(0, 3 * 256));
  const one = await run(cartpolePpo(1, 3 * 256));
  const two = await run(cartpolePpo(2, 3 * 256));
  assert.deepEqual(one, none);
  assert.deepEqual(two, none);
  // Not trivially equal: another seed gives other numbers.
  const other = await run(cartpolePpo(2, 3 * 256, {}, { seed: 4 }));
  assert.notDeepEqual(other.rows, none.rows);
});

Deno.test("0 and 2 workers give the same numbers with a Gaussian policy and the KL penalty (Reach)", async () => {
  const make = (numWorkers: number) =>
    new Ppo({
      makeEnv: () => reach.create(reach.defaults),
      numEnvs: 4,
      seed: 1,
      totalTimesteps: 3 * 4 * 50,
    }, { numSteps: 50, numMinibatches: 2, klPenaltyCoef: 0.1, numWorkers });
  const none = await run(make(0)), two = await run(make(2));
  assert.ok(none.rows.every((r) => r["losses/kl_coef"]! > 0));
  assert.deepEqual(two, none);
});

Deno.test("a checkpoint from 2 workers resumes under 1 to exactly the numbers of an uninterrupted run without workers", async () => {
  const straight = await run(cartpolePpo(0, 4 * 256));

  const first = cartpolePpo(2, 4 * 256);
  await first.iterate();
  await first.iterate();
  const bytes = encodeCheckpoint(await first.save());
  first.dispose();
  const resumed = cartpolePpo(1, 4 * 256);
  await resumed.restore(decodeCheckpoint(bytes));
  assert.equal(resumed.step, 2 * 256);
  const rest = await run(resumed);

  assert.deepEqual(rest.rows, straight.rows.slice(2));
  assert.deepEqual(rest.weights, straight.weights);
});

// A learning check, not a race: 31k steps is early for CartPole, so the bar is well above a
// random policy (~22) rather than near the 500 ceiling.
Deno.test("PPO with 2 workers improves CartPole to an evaluation mean >= 120 within 31k steps at seed 1", async () => {
  const ppo = new Ppo(
    { makeEnv: () => new CartPole(), numEnvs: 8, seed: 1, totalTimesteps: 30_720 },
    { numSteps: 32, numMinibatches: 2, updateEpochs: 4, learningRate: 1e-3, numWorkers: 2 },
  );
  const before = evaluatePolicy(() => new CartPole(), ppo.policy, { episodes: 20 }).mean;
  while (!ppo.done) await ppo.iterate();
  const { mean } = evaluatePolicy(() => new CartPole(), ppo.policy, { episodes: 20 });
  assert.ok(before < 50, `the untrained policy already averaged ${before}`);
  assert.ok(mean >= 120, `evaluation mean ${mean} after ${ppo.step} steps`);
  ppo.dispose();
});

Deno.test("with workers, the main thread's tensor count stays flat and its policy follows the training", async () => {
  const ppo = cartpolePpo(2, 4 * 256);
  const before = weights(ppo);
  await ppo.iterate();
  const after1 = tf.memory().numTensors;
  while (!ppo.done) await ppo.iterate();
  assert.equal(tf.memory().numTensors, after1);
  assert.notDeepEqual(weights(ppo), before);
  ppo.dispose();
});

// Deno's test sanitizers do not report a live worker, so count the process's threads (Linux): each
// worker is one, and dispose must end both.
Deno.test({
  name: "dispose terminates the workers: their two threads end",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const threads = () => [...Deno.readDirSync("/proc/self/task")].length;
    const sleep = () => new Promise((resolve) => setTimeout(resolve, 50));
    // Workers of earlier tests may still be exiting: wait for a steady count.
    let before = threads();
    for (let i = 0; i < 60; i++) {
      await sleep();
      const now = threads();
      if (now === before) break;
      before = now;
    }
    const ppo = cartpolePpo(2, 4 * 256);
    await ppo.iterate();
    const running = threads();
    assert.ok(running >= before + 2, `${before} threads before, ${running} with 2 workers`);
    ppo.dispose();
    for (let i = 0; i < 60 && threads() > running - 2; i++) await sleep();
    assert.ok(threads() <= running - 2, `${running} threads with workers, ${threads()} after`);
  },
});

Deno.test("a worker count the update cannot use, or a custom policy, is refused with the reason", () => {
  assert.throws(() => cartpolePpo(3, 512), /numWorkers must be 0, 1 or 2 .*got 3/);
  assert.throws(() => cartpolePpo(1.5, 512), /numWorkers must be 0, 1 or 2 .*got 1.5/);
  const custom = new MlpPolicy(new CartPole().observationSpace, new CartPole().actionSpace);
  assert.throws(() => cartpolePpo(1, 512, {}, { policy: custom }), /needs its own MLP policy/);
  custom.dispose();
});
