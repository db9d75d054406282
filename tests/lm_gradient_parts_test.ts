// PPO's gradient of a language-model policy in parts (`gradientParts`, `numWorkers`): the parts add
// up to the whole minibatch's gradient (float rounding), a worker computes its part to the bit what
// this thread would, the run trains here while the worker starts, and set-ups and faults that
// cannot work fail with their reason.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Ppo, ppoGradient, type PpoOptions } from "@proximal/algos";
import { type Env, setupBackend } from "@proximal/core";
import { GruLanguageModel, LmPolicy } from "@proximal/models";
import { FlatWeights, type Minibatch } from "../algos/_ppo_engine.ts";
import { gradientInParts, partBounds } from "../algos/_lm_gradient_parts.ts";
import { LmGradientPool } from "../algos/_lm_gradient_pool.ts";
import { sayFiveEnv } from "./_say_five_env.ts";

await setupBackend("wasm");

const V = 12, C = 7;

const sayFive = (): Env => sayFiveEnv(V, C);

function lmPolicy(): LmPolicy {
  const model = new GruLanguageModel(V, { embeddingSize: 8, hiddenSize: 16, seed: 1 });
  return new LmPolicy(model, { contextLength: C });
}

const partsOptions: Partial<PpoOptions> = {
  numSteps: 6,
  numMinibatches: 2,
  updateEpochs: 2,
  minibatchUnit: "env",
  learningRate: 3e-3,
  gradientParts: 2,
};

function lmPpo(options: Partial<PpoOptions>, numEnvs = 8): Ppo {
  return new Ppo(
    { makeEnv: sayFive, numEnvs, seed: 1, totalTimesteps: 1e6, policy: lmPolicy() },
    { ...partsOptions, ...options },
  );
}

/** The iteration's metrics that do not measure time. */
function numbers(metrics: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(metrics).filter(([k]) => !k.startsWith("perf/") && k !== "charts/SPS"),
  );
}

function weightsOf(ppo: Ppo): Float32Array[] {
  return ppo.policy.variables.map((v) => v.dataSync() as Float32Array);
}

