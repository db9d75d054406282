// PPO's math against numbers worked out by hand (the working is in the comments), a full
// gradient step on the WASM backend, where gather's gradient has no kernel, and every gradient
// engine pinned to the reference: autodiff through ppoLoss (ppoGradient).
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  computeGae,
  type Minibatch,
  ppoGradient,
  ppoLoss,
  type PpoLossOptions,
  ppoLossValue,
} from "@proximal/algos";
import { Adam, Box, Discrete, Rng, setupBackend, type Space } from "@proximal/core";
import { MlpPolicy } from "@proximal/models";
// The engines are private; their gradients can only be compared from here.
import {
  actorHalf,
  criticHalf,
  mlpGradient,
  paramSizes,
  sumShares,
} from "../algos/_ppo_mlp_engine.ts";
import { packedGradient, packedValues } from "../algos/_ppo_packed_engine.ts";
import { flatActor } from "../algos/_ppo_flat_actor.ts";
import { directForward, directGradient } from "../algos/_ppo_direct_engine.ts";
import { fastTanh, jsKernels, wasmKernels } from "../algos/_ppo_kernel.ts";
import { FlatWeights } from "../algos/_ppo_engine.ts";
import { rowRange } from "../algos/_lm_gradient_parts.ts";
import { close } from "./_assert.ts";

await setupBackend("wasm");

Deno.test("GAE matches hand-worked advantages across an episode end, for two interleaved envs", () => {
  // γ = 0.9, λ = 0.8, T = 3, time-major layout [t0e0, t0e1, t1e0, t1e1, t2e0, t2e1].
  // Env 0: r = [1, 2, 3], V = [0.5, 1, 1.5], episode ends at t = 1, V(after) = 2.
  //   t2: δ = 3 + 0.9·2 − 1.5 = 3.3;            A = 3.3
  //   t1: ended → δ = 2 − 1 = 1;                 A = 1
  //   t0: δ = 1 + 0.9·1 − 0.5 = 1.4;            A = 1.4 + 0.72·1 = 2.12
  // Env 1: r = [0, 0, 1], V = 0, episode ends at t = 2, V(after) = 5 (ignored: it ended).
  //   t2: δ = 1;  t1: A = 0 + 0.72·1 = 0.72;  t0: A = 0.72·0.72 = 0.5184
  const { advantages, returns } = computeGae(
    {
      rewards: Float32Array.from([1, 0, 2, 0, 3, 1]),
      values: Float32Array.from([0.5, 0, 1, 0, 1.5, 0]),
      ended: Uint8Array.from([0, 0, 1, 0, 0, 1]),
      lastValues: Float32Array.from([2, 5]),
    },
    { gamma: 0.9, lambda: 0.8 },
  );
  close(advantages, [2.12, 0.5184, 1, 0.72, 3.3, 1]);
  close(returns, [2.62, 0.5184, 2, 0.72, 4.8, 1]);
});

Deno.test("GAE with λ = 1 and γ = 1 is the Monte Carlo return minus the value", () => {
  // r = [1, 1, 1], V = [0.5, 0.5, 0.5], bootstrapped V(after) = 10: returns are 13, 12, 11.
  const { returns } = computeGae(
    {
      rewards: Float32Array.from([1, 1, 1]),
      values: Float32Array.from([0.5, 0.5, 0.5]),
      ended: new Uint8Array(3),
      lastValues: Float32Array.from([10]),
    },
    { gamma: 1, lambda: 1 },
  );
  close(returns, [13, 12, 11]);
});

