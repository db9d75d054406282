// LmPolicy on the WASM backend: act and evaluate agree, the act cache gives exactly what reading
// every context from scratch gives (and is dropped when the weights change), memory stays flat,
// and PPO trains a language model through the Policy interface.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Ppo } from "@proximal/algos";
import { Adam, Rng, setupBackend } from "@proximal/core";
import { GruLanguageModel, LmPolicy, type LmPolicyOptions } from "@proximal/models";
import { close } from "./_assert.ts";
import { sayFiveEnv } from "./_say_five_env.ts";

await setupBackend("wasm");

/** Rows of token ids, left-aligned and padded with <pad> = 0 to `contextLength`. */
function observe(contexts: readonly number[][], contextLength: number): Float32Array {
  const out = new Float32Array(contexts.length * contextLength);
  contexts.forEach((c, i) => out.set(c, i * contextLength));
  return out;
}

function makePolicy(options: Partial<LmPolicyOptions> & { layers?: number } = {}): LmPolicy {
  const { layers = 1, ...rest } = options;
  const model = new GruLanguageModel(20, { embeddingSize: 8, hiddenSize: 16, layers, seed: 3 });
  return new LmPolicy(model, { contextLength: 8, ...rest });
}

/** evaluate's [logProb, value, entropy] rows for given observations and actions. */
function evaluate(policy: LmPolicy, observations: Float32Array, actions: ArrayLike<number>) {
  const n = actions.length;
  const out = tf.tidy(() => {
    const e = policy.evaluate(
      tf.tensor2d(observations, [n, policy.observationSize]),
      tf.tensor1d(Array.from(actions), "int32"),
    );
    return tf.stack([e.logProb, e.value, e.entropy]);
  });
  const [logProb, value, entropy] = out.arraySync() as number[][];
  out.dispose();
  return { logProb: logProb!, value: value!, entropy: entropy! };
}

Deno.test("act's log-probs and values equal evaluate's, with temperature and top-k", () => {
  const contexts = [[1], [1, 5], [1, 6, 7, 8, 9], [1, 4, 4, 4, 4, 4, 4, 4]];
  const settings = [
    { temperature: 1, topK: 0, layers: 1 },
    { temperature: 0.7, topK: 5, layers: 2 },
  ];
  for (const setting of settings) {
    const policy = makePolicy(setting);
    const observations = observe(contexts, 8);
    for (const deterministic of [false, true]) {
      const acted = policy.act(observations, { rng: new Rng(1), deterministic });
      const evaluated = evaluate(policy, observations, acted.actions);
      close(evaluated.logProb, acted.logProbs, 1e-5);
      close(evaluated.value, acted.values, 1e-5);
      for (const h of evaluated.entropy) {
        assert.ok(h > 0 && h <= Math.log(setting.topK || 19) + 1e-5);
      }
    }
    // Top-k: each row's samples come from at most k distinct tokens.
    if (setting.topK > 0) {
      const rng = new Rng(2), seen = contexts.map(() => new Set<number>());
      for (let i = 0; i < 60; i++) {
        policy.act(observations, { rng }).actions.forEach((a, j) => seen[j]!.add(a));
      }
      for (const tokens of seen) assert.ok(tokens.size > 1 && tokens.size <= setting.topK);
    }
    policy.dispose();
  }
});

Deno.test("the act cache steps once per new token, restarts reset rows, equals no cache", () => {
  const cached = makePolicy({ layers: 2 });
  const scratch = new LmPolicy(cached.model.clone(), { contextLength: 8, cache: false });
  const rngA = new Rng(7), rngB = new Rng(7);
  let contexts = [[1], [1, 5], [1, 6, 7], [1]];
  const expected = { advanced: 0, reused: 0, recomputed: 4 }; // the first call reads everything
  for (let step = 0; step < 14; step++) {
    const observations = observe(contexts, 8);
    const a = cached.act(observations, { rng: rngA }), b = scratch.act(observations, { rng: rngB });
    assert.deepEqual(a.actions, b.actions);
    close(a.logProbs, b.logProbs, 1e-5);
    close(a.values, b.values, 1e-5);
    assert.deepEqual(cached.cacheStats, expected);
    // Next contexts: each row grows by its action, except that a full row restarts at <bos>,
    // row 3 restarts with another prompt every 4 steps, and row 1 is sometimes shown again as is.
    const next = contexts.map((c, i) => {
      if (c.length === 8) return [1];
      if (i === 3 && step % 4 === 3) return [1, 9];
      if (i === 1 && step % 5 === 4) return c;
      return [...c, a.actions[i]!];
    });
    next.forEach((c, i) => {
      const before = contexts[i]!;
      if (c === before) expected.reused++;
      else if (c.length === before.length + 1) expected.advanced++;
      else expected.recomputed++;
    });
    contexts = next;
  }
  assert.ok(expected.advanced > 30 && expected.reused > 0 && expected.recomputed > 6);
  assert.deepEqual(scratch.cacheStats, { advanced: 0, reused: 0, recomputed: 14 * 4 });
  cached.dispose();
  scratch.dispose();
});

