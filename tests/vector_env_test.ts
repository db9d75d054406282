import assert from "node:assert/strict";
import {
  Box,
  Discrete,
  type Env,
  type ResetOptions,
  type StepResult,
  VectorEnv,
  type VectorStepResult,
} from "@proximal/core";
import { CartPole } from "@proximal/envs";

// ---------------------------------------------------------------------------------------------
// A scripted env. Copy `c` (numbered in creation order) runs episodes of a fixed length; at step
// t (1-based) of an episode it pays (c + 1) · t and observes [c, episode, t], where `episode`
// counts this copy's resets from 0. So an episode of length L has return (c + 1) · L(L + 1) / 2.
//
// The four copies used below, and how their episodes end:
//   copy 0: 2 steps, terminated                     return 1 · 3  = 3
//   copy 1: 3 steps, terminated                     return 2 · 6  = 12
//   copy 2: 4 steps, truncated (a time limit)       return 3 · 10 = 30
//   copy 3: 5 steps, terminated AND truncated       return 4 · 15 = 60
// ---------------------------------------------------------------------------------------------

type Ending = "terminated" | "truncated" | "both";

interface Script {
  length: number;
  ending: Ending;
}

const SCRIPTS: readonly Script[] = [
  { length: 2, ending: "terminated" },
  { length: 3, ending: "terminated" },
  { length: 4, ending: "truncated" },
  { length: 5, ending: "both" },
];

/** What every copy saw: the seed of each reset and each action. */
interface Log {
  resetSeeds: (number | undefined)[][];
  actions: number[][];
}

function scriptedEnvs(scripts: readonly Script[] = SCRIPTS): { makeEnv: () => Env; log: Log } {
  const log: Log = { resetSeeds: [], actions: [] };
  let created = 0;
  function makeEnv(): Env {
    const c = created++;
    const { length, ending } = scripts[c]!;
    const seeds: (number | undefined)[] = [];
    const actions: number[] = [];
    log.resetSeeds.push(seeds);
    log.actions.push(actions);
    let episode = -1;
    let t = 0;
    return {
      observationSpace: new Box({ low: 0, high: 100, shape: [3] }),
      actionSpace: new Discrete(2),
      reset(options?: ResetOptions) {
        seeds.push(options?.seed);
        episode++;
        t = 0;
        return { observation: new Float32Array([c, episode, 0]), info: {} };
      },
      step(action): StepResult<Float32Array> {
        actions.push(action as number);
        t++;
        const end = t === length;
        return {
          observation: new Float32Array([c, episode, t]),
          reward: (c + 1) * t,
          terminated: end && ending !== "truncated",
          truncated: end && ending !== "terminated",
          info: {},
        };
      },
    };
  }
  return { makeEnv, log };
}

/** Per-copy observations of a flat `numEnvs × 3` batch. */
function rows(observations: Float32Array): number[][] {
  const out: number[][] = [];
  for (let i = 0; i < observations.length; i += 3) {
    out.push(Array.from(observations.slice(i, i + 3)));
  }
  return out;
}

/** A plain copy of a step's results (the vector env reuses its arrays). */
function snapshot(result: VectorStepResult) {
  return {
    observations: rows(result.observations),
    rewards: Array.from(result.rewards),
    terminated: Array.from(result.terminated),
    truncated: Array.from(result.truncated),
    finalObservations: result.finalObservations.map((o) => (o === null ? null : Array.from(o))),
    episodes: result.episodes.map((e) => ({ ...e })),
  };
}

// ---------------------------------------------------------------------------------------------
// Auto-reset, flags and episode records, step by step
// ---------------------------------------------------------------------------------------------