Deno.test("the clipped surrogate, clipped value loss, KL estimates and clip fraction match hand numbers", () => {
  // ratio = [1.5, 0.5], A = [1, −1], ε = 0.2:
  //   −A·r = [−1.5, 0.5]; −A·clip(r) = [−1.2, 0.8]; max → [−1.2, 0.8]; mean = −0.2
  // log r = [0.405465, −0.693147]: old KL = mean(−log r) = 0.143841;
  //   new KL = mean((r − 1) − log r) = (0.094535 + 0.193147) / 2 = 0.143841; clipfrac = 1
  // V_new = [1, 2], V_old = [0.5, 2.5], R = [2, 1]:
  //   unclipped (V − R)² = [1, 1]; clipped V = [0.7, 2.3] → (V − R)² = [1.69, 1.69]
  //   value loss = ½·mean(max) = 0.845 (0.5 unclipped)
  // entropy mean = 0.7; loss = −0.2 − 0.01·0.7 + 0.5·0.845 = 0.2155; + 0.5·KL = 0.2874205
  const terms = (clipVloss: boolean, klCoef: number) =>
    tf.tidy(() => {
      const t = ppoLoss({
        newLogProb: tf.tensor1d([Math.log(1.5), Math.log(0.5)]),
        oldLogProb: tf.tensor1d([0, 0]),
        entropy: tf.tensor1d([0.6, 0.8]),
        newValue: tf.tensor1d([1, 2]),
        oldValue: tf.tensor1d([0.5, 2.5]),
        advantages: tf.tensor1d([1, -1]),
        returns: tf.tensor1d([2, 1]),
      }, { clipCoef: 0.2, clipVloss, entCoef: 0.01, vfCoef: 0.5, klCoef });
      return [t.loss, t.policyLoss, t.valueLoss, t.entropy, t.oldApproxKl, t.approxKl, t.clipfrac]
        .map((x) => x.dataSync()[0]!);
    });
  close(terms(true, 0), [0.2155, -0.2, 0.845, 0.7, 0.143841, 0.143841, 1]);
  close(terms(true, 0.5), [0.2874205, -0.2, 0.845, 0.7, 0.143841, 0.143841, 1]);
  // Unclipped value loss: ½·mean([1, 1]) = 0.5; loss = −0.2 − 0.007 + 0.25 = 0.043
  close(terms(false, 0).slice(0, 3), [0.043, -0.2, 0.5]);
});

Deno.test("Adam follows PyTorch's update rule and clips the global gradient norm", () => {
  // loss = w², w₀ = 1, lr = 0.1, ε = 1e-8. Step 1: g = 2, m = 0.2, v = 0.004,
  //   m̂ = 2, v̂ = 4 → w = 1 − 0.1·2/2 = 0.9.
  // Step 2: g = 1.8, m = 0.36, v = 0.007236, m̂ = 0.36/0.19 = 1.894737,
  //   √v̂ = √(0.007236/0.001999) = 1.902580 → w = 0.9 − 0.1·0.995878 = 0.800412.
  const w = tf.variable(tf.scalar(1));
  const adam = new Adam([w], { learningRate: 0.1, epsilon: 1e-8, maxGradNorm: 0 });
  const loss = () => ({ loss: tf.square(w) as tf.Scalar });
  const first = adam.step(loss);
  assert.equal(first.gradNorm, 2);
  close(w.dataSync(), [0.9]);
  adam.step(loss);
  close(w.dataSync(), [0.800412]);
  // With maxGradNorm 1 the gradient 2 becomes 2·1/(2 + 1e-6) ≈ 1, so m = 0.1·1 = 0.1.
  const u = tf.variable(tf.scalar(1));
  const clipped = new Adam([u], { learningRate: 0.1, maxGradNorm: 1 });
  clipped.step(() => ({ loss: tf.square(u) as tf.Scalar }));
  close(clipped.getState().m.data, [0.1]);
  w.dispose();
  u.dispose();
});

