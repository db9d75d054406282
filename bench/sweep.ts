/**
 * `deno task sweep`: the search behind PPO's `fast`, `sample-efficient` and `quick` presets. Each
 * candidate trains CartPole-v1 for seeds 1–3 (`--seeds`) until the mean of its last 20 training
 * episodes reaches 475 (the anchors' measure), or `--max-steps` (default 200,000) env steps; then
 * a 100-episode deterministic evaluation checks the policy. Candidates are ranked by the median env steps to
 * that point (`--rank steps`, the default: exact for a seed, whatever the machine's load) or
 * training seconds (`--rank seconds`).
 *
 * Env steps are deterministic for a seed; seconds depend on the machine and its load, so the
 * sweep is best run on a quiet machine. Writes `bench/results/sweep.json` (or `--out FILE`).
 */
import { parseArgs } from "node:util";
import { Ppo, type PpoOptions } from "@proximal/algos";
import { evaluatePolicy, setupBackend } from "@proximal/core";
import { CartPole } from "@proximal/envs";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    out: { type: "string", default: "bench/results/sweep.json" },
    seeds: { type: "string", default: "1,2,3" },
    only: { type: "string", default: "" },
    "max-steps": { type: "string", default: "200000" },
    rank: { type: "string", default: "steps" },
  },
});
const seeds = values.seeds.split(",").map(Number);
const MAX_STEPS = Number(values["max-steps"]), SOLVED = 475, WINDOW = 20;
if (!Number.isInteger(MAX_STEPS) || MAX_STEPS <= 0) {
  console.error(`error: --max-steps must be a positive whole number, got "${values["max-steps"]}"`);
  Deno.exit(2);
}
if (values.rank !== "steps" && values.rank !== "seconds") {
  console.error(`error: --rank must be "steps" or "seconds", got "${values.rank}"`);
  Deno.exit(2);
}

/** SB3 rl-zoo's CartPole-v1 PPO settings, the starting point of the search. */
const zoo: Partial<PpoOptions> = {
  numSteps: 32,
  numMinibatches: 1,
  updateEpochs: 20,
  learningRate: 1e-3,
  gamma: 0.98,
  gaeLambda: 0.8,
  entCoef: 0,
};

interface Candidate {
  name: string;
  numEnvs: number;
  options: Partial<PpoOptions>;
}

/** A candidate that changes `overrides` of rl-zoo's settings. */
function zooLike(name: string, numEnvs: number, overrides: Partial<PpoOptions>): Candidate {
  return { name, numEnvs, options: { ...zoo, ...overrides } };
}

