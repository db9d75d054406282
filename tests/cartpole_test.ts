import assert from "node:assert/strict";
import { Box, Discrete, Rng } from "@proximal/core";
import { CartPole, cartpole } from "@proximal/envs";

type Physics = [number, number, number, number];

// ---------------------------------------------------------------------------
// Reference trajectories. These numbers were NOT produced by envs/cartpole.ts: they are the
// output of tests/fixtures/cartpole_reference.py, a plain-float Python transcription of
// Gymnasium's published CartPole-v1 equations (Euler integration). Regenerate with
// `python3 tests/fixtures/cartpole_reference.py`. Each `states[t]` is the float64 state
// [x, xDot, theta, thetaDot] after `actions[t]`; `terminatedAt` is the first step whose state
// is out of bounds (null: none within the actions).
// ---------------------------------------------------------------------------
interface Reference {
  initial: Physics;
  actions: number[];
  states: Physics[];
  terminatedAt: number | null;
}

const MIXED: Reference = {
  initial: [0.01, -0.02, 0.03, 0.04],
  actions: [1, 0, 1, 1, 0, 0, 1, 0, 1, 1],
  states: [
    [0.009600000000000001, 0.17467919574755525, 0.030799999999999998, -0.2430687179600081],
    [0.013093583914951107, -0.020868848948191993, 0.025938625640799837, 0.0591679999394166],
    [0.012676206935987267, 0.1738717748734813, 0.02712198563958817, -0.22521957255967326],
    [0.016153642433456895, 0.36859581150093934, 0.022617594188394704, -0.509225318312219],
    [0.023525558663475683, 0.17316263692575581, 0.012433087822150324, -0.20950152868114708],
    [0.0269888114019908, -0.02213486334940068, 0.008243057248527383, 0.0870773136085351],
    [0.026546114135002786, 0.17286796720471084, 0.009984603520698085, -0.20299356335440677],
    [0.030003473479097, -0.022395342623891756, 0.00592473225360995, 0.09282222648365457],
    [0.029555566626619165, 0.17264119011507909, 0.007781176783283042, -0.19798557685246437],
    [0.033008390428920745, 0.36765098601918744, 0.0038214652462337543, -0.4882037724625794],
  ],
  terminatedAt: null,
};

const ALTERNATING: Reference = {
  initial: [-0.03, 0.5, -0.1, -0.3],
  actions: [0, 1, 0, 1, 0, 1, 0, 1, 0, 1],
  states: [
    [-0.019999999999999997, 0.3064350487996328, -0.10600000000000001, -0.04045412544986271],
    [-0.013871299024007341, 0.5029047417302462, -0.10680908250899726, -0.36461023739709236],
    [-0.0038132041894024162, 0.309450011167117, -0.1141012872569391, -0.10742399130548613],
    [0.002375796033939924, 0.506006462229685, -0.11624976708304882, -0.4338145441004398],
    [0.012495925278533625, 0.31270570913184315, -0.12492605796505762, -0.1799209145568667],
    [0.018750039461170487, 0.5093733482686398, -0.12852447625619495, -0.5092561946156162],
    [0.02893750642654328, 0.31627407715352085, -0.13870960014850728, -0.25967853843329136],
    [0.0352629879696137, 0.513075521533375, -0.1439031709171731, -0.5926953344258681],
    [0.045524498400281194, 0.32023002389941085, -0.15575707760569046, -0.34857868922293234],
    [0.05192909887826941, 0.5171846127919902, -0.1627286513901491, -0.6860418320448617],
  ],
  terminatedAt: null,
};

/** The cart runs off the right edge (x > 2.4) at step 6 while the pole stays up. */
const X_RIGHT: Reference = {
  initial: [2.3, 1.0, 0.0, 0.0],
  actions: [0, 1, 0, 1, 0, 1],
  states: [
    [2.32, 0.8048780487804879, 0.0, 0.2926829268292683],
    [2.3360975609756096, 1.0, 0.005853658536585366, 0.0],
    [2.3560975609756096, 0.8047945900854541, 0.005853658536585366, 0.29452406408599713],
    [2.3721934527773185, 0.9998325995803446, 0.01174413981830531, 0.0036930278904273584],
    [2.3921901047689254, 0.8045442066236461, 0.011818000376113857, 0.3000581139568363],
    [2.408280988901398, 0.9994957320647955, 0.017819162655250582, 0.011125657739045003],
  ],
  terminatedAt: 6,
};