Deno.test("a full gradient step of the MLP policy runs on the WASM backend for discrete and Box actions", () => {
  assert.equal(tf.getBackend(), "wasm");
  const obsSpace = new Box({ low: -1, high: 1, shape: [3] });
  for (const actionSpace of [new Discrete(4), new Box({ low: -1, high: 1, shape: [2] })]) {
    const policy = new MlpPolicy(obsSpace, actionSpace, { seed: 3 });
    const before = policy.variables.map((v) => v.dataSync().slice());
    const adam = new Adam(policy.variables, { learningRate: 1e-2 });
    const rng = new Rng(0);
    const obs = Float32Array.from({ length: 8 * 3 }, () => rng.range(-1, 1));
    const { actions, logProbs } = policy.act(obs, { rng });
    const { loss } = adam.step(() => {
      const x = tf.tensor2d(obs, [8, 3]);
      const a = actionSpace.kind === "discrete"
        ? tf.tensor1d(actions as Int32Array, "int32")
        : tf.tensor2d(actions as Float32Array, [8, 2]);
      const { logProb, entropy, value } = policy.evaluate(x, a);
      // evaluate() and act() must agree on the log-probs of the sampled actions.
      close(logProb.dataSync(), Array.from(logProbs), 1e-4);
      return { loss: tf.sum(tf.add(tf.neg(logProb), tf.add(tf.square(value), entropy))) };
    });
    assert.ok(Number.isFinite(loss));
    policy.variables.forEach((v, i) => {
      const after = v.dataSync();
      assert.ok(after.every(Number.isFinite));
      if (v.size > 1 || actionSpace.kind === "box") {
        assert.ok(after.some((x, j) => x !== before[i]![j]), `variable ${v.name} did not change`);
      }
    });
    policy.dispose();
  }
});

Deno.test("orthogonal initialisation gives orthogonal hidden weights with gain √2", () => {
  const policy = new MlpPolicy(new Box({ low: -1, high: 1, shape: [64] }), new Discrete(2), {
    seed: 1,
  });
  // The 64 × 64 second layer: WᵀW = 2·I.
  const w = policy.variables[2]!;
  assert.deepEqual(w.shape, [64, 64]);
  const gram = tf.tidy(() => tf.matMul(w, w, true, false).dataSync());
  for (let i = 0; i < 64; i++) {
    for (let j = 0; j < 64; j++) {
      assert.ok(Math.abs(gram[i * 64 + j]! - (i === j ? 2 : 0)) < 1e-4);
    }
  }
  policy.dispose();
});

Deno.test("building and disposing an MLP policy leaves no tensors behind", () => {
  const before = tf.memory().numTensors;
  const space = new Box({ low: -1, high: 1, shape: [3] });
  new MlpPolicy(space, new Discrete(2), { seed: 1 }).dispose();
  new MlpPolicy(space, new Box({ low: -1, high: 1, shape: [2] }), { seed: 1 }).dispose();
  assert.equal(tf.memory().numTensors, before);
});

/** The MLP's outputs in plain JavaScript with Math.tanh: the layers' weights read back, row-major. */
function mlpByHand(
  weights: { w: Float32Array; b: Float32Array; inSize: number; outSize: number }[],
  x: number[],
): number[] {
  let h = x;
  weights.forEach(({ w, b, inSize, outSize }, i) => {
    const z = Array.from({ length: outSize }, (_, c) => {
      let sum = b[c]!;
      for (let r = 0; r < inSize; r++) sum += h[r]! * w[r * outSize + c]!;
      return sum;
    });
    h = i < weights.length - 1 ? z.map(Math.tanh) : z;
  });
  return h;
}

