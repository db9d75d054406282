// The direct engine on two threads (`gradient: "direct"`, `numWorkers: 1`): the numbers of the
// one-thread direct engine bit for bit — every metric and the final weights, with the worker up —
// on CartPole (the `quick` preset) and on a Gaussian policy with the value clipping, the entropy
// bonus and the KL penalty on; a worker that fails or hangs gives an error naming it, never a
// hang. Speed is measured by bench/_direct_pair.ts, never asserted here.
import assert from "node:assert/strict";
import { Ppo, ppo as ppoPlugin, type PpoOptions } from "@proximal/algos";
import { Box, Discrete, setupBackend } from "@proximal/core";
import { MlpPolicy } from "@proximal/models";
import { CartPole } from "@proximal/envs";
import { reach } from "./fixtures/reach_env.ts";
import { directPair } from "../algos/_ppo_direct_pair.ts";
import { FlatWeights, type Minibatch } from "../algos/_ppo_engine.ts";

await setupBackend("wasm");

/** Metrics without wall-clock ones (SPS, perf/*), which legitimately differ between runs. */
function deterministicPart(metrics: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(metrics).filter(([k]) => k !== "charts/SPS" && !k.startsWith("perf/")),
  );
}

/** Every iteration's metrics and `perf/workers`, then the flat weights; disposes the trainer. */
async function run(ppo: Ppo) {
  await ppo.ready;
  const rows = [], workers = [];
  while (!ppo.done) {
    const { metrics } = await ppo.iterate();
    rows.push(deterministicPart(metrics));
    workers.push(metrics["perf/workers"]);
  }
  const weights = ppo.policy.variables.flatMap((v) => Array.from(v.dataSync()));
  ppo.dispose();
  return { rows, weights, workers };
}

const quick = ppoPlugin.presets!.quick!;

function cartpole(
  numWorkers: number,
  options: Partial<PpoOptions> & { totalTimesteps?: number } = {},
): Ppo {
  const { totalTimesteps = 6 * 256, ...rest } = options;
  return new Ppo(
    { makeEnv: () => new CartPole(), numEnvs: quick.numEnvs!, seed: 2, totalTimesteps },
    { ...quick.options, ...rest, numWorkers },
  );
}

Deno.test("the pair gives the one-thread direct engine's numbers bit for bit (quick on CartPole)", async () => {
  const alone = await run(cartpole(0));
  const pair = await run(cartpole(1));
  assert.deepEqual(pair.rows, alone.rows);
  assert.deepEqual(pair.weights, alone.weights);
  // The worker computed every step's critic half (it was up before the first).
  assert.deepEqual(pair.workers, new Array(6).fill(1));
  assert.equal(alone.workers[0], undefined);
  // workersIfFaster: steps taking turns between the two ways, then the faster: the same numbers.
  const trial = await run(cartpole(1, { workersIfFaster: true, totalTimesteps: 8 * 256 }));
  const longer = await run(cartpole(0, { totalTimesteps: 8 * 256 }));
  assert.deepEqual(trial.rows, longer.rows);
  assert.deepEqual(trial.weights, longer.weights);
  // Not trivially equal: another seed gives other numbers.
  const other = await run(
    new Ppo(
      { makeEnv: () => new CartPole(), numEnvs: 8, seed: 3, totalTimesteps: 6 * 256 },
      { ...quick.options, numWorkers: 1 },
    ),
  );
  assert.notDeepEqual(other.rows, alone.rows);
});

Deno.test("the pair gives the same numbers on wider networks (hidden 64 and 128: weights past a page of memory)", async () => {
  for (const hiddenSize of [64, 128]) {
    const alone = await run(cartpole(0, { hiddenSize, totalTimesteps: 2 * 256 }));
    const pair = await run(cartpole(1, { hiddenSize, totalTimesteps: 2 * 256 }));
    assert.deepEqual(pair.rows, alone.rows, `hidden ${hiddenSize}`);
    assert.deepEqual(pair.weights, alone.weights, `hidden ${hiddenSize}`);
    assert.deepEqual(pair.workers, [1, 1], `hidden ${hiddenSize}: the worker computed both steps`);
  }
});

