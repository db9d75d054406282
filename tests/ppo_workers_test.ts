// PPO with Deno Workers (numWorkers, numShards): a run's numbers depend on its shards, not its
// workers, bit for bit, and one shard gives the numbers of no workers; a checkpoint resumes exactly
// under another worker count; a run with workers learns CartPole; dispose ends the workers; a
// set-up they cannot serve is refused with the reason. Speed is measured by bench/_workers.ts,
// never asserted here.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Ppo, type PpoContext, type PpoOptions } from "@proximal/algos";
import { decodeCheckpoint, encodeCheckpoint, evaluatePolicy, setupBackend } from "@proximal/core";
import { MlpPolicy } from "@proximal/models";
import { CartPole } from "@proximal/envs";
import { reach } from "./fixtures/reach_env.ts";
import { lopsidedCartpole } from "./fixtures/lopsided_cartpole.ts";

await setupBackend("wasm");

const cartpoleSource = { module: `${import.meta.resolve("@proximal/envs")}#cartpole`, options: {} };

function cartpolePpo(
  numWorkers: number,
  totalTimesteps: number,
  options: Partial<PpoOptions> = {},
  context: Partial<PpoContext> = {},
): Ppo {
  return new Ppo(
    {
      makeEnv: () => new CartPole(),
      numEnvs: 4,
      seed: 3,
      totalTimesteps,
      envSource: cartpoleSource,
      ...context,
    },
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

/** Every iteration's metrics, then the weights; disposes the trainer. The workers run them all. */
async function run(ppo: Ppo) {
  await ppo.ready;
  const rows = [];
  while (!ppo.done) rows.push(deterministicPart((await ppo.iterate()).metrics));
  const result = { rows, weights: weights(ppo) };
  ppo.dispose();
  return result;
}

Deno.test("a run's numbers depend on its shards, not its workers, bit for bit (CartPole)", async () => {
  const none = await run(cartpolePpo(0, 3 * 256));
  // One shard (the default) is the one-thread trainer, moved to one worker or split over two.
  assert.deepEqual(await run(cartpolePpo(1, 3 * 256)), none);
  assert.deepEqual(await run(cartpolePpo(2, 3 * 256)), none);
  // Two shards: one worker computes both, or two workers one each.
  const twoShardsOneWorker = await run(cartpolePpo(1, 3 * 256, { numShards: 2 }));
  const twoShardsTwoWorkers = await run(cartpolePpo(2, 3 * 256, { numShards: 2 }));
  assert.deepEqual(twoShardsTwoWorkers, twoShardsOneWorker);
  // Not trivially equal: two shards draw other actions than one, and another seed other numbers.
  assert.notDeepEqual(twoShardsTwoWorkers.rows, none.rows);
  const other = await run(cartpolePpo(2, 3 * 256, { numShards: 2 }, { seed: 4 }));
  assert.notDeepEqual(other.rows, twoShardsTwoWorkers.rows);
});

Deno.test("shards agree with a Gaussian policy, the entropy bonus and the KL penalty (Reach)", async () => {
  const make = (numWorkers: number, numShards: number) =>
    new Ppo({
      makeEnv: () => reach.create(reach.defaults),
      numEnvs: 4,
      seed: 1,
      totalTimesteps: 3 * 4 * 50,
      envSource: {
        module: `${new URL("./fixtures/reach_env.ts", import.meta.url).href}#reach`,
        options: reach.defaults,
      },
    }, {
      numSteps: 50,
      numMinibatches: 2,
      klPenaltyCoef: 0.1,
      entCoef: 0.01,
      numWorkers,
      numShards,
    });
  const none = await run(make(0, 0));
  assert.ok(none.rows.every((r) => r["losses/kl_penalty_coef"]! > 0));
  assert.deepEqual(await run(make(1, 1)), none);
  assert.deepEqual(await run(make(2, 1)), none);
  assert.deepEqual(await run(make(2, 2)), await run(make(1, 2)));
});

Deno.test("a checkpoint from 2 workers resumes under 1 worker to exactly the numbers of an uninterrupted run", async () => {
  const straight = await run(cartpolePpo(1, 4 * 256, { numShards: 2 }));

  const first = cartpolePpo(2, 4 * 256, { numShards: 2 });
  await first.iterate();
  await first.iterate();
  const bytes = encodeCheckpoint(await first.save());
  first.dispose();
  const resumed = cartpolePpo(1, 4 * 256, { numShards: 2 });
  await resumed.restore(decodeCheckpoint(bytes));
  assert.equal(resumed.step, 2 * 256);
  const rest = await run(resumed);

  assert.deepEqual(rest.rows, straight.rows.slice(2));
  assert.deepEqual(rest.weights, straight.weights);

  // Another shard count would not continue the same run: refused, naming the fix.
  const other = cartpolePpo(0, 4 * 256);
  await assert.rejects(
    () => other.restore(decodeCheckpoint(bytes)),
    /written with numShards 2 and this run has 1 .*--num-shards 2/,
  );
  other.dispose();
});

Deno.test("a checkpoint without workers resumes in a worker (one shard) to the same numbers", async () => {
  const straight = await run(cartpolePpo(0, 4 * 256));
  const first = cartpolePpo(0, 4 * 256);
  await first.iterate();
  const bytes = encodeCheckpoint(await first.save());
  first.dispose();
  const resumed = cartpolePpo(1, 4 * 256);
  await resumed.restore(decodeCheckpoint(bytes));
  const rest = await run(resumed);
  assert.deepEqual(rest.rows, straight.rows.slice(1));
  assert.deepEqual(rest.weights, straight.weights);
});

// A learning check, not a race: 31k steps is early for CartPole, so the bar is well above a
// random policy (~22) rather than near the 500 ceiling.
Deno.test("PPO with 2 workers improves CartPole to an evaluation mean >= 120 within 31k steps at seed 1", async () => {
  const ppo = new Ppo(
    {
      makeEnv: () => new CartPole(),
      numEnvs: 8,
      seed: 1,
      totalTimesteps: 30_720,
      envSource: cartpoleSource,
    },
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

// Deno's test sanitizers do not report a live worker, so count the process's worker threads (Linux:
// Deno names each Worker's thread "worker-N"), and dispose must end both. Counting all threads
// flaked: tokio's blocking-pool threads come and go on their own.
Deno.test({
  name: "dispose terminates the workers: their two threads end",
  ignore: Deno.build.os !== "linux",
  fn: async () => {
    const threads = () =>
      [...Deno.readDirSync("/proc/self/task")].filter((task) => {
        try {
          return Deno.readTextFileSync(`/proc/self/task/${task.name}/comm`).startsWith("worker-");
        } catch {
          return false; // the thread ended while we looked
        }
      }).length;
    const sleep = () => new Promise((resolve) => setTimeout(resolve, 50));
    // Workers of earlier tests may still be exiting (terminate is asynchronous): wait for them.
    for (let i = 0; i < 100 && threads() > 0; i++) await sleep();
    const before = threads();
    const ppo = cartpolePpo(2, 4 * 256);
    // Up, not merely started: this thread trains without waiting for them (the hand-over).
    await ppo.ready;
    await ppo.iterate();
    const running = threads();
    assert.ok(running >= before + 2, `${before} worker threads before, ${running} with 2 workers`);
    ppo.dispose();
    for (let i = 0; i < 60 && threads() > running - 2; i++) await sleep();
    assert.ok(threads() <= running - 2, `${running} threads with workers, ${threads()} after`);
  },
});

Deno.test("set-ups the workers cannot serve are refused with the reason", () => {
  assert.throws(() => cartpolePpo(1.5, 512), /numWorkers must be a whole number >= 0, got 1.5/);
  assert.throws(() => cartpolePpo(0, 512, { numShards: 2 }), /numShards 2 needs numWorkers >= 1/);
  assert.throws(
    () => cartpolePpo(3, 512, { numShards: 3 }),
    /cannot split numEnvs 4 into 3 equal shards/,
  );
  assert.throws(() => cartpolePpo(3, 512, { numShards: 0 }), /into 3 equal shards/);
  assert.throws(
    () => cartpolePpo(2, 512, { numShards: 2, numMinibatches: 256 }),
    /cannot split each shard's 128 rows into 256 equal minibatch shares/,
  );
  assert.throws(
    () =>
      new Ppo({ makeEnv: () => new CartPole(), numEnvs: 4, seed: 3, totalTimesteps: 512 }, {
        numWorkers: 1,
      }),
    /needs context.envSource/,
  );
  assert.throws(
    () => cartpolePpo(1, 512, { gradient: "autodiff" }),
    /computes the closed-form gradient: gradient "autodiff" needs numWorkers 0/,
  );
  const custom = new MlpPolicy(new CartPole().observationSpace, new CartPole().actionSpace);
  assert.throws(() => cartpolePpo(1, 512, {}, { policy: custom }), /needs its own MLP policy/);
  custom.dispose();
  const processor = { name: "noop", process: () => Promise.resolve({}) };
  assert.throws(
    () => cartpolePpo(1, 512, {}, { processors: [processor] }),
    /cannot run rollout processors/,
  );
});

Deno.test("a worker that cannot build the env fails the run with its reason", async () => {
  const ppo = cartpolePpo(1, 512, {}, {
    envSource: { module: "file:///nonexistent/env.ts#cartpole", options: {} },
  });
  await assert.rejects(() => ppo.ready, /PPO worker 0: .*env.*file not found/);
  await assert.rejects(() => ppo.iterate(), /PPO worker 0: .*env.*file not found/);
  ppo.dispose();
});

Deno.test("one shard: this thread trains while the workers start, then hands over, same numbers", async () => {
  const budget = 400 * 256;
  const here = cartpolePpo(0, budget);
  const moving = cartpolePpo(2, budget);
  const rows = [], workers = [];
  // Until the workers have run three iterations (each loads tfjs first: ~1 s of iterations here).
  while (workers.filter((w) => w > 0).length < 3) {
    const { metrics } = await moving.iterate();
    workers.push(metrics["perf/workers"]!);
    rows.push(deterministicPart(metrics));
    assert.ok(!moving.done, "the workers never took over");
  }
  const expected = [];
  for (let i = 0; i < rows.length; i++) {
    expected.push(deterministicPart((await here.iterate()).metrics));
  }
  assert.equal(workers[0], 0, "the first iteration ran in this thread");
  assert.deepEqual(workers.slice(-3), [2, 2, 2]);
  assert.deepEqual(rows, expected);
  assert.deepEqual(weights(moving), weights(here));
  // A checkpoint after the hand-over reads the workers' envs and stream: it resumes here exactly.
  const resumed = cartpolePpo(0, budget);
  await resumed.restore(decodeCheckpoint(encodeCheckpoint(await moving.save())));
  assert.deepEqual(
    deterministicPart((await resumed.iterate()).metrics),
    deterministicPart((await here.iterate()).metrics),
  );
  for (const ppo of [here, moving, resumed]) ppo.dispose();
});

Deno.test("workersIfFaster: slower workers give the run back, faster ones keep it, the same numbers", async () => {
  const module = `${import.meta.resolve("./fixtures/lopsided_cartpole.ts")}#lopsided-cartpole`;
  const lopsided = (slowIn: string, numWorkers: number) => {
    const envOptions = { slowIn, stepMicros: 200 };
    return cartpolePpo(numWorkers, 20 * 256, { workersIfFaster: numWorkers > 0 }, {
      makeEnv: () => lopsidedCartpole.create(envOptions),
      envSource: { module, options: envOptions },
    });
  };
  for (const [slowIn, kept] of [["workers", false], ["main", true]] as const) {
    const here = await run(lopsided(slowIn, 0));
    const ppo = lopsided(slowIn, 2);
    const rows = [], workers = [];
    while (!ppo.done) {
      // Three iterations here, then the workers are up.
      if (rows.length === 3) await ppo.ready;
      const { metrics } = await ppo.iterate();
      workers.push(metrics["perf/workers"]);
      rows.push(deterministicPart(metrics));
    }
    // Up, the workers warm up and run three timed iterations, this thread three, the faster keeps it.
    const trial = [0, 0, 0, 2, 2, 2, 2, 0, 0, 0];
    assert.deepEqual(workers, [...trial, ...new Array(10).fill(kept ? 2 : 0)], slowIn);
    assert.deepEqual(rows, here.rows);
    assert.deepEqual(weights(ppo), here.weights);
    ppo.dispose();
  }
});

Deno.test("workersIfFaster trains here where workers cannot serve the run; several shards are refused", async () => {
  const context = { makeEnv: () => new CartPole(), numEnvs: 4, seed: 3, totalTimesteps: 512 };
  const options = { numSteps: 64, numMinibatches: 2, numWorkers: 2, workersIfFaster: true };
  // No envSource: the workers could not build the envs, so none start.
  const quiet = new Ppo(context, options);
  await quiet.ready; // With workers, the next iteration would be theirs.
  assert.equal((await quiet.iterate()).metrics["perf/workers"], 0);
  quiet.dispose();
  assert.throws(
    () => new Ppo(context, { ...options, numShards: 2 }),
    /workersIfFaster needs one shard/,
  );
});