Deno.test("acting on folded weights gives the tanh MLP's logits and values, and follows new weights", () => {
  const space = new Box({ low: -5, high: 5, shape: [3] });
  const policy = new MlpPolicy(space, new Discrete(2), { seed: 3, hiddenSizes: [5, 4] });
  const observations = Float32Array.from([0.3, -1.2, 2, 1.5, 0.1, -0.7]);
  const byHand = (layers: readonly tf.Variable[]) => {
    const weights: Parameters<typeof mlpByHand>[0] = [];
    for (let i = 0; i < layers.length; i += 2) {
      const [inSize, outSize] = layers[i]!.shape as [number, number];
      const w = layers[i]!.dataSync() as Float32Array,
        b = layers[i + 1]!.dataSync() as Float32Array;
      weights.push({ w, b, inSize, outSize });
    }
    return [0, 1].map((row) =>
      mlpByHand(weights, Array.from(observations.slice(3 * row, 3 * row + 3)))
    );
  };
  const check = () => {
    const logits = byHand(policy.actorVariables), values = byHand(policy.criticVariables);
    // Inside a tidy, as a caller may be: the folded weights must outlive it.
    let acted: ReturnType<MlpPolicy["act"]> | null = null;
    tf.tidy(() => {
      acted = policy.act(observations, { deterministic: true });
    });
    const { actions, logProbs, values: got } = acted!;
    for (let row = 0; row < 2; row++) {
      const [a, b] = logits[row]!;
      const best = a! >= b! ? 0 : 1;
      const logZ = Math.log(Math.exp(a!) + Math.exp(b!));
      assert.equal(actions[row], best);
      close([logProbs[row]!, got[row]!], [logits[row]![best]! - logZ, values[row]![0]!]);
    }
    close(policy.value(observations), values.map((v) => v[0]!));
  };
  check();
  const tensors = tf.memory().numTensors;
  check();
  assert.equal(tf.memory().numTensors, tensors, "acting twice on the same weights adds no tensors");
  // New weights (as an optimiser step assigns them) must be picked up, not the cached fold.
  for (const v of policy.variables) {
    tf.tidy(() => v.assign(tf.add(v, tf.randomNormal(v.shape, 0, 0.5, "float32", 7))));
  }
  check();
  assert.equal(tf.memory().numTensors, tensors, "refolding frees the old folded weights");
  policy.dispose();
});

/** A policy and a minibatch whose old log-probs and values are spread so that some ratios and values leave the clip range. */
function engineCase(space: Space, seed: number, hiddenSizes: number[] = [8, 8]) {
  const obsSpace = new Box({ low: -1, high: 1, shape: [3] });
  const policy = new MlpPolicy(obsSpace, space, { seed, hiddenSizes });
  const rng = new Rng(seed), n = 16;
  const observations = Float32Array.from({ length: n * 3 }, () => rng.range(-1, 1));
  const acted = policy.act(observations, { rng });
  const minibatch: Minibatch = {
    observations,
    actions: acted.actions,
    logProbs: acted.logProbs.map((lp) => lp + 0.4 * rng.normal()),
    values: acted.values.map((v) => v + 0.3 * rng.normal()),
    advantages: Float32Array.from({ length: n }, () => rng.normal()),
    returns: Float32Array.from({ length: n }, () => rng.normal()),
  };
  return { policy, minibatch, n };
}

const ENGINE_CASES: { name: string; space: Space; loss: PpoLossOptions }[] = [
  {
    name: "discrete, clipped value loss",
    space: new Discrete(3),
    loss: { clipCoef: 0.2, clipVloss: true, entCoef: 0.05, vfCoef: 0.5, klCoef: 0 },
  },
  {
    name: "discrete, unclipped value loss, KL penalty",
    space: new Discrete(2),
    loss: { clipCoef: 0.2, clipVloss: false, entCoef: 0.05, vfCoef: 0.5, klCoef: 0.3 },
  },
  {
    name: "Gaussian, clipped value loss, KL penalty",
    space: new Box({ low: -1, high: 1, shape: [2] }),
    loss: { clipCoef: 0.2, clipVloss: true, entCoef: 0.05, vfCoef: 0.5, klCoef: 0.3 },
  },
  {
    name: "Gaussian, unclipped value loss",
    space: new Box({ low: -1, high: 1, shape: [2] }),
    loss: { clipCoef: 0.2, clipVloss: false, entCoef: 0.05, vfCoef: 0.5, klCoef: 0 },
  },
];