/** The mirror image: off the left edge (x < -2.4) at step 6. */
const X_LEFT: Reference = {
  initial: [-2.3, -1.0, 0.0, 0.0],
  actions: [1, 0, 1, 0, 1, 0],
  states: [
    [-2.32, -0.8048780487804879, 0.0, -0.2926829268292683],
    [-2.3360975609756096, -1.0, -0.005853658536585366, 0.0],
    [-2.3560975609756096, -0.8047945900854541, -0.005853658536585366, -0.29452406408599713],
    [-2.3721934527773185, -0.9998325995803446, -0.01174413981830531, -0.0036930278904273584],
    [-2.3921901047689254, -0.8045442066236461, -0.011818000376113857, -0.3000581139568363],
    [-2.408280988901398, -0.9994957320647955, -0.017819162655250582, -0.011125657739045003],
  ],
  terminatedAt: 6,
};

/** The pole falls right (theta > 12°) at step 5; at step 4 it is at 0.2064 < 0.2094. */
const THETA_RIGHT: Reference = {
  initial: [0.0, 0.0, 0.15, 0.2],
  actions: [0, 0, 0, 0, 0],
  states: [
    [0.0, -0.19691345293966941, 0.154, 0.5359883016321357],
    [-0.003938269058793388, -0.39382722834074946, 0.1647197660326427, 0.8729606272149573],
    [-0.011814813625608378, -0.5907596419051032, 0.18217897857694185, 1.2125697475594994],
    [-0.02363000646371044, -0.7877039866860875, 0.20643037352813184, 1.5563623311655679],
    [-0.039384086197432194, -0.9846133809137775, 0.23755762015144322, 1.905715898161005],
  ],
  terminatedAt: 5,
};

/** The mirror image: the pole falls left (theta < -12°) at step 5. */
const THETA_LEFT: Reference = {
  initial: [0.0, 0.0, -0.15, -0.2],
  actions: [1, 1, 1, 1, 1],
  states: [
    [0.0, 0.19691345293966941, -0.154, -0.5359883016321357],
    [0.003938269058793388, 0.39382722834074946, -0.1647197660326427, -0.8729606272149573],
    [0.011814813625608378, 0.5907596419051032, -0.18217897857694185, -1.2125697475594994],
    [0.02363000646371044, 0.7877039866860875, -0.20643037352813184, -1.5563623311655679],
    [0.039384086197432194, 0.9846133809137775, -0.23755762015144322, -1.905715898161005],
  ],
  terminatedAt: 5,
};

/** From this start, `balance` keeps the pole up for 500 steps, ending in this state. */
const BALANCE_START: Physics = [0.04, -0.03, 0.02, 0.01];
const BALANCE_AFTER_500: Physics = [
  -0.23273437164207092,
  -0.029408203605755384,
  -9.234832781443696e-05,
  -0.003056646712040312,
];

/** The balancing rule the Python script also uses. */
function balance(observation: ArrayLike<number>): number {
  return observation[2]! + 0.5 * observation[3]! > 0 ? 1 : 0;
}

/** A reset env moved to a chosen physical state at step 0. */
function startFrom(physics: Physics, maxEpisodeSteps = 500): CartPole {
  const env = new CartPole({ maxEpisodeSteps });
  env.reset({ seed: 0 });
  env.setState({ ...env.getState(), physics, steps: 0, stepsBeyondTerminated: null });
  return env;
}

function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: number,
  what: string,
) {
  assert.equal(actual.length, expected.length, `${what}: length`);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!, e = expected[i]!;
    assert.ok(Math.abs(a - e) <= tol, `${what}[${i}]: got ${a}, expected ${e} (tolerance ${tol})`);
  }
}

function checkReference(name: string, ref: Reference) {
  const env = startFrom(ref.initial);
  for (let t = 0; t < ref.actions.length; t++) {
    const step = env.step(ref.actions[t]!);
    const expected = ref.states[t]!;
    // The observation is float32: compare to ~1e-6.
    assert.ok(step.observation instanceof Float32Array);
    assertClose(step.observation, expected, 1e-6, `${name} observation after step ${t + 1}`);
    // The internal state is float64 and follows the same arithmetic: much tighter.
    assertClose(env.getState().physics!, expected, 1e-12, `${name} state after step ${t + 1}`);
    assert.equal(step.reward, 1, `${name} reward at step ${t + 1}`);
    const shouldTerminate = ref.terminatedAt === t + 1;
    assert.equal(step.terminated, shouldTerminate, `${name} terminated at step ${t + 1}`);
    assert.equal(step.truncated, false);
  }
}