Deno.test("vector env reset seeds copy i with seed + i and returns each copy's first observation", () => {
  const { makeEnv, log } = scriptedEnvs();
  const envs = new VectorEnv(makeEnv, { numEnvs: 4, seed: 10, name: "scripted" });
  assert.equal(envs.observationSize, 3);
  assert.equal(envs.actionSize, 1);
  assert.deepEqual(rows(envs.reset()), [[0, 0, 0], [1, 0, 0], [2, 0, 0], [3, 0, 0]]);
  assert.deepEqual(log.resetSeeds, [[10], [11], [12], [13]]);
});

Deno.test("vector env auto-resets each copy when its episode ends and reports what happened", () => {
  const { makeEnv, log } = scriptedEnvs();
  const envs = new VectorEnv(makeEnv, { numEnvs: 4, seed: 10, name: "scripted" });
  envs.reset();
  const step = (actions: number[]) => snapshot(envs.step(Int32Array.from(actions)));

  // Step 1: every copy at t = 1, nothing ends.
  assert.deepEqual(step([1, 0, 1, 0]), {
    observations: [[0, 0, 1], [1, 0, 1], [2, 0, 1], [3, 0, 1]],
    rewards: [1, 2, 3, 4],
    terminated: [0, 0, 0, 0],
    truncated: [0, 0, 0, 0],
    finalObservations: [null, null, null, null],
    episodes: [],
  });

  // Step 2: copy 0 terminates after 2 steps (return 1 + 2) and is reset into episode 1.
  assert.deepEqual(step([0, 1, 0, 1]), {
    observations: [[0, 1, 0], [1, 0, 2], [2, 0, 2], [3, 0, 2]],
    rewards: [2, 4, 6, 8],
    terminated: [1, 0, 0, 0],
    truncated: [0, 0, 0, 0],
    finalObservations: [[0, 0, 2], null, null, null],
    episodes: [{ envIndex: 0, return: 3, length: 2, truncated: false, info: {} }],
  });

  // Step 3: copy 1 terminates after 3 steps (return 2 · (1 + 2 + 3)); copy 0 starts over.
  assert.deepEqual(step([1, 1, 1, 1]), {
    observations: [[0, 1, 1], [1, 1, 0], [2, 0, 3], [3, 0, 3]],
    rewards: [1, 6, 9, 12],
    terminated: [0, 1, 0, 0],
    truncated: [0, 0, 0, 0],
    finalObservations: [null, [1, 0, 3], null, null],
    episodes: [{ envIndex: 1, return: 12, length: 3, truncated: false, info: {} }],
  });

  // Step 4: copy 0 terminates its second episode; copy 2 is truncated after 4 steps
  // (return 3 · (1 + 2 + 3 + 4)). Records come in copy order.
  assert.deepEqual(step([0, 0, 0, 0]), {
    observations: [[0, 2, 0], [1, 1, 1], [2, 1, 0], [3, 0, 4]],
    rewards: [2, 2, 12, 16],
    terminated: [1, 0, 0, 0],
    truncated: [0, 0, 1, 0],
    finalObservations: [[0, 1, 2], null, [2, 0, 4], null],
    episodes: [
      { envIndex: 0, return: 3, length: 2, truncated: false, info: {} },
      { envIndex: 2, return: 30, length: 4, truncated: true, info: {} },
    ],
  });

  // Step 5: copy 3 is terminated and truncated on the same step (return 4 · 15): that counts as
  // terminated only, so its value is not bootstrapped.
  assert.deepEqual(step([1, 0, 0, 1]), {
    observations: [[0, 2, 1], [1, 1, 2], [2, 1, 1], [3, 1, 0]],
    rewards: [1, 4, 3, 20],
    terminated: [0, 0, 0, 1],
    truncated: [0, 0, 0, 0],
    finalObservations: [null, null, null, [3, 0, 5]],
    episodes: [{ envIndex: 3, return: 60, length: 5, truncated: false, info: {} }],
  });

  // Only the first reset of each copy is seeded; auto-resets continue the copy's own stream.
  assert.deepEqual(log.resetSeeds, [
    [10, undefined, undefined],
    [11, undefined],
    [12, undefined],
    [13, undefined],
  ]);
  // Copy i received action i of each batch.
  assert.deepEqual(log.actions, [
    [1, 0, 1, 0, 1],
    [0, 1, 1, 0, 0],
    [1, 0, 1, 0, 0],
    [0, 1, 1, 0, 1],
  ]);
});