const candidates: Candidate[] = [
  { name: "cleanrl", numEnvs: 4, options: {} },
  zooLike("zoo", 8, {}),
  zooLike("zoo-10ep", 8, { updateEpochs: 10 }),
  zooLike("zoo-5ep-lr2e-3", 8, { updateEpochs: 5, learningRate: 2e-3 }),
  zooLike("zoo-4ep-lr3e-3", 8, { updateEpochs: 4, learningRate: 3e-3 }),
  zooLike("zoo-3ep-lr3e-3-b512", 16, { updateEpochs: 3, learningRate: 3e-3 }),
  zooLike("zoo-5ep-lr2e-3-b512-2mb", 16, {
    updateEpochs: 5,
    learningRate: 2e-3,
    numMinibatches: 2,
  }),
  {
    name: "cleanrl-8x32-5ep-lr2e-3",
    numEnvs: 8,
    options: { numSteps: 32, numMinibatches: 1, updateEpochs: 5, learningRate: 2e-3 },
  },
  zooLike("zoo-4ep-lr3e-3-b512", 16, { updateEpochs: 4, learningRate: 3e-3 }),
  zooLike("zoo-3ep-lr5e-3-b512", 16, { updateEpochs: 3, learningRate: 5e-3 }),
  zooLike("zoo-3ep-lr3e-3-32x16", 32, { numSteps: 16, updateEpochs: 3, learningRate: 3e-3 }),
  zooLike("zoo-4ep-lr3e-3-b1024", 32, { updateEpochs: 4, learningRate: 3e-3 }),
  zooLike("zoo-3ep-lr3e-3-b512-gae.9", 16, { updateEpochs: 3, learningRate: 3e-3, gaeLambda: 0.9 }),
  zooLike("zoo-3ep-lr3e-3-b512-2mb", 16, {
    updateEpochs: 3,
    learningRate: 3e-3,
    numMinibatches: 2,
  }),
  zooLike("zoo-3ep-lr3e-3-b512-2mb-gae.9", 16, {
    updateEpochs: 3,
    learningRate: 3e-3,
    numMinibatches: 2,
    gaeLambda: 0.9,
  }),
  zooLike("zoo-2ep-lr3e-3-b512-2mb", 16, {
    updateEpochs: 2,
    learningRate: 3e-3,
    numMinibatches: 2,
  }),
  zooLike("zoo-2ep-lr3e-3-b1024-4mb", 32, {
    updateEpochs: 2,
    learningRate: 3e-3,
    numMinibatches: 4,
  }),
  zooLike("zoo-4ep-lr3e-3-b512-2mb", 16, {
    updateEpochs: 4,
    learningRate: 3e-3,
    numMinibatches: 2,
  }),
  zooLike("zoo-3ep-lr3e-3-b512-4mb", 16, {
    updateEpochs: 3,
    learningRate: 3e-3,
    numMinibatches: 4,
  }),
  zooLike("zoo-4ep-lr3e-3-b256-2mb", 8, { updateEpochs: 4, learningRate: 3e-3, numMinibatches: 2 }),
  zooLike("zoo-3ep-lr3e-3-32x16-2mb-gae.9", 32, {
    numSteps: 16,
    updateEpochs: 3,
    learningRate: 3e-3,
    numMinibatches: 2,
    gaeLambda: 0.9,
  }),
  zooLike("zoo-3ep-lr4e-3-b512-2mb-gae.9", 16, {
    updateEpochs: 3,
    learningRate: 4e-3,
    numMinibatches: 2,
    gaeLambda: 0.9,
  }),
  zooLike("zoo-2ep-lr3e-3-b1024-4mb-gae.9", 32, {
    updateEpochs: 2,
    learningRate: 3e-3,
    numMinibatches: 4,
    gaeLambda: 0.9,
  }),
  zooLike("zoo-3ep-lr3e-3-b512-2mb-gae.95", 16, {
    updateEpochs: 3,
    learningRate: 3e-3,
    numMinibatches: 2,
    gaeLambda: 0.95,
  }),
  zooLike("zoo-4ep-lr3e-3-b256-2mb-gae.9", 8, {
    updateEpochs: 4,
    learningRate: 3e-3,
    numMinibatches: 2,
    gaeLambda: 0.9,
  }),
  zooLike("zoo-2ep-lr3e-3-b1024-4mb-gae.95", 32, {
    updateEpochs: 2,
    learningRate: 3e-3,
    numMinibatches: 4,
    gaeLambda: 0.95,
  }),
  zooLike("zoo-3ep-lr4e-3-b512-2mb-gae.95", 16, {
    updateEpochs: 3,
    learningRate: 4e-3,
    numMinibatches: 2,
    gaeLambda: 0.95,
  }),
  zooLike("zoo-3ep-lr3e-3-b512-2mb-gae.95-g.99", 16, {
    updateEpochs: 3,
    learningRate: 3e-3,
    numMinibatches: 2,
    gaeLambda: 0.95,
    gamma: 0.99,
  }),
  // Around `fast` after acting moved to folded sigmoid layers (its runs' numbers changed).
  zooLike("zoo-2ep-lr4e-3-b1024-4mb-gae.95", 32, {
    updateEpochs: 2,
    learningRate: 4e-3,
    numMinibatches: 4,
    gaeLambda: 0.95,
  }),
  zooLike("zoo-3ep-lr3e-3-b1024-2mb-gae.9", 32, {
    updateEpochs: 3,
    learningRate: 3e-3,
    numMinibatches: 2,
    gaeLambda: 0.9,
  }),
  zooLike("zoo-3ep-lr4e-3-b1024-2mb-gae.95", 32, {
    updateEpochs: 3,
    learningRate: 4e-3,
    numMinibatches: 2,
    gaeLambda: 0.95,
  }),
  zooLike("zoo-3ep-lr3e-3-b1024-4mb-gae.95", 32, {
    updateEpochs: 3,
    learningRate: 3e-3,
    numMinibatches: 4,
    gaeLambda: 0.95,
  }),
  zooLike("zoo-3ep-lr4e-3-32x16-2mb-gae.95", 32, {
    numSteps: 16,
    updateEpochs: 3,
    learningRate: 4e-3,
    numMinibatches: 2,
    gaeLambda: 0.95,
  }),
  zooLike("zoo-2ep-lr3e-3-b1024-2mb-gae.95", 32, {
    updateEpochs: 2,
    learningRate: 3e-3,
    numMinibatches: 2,
    gaeLambda: 0.95,
  }),
  zooLike("zoo-5ep-lr2e-3-h32", 8, { updateEpochs: 5, learningRate: 2e-3, hiddenSize: 32 }),
  // Fewer samples (issue 16): more gradient steps per sample, paid for by narrower networks
  // (an update's cost per row falls with the width) and fewer env copies (the 20-episode window
  // fills sooner after the policy is good).
  ...fewerSamples(),
  ...packedRound(),
  ...quickRound(),
];

