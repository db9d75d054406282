// The direct engine on two threads (`quick` with `numWorkers: 1`) against one (`numWorkers: 0`),
// for README "Issue 16, fourth round". Each measurement in its own process, the two taking turns:
//
// 1. training speed: `quick` on CartPole, seed 1, a fixed budget, no evaluation — env steps/s of
//    the training loop (from the first iteration, the worker's start-up included), for numWorkers
//    0, 1, and 1 with workersIfFaster (its trial, then the faster way); and in each
//    round two numWorkers-0 processes at once, whose summed steps/s ÷ the round's one process is
//    the machine's independent capacity;
// 2. time to solve: `bench/_solve_run.ts` on seeds 1–3, training seconds (and seconds since the
//    process started) until the last 20 episodes average 475.
//
// Prints every measurement as a JSON line, then the medians and ratios. `step` times the gradient
// call alone in one process (16 rows, 31 × 31 networks; blocks of 2000 calls taking turns), the
// serial direct engine against the pair with its worker up.
//
//   deno run -A bench/_direct_pair.ts [rounds=5] [steps=200000] [solveRounds=3]
//   deno run -A bench/_direct_pair.ts run '{"numWorkers":1,"steps":200000}'   (one measurement;
//     "hiddenSize":127 for wider networks)
//   deno run -A bench/_direct_pair.ts step [rounds=7]
//   deno run -A bench/_direct_pair.ts alternate [iterations=1500]
//
// `alternate` trains two `quick` trainers in one process, numWorkers 0 and 1, taking turns
// iteration by iteration (no process-to-process spread), and prints the median update and
// iteration milliseconds of each (the first 100 iterations left out).
import { Ppo, ppo } from "@proximal/algos";
import { Rng, setupBackend } from "@proximal/core";
import { cartpolePolicy, syntheticRows } from "./_synthetic_rows.ts";
import { CartPole } from "@proximal/envs";
import { directGradient } from "../algos/_ppo_direct_engine.ts";
import { directPair } from "../algos/_ppo_direct_pair.ts";
import { emptyRows, FlatWeights, gatherRows } from "../algos/_ppo_engine.ts";

if (Deno.args[0] === "alternate") {
  await setupBackend("wasm");
  const iterations = Number(Deno.args[1] ?? 1500), quick = ppo.presets!.quick!;
  const make = (numWorkers: number) =>
    new Ppo(
      { makeEnv: () => new CartPole(), numEnvs: 8, seed: 1, totalTimesteps: 256 * iterations },
      { ...quick.options, numWorkers },
    );
  const trainers = { serial: make(0), pair: make(1) };
  await trainers.pair.ready;
  const update: Record<string, number[]> = { serial: [], pair: [] };
  const iteration: Record<string, number[]> = { serial: [], pair: [] };
  for (let i = 0; i < iterations; i++) {
    for (const [name, trainer] of Object.entries(trainers)) {
      const t0 = performance.now();
      const { metrics } = await trainer.iterate();
      iteration[name]!.push(performance.now() - t0);
      update[name]!.push(metrics["perf/update_ms"]!);
    }
  }
  const med = (xs: number[]) => xs.slice(100).sort((a, b) => a - b)[(xs.length - 100) >> 1]!;
  console.log(JSON.stringify({
    updateMs: { serial: med(update.serial!), pair: med(update.pair!) },
    iterationMs: { serial: med(iteration.serial!), pair: med(iteration.pair!) },
  }));
  trainers.serial.dispose();
  trainers.pair.dispose();
  Deno.exit(0);
}

if (Deno.args[0] === "step") {
  await setupBackend("wasm");
  const rounds = Number(Deno.args[1] ?? 7), batch = 256;
  const policy = cartpolePolicy(31);
  const all = syntheticRows(policy, { rows: batch, rng: new Rng(1) });
  const minibatch = emptyRows(all, 16);
  gatherRows(all, Int32Array.from({ length: batch }, (_, i) => i), { start: 0, into: minibatch });
  const loss = { clipCoef: 0.2, clipVloss: false, entCoef: 0, vfCoef: 0.5, klCoef: 0 };
  const weights = new FlatWeights(policy.variables), flat = () => weights.values;
  const engines = { serial: directGradient(policy, flat), pair: directPair(policy, flat) };
  await engines.pair.ready;
  const times: Record<string, number[]> = { serial: [], pair: [] };
  for (let round = 0; round < rounds; round++) {
    for (const [name, engine] of Object.entries(engines)) {
      const t0 = performance.now();
      for (let k = 0; k < 2000; k++) engine(minibatch, loss);
      times[name]!.push((performance.now() - t0) * 1000 / 2000);
    }
  }
  engines.pair.dispose();
  const med = (xs: number[]) => xs.slice(1).sort((a, b) => a - b)[(xs.length - 1) >> 1]!;
  console.log(JSON.stringify({
    microsecondsPerGradient: { serial: med(times.serial!), pair: med(times.pair!) },
    workerUsed: engines.pair.workersUsed(),
  }));
  Deno.exit(0);
}