Deno.test("vector env keeps a final observation intact after later steps reuse the buffers", () => {
  const { makeEnv } = scriptedEnvs();
  const envs = new VectorEnv(makeEnv, { numEnvs: 4, name: "scripted" });
  envs.reset();
  envs.step(new Int32Array(4));
  const final = envs.step(new Int32Array(4)).finalObservations[0]!;
  envs.step(new Int32Array(4));
  envs.step(new Int32Array(4));
  assert.deepEqual(Array.from(final), [0, 0, 2]);
});

// ---------------------------------------------------------------------------------------------
// Checkpoint state
// ---------------------------------------------------------------------------------------------

/** A fixed, state-dependent action rule, so both runs choose the same actions. */
function cartpoleActions(observations: Float32Array, k: number): Int32Array {
  const actions = new Int32Array(observations.length / 4);
  for (let i = 0; i < actions.length; i++) {
    const lean = observations[4 * i + 2]! + 0.3 * observations[4 * i + 3]!;
    // Pushes the pole further over two steps in three, so episodes end within a few dozen steps.
    actions[i] = (lean > 0) === ((k + i) % 3 === 0) ? 1 : 0;
  }
  return actions;
}

Deno.test("vector env getState/setState round trip through JSON continues CartPole identically", () => {
  const make = () => new VectorEnv(() => new CartPole(), { numEnvs: 3, seed: 5, name: "cartpole" });
  const original = make();
  let observations = original.reset();
  for (let k = 0; k < 37; k++) {
    observations = original.step(cartpoleActions(observations, k)).observations;
  }
  const saved = JSON.parse(JSON.stringify(original.getState()));
  const savedObservations = Array.from(observations);

  const continueFor = (envs: VectorEnv, start: Float32Array) => {
    const trace = [];
    let obs = start;
    for (let k = 37; k < 337; k++) {
      const result = envs.step(cartpoleActions(obs, k));
      trace.push(snapshot(result));
      obs = result.observations;
    }
    return trace;
  };

  const restored = make();
  const restoredObservations = restored.setState(saved);
  assert.deepEqual(Array.from(restoredObservations), savedObservations);
  const expected = continueFor(original, observations);
  const actual = continueFor(restored, restoredObservations);
  assert.deepEqual(actual, expected);
  // The comparison means something only if every copy was mid-episode at the save and episodes
  // that straddle it ended afterwards (their records then include steps from before the save).
  assert.ok(saved.lengths.every((n: number) => n > 0), `lengths at the save: ${saved.lengths}`);
  const ended = new Set(expected.flatMap((s) => s.episodes.map((e) => e.envIndex)));
  assert.deepEqual([...ended].sort(), [0, 1, 2]);
});

Deno.test("vector env setState refuses a state saved with a different number of copies", () => {
  const two = new VectorEnv(() => new CartPole(), { numEnvs: 2, name: "cartpole" });
  two.reset();
  const three = new VectorEnv(() => new CartPole(), { numEnvs: 3, name: "cartpole" });
  assert.throws(
    () => three.setState(two.getState()),
    /Cannot restore 3 copies of env "cartpole": .*different --num-envs/,
  );
});

// ---------------------------------------------------------------------------------------------
// Checks on what envs return
// ---------------------------------------------------------------------------------------------