/**
 * Issue 16's second round: the `packed` gradient engine (cheaper per gradient step, most at small
 * widths), around `sample-efficient`, over the network's width and the update's shape, with
 * `fast` as it is for reference.
 */
function packedRound(): Candidate[] {
  const out: Candidate[] = [
    zooLike("p-fast-ref", 32, {
      numMinibatches: 4,
      updateEpochs: 2,
      learningRate: 4e-3,
      gaeLambda: 0.95,
    }),
  ];
  const base = { gradient: "packed", clipVloss: false, gaeLambda: 0.8, numMinibatches: 2 };
  const add = (name: string, numEnvs: number, o: Partial<PpoOptions>) =>
    out.push(zooLike(`p-${name}`, numEnvs, { ...base, ...o }));
  for (const h of [64, 48, 32, 16]) {
    add(`8x32-2x5-lr3e-3-h${h}`, 8, { updateEpochs: 5, learningRate: 3e-3, hiddenSize: h });
  }
  add("8x32-2x4-lr3e-3-h64", 8, { updateEpochs: 4, learningRate: 3e-3 });
  add("8x32-1x5-lr3e-3-h64", 8, { numMinibatches: 1, updateEpochs: 5, learningRate: 3e-3 });
  add("16x16-2x5-lr3e-3-h64", 16, { numSteps: 16, updateEpochs: 5, learningRate: 3e-3 });
  add("8x32-2x5-lr4e-3-h32", 8, { updateEpochs: 5, learningRate: 4e-3, hiddenSize: 32 });
  add("8x32-2x6-lr3e-3-h32", 8, { updateEpochs: 6, learningRate: 3e-3, hiddenSize: 32 });
  add("8x32-1x10-lr2e-3-h32", 8, {
    numMinibatches: 1,
    updateEpochs: 10,
    learningRate: 2e-3,
    hiddenSize: 32,
  });
  add("8x32-2x5-lr3e-3-h32-1layer", 8, {
    updateEpochs: 5,
    learningRate: 3e-3,
    hiddenSize: 32,
    hiddenLayers: 1,
  });
  // Around the fastest of those (8 × 32, 2 × 5, lr 4e-3, hidden 32 × 32).
  const h32 = { hiddenSize: 32 };
  add("8x32-2x4-lr4e-3-h32", 8, { ...h32, updateEpochs: 4, learningRate: 4e-3 });
  add("8x32-2x4-lr5e-3-h32", 8, { ...h32, updateEpochs: 4, learningRate: 5e-3 });
  add("8x32-2x5-lr5e-3-h32", 8, { ...h32, updateEpochs: 5, learningRate: 5e-3 });
  add("8x32-2x3-lr5e-3-h32", 8, { ...h32, updateEpochs: 3, learningRate: 5e-3 });
  add("8x32-1x6-lr4e-3-h32", 8, { ...h32, numMinibatches: 1, updateEpochs: 6, learningRate: 4e-3 });
  add("8x32-1x5-lr5e-3-h32", 8, { ...h32, numMinibatches: 1, updateEpochs: 5, learningRate: 5e-3 });
  add("16x16-2x5-lr4e-3-h32", 16, { ...h32, numSteps: 16, updateEpochs: 5, learningRate: 4e-3 });
  add("16x16-2x4-lr4e-3-h32", 16, { ...h32, numSteps: 16, updateEpochs: 4, learningRate: 4e-3 });
  add("8x32-2x5-lr4e-3-h24", 8, { hiddenSize: 24, updateEpochs: 5, learningRate: 4e-3 });
  add("8x32-2x5-lr4e-3-h32-gae.9", 8, {
    ...h32,
    updateEpochs: 5,
    learningRate: 4e-3,
    gaeLambda: 0.9,
  });
  add("8x32-4x3-lr4e-3-h32", 8, { ...h32, numMinibatches: 4, updateEpochs: 3, learningRate: 4e-3 });
  // Narrower still.
  for (const h of [24, 16]) {
    add(`8x32-2x4-lr5e-3-h${h}`, 8, { hiddenSize: h, updateEpochs: 4, learningRate: 5e-3 });
    add(`8x32-2x5-lr5e-3-h${h}`, 8, { hiddenSize: h, updateEpochs: 5, learningRate: 5e-3 });
    add(`8x32-2x4-lr4e-3-h${h}`, 8, { hiddenSize: h, updateEpochs: 4, learningRate: 4e-3 });
  }
  add("8x32-2x5-lr4e-3-h16", 8, { hiddenSize: 16, updateEpochs: 5, learningRate: 4e-3 });
  // Fewer, larger gradient steps per env step (each costs about the same launches).
  add("8x32-1x4-lr5e-3-h32", 8, { ...h32, numMinibatches: 1, updateEpochs: 4, learningRate: 5e-3 });
  add("8x32-1x4-lr6e-3-h32", 8, { ...h32, numMinibatches: 1, updateEpochs: 4, learningRate: 6e-3 });
  add("8x32-1x5-lr4e-3-h32", 8, { ...h32, numMinibatches: 1, updateEpochs: 5, learningRate: 4e-3 });
  add("8x32-1x3-lr6e-3-h32", 8, { ...h32, numMinibatches: 1, updateEpochs: 3, learningRate: 6e-3 });
  add("16x32-2x4-lr5e-3-h32", 16, { ...h32, updateEpochs: 4, learningRate: 5e-3 });
  add("16x32-2x3-lr6e-3-h32", 16, { ...h32, updateEpochs: 3, learningRate: 6e-3 });
  add("8x64-2x4-lr5e-3-h32", 8, { ...h32, numSteps: 64, updateEpochs: 4, learningRate: 5e-3 });
  add("8x32-2x4-lr5e-3-h32-gae.9", 8, {
    ...h32,
    updateEpochs: 4,
    learningRate: 5e-3,
    gaeLambda: 0.9,
  });
  // Widths whose packed layers (the units plus the engine's constant one) fill a multiple of 8
  // columns, which tfjs-wasm's matMul runs fastest (31 + 1 = 32: ~30 % less per step than 33).
  for (const h of [31, 23, 39]) {
    add(`8x32-2x5-lr5e-3-h${h}`, 8, { hiddenSize: h, updateEpochs: 5, learningRate: 5e-3 });
  }
  add("16x16-2x5-lr4e-3-h24", 16, {
    hiddenSize: 24,
    numSteps: 16,
    updateEpochs: 5,
    learningRate: 4e-3,
  });
  return out;
}

