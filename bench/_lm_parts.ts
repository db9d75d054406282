// PPO's update on the text env in gradient parts, on one thread or two: iterations of the
// `rlhf-ppo` stage's PPO (32 envs × 16 tokens, VADER reward, the KL leash) with gradientParts 1,
// gradientParts 2 on this thread, and gradientParts 2 with one worker, in one process, taking
// turns iteration by iteration (the order rotating each round), so that the machine's load falls
// on all alike. The worker's run waits for its worker before the timed iterations.
//
//   deno run -A bench/_lm_parts.ts '{"rounds":8,"options":{"numMinibatches":4},"model":"runs/sft"}'
//
// Prints a line per round and, last, a JSON summary: per set-up the medians of the update's and
// the iteration's milliseconds and tokens/s, and the medians of the rounds' ratios. Before and after
// the rounds it measures the machine's independent capacity for this work: the same gradient steps
// (one minibatch of the first trainer, repeated for 5 s) in one process, then in two processes at
// once — two processes' steps/s ÷ one's, ~1.65 here when the machine is otherwise idle, ~1 when
// other jobs hold the second core (then no worker can pay). Each iteration also records the CPU
// time other processes used meanwhile (Linux's /proc), and `quiet` gives the medians over the rounds
// in which they used under 0.2 cores throughout: on a machine shared with other jobs, the figures of
// an otherwise idle machine.
import { FixedKlController, klPenalty, Ppo, ppoGradient, type PpoOptions } from "@proximal/algos";
import { setupBackend } from "@proximal/core";
import { GruLanguageModel, LmPolicy } from "@proximal/models";
import { sentimentTask, sentimentTaskDefaults, TextCompletionEnv } from "@proximal/envs";
import { scoreEpisodes, vaderJudge } from "@proximal/reward-models";
import { loadLanguageModel, refKlDefaults, rlhfPpoDefaults } from "@proximal/rlhf";

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b), mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}
function r1(x: number): number {
  return Math.round(x * 10) / 10;
}
function r2(x: number): number {
  return Math.round(x * 100) / 100;
}

if (Deno.args[0] === "--capacity") await capacityProbe(Number(Deno.args[1]));

const args = JSON.parse(Deno.args[0] ?? "{}") as {
  rounds?: number;
  model?: string;
  numEnvs?: number;
  options?: Partial<PpoOptions>;
  /** Set-ups to run (default all three). */
  setups?: string[];
  out?: string;
  /** Measure the independent capacity before and after (default true). */
  capacity?: boolean;
};
await setupBackend("wasm");
const task = sentimentTask(sentimentTaskDefaults);
const model = args.model
  ? (await loadLanguageModel(args.model, task.tokenizer)).model
  : new GruLanguageModel(task.tokenizer.vocabSize, {
    embeddingSize: 64,
    hiddenSize: 128,
    valueHead: true,
    maskedTokens: [0, 1],
    seed: 1,
  });
const prompts = task.trainPrompts.map((p) => task.promptIds(p.prompt));
const rounds = args.rounds ?? 6, numEnvs = args.numEnvs ?? 32;
const tokensPerIteration = numEnvs * rlhfPpoDefaults.numSteps;

const SETUPS: Record<string, Partial<PpoOptions>> = {
  parts1: { gradientParts: 1, numWorkers: 0 },
  parts2: { gradientParts: 2, numWorkers: 0 },
  parts2worker: { gradientParts: 2, numWorkers: 1 },
};
const keys = args.setups ?? Object.keys(SETUPS);

function trainer(setup: Partial<PpoOptions>): Ppo {
  return new Ppo({
    makeEnv: () =>
      new TextCompletionEnv({
        prompts,
        vocabSize: task.tokenizer.vocabSize,
        maxNewTokens: task.maxNewTokens,
        contextLength: task.contextLength,
        decode: task.decode,
      }),
    numEnvs,
    seed: 1,
    totalTimesteps: tokensPerIteration * (rounds + 2),
    envName: "text-completion",
    policy: new LmPolicy(model.clone(), { contextLength: task.contextLength }),
    processors: [
      scoreEpisodes(vaderJudge()),
      klPenalty(
        new LmPolicy(model.clone(), { contextLength: task.contextLength }),
        new FixedKlController(refKlDefaults.refKlCoef),
      ),
    ],
  }, { ...rlhfPpoDefaults, ...args.options, ...setup });
}