/** An env of 3-number observations whose `step` returns whatever `result` says. */
function envReturning(result: (copy: number) => Partial<StepResult<unknown>>): () => Env {
  let created = 0;
  return () => {
    const c = created++;
    return {
      observationSpace: new Box({ low: -1, high: 1, shape: [3] }),
      actionSpace: new Discrete(2),
      reset: () => ({ observation: new Float32Array(3), info: {} }),
      step: () =>
        ({
          observation: new Float32Array(3),
          reward: 0,
          terminated: false,
          truncated: false,
          info: {},
          ...result(c),
        }) as StepResult<Float32Array>,
    };
  };
}

function firstStep(makeEnv: () => Env): void {
  const envs = new VectorEnv(makeEnv, { numEnvs: 2, name: "buggy" });
  envs.reset();
  envs.step(new Int32Array(2));
}

Deno.test("vector env rejects an observation of the wrong length, naming the env, copy and sizes", () => {
  assert.throws(
    () => firstStep(envReturning((c) => (c === 1 ? { observation: new Float32Array(2) } : {}))),
    (error: Error) => {
      assert.ok(error instanceof TypeError);
      assert.match(error.message, /^Env "buggy" \(copy 1\) step\(\)/);
      assert.match(error.message, /observation of 2 values/);
      assert.match(error.message, /needs 3$/);
      return true;
    },
  );
});

Deno.test("vector env rejects a reset() observation of the wrong length", () => {
  const makeEnv = (): Env => ({
    observationSpace: new Box({ low: -1, high: 1, shape: [3] }),
    actionSpace: new Discrete(2),
    reset: () => ({ observation: new Float32Array(4), info: {} }),
    step: () => {
      throw new Error("unused");
    },
  });
  const envs = new VectorEnv(makeEnv, { numEnvs: 2, name: "buggy" });
  assert.throws(
    () => envs.reset(),
    /^TypeError: Env "buggy" \(copy 0\) reset\(\).*4 values.*needs 3$/,
  );
});

Deno.test("vector env rejects a NaN reward and an infinite reward", () => {
  assert.throws(
    () => firstStep(envReturning(() => ({ reward: NaN }))),
    /^TypeError: Env "buggy" \(copy 0\) step\(\) at vector step 1 returned a reward that is not a finite number: NaN$/,
  );
  assert.throws(
    () => firstStep(envReturning((c) => (c === 1 ? { reward: -Infinity } : {}))),
    /^TypeError: Env "buggy" \(copy 1\) .*reward that is not a finite number: -Infinity$/,
  );
});

Deno.test("vector env rejects a terminated flag that is not a boolean", () => {
  assert.throws(
    () => firstStep(envReturning(() => ({ terminated: 0 as unknown as boolean }))),
    /^TypeError: Env "buggy" \(copy 0\) .*booleans "terminated" and "truncated", got number and boolean$/,
  );
  assert.throws(
    () => firstStep(envReturning(() => ({ truncated: undefined as unknown as boolean }))),
    /got boolean and undefined$/,
  );
});

Deno.test("vector env rejects a non-finite observation, naming the element", () => {
  assert.throws(
    () => firstStep(envReturning(() => ({ observation: new Float32Array([0, NaN, 0]) }))),
    /^TypeError: Env "buggy" \(copy 0\) step\(\) returned a non-finite observation: element 1 is NaN$/,
  );
  assert.throws(
    () => firstStep(envReturning(() => ({ observation: [0, 0, Infinity] }))),
    /element 2 is Infinity$/,
  );
});

Deno.test("vector env rejects a step() that returns no object", () => {
  const makeEnv = (): Env => ({
    observationSpace: new Box({ low: -1, high: 1, shape: [1] }),
    actionSpace: new Discrete(2),
    reset: () => ({ observation: new Float32Array(1), info: {} }),
    step: () => undefined as unknown as StepResult<Float32Array>,
  });
  assert.throws(
    () => firstStep(makeEnv),
    /step\(\) at vector step 1 returned undefined, not an object$/,
  );
});