/**
 * Issue 16's third round: around `quick` (8 × 32, 2 × 5, lr 5e-3, γ 0.98, λ 0.8, no value clip,
 * 31 × 31, packed), the settings the earlier rounds left at CleanRL's: the gradient-norm clip
 * (global over actor and critic, so the critic's large early gradients shrink the actor's step),
 * the surrogate's clip range, the value coefficient, γ, λ and the annealing.
 */
function quickRound(): Candidate[] {
  const quick: Partial<PpoOptions> = {
    numSteps: 32,
    numMinibatches: 2,
    updateEpochs: 5,
    learningRate: 5e-3,
    gamma: 0.98,
    gaeLambda: 0.8,
    entCoef: 0,
    clipVloss: false,
    hiddenSize: 31,
    gradient: "packed",
  };
  const out: Candidate[] = [];
  const add = (name: string, o: Partial<PpoOptions>, numEnvs = 8) =>
    out.push({ name: `q-${name}`, numEnvs, options: { ...quick, ...o } });
  add("ref", {});
  for (const g of [1, 2, 5]) add(`gn${g}`, { maxGradNorm: g });
  add("clip.3", { clipCoef: 0.3 });
  add("vf.25", { vfCoef: 0.25 });
  add("vf1", { vfCoef: 1 });
  add("gamma.99", { gamma: 0.99 });
  add("gae.85", { gaeLambda: 0.85 });
  add("gae.75", { gaeLambda: 0.75 });
  add("lr6e-3", { learningRate: 6e-3 });
  add("noanneal", { annealLr: false });
  // The direct engine (no tfjs in training): the same settings, other float rounding.
  const direct = { gradient: "direct" };
  add("direct", direct);
  add("direct-h32", { ...direct, hiddenSize: 32 });
  add("direct-lr4e-3", { ...direct, learningRate: 4e-3 });
  add("direct-vf1", { ...direct, vfCoef: 1 });
  add("direct-gn1", { ...direct, maxGradNorm: 1 });
  // With the direct engine a gradient step costs about its arithmetic: around quick again.
  for (const lr of [4e-3, 6e-3, 7e-3]) add(`direct-lr${lr}`, { ...direct, learningRate: lr });
  for (const e of [4, 6]) add(`direct-2x${e}`, { ...direct, updateEpochs: e });
  add("direct-4x3", { ...direct, numMinibatches: 4, updateEpochs: 3 });
  add("direct-4x4", { ...direct, numMinibatches: 4, updateEpochs: 4 });
  add("direct-1x8", { ...direct, numMinibatches: 1, updateEpochs: 8 });
  for (const h of [23, 39, 47]) add(`direct-h${h}`, { ...direct, hiddenSize: h });
  add("direct-gae.9", { ...direct, gaeLambda: 0.9 });
  add("direct-gamma.99", { ...direct, gamma: 0.99 });
  add("direct-clip.3", { ...direct, clipCoef: 0.3 });
  add("direct-16x16", { ...direct, numSteps: 16 }, 16);
  add("direct-4x8-lr4e-3", { ...direct, numMinibatches: 4, updateEpochs: 8, learningRate: 4e-3 });
  // Minibatches of 64 rows: around 4 × 3 and 4 × 8.
  const mb4 = { ...direct, numMinibatches: 4 };
  const shapes: [number, number][] = [[2, 5e-3], [2, 7e-3], [3, 4e-3], [3, 6e-3], [4, 4e-3]];
  for (const [e, lr] of [...shapes, [5, 4e-3], [6, 4e-3]] as [number, number][]) {
    add(`direct-4x${e}-lr${lr}`, { ...mb4, updateEpochs: e, learningRate: lr });
  }
  add("direct-4x3-gae.9", { ...mb4, updateEpochs: 3, gaeLambda: 0.9 });
  add("direct-4x4-gae.9", { ...mb4, updateEpochs: 4, gaeLambda: 0.9 });
  add("direct-8x2", { ...direct, numMinibatches: 8, updateEpochs: 2 });
  add("direct-8x3-lr4e-3", { ...direct, numMinibatches: 8, updateEpochs: 3, learningRate: 4e-3 });
  add("direct-8x4-lr3e-3", { ...direct, numMinibatches: 8, updateEpochs: 4, learningRate: 3e-3 });
  // Minibatches of 32 and 16 rows.
  const mb8 = { ...direct, numMinibatches: 8 }, mb16 = { ...direct, numMinibatches: 16 };
  for (const lr of [4e-3, 6e-3]) {
    add(`direct-8x2-lr${lr}`, { ...mb8, updateEpochs: 2, learningRate: lr });
  }
  add("direct-8x1-lr7e-3", { ...mb8, updateEpochs: 1, learningRate: 7e-3 });
  add("direct-8x3", { ...mb8, updateEpochs: 3 });
  add("direct-8x2-gae.9", { ...mb8, updateEpochs: 2, gaeLambda: 0.9 });
  add("direct-16x1", { ...mb16, updateEpochs: 1 });
  add("direct-16x2-lr3e-3", { ...mb16, updateEpochs: 2, learningRate: 3e-3 });
  add("direct-16x2-lr4e-3", { ...mb16, updateEpochs: 2, learningRate: 4e-3 });
  add("direct-8x2-h23", { ...mb8, updateEpochs: 2, hiddenSize: 23 });
  add("direct-16x2", { ...mb16, updateEpochs: 2 });
  add("direct-16x3-lr3e-3", { ...mb16, updateEpochs: 3, learningRate: 3e-3 });
  add("direct-16x2-lr4e-3-gn1", { ...mb16, updateEpochs: 2, learningRate: 4e-3, maxGradNorm: 1 });
  add("direct-32x1-lr3e-3", { ...direct, numMinibatches: 32, updateEpochs: 1, learningRate: 3e-3 });
  return out;
}