const TERMS = [
  "policyLoss",
  "valueLoss",
  "entropy",
  "oldApproxKl",
  "approxKl",
  "clipfrac",
] as const;

Deno.test("the closed-form MLP engine matches autodiff through ppoLoss within 1e-5 (discrete and Gaussian, clipVloss on and off, KL penalty, entropy)", () => {
  for (const { name, space, loss } of ENGINE_CASES) {
    const before = tf.memory().numTensors;
    const { policy, minibatch } = engineCase(space, 5);
    const reference = ppoGradient(policy, minibatch, loss);
    const fast = mlpGradient(policy)(minibatch, loss);
    const clipfrac = reference.terms.clipfrac;
    assert.ok(clipfrac > 0 && clipfrac < 1, `${name}: clip fraction ${clipfrac}, no mixed case`);
    close(fast.grad, Array.from(reference.grad), 1e-5);
    close(TERMS.map((t) => fast.terms[t]), TERMS.map((t) => reference.terms[t]), 1e-5);
    // Every part of the policy gets a gradient (actor, critic, and the log-std of a Gaussian).
    let offset = 0;
    for (const v of policy.variables) {
      const part = reference.grad.subarray(offset, offset += v.size);
      assert.ok(part.some((g) => Math.abs(g) > 1e-4), `${name}: no gradient for ${v.name}`);
    }
    policy.dispose();
    assert.equal(tf.memory().numTensors, before);
  }
});

Deno.test("the packed engine, from flat weights, matches autodiff through ppoLoss within 1e-5, and its values the policy's (every engine case; 0 to 3 hidden layers)", () => {
  const depths = [[8, 8], [], [5], [6, 7, 5]];
  for (const [c, { name, space, loss }] of ENGINE_CASES.entries()) {
    for (const hidden of c === 0 ? depths : [[8, 8]]) {
      const before = tf.memory().numTensors;
      const { policy, minibatch } = engineCase(space, 5, hidden);
      const reference = ppoGradient(policy, minibatch, loss);
      const weights = new FlatWeights(policy.variables);
      const packed = packedGradient(policy, () => weights.values)(minibatch, loss);
      const values = packedValues(policy, () => weights.values)(minibatch.observations);
      close(values, Array.from(policy.value(minibatch.observations)), 1e-5);
      close(packed.grad, Array.from(reference.grad), 1e-5);
      close(TERMS.map((t) => packed.terms[t]), TERMS.map((t) => reference.terms[t]), 1e-5);
      assert.ok(reference.grad.some((g) => Math.abs(g) > 1e-3), `${name}: a vanishing gradient`);
      policy.dispose();
      assert.equal(tf.memory().numTensors, before, `${name}, hidden [${hidden}]: tensors leaked`);
    }
  }
});

Deno.test("the packed engine reads the flat weights it is given, not the policy's variables", () => {
  const { policy, minibatch } = engineCase(new Discrete(3), 5);
  const loss = ENGINE_CASES[0]!.loss;
  const weights = new FlatWeights(policy.variables), flat = weights.values.slice();
  for (let i = 0; i < flat.length; i++) flat[i] = flat[i]! * 1.5;
  const packed = packedGradient(policy, () => flat)(minibatch, loss);
  // The reference at those weights: load them into the variables first.
  weights.values.set(flat);
  weights.load();
  close(packed.grad, Array.from(ppoGradient(policy, minibatch, loss).grad), 1e-5);
  assert.throws(
    () => packedGradient(policy, () => flat.subarray(1))(minibatch, loss),
    /Packed PPO engine: expected \d+ flat weights/,
  );
  policy.dispose();
});