const capacityBefore = args.capacity === false ? null : await capacity();
const trainers = keys.map((key) => ({ key, ppo: trainer(SETUPS[key]!) }));
await Promise.all(trainers.map((t) => t.ppo.ready));
// One warm-up iteration each (kernels compiled, caches filled).
for (const t of trainers) await t.ppo.iterate();

interface Row {
  ms: number;
  rolloutMs: number;
  updateMs: number;
  workers: number;
  /** Cores' worth of CPU time that other processes used during the iteration (Linux; else NaN). */
  others: number;
}

/** The machine's busy CPU time and this process's (all its threads), in clock ticks. */
function cpuTicks(): { busy: number; own: number } | null {
  try {
    const [cpu] = Deno.readTextFileSync("/proc/stat").split("\n");
    const [user, nice, system, _idle, _iowait, irq, softirq, steal] = cpu!.trim().split(/\s+/)
      .slice(1).map(Number);
    const fields = Deno.readTextFileSync("/proc/self/stat").split(") ")[1]!.split(" ");
    // utime and stime are fields 14 and 15 of the stat line (12 and 13 after the name).
    const own = Number(fields[11]) + Number(fields[12]);
    return { busy: user! + nice! + system! + irq! + softirq! + steal!, own };
  } catch {
    return null;
  }
}
const TICKS_PER_SECOND = 100, QUIET_CORES = 0.2;
const rows = new Map<string, Row[]>(keys.map((k) => [k, []]));
for (let round = 0; round < rounds; round++) {
  const order = trainers.map((_, i) => trainers[(i + round) % trainers.length]!);
  const line: string[] = [];
  for (const t of order) {
    const start = performance.now(), ticks = cpuTicks();
    const { metrics } = await t.ppo.iterate();
    const after = cpuTicks(), ms = performance.now() - start;
    const row = {
      ms,
      others: ticks && after
        ? (after.busy - ticks.busy - (after.own - ticks.own)) / TICKS_PER_SECOND / (ms / 1000)
        : NaN,
      rolloutMs: metrics["perf/rollout_ms"]!,
      updateMs: metrics["perf/update_ms"]!,
      workers: metrics["perf/workers"] ?? 0,
    };
    rows.get(t.key)!.push(row);
    line.push(
      `${t.key} ${Math.round(row.ms)} ms (update ${Math.round(row.updateMs)}, others ${
        row.others.toFixed(2)
      } cores)`,
    );
  }
  console.log(`round ${round + 1}: ${line.join(", ")}`);
}
for (const t of trainers) t.ppo.dispose();
const capacityAfter = args.capacity === false ? null : await capacity();