/**
 * The round after `fast` (it gave `sample-efficient`): aims at SB3-tuned's sample count at
 * `fast`'s throughput.
 */
function fewerSamples(): Candidate[] {
  const out: Candidate[] = [];
  const add = (name: string, numEnvs: number, o: Partial<PpoOptions>) =>
    out.push(zooLike(name, numEnvs, { gaeLambda: 0.95, ...o }));
  add("h32-16x32-2mb-4ep-lr4e-3", 16, {
    hiddenSize: 32,
    numMinibatches: 2,
    updateEpochs: 4,
    learningRate: 4e-3,
  });
  add("h32-8x32-1mb-8ep-lr3e-3-gae.8", 8, {
    hiddenSize: 32,
    updateEpochs: 8,
    learningRate: 3e-3,
    gaeLambda: 0.8,
  });
  add("h32-16x16-1mb-4ep-lr5e-3", 16, {
    hiddenSize: 32,
    numSteps: 16,
    updateEpochs: 4,
    learningRate: 5e-3,
  });
  add("h32-32x32-4mb-4ep-lr4e-3", 32, {
    hiddenSize: 32,
    numMinibatches: 4,
    updateEpochs: 4,
    learningRate: 4e-3,
  });
  add("h64-16x16-1mb-4ep-lr4e-3-gae.9", 16, {
    numSteps: 16,
    updateEpochs: 4,
    learningRate: 4e-3,
    gaeLambda: 0.9,
  });
  add("h32-16x32-2mb-4ep-lr4e-3-novclip", 16, {
    hiddenSize: 32,
    numMinibatches: 2,
    updateEpochs: 4,
    learningRate: 4e-3,
    clipVloss: false,
  });
  add("h16-16x32-2mb-4ep-lr5e-3", 16, {
    hiddenSize: 16,
    numMinibatches: 2,
    updateEpochs: 4,
    learningRate: 5e-3,
  });
  add("h32-8x32-2mb-4ep-lr4e-3", 8, {
    hiddenSize: 32,
    numMinibatches: 2,
    updateEpochs: 4,
    learningRate: 4e-3,
  });
  // SB3 does not clip the value loss (clip_range_vf None); with CartPole's unnormalised returns
  // CleanRL's clip at 0.2 holds the critic back.
  const nv = { clipVloss: false };
  add("zoo-novclip", 8, { ...nv, gaeLambda: 0.8 });
  add("fast-novclip", 32, { ...nv, numMinibatches: 4, updateEpochs: 2, learningRate: 4e-3 });
  add("16x32-2mb-3ep-lr4e-3-novclip", 16, {
    ...nv,
    numMinibatches: 2,
    updateEpochs: 3,
    learningRate: 4e-3,
  });
  add("8x32-2mb-4ep-lr3e-3-gae.8-novclip", 8, {
    ...nv,
    numMinibatches: 2,
    updateEpochs: 4,
    learningRate: 3e-3,
    gaeLambda: 0.8,
  });
  add("16x32-2mb-2ep-lr4e-3-novclip", 16, {
    ...nv,
    numMinibatches: 2,
    updateEpochs: 2,
    learningRate: 4e-3,
  });
  add("16x32-1mb-4ep-lr4e-3-novclip", 16, {
    ...nv,
    numMinibatches: 1,
    updateEpochs: 4,
    learningRate: 4e-3,
  });
  // Around the most sample-efficient so far (8 × 32, 2 × 4, λ 0.8, no value clipping).
  const z = { ...nv, gaeLambda: 0.8 };
  add("8x32-1mb-4ep-lr3e-3-gae.8-novclip", 8, {
    ...z,
    numMinibatches: 1,
    updateEpochs: 4,
    learningRate: 3e-3,
  });
  add("8x32-2mb-2ep-lr4e-3-gae.8-novclip", 8, {
    ...z,
    numMinibatches: 2,
    updateEpochs: 2,
    learningRate: 4e-3,
  });
  add("16x16-2mb-4ep-lr3e-3-gae.8-novclip", 16, {
    ...z,
    numSteps: 16,
    numMinibatches: 2,
    updateEpochs: 4,
    learningRate: 3e-3,
  });
  add("16x32-2mb-4ep-lr3e-3-gae.8-novclip", 16, {
    ...z,
    numMinibatches: 2,
    updateEpochs: 4,
    learningRate: 3e-3,
  });
  add("8x32-2mb-4ep-lr3e-3-gae.8-novclip-h32", 8, {
    ...z,
    numMinibatches: 2,
    updateEpochs: 4,
    learningRate: 3e-3,
    hiddenSize: 32,
  });
  add("8x32-2mb-3ep-lr4e-3-gae.8-novclip", 8, {
    ...z,
    numMinibatches: 2,
    updateEpochs: 3,
    learningRate: 4e-3,
  });
  add("16x16-1mb-4ep-lr4e-3-gae.8-novclip", 16, {
    ...z,
    numSteps: 16,
    numMinibatches: 1,
    updateEpochs: 4,
    learningRate: 4e-3,
  });
  add("8x32-1mb-4ep-lr4e-3-gae.8-novclip", 8, {
    ...z,
    numMinibatches: 1,
    updateEpochs: 4,
    learningRate: 4e-3,
  });
  // Larger minibatches (cheaper per sample on tfjs-wasm) with rl-zoo's λ and no value clipping.
  add("16x32-2mb-3ep-lr4e-3-gae.8-novclip", 16, {
    ...z,
    numMinibatches: 2,
    updateEpochs: 3,
    learningRate: 4e-3,
  });
  add("16x32-2mb-2ep-lr4e-3-gae.8-novclip", 16, {
    ...z,
    numMinibatches: 2,
    updateEpochs: 2,
    learningRate: 4e-3,
  });
  add("32x16-2mb-3ep-lr4e-3-gae.8-novclip", 32, {
    ...z,
    numSteps: 16,
    numMinibatches: 2,
    updateEpochs: 3,
    learningRate: 4e-3,
  });
  add("16x16-1mb-3ep-lr3e-3-gae.8-novclip", 16, {
    ...z,
    numSteps: 16,
    numMinibatches: 1,
    updateEpochs: 3,
    learningRate: 3e-3,
  });
  // Around the pick, on the held-out seeds 11–20 (`--seeds 11,…,20`).
  add("8x32-2mb-5ep-lr3e-3-gae.8-novclip", 8, {
    ...z,
    numMinibatches: 2,
    updateEpochs: 5,
    learningRate: 3e-3,
  });
  add("8x32-2mb-4ep-lr4e-3-gae.8-novclip", 8, {
    ...z,
    numMinibatches: 2,
    updateEpochs: 4,
    learningRate: 4e-3,
  });
  return out;
}