Deno.test("cartpole follows the reference trajectories of Gymnasium's equations", () => {
  checkReference("mixed", MIXED);
  checkReference("alternating", ALTERNATING);
});

Deno.test("cartpole terminates when the cart leaves [-2.4, 2.4], not a step early", () => {
  checkReference("x right", X_RIGHT);
  checkReference("x left", X_LEFT);
});

Deno.test("cartpole terminates when the pole leans past 12 degrees, not a step early", () => {
  checkReference("theta right", THETA_RIGHT);
  checkReference("theta left", THETA_LEFT);
});

Deno.test("cartpole bounds are strict: exactly 2.4 or exactly 12 degrees is not terminal", () => {
  const threshold = 12 * 2 * Math.PI / 360;
  // With zero velocities one Euler step leaves x and theta exactly where they are.
  for (const physics of [[2.4, 0, 0, 0], [-2.4, 0, 0, 0]] as Physics[]) {
    const env = startFrom(physics);
    const step = env.step(0);
    assert.equal(env.getState().physics![0], physics[0]);
    assert.equal(step.terminated, false, `x = ${physics[0]}`);
  }
  for (const physics of [[0, 0, threshold, 0], [0, 0, -threshold, 0]] as Physics[]) {
    const env = startFrom(physics);
    const step = env.step(0);
    assert.equal(env.getState().physics![2], physics[2]);
    assert.equal(step.terminated, false, `theta = ${physics[2]}`);
  }
});

Deno.test("cartpole pays 1 on the terminating step and 0 on steps after it", () => {
  const env = startFrom(THETA_RIGHT.initial);
  let total = 0;
  for (const action of THETA_RIGHT.actions) total += env.step(action).reward;
  assert.equal(total, THETA_RIGHT.terminatedAt);
  const after = env.step(0);
  assert.equal(after.terminated, true);
  assert.equal(after.reward, 0);
});

Deno.test("cartpole truncates exactly at step 500 under a balancing controller", () => {
  const env = startFrom(BALANCE_START);
  let observation = env.getState().physics!;
  let total = 0;
  for (let t = 1; t <= 500; t++) {
    const step = env.step(balance(observation));
    observation = env.getState().physics!;
    total += step.reward;
    assert.equal(step.terminated, false, `terminated at step ${t}`);
    assert.equal(step.truncated, t === 500, `truncated at step ${t}`);
  }
  assert.equal(total, 500);
  // 500 steps later the float64 state still matches the Python reference.
  assertClose(env.getState().physics!, BALANCE_AFTER_500, 1e-9, "state after 500 steps");
});

Deno.test("cartpole truncates at maxEpisodeSteps and can be terminated and truncated at once", () => {
  const short = startFrom(BALANCE_START, 7);
  for (let t = 1; t <= 7; t++) {
    const step = short.step(balance(short.getState().physics!));
    assert.equal(step.truncated, t === 7, `truncated at step ${t}`);
  }
  // Gymnasium's TimeLimit sets truncated whenever the budget is spent, even on a terminal step.
  const both = startFrom(THETA_RIGHT.initial, THETA_RIGHT.terminatedAt!);
  let last = both.step(0);
  for (let t = 1; t < THETA_RIGHT.terminatedAt!; t++) last = both.step(0);
  assert.equal(last.terminated, true);
  assert.equal(last.truncated, true);
});

Deno.test("cartpole resets within [-0.05, 0.05] and the seed fixes the initial state", () => {
  const env = new CartPole();
  const starts: Float32Array[] = [];
  for (let seed = 0; seed < 200; seed++) {
    const { observation } = env.reset({ seed });
    assert.equal(observation.length, 4);
    for (const v of observation) assert.ok(Math.abs(v) <= 0.05, `seed ${seed}: ${v}`);
    starts.push(observation);
  }
  // Same seed on a fresh env: the same initial state.
  assert.deepEqual(new CartPole().reset({ seed: 17 }).observation, starts[17]);
  // Different seeds: different states.
  assert.notDeepEqual(starts[0], starts[1]);
  // Without a seed the stream continues: the next episode starts elsewhere.
  const a = new CartPole();
  const first = a.reset({ seed: 5 }).observation;
  const second = a.reset().observation;
  assert.notDeepEqual(first, second);
  // ... and reproducibly so.
  const b = new CartPole();
  b.reset({ seed: 5 });
  assert.deepEqual(b.reset().observation, second);
  // The four values use the whole range, not a corner of it.
  const all = starts.flatMap((o) => Array.from(o));
  assert.ok(Math.min(...all) < -0.045 && Math.max(...all) > 0.045);
});