Deno.test("vector env rejects a batch with the wrong number of actions", () => {
  const { makeEnv } = scriptedEnvs();
  const envs = new VectorEnv(makeEnv, { numEnvs: 4, name: "scripted" });
  envs.reset();
  assert.throws(
    () => envs.step(new Int32Array(3)),
    /^RangeError: Expected 4 actions for 4 copies of env "scripted", got 3$/,
  );

  const boxActions = (): Env => ({
    observationSpace: new Box({ low: -1, high: 1, shape: [1] }),
    actionSpace: new Box({ low: -1, high: 1, shape: [2] }),
    reset: () => ({ observation: new Float32Array(1), info: {} }),
    step: () => ({
      observation: new Float32Array(1),
      reward: 0,
      terminated: false,
      truncated: false,
      info: {},
    }),
  });
  const box = new VectorEnv(boxActions, { numEnvs: 3, name: "arm" });
  box.reset();
  assert.throws(
    () => box.step(new Float32Array(3)),
    /Expected 6 actions for 3 copies of env "arm", got 3$/,
  );
});

Deno.test("vector env rejects a create() that returns no env", () => {
  assert.throws(
    () => new VectorEnv(() => null as unknown as Env, { name: "empty" }),
    /^TypeError: Env plugin "empty" create\(\) returned null, not an env$/,
  );
  assert.throws(
    () => new VectorEnv(() => 42 as unknown as Env, { name: "empty" }),
    /create\(\) returned number, not an env$/,
  );
  assert.throws(
    () => new VectorEnv(() => ({ reset() {} }) as unknown as Env, { name: "half" }),
    /^TypeError: Env plugin "half" created an env without a step\(\) method$/,
  );
  const spaceless = () =>
    ({
      observationSpace: [4],
      actionSpace: new Discrete(2),
      reset() {},
      step() {},
    }) as unknown as Env;
  assert.throws(
    () => new VectorEnv(spaceless, { name: "spaceless" }),
    /created an env whose observationSpace is not a Discrete or Box space$/,
  );
});

Deno.test("vector env rejects copies that disagree on their spaces", () => {
  let created = 0;
  const makeEnv = (): Env => ({
    observationSpace: new Box({ low: -1, high: 1, shape: [created++ === 2 ? 4 : 3] }),
    actionSpace: new Discrete(2),
    reset: () => ({ observation: new Float32Array(3), info: {} }),
    step: () => ({
      observation: new Float32Array(3),
      reward: 0,
      terminated: false,
      truncated: false,
      info: {},
    }),
  });
  assert.throws(
    () => new VectorEnv(makeEnv, { numEnvs: 3, name: "shifty" }),
    /^Error: Env "shifty" copies disagree on their spaces$/,
  );
});

Deno.test("vector env rejects a number of copies that is not a whole number >= 1", () => {
  const { makeEnv } = scriptedEnvs();
  assert.throws(() => new VectorEnv(makeEnv, { numEnvs: 0 }), /whole number >= 1, got 0$/);
  assert.throws(() => new VectorEnv(makeEnv, { numEnvs: 1.5 }), /whole number >= 1, got 1.5$/);
});

Deno.test("vector env passes the info of an episode's last step into its episode record", () => {
  let t = 0;
  const makeEnv = (): Env => ({
    observationSpace: new Box({ low: 0, high: 10, shape: [1] }),
    actionSpace: new Discrete(2),
    reset: () => ((t = 0), { observation: new Float32Array(1), info: {} }),
    step: () => {
      t++;
      return {
        observation: Float32Array.of(t),
        reward: 0,
        terminated: t === 2,
        truncated: false,
        info: t === 2 ? { completion: "the end" } : { ignored: true },
      };
    },
  });
  const envs = new VectorEnv(makeEnv, { numEnvs: 1 });
  envs.reset();
  assert.deepEqual(envs.step(new Int32Array(1)).episodes, []);
  assert.deepEqual(envs.step(new Int32Array(1)).episodes[0]?.info, { completion: "the end" });
});