// Quiet rounds: other processes used under 0.2 cores during each of the round's iterations.
const quiet = Array.from({ length: rounds }, (_, i) => i).filter((i) =>
  keys.every((k) => rows.get(k)![i]!.others < QUIET_CORES)
);
const summary: Record<string, unknown> = {};
const quietSummary: Record<string, unknown> = {};
for (const key of keys) {
  const list = rows.get(key)!, calm = quiet.map((i) => list[i]!);
  if (calm.length > 0) {
    quietSummary[key] = {
      updateMs: r1(median(calm.map((r) => r.updateMs))),
      iterationMs: r1(median(calm.map((r) => r.ms))),
      tokensPerSecond: Math.round(tokensPerIteration / (median(calm.map((r) => r.ms)) / 1000)),
    };
  }
  summary[key] = {
    othersCores: r2(median(list.map((r) => r.others))),
    options: SETUPS[key],
    updateMs: r1(median(list.map((r) => r.updateMs))),
    rolloutMs: r1(median(list.map((r) => r.rolloutMs))),
    iterationMs: r1(median(list.map((r) => r.ms))),
    tokensPerSecond: Math.round(tokensPerIteration / (median(list.map((r) => r.ms)) / 1000)),
    workersPerIteration: median(list.map((r) => r.workers)),
  };
}
/** Medians of the rounds' ratios a ÷ b of the update's and the iteration's speed. */
const ratio = (a: string, b: string, among = rows.get(a)?.map((_, i) => i) ?? []) => {
  if (!rows.has(a) || !rows.has(b) || among.length === 0) return null;
  const ra = rows.get(a)!, rb = rows.get(b)!;
  return {
    update: r2(median(among.map((i) => rb[i]!.updateMs / ra[i]!.updateMs))),
    tokensPerSecond: r2(median(among.map((i) => rb[i]!.ms / ra[i]!.ms))),
  };
};
const result = {
  summary: true,
  numEnvs,
  tokensPerIteration,
  rounds,
  model: args.model ?? "random init (seed 1)",
  options: { ...rlhfPpoDefaults, ...args.options },
  setups: summary,
  capacity: { before: capacityBefore, after: capacityAfter },
  speedup: {
    workerVsParts1: ratio("parts2worker", "parts1"),
    workerVsParts2: ratio("parts2worker", "parts2"),
    parts2VsParts1: ratio("parts2", "parts1"),
  },
  quiet: {
    rounds: quiet.map((i) => i + 1),
    setups: quietSummary,
    speedup: {
      workerVsParts1: ratio("parts2worker", "parts1", quiet),
      workerVsParts2: ratio("parts2worker", "parts2", quiet),
      parts2VsParts1: ratio("parts2", "parts1", quiet),
    },
  },
};
console.log(JSON.stringify(result));
if (args.out) await Deno.writeTextFile(args.out, JSON.stringify(result, null, 2) + "\n");
Deno.exit(0);

/**
 * Two processes' gradient steps/s ÷ one process's, each running {@linkcode capacityProbe} for 5 s
 * (the two started together).
 */
async function capacity(): Promise<{ one: number; two: number; ratio: number }> {
  const probe = async () => {
    const start = Date.now() + 3000;
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", import.meta.filename!, "--capacity", String(start)],
      stdout: "piped",
    }).output();
    return Number(new TextDecoder().decode(output.stdout).trim());
  };
  const one = await probe();
  const [a, b] = await Promise.all([probe(), probe()]);
  return { one: r2(one), two: r2(a! + b!), ratio: r2((a! + b!) / one) };
}

/**
 * The capacity probe: PPO's gradient of a 512-row minibatch of the stage's model shape (16 env
 * copies' prompts and completions), repeated for 5 s from `start` (epoch ms); prints steps/s.
 */
async function capacityProbe(start: number): Promise<never> {
  await setupBackend("wasm");
  const V = 2111, C = 64, copies = 32, T = 16, rows = copies * T;
  const policy = new LmPolicy(
    new GruLanguageModel(V, { embeddingSize: 64, hiddenSize: 128, maskedTokens: [0, 1], seed: 1 }),
    { contextLength: C },
  );
  const observations = new Float32Array(rows * C), actions = new Int32Array(rows);
  for (let c = 0; c < copies; c++) {
    const context = [1, 5 + c, 9 + c, 20 + c, 30, 31, 32, 40 + c];
    for (let t = 0; t < T; t++) {
      const r = c * T + t;
      observations.set(context, r * C);
      actions[r] = 3 + (c * 31 + t * 7) % 2000;
      context.push(actions[r]!);
    }
  }
  const wave = (n: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 0.5);
  const minibatch = {
    observations,
    actions,
    logProbs: wave(rows).map((x) => x - 7.6),
    values: wave(rows),
    advantages: wave(rows),
    returns: wave(rows),
  };
  const loss = { clipCoef: 0.2, clipVloss: true, entCoef: 0.01, vfCoef: 0.5, klCoef: 0 };
  for (let i = 0; i < 2; i++) ppoGradient(policy, minibatch, loss);
  while (Date.now() < start) await new Promise((r) => setTimeout(r, 5));
  const t0 = performance.now();
  let steps = 0;
  while (performance.now() - t0 < 5000) {
    ppoGradient(policy, minibatch, loss);
    steps++;
  }
  console.log(steps / ((performance.now() - t0) / 1000));
  Deno.exit(0);
}