await setupBackend("wasm");

interface Run {
  seed: number;
  reached: boolean;
  envSteps: number;
  trainSeconds: number;
  evalMean: number;
}

const results = [];
for (const candidate of candidates) {
  if (values.only !== "" && !values.only.split(",").includes(candidate.name)) continue;
  const runs: Run[] = [];
  for (const seed of seeds) {
    const ppo = new Ppo({
      makeEnv: () => new CartPole(),
      numEnvs: candidate.numEnvs,
      seed,
      totalTimesteps: 500_000,
    }, candidate.options);
    const recent: number[] = [];
    let trainMs = 0, reached = false;
    while (ppo.step < MAX_STEPS) {
      const t0 = performance.now();
      const { episodes } = await ppo.iterate();
      trainMs += performance.now() - t0;
      for (const e of episodes) {
        recent.push(e.return);
        if (recent.length > WINDOW) recent.shift();
      }
      if (recent.length === WINDOW && recent.reduce((a, b) => a + b, 0) / WINDOW >= SOLVED) {
        reached = true;
        break;
      }
    }
    const evalMean = evaluatePolicy(() => new CartPole(), ppo.policy, { episodes: 100 }).mean;
    runs.push({ seed, reached, envSteps: ppo.step, trainSeconds: trainMs / 1000, evalMean });
    ppo.dispose();
  }
  const row = {
    name: candidate.name,
    numEnvs: candidate.numEnvs,
    options: candidate.options,
    runs,
    medianTrainSeconds: median(runs.map((r) => r.reached ? r.trainSeconds : Infinity)),
    medianEnvSteps: median(runs.map((r) => r.reached ? r.envSteps : Infinity)),
    stepsPerSecond: Math.round(
      runs.reduce((a, r) => a + r.envSteps, 0) / runs.reduce((a, r) => a + r.trainSeconds, 0),
    ),
    evalsSolved: runs.filter((r) => r.evalMean >= SOLVED).length,
  };
  results.push(row);
  console.log(
    `${row.name.padEnd(26)} median ${
      row.medianTrainSeconds.toFixed(2)
    } s, ${row.medianEnvSteps} steps, ${row.stepsPerSecond} steps/s, eval ≥ 475 in ${row.evalsSolved}/${runs.length} (${
      runs.map((r) => `${r.envSteps}/${r.trainSeconds.toFixed(1)}s/${r.evalMean.toFixed(0)}`)
        .join(" ")
    })`,
  );
}
results.sort((a, b) =>
  values.rank === "steps"
    ? a.medianEnvSteps - b.medianEnvSteps || a.medianTrainSeconds - b.medianTrainSeconds
    : a.medianTrainSeconds - b.medianTrainSeconds
);
await Deno.mkdir(values.out.replace(/\/[^/]*$/, "") || ".", { recursive: true });
await Deno.writeTextFile(
  values.out,
  JSON.stringify({ date: new Date().toISOString(), seeds, maxSteps: MAX_STEPS, results }, null, 2) +
    "\n",
);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}
