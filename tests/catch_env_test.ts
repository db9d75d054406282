import assert from "node:assert/strict";
import { Rng, validatePlugin, VectorEnv } from "@proximal/core";
import { Catch, catchEnv, defaults } from "../examples/catch_env.ts";

const LEFT = 0, STAY = 1, RIGHT = 2;

/** Columns and rows from a scaled observation (defaults: 5 columns, 8 rows). */
function decode(observation: Float32Array, width = 5, height = 8) {
  return {
    ballX: Math.round((observation[0]! + 1) * (width - 1) / 2),
    ballY: Math.round((observation[1]! + 1) * (height - 1) / 2),
    paddleX: Math.round((observation[2]! + 1) * (width - 1) / 2),
  };
}

Deno.test("catch pays +1 when the paddle is under the landing ball", () => {
  const env = new Catch(defaults);
  const start = decode(env.reset({ seed: 3 }).observation);
  assert.deepEqual({ ballY: start.ballY, paddleX: start.paddleX }, { ballY: 0, paddleX: 2 });
  // Walk the paddle to the ball's column, then wait: 7 steps in all.
  let paddle = start.paddleX;
  for (let t = 1; t <= 7; t++) {
    const action = start.ballX > paddle ? RIGHT : start.ballX < paddle ? LEFT : STAY;
    paddle += action - 1;
    const step = env.step(action);
    assert.equal(decode(step.observation).paddleX, paddle);
    if (t < 7) {
      assert.equal(step.reward, 0, `step ${t}`);
      assert.equal(decode(step.observation).ballY, t);
    } else {
      assert.equal(step.reward, 1);
      assert.equal(step.info.caught, true);
      // The next ball appears on the top row.
      assert.equal(decode(step.observation).ballY, 0);
    }
    assert.equal(step.terminated, false);
  }
});

Deno.test("catch pays -1 when the ball lands beside the paddle", () => {
  const env = new Catch(defaults);
  env.reset({ seed: 0 });
  // Put the ball one row above the floor in column 0 and the paddle in column 4.
  env.setState({ ...env.getState(), ballX: 0, ballY: 6, paddleX: 4 });
  const step = env.step(LEFT); // the paddle reaches column 3 only
  assert.equal(step.reward, -1);
  assert.equal(step.info.caught, false);
  // The paddle stays at the wall when pushed into it.
  env.setState({ ...env.getState(), ballX: 4, ballY: 5, paddleX: 4 });
  assert.equal(env.step(RIGHT).reward, 0);
  assert.equal(env.step(RIGHT).reward, 1);
});

Deno.test("catch episodes last balls × (height − 1) steps and return the catches minus the misses", () => {
  for (const options of [defaults, { width: 3, height: 4, balls: 2 }]) {
    const env = new Catch(options);
    const rng = new Rng(1);
    env.reset({ seed: 2 });
    let length = 0, total = 0, caught = 0, landed = 0;
    for (let done = false; !done;) {
      const step = env.step(rng.int(3));
      length++;
      total += step.reward;
      if (step.reward !== 0) landed++;
      if (step.info.caught === true) caught++;
      assert.equal(step.truncated, false);
      assert.ok(env.observationSpace.contains(step.observation));
      done = step.terminated;
      assert.ok(length <= 1000, "episode did not end");
    }
    assert.equal(length, options.balls * (options.height - 1));
    assert.equal(landed, options.balls);
    assert.equal(total, caught - (options.balls - caught));
    assert.throws(() => env.step(STAY), { message: "Cannot step Catch: call reset() first" });
  }
});

Deno.test("catch is won by following the ball: +10 with the defaults", () => {
  const env = new Catch(defaults);
  let { observation } = env.reset({ seed: 7 });
  let total = 0;
  for (let done = false; !done;) {
    const { ballX, paddleX } = decode(observation);
    const step = env.step(ballX > paddleX ? RIGHT : ballX < paddleX ? LEFT : STAY);
    total += step.reward;
    observation = step.observation;
    done = step.terminated;
  }
  assert.equal(total, 10);
});

