// PPO's update on the text env in gradient parts, on one thread or two: iterations of the
// `rlhf-ppo` stage's PPO (32 envs × 16 tokens, VADER reward, the KL leash) with gradientParts 1,
// gradientParts 2 on this thread, and gradientParts 2 with one worker, in one process, taking
// turns iteration by iteration (the order rotating each round), so that the machine's load falls
// on all alike. The worker's run waits for its worker before the timed iterations.
//
//   deno run -A bench/_lm_parts.ts '{"rounds":8,"options":{"numMinibatches":4},"model":"runs/sft"}'
//
// Prints a line per round and, last, a JSON summary: per set-up the medians of the update's and
// the iteration's milliseconds and tokens/s, and the medians of the rounds' ratios.
import { FixedKlController, klPenalty, Ppo, type PpoOptions } from "@proximal/algos";
import { setupBackend } from "@proximal/core";
import { GruLanguageModel, LmPolicy } from "@proximal/models";
import { sentimentTask, sentimentTaskDefaults, TextCompletionEnv } from "@proximal/envs";
import { scoreEpisodes, vaderJudge } from "@proximal/reward-models";
import { loadLanguageModel, refKlDefaults, rlhfPpoDefaults } from "@proximal/rlhf";

const args = JSON.parse(Deno.args[0] ?? "{}") as {
  rounds?: number;
  model?: string;
  numEnvs?: number;
  options?: Partial<PpoOptions>;
  /** Set-ups to run (default all three). */
  setups?: string[];
  out?: string;
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

const trainers = keys.map((key) => ({ key, ppo: trainer(SETUPS[key]!) }));
await Promise.all(trainers.map((t) => t.ppo.ready));
// One warm-up iteration each (kernels compiled, caches filled).
for (const t of trainers) await t.ppo.iterate();

interface Row {
  ms: number;
  rolloutMs: number;
  updateMs: number;
  workers: number;
}
const rows = new Map<string, Row[]>(keys.map((k) => [k, []]));
for (let round = 0; round < rounds; round++) {
  const order = trainers.map((_, i) => trainers[(i + round) % trainers.length]!);
  const line: string[] = [];
  for (const t of order) {
    const start = performance.now();
    const { metrics } = await t.ppo.iterate();
    const row = {
      ms: performance.now() - start,
      rolloutMs: metrics["perf/rollout_ms"]!,
      updateMs: metrics["perf/update_ms"]!,
      workers: metrics["perf/workers"] ?? 0,
    };
    rows.get(t.key)!.push(row);
    line.push(`${t.key} ${Math.round(row.ms)} ms (update ${Math.round(row.updateMs)})`);
  }
  console.log(`round ${round + 1}: ${line.join(", ")}`);
}
for (const t of trainers) t.ppo.dispose();

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b), mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const r1 = (x: number) => Math.round(x * 10) / 10, r2 = (x: number) => Math.round(x * 100) / 100;
const summary: Record<string, unknown> = {};
for (const key of keys) {
  const list = rows.get(key)!;
  summary[key] = {
    options: SETUPS[key],
    updateMs: r1(median(list.map((r) => r.updateMs))),
    rolloutMs: r1(median(list.map((r) => r.rolloutMs))),
    iterationMs: r1(median(list.map((r) => r.ms))),
    tokensPerSecond: Math.round(tokensPerIteration / (median(list.map((r) => r.ms)) / 1000)),
    workersPerIteration: median(list.map((r) => r.workers)),
  };
}
/** Medians of the rounds' ratios a ÷ b of the update's and the iteration's speed. */
const ratio = (a: string, b: string) => {
  if (!rows.has(a) || !rows.has(b)) return null;
  const ra = rows.get(a)!, rb = rows.get(b)!;
  return {
    update: r2(median(ra.map((r, i) => rb[i]!.updateMs / r.updateMs))),
    tokensPerSecond: r2(median(ra.map((r, i) => rb[i]!.ms / r.ms))),
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
  speedup: {
    workerVsParts1: ratio("parts2worker", "parts1"),
    workerVsParts2: ratio("parts2worker", "parts2"),
    parts2VsParts1: ratio("parts2", "parts1"),
  },
};
console.log(JSON.stringify(result));
if (args.out) await Deno.writeTextFile(args.out, JSON.stringify(result, null, 2) + "\n");
Deno.exit(0);