Deno.test("evaluate reads prefixes of one another in one pass: same numbers and gradient", () => {
  for (const layers of [1, 2]) {
    const policy = makePolicy({ layers });
    // Rows 0–2 are prefixes of row 3 (one episode); row 4 shares only <bos>; row 5 repeats row 1.
    const contexts = [[1, 5], [1, 5, 6], [1, 5, 6, 7], [1, 5, 6, 7, 9], [1, 8], [1, 5, 6]];
    const actions = [6, 7, 9, 4, 3, 11];
    const C = policy.observationSize;
    // d(Σ logProb + Σ value)/d(weights), flat, and the per-row outputs, for rows read together.
    const run = (rows: number[]) =>
      tf.tidy(() => {
        const obs = tf.tensor2d(observe(rows.map((r) => contexts[r]!), C), [rows.length, C]);
        const act = tf.tensor1d(rows.map((r) => actions[r]!), "int32");
        const { value, grads } = tf.variableGrads(() => {
          const e = policy.evaluate(obs, act);
          return tf.add(tf.sum(e.logProb), tf.sum(e.value)) as tf.Scalar;
        }, policy.variables as tf.Variable[]);
        const e = policy.evaluate(obs, act);
        return {
          outputs: [...e.logProb.dataSync(), ...e.value.dataSync()],
          loss: value.dataSync()[0]!,
          grad: Array.from(
            tf.concat(policy.variables.map((v) => grads[v.name]!.reshape([-1])))
              .dataSync(),
          ),
        };
      });
    const together = run([0, 1, 2, 3, 4, 5]);
    const alone = contexts.map((_, r) => run([r]));
    alone.forEach((one, r) => {
      close([together.outputs[r]!], [one.outputs[0]!], 1e-5);
      close([together.outputs[6 + r]!], [one.outputs[1]!], 1e-5);
    });
    const summed = together.grad.map((_, k) => alone.reduce((a, one) => a + one.grad[k]!, 0));
    close(together.grad, summed, 1e-4);
    policy.dispose();
  }
});

Deno.test("evaluate's fused head equals tfjs's autodiff: values and gradients", () => {
  const contexts = [[1], [1, 5], [1, 6, 7, 8, 9], [1, 4, 4, 4, 4, 4, 4, 4], [1, 5, 6]];
  const actions = [3, 19, 2, 4, 7];
  // Per-row weights of log-prob and entropy in the loss, so each row's gradient counts.
  const wLogProb = [1.5, -0.5, 2, 0.25, -1], wEntropy = [0.3, -2, 0.7, 1.1, 0.05];
  for (const setting of [{ temperature: 1, topK: 0 }, { temperature: 0.7, topK: 5 }]) {
    const model = new GruLanguageModel(20, {
      embeddingSize: 8,
      hiddenSize: 16,
      valueHead: true,
      maskedTokens: [0, 1],
      seed: 4,
    });
    const run = (head: "fused" | "autodiff") =>
      tf.tidy(() => {
        const policy = new LmPolicy(model, { contextLength: 8, ...setting, head });
        const obs = tf.tensor2d(observe(contexts, 8), [contexts.length, 8]);
        const act = tf.tensor1d(actions, "int32");
        const { grads } = tf.variableGrads(() => {
          const e = policy.evaluate(obs, act);
          const weighted = tf.add(tf.mul(e.logProb, wLogProb), tf.mul(e.entropy, wEntropy));
          return tf.sum(tf.add(weighted, e.value)) as tf.Scalar;
        }, model.variables as tf.Variable[]);
        const e = policy.evaluate(obs, act);
        return {
          logProb: Array.from(e.logProb.dataSync()),
          entropy: Array.from(e.entropy.dataSync()),
          grad: Array.from(
            tf.concat(model.variables.map((v) => grads[v.name]!.reshape([-1]))).dataSync(),
          ),
        };
      });
    const fused = run("fused"), reference = run("autodiff");
    close(fused.logProb, reference.logProb, 1e-5);
    close(fused.entropy, reference.entropy, 1e-5);
    close(fused.grad, reference.grad, 1e-5);
    // Not vacuous: the gradients are not all tiny, and top-k rows score masked tokens at ~-1e9.
    assert.ok(reference.grad.some((g) => Math.abs(g) > 1e-2));
    if (setting.topK > 0) assert.ok(reference.logProb.some((l) => l < -1e8));
    model.dispose();
  }
});

Deno.test("the act cache is dropped when the weights change", () => {
  const policy = makePolicy();
  const adam = new Adam(policy.variables, { learningRate: 0.05 });
  const contexts = [[1, 5], [1, 6, 7]];
  const first = policy.act(observe(contexts, 8), { rng: new Rng(0) });
  // An update moves every weight; the cached states belong to the old ones.
  adam.step(() => {
    const e = policy.evaluate(
      tf.tensor2d(observe(contexts, 8), [2, 8]),
      tf.tensor1d(first.actions as Int32Array, "int32"),
    );
    return { loss: tf.neg(tf.sum(tf.add(e.logProb, e.value))) as tf.Scalar };
  });
  const grown = contexts.map((c, i) => [...c, first.actions[i]!]);
  const afterUpdate = policy.act(observe(grown, 8), { deterministic: true });
  assert.deepEqual(policy.cacheStats, { advanced: 0, reused: 0, recomputed: 4 });
  const fresh = new LmPolicy(policy.model.clone(), { contextLength: 8, cache: false });
  const expected = fresh.act(observe(grown, 8), { deterministic: true });
  close(afterUpdate.logProbs, expected.logProbs, 1e-5);
  close(afterUpdate.values, expected.values, 1e-5);
  fresh.dispose();
  policy.dispose();
});

