/**
 * Env wrappers: the running statistics against formulas worked out directly, reward scaling by
 * the discounted return's std, exact save/restore through getState/setState, frozen pooled
 * statistics for evaluation, and the env's own return reported through a reward scaler.
 */
import assert from "node:assert/strict";
import { Box, type Env, VectorEnv } from "@proximal/core";
import {
  CartPole,
  NormalizeObservation,
  NormalizeReward,
  RescaleAction,
  RunningMeanStd,
  withWrappers,
} from "@proximal/envs";

/** Mean and variance of the samples pooled with Gymnasium's prior (mass 1e-4, mean 0, var 1). */
function withPrior(xs: number[]): { mean: number; variance: number } {
  const eps = 1e-4, n = xs.length;
  const mean = xs.reduce((a, b) => a + b, 0) / (n + eps);
  const m2 = eps * 1 + eps * mean * mean + xs.reduce((a, x) => a + (x - mean) ** 2, 0);
  return { mean, variance: m2 / (n + eps) };
}

/** A 1-d env paying `reward` each step, observing the step count, ending after `length`. */
function counter(reward: number, length: number): Env {
  let t = 0;
  return {
    observationSpace: new Box({ low: -Infinity, high: Infinity, shape: [1] }),
    actionSpace: new Box({ low: -3, high: 5, shape: [1] }),
    reset: () => {
      t = 0;
      return { observation: Float32Array.of(0), info: {} };
    },
    step: () => {
      t++;
      return {
        observation: Float32Array.of(t),
        reward,
        terminated: t >= length,
        truncated: false,
        info: {},
      };
    },
  };
}

Deno.test("RunningMeanStd matches the mean and variance of its samples with the prior", () => {
  const xs = [3, -1, 4, 1, -5, 9, 2, 6];
  const rms = new RunningMeanStd(1);
  for (const x of xs) rms.update([x]);
  const expected = withPrior(xs);
  assert.ok(Math.abs(rms.mean[0]! - expected.mean) < 1e-12);
  assert.ok(Math.abs(rms.var[0]! - expected.variance) < 1e-12);
  // Pooling two halves gives the same as one pass (the prior counted twice, 1e-4 more mass).
  const a = new RunningMeanStd(1), b = new RunningMeanStd(1);
  xs.slice(0, 4).forEach((x) => a.update([x]));
  xs.slice(4).forEach((x) => b.update([x]));
  a.merge(b.getState());
  assert.ok(Math.abs(a.mean[0]! - rms.mean[0]!) < 1e-4);
  assert.ok(Math.abs(a.var[0]! - rms.var[0]!) < 1e-3);
});

Deno.test("NormalizeObservation centres and scales by the running statistics", () => {
  const env = new NormalizeObservation(counter(1, 100), { clip: 0 });
  const seen = [0];
  env.reset();
  let out = env.step(Float32Array.of(0));
  seen.push(1);
  out = env.step(Float32Array.of(0));
  seen.push(2);
  const { mean, variance } = withPrior(seen);
  assert.ok(Math.abs(out.observation[0]! - (2 - mean) / Math.sqrt(variance + 1e-8)) < 1e-6);
});

Deno.test("NormalizeReward divides by the std of the discounted return and clips", () => {
  const gamma = 0.5;
  const env = new NormalizeReward(counter(2, 100), { gamma, clip: 0 });
  env.reset();
  const returns: number[] = [];
  let g = 0;
  for (let t = 0; t < 5; t++) {
    g = g * gamma + 2;
    returns.push(g);
    const { reward } = env.step(Float32Array.of(0));
    const expected = 2 / Math.sqrt(withPrior(returns).variance + 1e-8);
    assert.ok(Math.abs(reward - expected) < 1e-9, `step ${t}: ${reward} vs ${expected}`);
  }
  const clipped = new NormalizeReward(counter(1e6, 100), { clip: 10 });
  clipped.reset();
  assert.equal(clipped.step(Float32Array.of(0)).reward, 10);
});

Deno.test("a reward scaler reports the env's own return to VectorEnv", () => {
  const { makeEnv } = withWrappers(() => new CartPole(), ["normalize-obs", "normalize-reward"]);
  const envs = new VectorEnv(makeEnv, { numEnvs: 2, seed: 3 });
  envs.reset();
  const episodes = [];
  for (let t = 0; t < 200 && episodes.length < 2; t++) {
    episodes.push(...envs.step(Int32Array.of(t % 2, 0)).episodes);
  }
  assert.ok(episodes.length >= 2);
  // CartPole pays 1 per step, so the true return is the length (the scaled rewards are not 1).
  for (const e of episodes) assert.equal(e.return, e.length);
});

Deno.test("RescaleAction maps [-1, 1] onto the bounds", () => {
  let seen = NaN;
  const inner = counter(0, 10);
  const env = new RescaleAction({
    ...inner,
    step: (a) => (seen = (a as Float32Array)[0]!, inner.step(a)),
  });
  assert.equal(String(env.actionSpace), String(new Box({ low: -1, high: 1, shape: [1] })));
  env.step(Float32Array.of(-1));
  assert.equal(seen, -3);
  env.step(Float32Array.of(0.5));
  assert.equal(seen, 3);
});

Deno.test("wrapped envs save and restore to the same numbers", () => {
  const names = ["normalize-obs", "normalize-reward"];
  const a = withWrappers(() => new CartPole(), names).makeEnv();
  a.reset({ seed: 7 });
  for (let t = 0; t < 30; t++) if (a.step(t % 2).terminated) a.reset();
  const saved = JSON.parse(JSON.stringify(a.getState!()));
  const b = withWrappers(() => new CartPole(), names).makeEnv();
  b.reset({ seed: 99 });
  b.setState!(saved);
  for (let t = 0; t < 40; t++) {
    const x = a.step(t % 3 === 0 ? 1 : 0), y = b.step(t % 3 === 0 ? 1 : 0);
    assert.deepEqual(y, x, `step ${t}`);
    if (x.terminated || x.truncated) {
      assert.deepEqual(b.reset(), a.reset());
    }
  }
});

Deno.test("evaluation copies pool the training statistics and keep them frozen", () => {
  const wrapped = withWrappers(() => new CartPole(), ["normalize-obs", "normalize-reward"]);
  const train = [wrapped.makeEnv(), wrapped.makeEnv()] as NormalizeReward[];
  train.forEach((env, i) => {
    env.reset({ seed: i });
    for (let t = 0; t < 20 + 10 * i; t++) if (env.step(t % 2).terminated) env.reset();
  });
  const observers = train.map((env) => env.env as NormalizeObservation);
  const pooled = new RunningMeanStd(4);
  pooled.count = 0;
  for (const o of observers) pooled.merge(o.statistics.getState());

  const evaluation = wrapped.makeEvalEnv();
  assert.ok(evaluation instanceof NormalizeObservation, "no reward scaling in evaluation");
  assert.deepEqual(evaluation.statistics.getState(), pooled.getState());
  evaluation.reset({ seed: 5 });
  for (let t = 0; t < 10; t++) {
    const out = evaluation.step(t % 2);
    assert.equal(out.reward, 1, "the env's own reward");
  }
  assert.deepEqual(evaluation.statistics.getState(), pooled.getState(), "frozen");
});

Deno.test("withWrappers refuses an unknown name", () => {
  assert.throws(
    () => withWrappers(() => new CartPole(), ["normalise-obs"]),
    /Unknown wrapper "normalise-obs": choose from clip-action, rescale-action/,
  );
});