Deno.test("the pair agrees with a Gaussian policy, clipped value loss, entropy bonus and KL penalty (Reach)", async () => {
  const make = (numWorkers: number) =>
    new Ppo({
      makeEnv: () => reach.create(reach.defaults),
      numEnvs: 4,
      seed: 1,
      totalTimesteps: 4 * 4 * 50,
    }, {
      numSteps: 50,
      numMinibatches: 5,
      updateEpochs: 2,
      hiddenSize: 15,
      gradient: "direct",
      clipVloss: true,
      entCoef: 0.01,
      klPenaltyCoef: 0.5,
      numWorkers,
    });
  const alone = await run(make(0)), pair = await run(make(1));
  assert.deepEqual(pair.rows, alone.rows);
  assert.deepEqual(pair.weights, alone.weights);
  assert.deepEqual(pair.workers, new Array(4).fill(1));
});

Deno.test("the pair refuses more than one worker or shard, naming them", () => {
  for (const options of [{ numWorkers: 2 }, { numWorkers: 1, numShards: 2 }]) {
    assert.throws(
      () =>
        new Ppo(
          { makeEnv: () => new CartPole(), numEnvs: 8, seed: 1, totalTimesteps: 256 },
          { ...quick.options, ...options },
        ),
      /gradient "direct" splits each step between this thread and one worker: numWorkers \d and numShards \d must be at most 1/,
    );
  }
});

/** A CartPole policy, its flat weights and a minibatch of 16 rows. */
function oneStep() {
  const policy = new MlpPolicy(new Box({ low: -1, high: 1, shape: [4] }), new Discrete(2), {
    seed: 1,
    hiddenSizes: [7, 7],
  });
  const weights = new FlatWeights(policy.variables), n = 16;
  const minibatch: Minibatch = {
    observations: Float32Array.from({ length: 4 * n }, (_, i) => Math.sin(i)),
    actions: Int32Array.from({ length: n }, (_, i) => i % 2),
    logProbs: new Float32Array(n).fill(-0.7),
    values: new Float32Array(n),
    advantages: Float32Array.from({ length: n }, (_, i) => Math.cos(i)),
    returns: new Float32Array(n).fill(1),
  };
  const loss = { clipCoef: 0.2, clipVloss: false, entCoef: 0, vfCoef: 0.5, klCoef: 0 };
  return { policy, weights, minibatch, loss };
}

const fixture = (name: string) => new URL(`./fixtures/${name}`, import.meta.url).href;

Deno.test("a worker that throws in a step fails the run with its error, naming the worker", async () => {
  const { policy, weights, minibatch, loss } = oneStep();
  const pair = directPair(policy, () => weights.values, {
    workerUrl: fixture("direct_pair_worker_throws.ts"),
  });
  try {
    await pair.ready;
    pair(minibatch, loss);
    assert.equal(pair.workersUsed(), 1);
    assert.throws(
      () => pair(minibatch, loss),
      /PPO's direct-engine worker failed: Fixture: the critic's half fails at its second step/,
    );
    // The run stays failed.
    assert.throws(() => pair(minibatch, loss), /PPO's direct-engine worker failed/);
  } finally {
    pair.dispose();
    policy.dispose();
  }
});

Deno.test("a worker that never answers fails the step after the time-out, naming the worker", async () => {
  const { policy, weights, minibatch, loss } = oneStep();
  const pair = directPair(policy, () => weights.values, {
    workerUrl: fixture("direct_pair_worker_hangs.ts"),
    timeoutMs: 300,
  });
  try {
    await pair.ready;
    assert.throws(
      () => pair(minibatch, loss),
      /PPO's direct-engine worker gave no answer within 300 ms/,
    );
  } finally {
    pair.dispose();
    policy.dispose();
  }
});

Deno.test("a worker whose module throws as it loads fails the run, naming the worker", async () => {
  const { policy, weights, minibatch, loss } = oneStep();
  const pair = directPair(policy, () => weights.values, {
    workerUrl: `data:text/javascript,${encodeURIComponent('throw new Error("Fixture: dies")')}`,
  });
  try {
    await assert.rejects(pair.ready, /PPO's direct-engine worker failed: .*Fixture: dies/);
    assert.throws(() => pair(minibatch, loss), /PPO's direct-engine worker failed/);
  } finally {
    pair.dispose();
    policy.dispose();
  }
});