Deno.test("value equals act's values and leaves the cache alone", () => {
  const policy = makePolicy();
  const observations = observe([[1, 5], [1, 6, 7], [1]], 8);
  const { values } = policy.act(observations, { rng: new Rng(3) });
  const stats = policy.cacheStats;
  close(policy.value(observations), values, 1e-6);
  close(
    policy.value(observe([[1, 5, 5]], 8)),
    evaluate(policy, observe([[1, 5, 5]], 8), [3]).value,
    1e-5,
  );
  assert.deepEqual(policy.cacheStats, stats);
  // Rows in another order, one token past the cached contexts (PPO's truncated finals), and a
  // row matching no entry: the values of reading each from scratch.
  const shuffled = observe([[1, 6, 7, 3], [1, 9], [1, 4], [1, 5, 2]], 8);
  const scratch = new LmPolicy(policy.model.clone(), { contextLength: 8, cache: false });
  close(policy.value(shuffled), scratch.value(shuffled), 1e-5);
  scratch.dispose();
  policy.dispose();
});

Deno.test("tf.memory().numTensors stays flat across act, value and evaluate updates", () => {
  const policy = makePolicy({ topK: 4, layers: 2 });
  const adam = new Adam(policy.variables, { learningRate: 1e-3 });
  const rng = new Rng(0);
  let contexts = [[1], [1, 5], [1, 6, 7]];
  const round = () => {
    const observations = observe(contexts, 8);
    const { actions } = policy.act(observations, { rng });
    policy.value(observations);
    adam.step(() => {
      const e = policy.evaluate(
        tf.tensor2d(observations, [3, 8]),
        tf.tensor1d(actions as Int32Array, "int32"),
      );
      return { loss: tf.neg(tf.mean(tf.add(e.logProb, e.entropy))) as tf.Scalar };
    });
    contexts = contexts.map((c, i) => (c.length === 8 ? [1] : [...c, actions[i]!]));
  };
  round();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 8; i++) round();
  assert.equal(tf.memory().numTensors, before);
  policy.dispose();
});

Deno.test("malformed observations and options are refused with the reason", () => {
  const policy = makePolicy();
  const rng = new Rng(0);
  assert.throws(
    () => policy.act(Float32Array.from([1, 0, 4, 0, 0, 0, 0, 0]), { rng }),
    /Observation row 0 is not left-aligned: token 4 at position 2 follows <pad> at position 1/,
  );
  assert.throws(
    () => policy.act(new Float32Array(8), { rng }),
    /Observation row 0 is all <pad>: a context needs at least one token/,
  );
  assert.throws(
    () => policy.act(Float32Array.from([1, 20, 0, 0, 0, 0, 0, 0]), { rng }),
    /Observation row 0 has 20 at position 1, not a token id in \[0, 20\)/,
  );
  assert.throws(
    () => policy.act(new Float32Array(12), { rng }),
    /Expected a batch of observations of 8 tokens each, got 12 floats/,
  );
  assert.throws(
    () => policy.act(observe([[1]], 8)),
    /LmPolicy.act needs an rng unless deterministic/,
  );
  assert.throws(
    () => new LmPolicy(new GruLanguageModel(5, { valueHead: false }), { contextLength: 4 }),
    /LmPolicy needs a model with a value head/,
  );
  policy.dispose();
});

Deno.test("PPO trains a language model through LmPolicy to say the rewarded token", async () => {
  // A token env: the context starts as <bos>; each action appends a token; token 5 pays 1; the
  // episode ends at <eos> (2) or when the context is full. A uniform policy scores about 0.6.
  const V = 8, C = 6;
  const policy = new LmPolicy(
    new GruLanguageModel(V, { embeddingSize: 8, hiddenSize: 16, seed: 1 }),
    { contextLength: C },
  );
  const ppo = new Ppo(
    { makeEnv: () => sayFiveEnv(V, C), numEnvs: 4, seed: 1, totalTimesteps: 3072, policy },
    { numSteps: 64, learningRate: 3e-3 },
  );
  const returns: number[] = [];
  while (!ppo.done) {
    const { metrics } = await ppo.iterate();
    returns.push(metrics["charts/episodic_return"] ?? NaN);
  }
  assert.ok(returns[0]! < 1.5, `first return ${returns[0]}`);
  assert.ok(returns.at(-1)! > 4, `last return ${returns.at(-1)} (max 5)`);
  // Most rollout steps advanced the cache by one token instead of re-reading the context.
  const stats = policy.cacheStats;
  assert.ok(stats.advanced > 2 * stats.recomputed, JSON.stringify(stats));
  ppo.dispose();
});