Deno.test("the packed engine's rollout actor samples as MlpPolicy.act does, from the flat weights it is given", () => {
  const { policy } = engineCase(new Discrete(3), 11, [8, 8]);
  const weights = new FlatWeights(policy.variables), flat = weights.values.slice();
  for (let i = 0; i < flat.length; i++) flat[i] = flat[i]! * 1.5;
  const actor = flatActor(policy, () => flat);
  const rng = new Rng(2), observations = Float32Array.from({ length: 64 * 3 }, () => rng.normal());
  const mine = actor.act(observations, { rng: new Rng(3), values: false });
  weights.values.set(flat);
  weights.load();
  const theirs = policy.act(observations, { rng: new Rng(3), values: false });
  assert.deepEqual(Array.from(mine.actions), Array.from(theirs.actions));
  assert.ok(new Set(mine.actions).size === 3, "every action drawn somewhere");
  close(mine.logProbs, Array.from(theirs.logProbs), 1e-5);
  // Its values: the packed engine's forward pass from the flat weights.
  close(actor.value(observations), Array.from(policy.value(observations)), 1e-5);
  policy.dispose();
});

Deno.test("the direct engine, from flat weights, matches autodiff through ppoLoss within 1e-5 with either kernel, and its values the policy's (every engine case; 0 to 3 hidden layers)", () => {
  const depths = [[8, 8], [], [5], [6, 7, 5]];
  for (const [c, { name, space, loss }] of ENGINE_CASES.entries()) {
    for (const hidden of c === 0 ? depths : [[8, 8]]) {
      const before = tf.memory().numTensors;
      const { policy, minibatch } = engineCase(space, 5, hidden);
      const reference = ppoGradient(policy, minibatch, loss);
      const weights = new FlatWeights(policy.variables), flat = () => weights.values;
      const values = directForward(policy, flat, { network: "critic" })(minibatch.observations);
      close(values, Array.from(policy.value(minibatch.observations)), 1e-5);
      for (const kernel of ["wasm", "js"] as const) {
        const direct = directGradient(policy, flat, { kernel });
        // Twice: the second call reuses the engine's memory as laid out by the first.
        for (const result of [direct(minibatch, loss), direct(minibatch, loss)]) {
          close(result.grad, Array.from(reference.grad), 1e-5);
          close(TERMS.map((t) => result.terms[t]), TERMS.map((t) => reference.terms[t]), 1e-5);
        }
      }
      assert.ok(reference.grad.some((g) => Math.abs(g) > 1e-3), `${name}: a vanishing gradient`);
      policy.dispose();
      assert.equal(tf.memory().numTensors, before, `${name}, hidden [${hidden}]: tensors leaked`);
    }
  }
});

Deno.test("the direct engine's memory serves minibatches of other sizes: fewer rows leave no trace of more", () => {
  const { policy, minibatch } = engineCase(new Discrete(3), 5);
  const loss = ENGINE_CASES[0]!.loss;
  const weights = new FlatWeights(policy.variables);
  const direct = directGradient(policy, () => weights.values);
  // 16 rows, then 13 (padded to the same 16 in the engine's layout), then 16 again.
  for (const rows of [16, 13, 16]) {
    const part = rowRange(minibatch, { start: 0, end: rows });
    close(direct(part, loss).grad, Array.from(ppoGradient(policy, part, loss).grad), 1e-5);
  }
  assert.throws(
    () => directGradient(policy, () => weights.values.subarray(1))(minibatch, loss),
    /Direct PPO engine: expected \d+ flat weights/,
  );
  policy.dispose();
});