Deno.test("catch random policy averages about -6 at seed 0, far below zero", () => {
  // Expected value: the ball's column is uniform and independent of the paddle, so a policy
  // that ignores the ball catches with probability 1/5: 10 × (0.2 − 0.8) = −6 per episode, with
  // standard deviation 2 × sqrt(10 × 0.2 × 0.8) ≈ 2.53. Over 200 episodes the mean's standard
  // error is 0.18, so (−7, −5) is a ±5.5 sigma band; at this seed the mean is −5.84.
  const env = new Catch(defaults);
  const rng = new Rng(1);
  let sum = 0;
  const episodes = 200;
  for (let e = 0; e < episodes; e++) {
    env.reset(e === 0 ? { seed: 0 } : {});
    for (let done = false; !done;) {
      const step = env.step(rng.int(3));
      sum += step.reward;
      done = step.terminated;
    }
  }
  const mean = sum / episodes;
  assert.ok(mean > -7 && mean < -5, `random-policy mean return ${mean}`);
});

Deno.test("catch balls start in every column, and the seed fixes them", () => {
  const columns = new Set<number>();
  for (let seed = 0; seed < 50; seed++) {
    columns.add(decode(new Catch(defaults).reset({ seed }).observation).ballX);
  }
  assert.deepEqual([...columns].sort(), [0, 1, 2, 3, 4]);
  const a = new Catch(defaults), b = new Catch(defaults);
  const run = (env: Catch) => {
    const out = [...env.reset({ seed: 11 }).observation];
    for (let t = 0; t < 70; t++) out.push(...env.step(t % 3).observation);
    return out;
  };
  assert.deepEqual(run(a), run(b));
});

Deno.test("catch getState/setState round-trips through JSON and rejects bad states", () => {
  const env = new Catch(defaults);
  env.reset({ seed: 4 });
  for (let t = 0; t < 20; t++) env.step(t % 3);
  const saved = JSON.parse(JSON.stringify(env.getState()));
  const rest = (e: Catch) => {
    const out: number[] = [];
    for (let t = 0; t < 120; t++) {
      const step = e.step(RIGHT);
      out.push(...step.observation, step.reward);
      if (step.terminated) out.push(...e.reset().observation);
    }
    return out;
  };
  const expected = rest(env);
  const restored = new Catch(defaults);
  restored.setState(saved);
  assert.deepEqual(rest(restored), expected);

  const good = restored.getState();
  for (
    const bad of [
      null,
      { ...good, ballX: 5 },
      { ...good, ballY: -1 },
      { ...good, paddleX: 1.5 },
      { ...good, dropped: 11 },
      { ...good, started: "yes" },
      { ...good, rng: null },
      { ...good, rng: { words: [0, 0, 0, 0], spareNormal: null } },
    ]
  ) {
    assert.throws(() => restored.setState(bad), /Cannot restore/, JSON.stringify(bad));
  }
  assert.deepEqual(restored.getState(), good);
});

Deno.test("catch rejects invalid actions and options", () => {
  const env = new Catch(defaults);
  env.reset({ seed: 0 });
  assert.throws(() => env.step(3), {
    name: "RangeError",
    message: "Catch action must be 0, 1 or 2, got 3",
  });
  assert.throws(() => env.step(-1), RangeError);
  assert.throws(() => new Catch({ ...defaults, width: 1 }), {
    message: "Catch option width must be a whole number >= 2, got 1",
  });
  assert.throws(() => new Catch({ ...defaults, balls: 0.5 }), RangeError);
});

Deno.test("catch plugin is valid and runs in a VectorEnv", () => {
  validatePlugin(catchEnv, { kind: "env", where: "examples/catch_env.ts" });
  assert.equal(catchEnv.name, "catch");
  assert.deepEqual(catchEnv.defaults, { width: 5, height: 8, balls: 10 });
  const envs = new VectorEnv(() => catchEnv.create(catchEnv.defaults), { numEnvs: 2, seed: 0 });
  envs.reset();
  let finished = 0;
  for (let t = 0; t < 70; t++) finished += envs.step(Int32Array.of(1, 1)).episodes.length;
  assert.equal(finished, 2);
});