/** A minibatch of `copies` env copies' rows, copy after copy, from a short rollout. */
async function minibatchOf(copies: number): Promise<{ policy: LmPolicy; minibatch: Minibatch }> {
  const policy = lmPolicy(), rows = copies * 6;
  let state = 7;
  const next = () => (state = (state * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
  const observations = new Float32Array(rows * C), actions = new Int32Array(rows);
  for (let copy = 0; copy < copies; copy++) {
    let context = [1];
    for (let t = 0; t < 6; t++) {
      const r = copy * 6 + t;
      observations.set(context, r * C);
      actions[r] = 3 + Math.floor(next() * (V - 3));
      context = context.length + 1 >= C ? [1] : [...context, actions[r]!];
    }
  }
  const evaluated = tf.tidy(() => {
    const e = policy.evaluate(tf.tensor2d(observations, [rows, C]), tf.tensor1d(actions, "int32"));
    return tf.stack([e.logProb, e.value]);
  });
  const data = await evaluated.data() as Float32Array;
  evaluated.dispose();
  // Old log-probs and values a little off the current ones, so that ratios and clipping move.
  const logProbs = data.slice(0, rows).map((x) => x + (next() - 0.5) * 0.6);
  const values = data.slice(rows).map((x) => x + (next() - 0.5));
  const advantages = Float32Array.from({ length: rows }, () => next() * 2 - 1);
  const returns = Float32Array.from({ length: rows }, () => next() * 2);
  return { policy, minibatch: { observations, actions, logProbs, values, advantages, returns } };
}

const loss = { clipCoef: 0.2, clipVloss: true, entCoef: 0.01, vfCoef: 0.5, klCoef: 0.3 };

Deno.test("parts are whole env copies, as even as they go", () => {
  assert.deepEqual(partBounds(48, { rowsPerCopy: 6, parts: 2 }), [0, 24, 48]);
  assert.deepEqual(partBounds(18, { rowsPerCopy: 6, parts: 2 }), [0, 6, 18]);
  assert.deepEqual(partBounds(30, { rowsPerCopy: 6, parts: 3 }), [0, 6, 18, 30]);
});

Deno.test("a minibatch's gradient in 2 and 3 parts is its gradient in one, to float rounding", async () => {
  for (const [copies, parts] of [[4, 2], [3, 2], [5, 3]] as const) {
    const { policy, minibatch } = await minibatchOf(copies);
    const whole = ppoGradient(policy, minibatch, loss);
    const engine = gradientInParts(
      Object.assign((mb: Minibatch, l: typeof loss) => ppoGradient(policy, mb, l), {
        readsFlatWeights: false,
        actor: null,
      }),
      {
        policy,
        options: {
          gradientParts: parts,
          numWorkers: 0,
          numSteps: 6,
          numMinibatches: 1,
          minibatchUnit: "env",
          workersIfFaster: false,
        },
        numEnvs: copies,
        weights: new FlatWeights(policy.variables),
      },
    );
    const split = engine(minibatch, loss);
    let scale = 0, worst = 0;
    whole.grad.forEach((g, i) => {
      scale = Math.max(scale, Math.abs(g));
      worst = Math.max(worst, Math.abs(g - split.grad[i]!));
    });
    assert.ok(scale > 1e-3, `gradient scale ${scale}`);
    assert.ok(worst < 1e-5, `${copies} copies in ${parts} parts: largest difference ${worst}`);
    for (const [name, value] of Object.entries(whole.terms)) {
      const got = split.terms[name as keyof typeof whole.terms];
      assert.ok(Math.abs(got - value) < 1e-5, `${name}: ${got} vs ${value}`);
    }
    engine.dispose();
    policy.dispose();
  }
});

Deno.test("a worker's parts give this thread's numbers bit for bit, and the run trains while it starts", async () => {
  const iterations = 4;
  const here = lmPpo({ numWorkers: 0 });
  const expected: Record<string, number>[] = [];
  for (let i = 0; i < iterations; i++) expected.push(numbers((await here.iterate()).metrics));

  // Waiting for the worker: it computes part 2 of every step.
  const waited = lmPpo({ numWorkers: 1 });
  await waited.ready;
  const before = tf.memory().numTensors;
  for (let i = 0; i < iterations; i++) {
    const { metrics } = await waited.iterate();
    assert.equal(metrics["perf/workers"], 1);
    assert.deepEqual(numbers(metrics), expected[i], `iteration ${i}`);
  }
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(weightsOf(waited), weightsOf(here));
  waited.dispose();

  // Not waiting: this thread takes both parts until the worker is up, then the worker takes one.
  const moving = lmPpo({ numWorkers: 1 }), reference = lmPpo({ numWorkers: 0 });
  const seen: number[] = [];
  while (seen.filter((w) => w === 1).length < 2 && seen.length < 2000) {
    const { metrics } = await moving.iterate();
    seen.push(metrics["perf/workers"]!);
    assert.deepEqual(numbers(metrics), numbers((await reference.iterate()).metrics));
  }
  assert.equal(seen[0], 0, "the first iteration ran before the worker was up");
  assert.equal(seen.at(-1), 1, `the worker never took a part in ${seen.length} iterations`);
  assert.deepEqual(weightsOf(moving), weightsOf(reference));
  for (const ppo of [here, moving, reference]) ppo.dispose();
});

Deno.test("set-ups that gradient parts cannot serve are refused with the reason", () => {
  assert.throws(
    () => lmPpo({ minibatchUnit: "step" }),
    /gradientParts 2 needs minibatchUnit "env"/,
  );
  assert.throws(
    () => lmPpo({ gradientParts: 5 }),
    /gradientParts 5 cannot split minibatches of 4 env copies into 5 parts/,
  );
  assert.throws(
    () => lmPpo({ numWorkers: 2 }),
    /gradientParts 2 gives work to at most 1 workers, not numWorkers 2/,
  );
  assert.throws(
    () => lmPpo({ numWorkers: 1, gradientParts: 1, minibatchUnit: "step" }),
    /numWorkers 1 and a language-model policy .* needs gradientParts >= 2/,
  );
  assert.throws(
    () =>
      new Ppo(
        { makeEnv: sayFive, numEnvs: 4, seed: 1, totalTimesteps: 48 },
        { ...partsOptions, hiddenSize: 4 },
      ),
    /gradientParts 2 splits a language-model policy's minibatches/,
  );
  assert.throws(() => lmPpo({ gradientParts: 0 }), /gradientParts/);
});

Deno.test("a worker that fails, hangs or cannot start fails the step with its reason", async () => {
  const { policy, minibatch } = await minibatchOf(2);
  const bad = { ...minibatch, actions: minibatch.actions.map(() => V + 3) };
  const pool = new LmGradientPool(policy, { numWorkers: 1, maxRows: 12, timeoutMs: 20_000 });
  await pool.ready;
  assert.ok(pool.isUp(0));
  pool.setWeights(new FlatWeights(policy.variables).values);
  pool.post(0, bad, loss);
  assert.throws(
    () => pool.collect(0),
    /PPO's gradient worker 0: LmPolicy.evaluate needs 12 actions, token ids in \[0, 12\): got 15 at row 0/,
  );
  assert.throws(() => pool.post(0, minibatch, loss), /PPO's gradient worker 0: LmPolicy/);
  pool.terminate();

  const hangs = new LmGradientPool(policy, {
    numWorkers: 1,
    maxRows: 12,
    timeoutMs: 300,
    workerUrl: new URL("./fixtures/lm_gradient_worker_hangs.ts", import.meta.url).href,
  });
  await hangs.ready;
  hangs.post(0, minibatch, loss);
  assert.throws(
    () => hangs.collect(0),
    /PPO's gradient worker 0 gave no gradient within 0.3 s: it hangs or has died/,
  );
  hangs.terminate();

  // A replica that cannot be built: a vocabulary of one token.
  const model = { ...policy.model, vocabSize: 1, maskedTokens: [] };
  const unbuildable = new LmGradientPool({ ...policy, model } as unknown as LmPolicy, {
    numWorkers: 1,
    maxRows: 12,
  });
  await assert.rejects(
    () => unbuildable.ready,
    /PPO's gradient worker 0: cannot build the policy: .*vocab/i,
  );
  assert.throws(() => unbuildable.isUp(0), /cannot build the policy: .*vocab/i);
  unbuildable.terminate();
  policy.dispose();
});

Deno.test("MLP policies keep PPO's own workers' rules", () => {
  assert.throws(
    () =>
      new Ppo(
        { makeEnv: sayFive, numEnvs: 4, seed: 1, totalTimesteps: 48 },
        { numSteps: 6, minibatchUnit: "env", numWorkers: 1 },
      ),
    /minibatchUnit "env" needs .* no workers \(numWorkers 1\) unless gradientParts > 1/,
  );
});