Deno.test("the WebAssembly SIMD kernel computes A·B (A stored or transposed) as the JavaScript loop does to the bit, and as worked by hand", () => {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const heap = () => new Float32Array(memory.buffer as ArrayBuffer);
  const wasm = wasmKernels(memory)?.matMul;
  assert.ok(wasm, "WebAssembly SIMD is missing");
  const loop = jsKernels(heap).matMul;
  // A = [[1, 2], [3, 4], [5, 6], [7, 8]] (4 × 2, at 0), B = [[1, 0, 2, 0], [0, 1, 0, 3]] (2 × 4,
  // at byte 32): A·B = [[1, 2, 2, 6], [3, 4, 6, 12], [5, 6, 10, 18], [7, 8, 14, 24]].
  heap().set([1, 2, 3, 4, 5, 6, 7, 8, 1, 0, 2, 0, 0, 1, 0, 3]);
  const product = [1, 2, 2, 6, 3, 4, 6, 12, 5, 6, 10, 18, 7, 8, 14, 24];
  for (const kernel of [wasm, loop]) {
    heap().fill(0, 16);
    kernel(64, { a: 0, b: 32, rows: 4, inner: 2, cols: 4, aRow: 2, aInner: 1 });
    assert.deepEqual(Array.from(heap().subarray(16, 32)), product);
  }
  // Aᵀ·B with A = the first 2 × 4 floats read down the columns: Aᵀ = [[1, 5], [2, 6], [3, 7],
  // [4, 8]] (strides 1 and 4), times the same B: [[1, 5, 2, 15], [2, 6, 4, 18], [3, 7, 6, 21],
  // [4, 8, 8, 24]].
  for (const kernel of [wasm, loop]) {
    kernel(64, { a: 0, b: 32, rows: 4, inner: 2, cols: 4, aRow: 1, aInner: 4 });
    assert.deepEqual(
      Array.from(heap().subarray(16, 32)),
      [1, 5, 2, 15, 2, 6, 4, 18, 3, 7, 6, 21, 4, 8, 8, 24],
    );
  }
  // Random 8 × 13 by 13 × 12 (A transposed through its strides): the same floats, bit for bit.
  const rng = new Rng(3), [rows, inner, cols] = [8, 13, 12];
  const b = rows * inner * 4, out = b + inner * cols * 4, out2 = out + rows * cols * 4;
  heap().set(Float32Array.from({ length: (rows + cols) * inner }, () => rng.normal()));
  wasm(out, { a: 0, b, rows, inner, cols, aRow: 1, aInner: rows });
  loop(out2, { a: 0, b, rows, inner, cols, aRow: 1, aInner: rows });
  const m = heap(), at = out >> 2, at2 = out2 >> 2;
  assert.deepEqual(m.subarray(at, at + rows * cols), m.subarray(at2, at2 + rows * cols));
  assert.ok(m.subarray(at, at + rows * cols).every((x) => x !== 0));
});

Deno.test("the SIMD tanh and tanh-gradient kernels agree with the JavaScript ones and hand numbers", () => {
  const memory = new WebAssembly.Memory({ initial: 1 });
  const heap = () => new Float32Array(memory.buffer as ArrayBuffer);
  const wasm = wasmKernels(memory)!, loop = jsKernels(heap);
  const xs = Float32Array.from({ length: 64 }, (_, i) => (i - 32) / 3);
  for (const kernels of [wasm, loop]) {
    heap().set(xs);
    kernels.tanh(0, 64);
    close(heap().subarray(0, 64), Array.from(xs, Math.tanh), 1e-6);
    // d·(1 − h²): d = [2, 3, 1, 1], h = [0.5, 1, 0, −0.5] → [1.5, 0, 1, 0.75].
    heap().set([2, 3, 1, 1, 0.5, 1, 0, -0.5]);
    kernels.tanhGrad(0, { h: 16, count: 4 });
    assert.deepEqual(Array.from(heap().subarray(0, 4)), [1.5, 0, 1, 0.75]);
  }
});

Deno.test("fastTanh is tanh within 3e-7: hand values, oddness, saturation", () => {
  // tanh(0.5) = 0.462117157…, tanh(-2) = -0.964027580…, tanh(1e-3) = 9.99999667e-4, tanh(±30) = ±1.
  close([fastTanh(0.5), fastTanh(-2), fastTanh(1e-3), fastTanh(30), fastTanh(-30), fastTanh(0)], [
    0.46211715726,
    -0.96402758008,
    9.99999667e-4,
    1,
    -1,
    0,
  ], 3e-7);
  for (let x = -10; x <= 10; x += 0.001) {
    assert.ok(Math.abs(fastTanh(x) - Math.tanh(x)) <= 3e-7, `fastTanh(${x})`);
    assert.equal(fastTanh(-x), -fastTanh(x));
  }
});