if (Deno.args[0] === "run") {
  const { numWorkers, steps, seed = 1, workersIfFaster = false, hiddenSize } = JSON.parse(
    Deno.args[1]!,
  ) as {
    numWorkers: number;
    steps: number;
    seed?: number;
    workersIfFaster?: boolean;
    /** Wider networks than quick's 31 (the pair's halves grow with the width², its hand-overs do not). */
    hiddenSize?: number;
  };
  await setupBackend("wasm");
  const quick = ppo.presets!.quick!;
  const trainer = new Ppo(
    { makeEnv: () => new CartPole(), numEnvs: quick.numEnvs!, seed, totalTimesteps: steps },
    { ...quick.options, numWorkers, workersIfFaster, ...hiddenSize && { hiddenSize } },
  );
  let workerSteps = 0, updateMs = 0, rolloutMs = 0;
  const t0 = performance.now();
  while (!trainer.done) {
    const { metrics } = await trainer.iterate();
    if (metrics["perf/workers"] === 1) workerSteps += 256;
    updateMs += metrics["perf/update_ms"]!;
    rolloutMs += metrics["perf/rollout_ms"]!;
  }
  const seconds = (performance.now() - t0) / 1000;
  console.log(JSON.stringify({
    numWorkers,
    steps: trainer.step,
    seconds,
    stepsPerSecond: Math.round(trainer.step / seconds),
    workerShare: workerSteps / trainer.step,
    updateMsPerIteration: updateMs / (trainer.step / 256),
    rolloutMsPerIteration: rolloutMs / (trainer.step / 256),
  }));
  trainer.dispose();
  Deno.exit(0);
}

const rounds = Number(Deno.args[0] ?? 5), steps = Number(Deno.args[1] ?? 200_000);
const solveRounds = Number(Deno.args[2] ?? 3);
const here = new URL(".", import.meta.url);

async function spawn(script: string, args: string[]): Promise<Record<string, unknown>> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", new URL(script, here).pathname, ...args],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`${script} ${args.join(" ")} failed`);
  const lines = new TextDecoder().decode(out.stdout).trim().split("\n");
  return JSON.parse(lines[lines.length - 1]!);
}

const speed = (numWorkers: number, workersIfFaster = false) =>
  spawn("_direct_pair.ts", ["run", JSON.stringify({ numWorkers, steps, workersIfFaster })]);
const median = (xs: number[]) => {
  const s = xs.slice().sort((a, b) => a - b), m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

const sps: Record<"serial" | "pair" | "ifFaster" | "capacity", number[]> = {
  serial: [],
  pair: [],
  ifFaster: [],
  capacity: [],
};
for (let round = 0; round < rounds; round++) {
  const serial = await speed(0), pair = await speed(1), ifFaster = await speed(1, true);
  const both = await Promise.all([speed(0), speed(0)]);
  console.log(JSON.stringify({ round, serial, pair, ifFaster, both }));
  sps.serial.push(serial.stepsPerSecond as number);
  sps.pair.push(pair.stepsPerSecond as number);
  sps.ifFaster.push(ifFaster.stepsPerSecond as number);
  const summed = both.reduce((s, r) => s + (r.stepsPerSecond as number), 0);
  sps.capacity.push(summed / (serial.stepsPerSecond as number));
}

const solve: Record<
  string,
  { serial: number[]; pair: number[]; serialStart: number[]; pairStart: number[] }
> = {};
for (let round = 0; round < solveRounds; round++) {
  for (const seed of [1, 2, 3]) {
    const s = solve[seed] ??= { serial: [], pair: [], serialStart: [], pairStart: [] };
    for (const numWorkers of [0, 1]) {
      const r = await spawn("_solve_run.ts", [
        JSON.stringify({ preset: "quick", seed, options: { numWorkers } }),
      ]);
      const anchor = r.anchor as { trainSeconds: number; sinceStartSeconds: number } | null;
      console.log(JSON.stringify({ seed, numWorkers, anchor, envSteps: r.envSteps }));
      if (!anchor) continue;
      s[numWorkers ? "pair" : "serial"].push(anchor.trainSeconds);
      s[numWorkers ? "pairStart" : "serialStart"].push(anchor.sinceStartSeconds);
    }
  }
}

const serial = median(sps.serial), pair = median(sps.pair), capacity = median(sps.capacity);
console.log(JSON.stringify(
  {
    rounds,
    steps,
    trainingStepsPerSecond: { serial, pair, ratio: pair / serial },
    workersIfFaster: { stepsPerSecond: median(sps.ifFaster), ratio: median(sps.ifFaster) / serial },
    independentCapacity: capacity,
    pairOfCapacity: pair / serial / capacity,
    timeTo475: Object.fromEntries(
      Object.entries(solve).map(([seed, s]) => [seed, {
        trainSeconds: { serial: median(s.serial), pair: median(s.pair) },
        sinceStartSeconds: { serial: median(s.serialStart), pair: median(s.pairStart) },
      }]),
    ),
  },
  null,
  2,
));