Deno.test("cartpole returns a fresh float32 observation each call", () => {
  const env = new CartPole();
  const { observation } = env.reset({ seed: 0 });
  const physics = env.getState().physics!;
  assert.deepEqual(Array.from(observation), physics.map(Math.fround));
  const next = env.step(1).observation;
  assert.notEqual(next, observation);
  observation[0] = 99;
  assert.notEqual(env.getState().physics![0], 99);
});

Deno.test("cartpole getState/setState round-trips through JSON mid-episode", () => {
  const env = new CartPole();
  env.reset({ seed: 9 });
  for (let t = 0; t < 20; t++) env.step(t % 2);
  const saved = JSON.parse(JSON.stringify(env.getState()));
  const rest = (e: CartPole) => {
    const out: number[] = [];
    for (let t = 0; t < 30; t++) {
      const step = e.step(t % 3 === 0 ? 1 : 0);
      out.push(...step.observation, step.reward, +step.terminated, +step.truncated);
    }
    out.push(...e.reset().observation); // the generator stream is restored too
    return out;
  };
  const expected = rest(env);
  const restored = new CartPole();
  restored.setState(saved);
  assert.deepEqual(rest(restored), expected);
  // The step count is restored: truncation still lands on step 500.
  const late = new CartPole();
  late.setState({ ...startFrom(BALANCE_START).getState(), steps: 499 });
  assert.equal(late.step(1).truncated, true);
});

Deno.test("cartpole setState rejects malformed states and leaves the env unchanged", () => {
  const env = new CartPole();
  env.reset({ seed: 4 });
  const good = env.getState();
  const bad: unknown[] = [
    null,
    42,
    { ...good, physics: [0, 0, 0] },
    { ...good, physics: [0, 0, NaN, 0] },
    { ...good, physics: "0,0,0,0" },
    { ...good, steps: -1 },
    { ...good, steps: 1.5 },
    { ...good, stepsBeyondTerminated: "no" },
    { ...good, rng: null },
    { ...good, rng: { words: [0, 0, 0, 0], spareNormal: null } },
    { ...good, rng: { words: good.rng.words, spareNormal: "x" } },
  ];
  for (const state of bad) {
    assert.throws(() => env.setState(state), /^TypeError: Cannot restore/, JSON.stringify(state));
  }
  assert.deepEqual(env.getState(), good);
});

Deno.test("cartpole rejects invalid actions and stepping before reset", () => {
  const env = new CartPole();
  assert.throws(() => env.step(0), { message: "Cannot step CartPole: call reset() first" });
  env.reset({ seed: 0 });
  assert.throws(() => env.step(2), {
    name: "RangeError",
    message: "CartPole action must be 0 or 1, got 2",
  });
  for (const action of [-1, 0.5, NaN]) assert.throws(() => env.step(action), RangeError);
  assert.throws(() => new CartPole({ maxEpisodeSteps: 0 }), RangeError);
});

Deno.test("cartpole declares Gymnasium's spaces and the plugin builds it", () => {
  const env = cartpole.create(cartpole.defaults);
  assert.ok(env instanceof CartPole);
  assert.equal(env.maxEpisodeSteps, 500);
  assert.equal(cartpole.name, "cartpole");
  assert.equal(cartpole.kind, "env");
  assert.ok(env.actionSpace instanceof Discrete && env.actionSpace.n === 2);
  const space = env.observationSpace;
  assert.ok(space instanceof Box);
  assert.deepEqual(Array.from(space.high), [4.8, Infinity, 2 * (12 * 2 * Math.PI / 360), Infinity]);
  assert.deepEqual(Array.from(space.low), [
    -4.8,
    -Infinity,
    -2 * (12 * 2 * Math.PI / 360),
    -Infinity,
  ]);
  assert.equal((cartpole.create({ maxEpisodeSteps: 3 }) as CartPole).maxEpisodeSteps, 3);
  // Random play: episodes end, observations stay in the space.
  const rng = new Rng(0);
  env.reset({ seed: 0 });
  for (let t = 0; t < 200; t++) {
    const step = env.step(rng.int(2));
    assert.ok(space.contains(step.observation));
    if (step.terminated) return;
  }
  assert.fail("A random policy should drop the pole within 200 steps");
});