Deno.test("the direct engine's rollout actor (its forward passes, batched) samples as MlpPolicy.act does", () => {
  const { policy } = engineCase(new Discrete(3), 11, [8, 8]);
  const weights = new FlatWeights(policy.variables), flat = () => weights.values;
  const actor = flatActor(policy, flat, {
    logits: directForward(policy, flat, { network: "actor" }),
    values: directForward(policy, flat, { network: "critic" }),
  });
  const rng = new Rng(2), observations = Float32Array.from({ length: 64 * 3 }, () => rng.normal());
  const mine = actor.act(observations, { rng: new Rng(3), values: false });
  const theirs = policy.act(observations, { rng: new Rng(3), values: false });
  assert.deepEqual(Array.from(mine.actions), Array.from(theirs.actions));
  close(mine.logProbs, Array.from(theirs.logProbs), 1e-5);
  close(actor.value(observations), Array.from(policy.value(observations)), 1e-5);
  policy.dispose();
});

Deno.test("a shard's share (minibatchRows) and the workers' summed shares match autodiff through ppoLoss within 1e-5", () => {
  for (const { name, space, loss } of ENGINE_CASES) {
    const { policy, minibatch, n } = engineCase(space, 7);
    // The workers' layout: each shard's share is its actor half, then its critic half.
    const bounds = [0, 5, 16];
    const shares = bounds.slice(1).map((to, s) => {
      const rows = rowRange(minibatch, { start: bounds[s]!, end: to }),
        share = { ...loss, minibatchRows: n };
      const a = actorHalf(policy, rows, share), c = criticHalf(policy, rows, share);
      const joined = new Float32Array(a.length + c.length);
      joined.set(a);
      joined.set(c, a.length);
      // One share alone: its rows' part of the mean, (rows / n) × the loss's gradient on them.
      const own = ppoGradient(policy, rows, loss), weight = (to - bounds[s]!) / n;
      const alone = sumShares([joined], paramSizes(policy));
      close(alone.grad, Array.from(own.grad, (g) => g * weight), 1e-5);
      close([alone.terms.valueLoss], [own.terms.valueLoss * weight], 1e-5);
      return joined;
    });
    const summed = sumShares(shares, paramSizes(policy));
    const reference = ppoGradient(policy, minibatch, loss);
    close(summed.grad, Array.from(reference.grad), 1e-5);
    close(TERMS.map((t) => summed.terms[t]), TERMS.map((t) => reference.terms[t]), 1e-5);
    assert.ok(reference.grad.some((g) => Math.abs(g) > 1e-3), `${name}: a vanishing gradient`);
    policy.dispose();
  }
});

Deno.test("ppoLossValue, ppoLoss's scalar form, equals ppoLoss's loss", () => {
  const { policy, minibatch } = engineCase(new Discrete(3), 9);
  for (const { loss } of ENGINE_CASES) {
    const total = tf.tidy(() => {
      const { logProb, entropy, value } = policy.evaluate(
        tf.tensor2d(minibatch.observations, [16, 3]),
        tf.tensor1d(minibatch.actions as Int32Array, "int32"),
      );
      return ppoLoss({
        newLogProb: logProb,
        entropy,
        newValue: value,
        oldLogProb: tf.tensor1d(minibatch.logProbs),
        oldValue: tf.tensor1d(minibatch.values),
        advantages: tf.tensor1d(minibatch.advantages),
        returns: tf.tensor1d(minibatch.returns),
      }, loss).loss.dataSync()[0]!;
    });
    const { terms } = ppoGradient(policy, minibatch, loss);
    close([ppoLossValue(terms, loss)], [total], 1e-6);
  }
  policy.dispose();
});
