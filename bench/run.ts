/**
 * `deno task bench`: proximal's performance on this machine, as one JSON file (default
 * `bench/results/bench.json`; keys documented in the README) and short tables on stdout.
 *
 *  1. CartPole PPO, presets `quick`, `fast` and `cleanrl`, seeds 1–3, each run in a fresh
 *     process: the anchors' measure (training seconds and env steps until the mean of the last 20
 *     training episodes first reaches 475), time to solve (a 100-episode deterministic evaluation
 *     ≥ 475), from process start, throughput, rollout and update cost, peak memory; then the same
 *     on held-out seeds 11–20, beside another checkout's `fast` (`--baseline DIR`).
 *  2. Scaling of throughput, rollout and update cost with `--num-envs` (1 … 64) and hidden width
 *     (64 … 512).
 *  3. Workers: env steps/s with 0, 1 and 2 Deno Workers (1 and 2 shards); and the CLI's
 *     `--seeds` (part `seeds`): eight seeds in one thread, with its workers, and in two
 *     processes at once (bench/_seeds.ts).
 *  4. Kernels: tfjs-wasm's act and update cost per sample beside a plain Float32Array MLP.
 *  5. Generation throughput of the RLHF language model with and without its state cache.
 *  6. RL speed on the text env (`rlSpeed`): PPO/GRPO/RLOO training tokens/s, rollout and update
 *     apart, against `--baseline` taking turns (bench/_rl_speed.ts).
 *  7. RLHF: the README's four stage commands, each a CLI process (`bench/_stages.ts`, part
 *     `stages`), and the whole loop (`examples/rlhf.ts`), their times and figures (skip both:
 *     --no-rlhf).
 */
import { parseArgs } from "node:util";
import { fileURLToPath } from "node:url";
import { Ppo, ppo } from "@proximal/algos";
import { Rng, setupBackend } from "@proximal/core";
import { GruLanguageModel, WordTokenizer } from "@proximal/models";
import { CartPole, loadSentimentCorpus, splitPrompt } from "@proximal/envs";
import { measureKernels } from "./_kernels.ts";
import { measureWorkers } from "./_workers.ts";
import { measureSeeds } from "./_seeds.ts";
import { measureRlSpeed } from "./_rl_speed.ts";
import { measureStages } from "./_stages.ts";

/** The bench's parts, in the order they run (`--parts` picks some). */
const PARTS = [
  "presets",
  "heldOut",
  "startup",
  "scaling",
  "workers",
  "seeds",
  "kernels",
  "generation",
  "rlSpeed",
  "stages",
  "rlhf",
] as const;

const { values } = parseArgs({
  args: Deno.args,
  options: {
    out: { type: "string", default: "bench/results/bench.json" },
    seeds: { type: "string", default: "1,2,3" },
    "held-out": { type: "string", default: "11,12,13,14,15,16,17,18,19,20" },
    baseline: { type: "string", default: "" },
    "held-out-presets": { type: "string", default: "quick,fast,sample-efficient" },
    parts: { type: "string", default: PARTS.join(",") },
    "no-rlhf": { type: "boolean", default: false },
    "rl-model": { type: "string", default: "" },
    "rl-reward": { type: "string", default: "" },
    "rl-rounds": { type: "string", default: "3" },
  },
});
const seeds = seedList("--seeds", values.seeds);
const heldOutSeeds = seedList("--held-out", values["held-out"]);
const parts = new Set(values.parts.split(",").filter((p) => p !== ""));
for (const part of parts) {
  if (!(PARTS as readonly string[]).includes(part)) {
    console.error(
      `error: Unknown bench part "${part}" in --parts: choose from ${PARTS.join(", ")}`,
    );
    Deno.exit(2);
  }
}
if (values["no-rlhf"]) { for (const part of ["stages", "rlhf"]) parts.delete(part); }
const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** A list of seeds from a flag: whole numbers separated by commas (empty: none). */
function seedList(flag: string, text: string): number[] {
  const list = text === "" ? [] : text.split(",").map(Number);
  if (!list.every(Number.isInteger)) {
    console.error(`error: ${flag} takes whole numbers separated by commas, e.g. 1,2,3`);
    Deno.exit(2);
  }
  return list;
}
await setupBackend("wasm");

// ──────────────────────────────── 1. Presets ────────────────────────────────

interface SolveRun {
  preset: string;
  seed: number;
  /** Workers the run used (absent from a baseline checkout's runs). */
  numWorkers?: number;
  /** Seconds since process start: modules loaded, backend ready, trainer built, first iteration. */
  startup?: {
    importedSeconds: number;
    backendSeconds: number;
    trainerSeconds: number;
    firstIterationSeconds: number;
  };
  anchor: { trainSeconds: number; envSteps: number; sinceStartSeconds: number } | null;
  solved: { envSteps: number; sinceStartSeconds: number; trainSeconds: number } | null;
  evalMean: number;
  evaluations: number;
  envSteps: number;
  trainSeconds: number;
  trainingStepsPerSecond: number;
  rolloutMicrosPerEnvStep: number;
  updateMicrosPerSampleEpoch: number;
  peakRssMiB: number;
  peakTensorMiB: number;
  /** Measured outside: from spawning the process to its exit. */
  processWallSeconds: number;
}

/** One run of `bench/_solve_run.ts`, in this checkout or in `root` (another checkout's). */
async function solveRun(preset: string, seed: number, root = ROOT): Promise<SolveRun> {
  const start = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "bench/_solve_run.ts", JSON.stringify({ preset, seed })],
    cwd: root,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const processWallSeconds = (performance.now() - start) / 1000;
  if (output.code !== 0) {
    throw new Error(
      `Run ${preset} seed ${seed} failed:\n${new TextDecoder().decode(output.stderr)}`,
    );
  }
  const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
  return { ...JSON.parse(lines.at(-1)!), processWallSeconds };
}

const presets: Record<string, unknown> = {};
console.log("CartPole-v1 PPO, one process per run (seconds; steps in thousands)");
console.log(
  "preset   seed  20-ep mean ≥ 475: train s / steps   eval ≥ 475: since start s / steps   steps/s",
);
for (const name of parts.has("presets") ? ["quick", "fast", "cleanrl"] : []) {
  const preset = ppo.presets![name]!;
  const runs: SolveRun[] = [];
  for (const seed of seeds) {
    const run = await solveRun(name, seed);
    runs.push(run);
    console.log(
      `${name.padEnd(9)}${String(seed).padEnd(6)}${
        run.anchor
          ? `${run.anchor.trainSeconds.toFixed(2)} / ${(run.anchor.envSteps / 1000).toFixed(1)}k`
          : "–"
      }`.padEnd(50) +
        `${
          run.solved
            ? `${run.solved.sinceStartSeconds.toFixed(2)} / ${
              (run.solved.envSteps / 1000).toFixed(1)
            }k`
            : "not solved"
        }`.padEnd(36) + run.trainingStepsPerSecond,
    );
  }
  const med = (f: (r: SolveRun) => number | null | undefined) =>
    median(runs.map((r) => f(r) ?? Infinity));
  presets[name] = {
    description: preset.description,
    numEnvs: preset.numEnvs ?? 4,
    options: { ...ppo.defaults, ...preset.options },
    runs,
    median: {
      anchorTrainSeconds: med((r) => r.anchor?.trainSeconds),
      anchorEnvSteps: med((r) => r.anchor?.envSteps),
      solveSecondsSinceStart: med((r) => r.solved?.sinceStartSeconds),
      solveEnvSteps: med((r) => r.solved?.envSteps),
      solveEvalMean: med((r) => r.solved ? r.evalMean : -Infinity),
      trainingStepsPerSecond: med((r) => r.trainingStepsPerSecond),
      rolloutMicrosPerEnvStep: med((r) => r.rolloutMicrosPerEnvStep),
      updateMicrosPerSampleEpoch: med((r) => r.updateMicrosPerSampleEpoch),
      peakRssMiB: med((r) => r.peakRssMiB),
    },
    spread: {
      anchorTrainSeconds: range(runs.map((r) => r.anchor?.trainSeconds ?? Infinity)),
      solveSecondsSinceStart: range(runs.map((r) => r.solved?.sinceStartSeconds ?? Infinity)),
    },
    solvedSeeds: runs.filter((r) => r.solved).length,
  };
}

// ──────────────────────────── 1b. Held-out seeds ────────────────────────────

/** Figures of one set of runs on the held-out seeds. */
function heldOutSummary(runs: SolveRun[]): Record<string, unknown> {
  const med = (f: (r: SolveRun) => number | null | undefined) =>
    round(middle(runs.map((r) => f(r) ?? Infinity)));
  return {
    runs,
    median: {
      anchorTrainSeconds: med((r) => r.anchor?.trainSeconds),
      anchorEnvSteps: med((r) => r.anchor?.envSteps),
      anchorSecondsSinceStart: med((r) => r.anchor?.sinceStartSeconds),
      solveSecondsSinceStart: med((r) => r.solved?.sinceStartSeconds),
      solveEnvSteps: med((r) => r.solved?.envSteps),
      trainingStepsPerSecond: med((r) => r.trainingStepsPerSecond),
      firstIterationSecondsSinceStart: med((r) => r.startup?.firstIterationSeconds),
    },
    spread: {
      anchorTrainSeconds: range(runs.map((r) => r.anchor?.trainSeconds ?? Infinity)),
      anchorEnvSteps: range(runs.map((r) => r.anchor?.envSteps ?? Infinity)),
    },
    solvedSeeds: runs.filter((r) => r.solved).length,
    minEvalMean: Math.min(...runs.map((r) => r.evalMean)),
  };
}

// Seeds no sweep saw: `--held-out-presets` (default `quick`, `fast` and `sample-efficient`), and
// with `--baseline DIR` another checkout's `fast` (say, the previous main), taking turns seed by seed
// (the baseline first, then each preset) so that the machine's load falls on each alike.
const heldOut: Record<string, unknown> = {};
if (parts.has("heldOut") && heldOutSeeds.length > 0) {
  const heldOutPresets = values["held-out-presets"].split(",").filter((p) => p !== "");
  for (const name of heldOutPresets) {
    if (!ppo.presets?.[name]) {
      console.error(`error: Unknown PPO preset "${name}" in --held-out-presets`);
      Deno.exit(2);
    }
  }
  const contenders: { key: string; preset: string; root: string }[] = heldOutPresets.map((
    name,
  ) => ({ key: name, preset: name, root: ROOT }));
  if (values.baseline !== "") {
    contenders.unshift({ key: "baseline", preset: "fast", root: values.baseline });
  }
  const runs = new Map(contenders.map((c) => [c.key, [] as SolveRun[]]));
  console.log(
    `\nHeld-out seeds ${heldOutSeeds.join(",")}: 20-ep mean ≥ 475 train s / steps, eval mean`,
  );
  for (const seed of heldOutSeeds) {
    const line: string[] = [];
    for (const c of contenders) {
      const run = await solveRun(c.preset, seed, c.root);
      runs.get(c.key)!.push(run);
      line.push(
        `${c.key} ${run.anchor?.trainSeconds.toFixed(2) ?? "–"} / ${
          run.anchor ? (run.anchor.envSteps / 1000).toFixed(1) + "k" : "–"
        } ${run.evalMean.toFixed(0)}`,
      );
    }
    console.log(`  ${String(seed).padEnd(4)}${line.join("   ")}`);
  }
  for (const c of contenders) heldOut[c.key] = heldOutSummary(runs.get(c.key)!);
  heldOut.seeds = heldOutSeeds;
  heldOut.baselineRoot = values.baseline === "" ? null : values.baseline;
  // Each preset's median time to 475 (training; from process start to the evaluation ≥ 475)
  // against the baseline's `fast` (else this `fast`).
  const reference = values.baseline === "" ? "fast" : "baseline";
  const speedups = (field: "anchorTrainSeconds" | "solveSecondsSinceStart") => {
    const of = (key: string) =>
      (heldOut[key] as { median: Record<string, number> } | undefined)?.median[field];
    const versus = of(reference);
    return versus === undefined
      ? null
      : Object.fromEntries(heldOutPresets.map((name) => [name, round(versus / of(name)!)]));
  };
  heldOut.speedupVsBaseline = speedups("anchorTrainSeconds");
  heldOut.solveSpeedupVsBaseline = speedups("solveSecondsSinceStart");
}

// ──────────────────────────── 1c. Start-up ────────────────────────────

/**
 * Process start to the end of the first training iteration through the CLI (`deno run -A
 * cli/mod.ts --preset fast` for two iterations, no evaluation): from spawn to the progress line the
 * first iteration prints, and to exit (which adds the second iteration, the checkpoint and the
 * learning curves). With no workers and with 2, and with `--baseline DIR` that checkout's CLI too,
 * taking turns round by round.
 */
async function measureStartup(rounds: number): Promise<Record<string, unknown>> {
  const fast = ppo.presets!.fast!;
  const oneIteration = (fast.numEnvs ?? 4) * (fast.options.numSteps ?? 128);
  const dir = await Deno.makeTempDir({ prefix: "proximal_bench_startup_" });
  const contenders = [
    { key: "workers0", root: ROOT, workers: 0 },
    { key: "workers2", root: ROOT, workers: 2 },
    ...(values.baseline === "" ? [] : [{ key: "baseline", root: values.baseline, workers: 0 }]),
  ];
  const times = new Map(
    contenders.map((c) => [c.key, { first: [] as number[], exit: [] as number[] }]),
  );
  for (let round = 0; round < rounds; round++) {
    for (const { key, root, workers } of contenders) {
      const start = performance.now();
      const child = new Deno.Command(Deno.execPath(), {
        args: [
          "run",
          "-A",
          "cli/mod.ts",
          ...["--preset", "fast", "--num-workers", String(workers), "--seed", "1"],
          ...["--total-timesteps", String(2 * oneIteration), "--eval-episodes", "0"],
          ...["--out", `${dir}/${key}-${round}`],
        ],
        cwd: root,
        stdout: "piped",
        stderr: "piped",
      }).spawn();
      let first = NaN, text = "";
      const decoder = new TextDecoder();
      for await (const chunk of child.stdout) {
        text += decoder.decode(chunk, { stream: true });
        if (Number.isNaN(first) && / env steps \(/.test(text)) first = performance.now() - start;
      }
      const status = await child.status;
      if (!status.success || Number.isNaN(first)) {
        const stderr = decoder.decode(await new Response(child.stderr).arrayBuffer());
        throw new Error(`Start-up run ${key} failed: ${stderr || text}`);
      }
      await child.stderr.cancel();
      const entry = times.get(key)!;
      entry.first.push(first / 1000);
      entry.exit.push((performance.now() - start) / 1000);
    }
  }
  await Deno.remove(dir, { recursive: true });
  const summary = (key: string) => {
    const entry = times.get(key);
    return entry
      ? {
        firstIterationSeconds: round(middle(entry.first)),
        exitSeconds: round(middle(entry.exit)),
      }
      : null;
  };
  const workers0 = summary("workers0")!, baseline = summary("baseline");
  return {
    rounds,
    iterationEnvSteps: oneIteration,
    cliFirstIterationSeconds: workers0.firstIterationSeconds,
    cliExitSeconds: workers0.exitSeconds,
    cliFirstIterationSecondsWorkers2: summary("workers2")!.firstIterationSeconds,
    baseline: baseline && {
      root: values.baseline,
      ...baseline,
      firstIterationRatio: round(workers0.firstIterationSeconds / baseline.firstIterationSeconds),
    },
  };
}

let startup: Record<string, unknown> | null = null;
if (parts.has("startup")) {
  startup = await measureStartup(7);
  const versus = startup.baseline as { firstIterationSeconds: number } | null;
  console.log(
    `\nStart-up, CLI --preset fast, spawn to the first iteration's end: ${startup.cliFirstIterationSeconds} s (0 workers), ${startup.cliFirstIterationSecondsWorkers2} s (2 workers)${
      versus ? `; the baseline ${versus.firstIterationSeconds} s` : ""
    }`,
  );
}

// ──────────────────────────────── 2. Scaling ────────────────────────────────

interface ScalingRow {
  numEnvs: number;
  hiddenSize: number;
  batchSize: number;
  trainingStepsPerSecond: number;
  rolloutMicrosPerEnvStep: number;
  updateMicrosPerSampleEpoch: number;
}

/** Throughput of the fast preset at one shape, over ≥ 8,192 env steps after a warm-up iteration. */
async function measureShape(numEnvs: number, hiddenSize: number): Promise<ScalingRow> {
  // In this thread: the scaling of one trainer's own work.
  const options = { ...ppo.presets!.fast!.options, hiddenSize, numWorkers: 0 };
  const trainer = new Ppo({
    makeEnv: () => new CartPole(),
    numEnvs,
    seed: 1,
    totalTimesteps: 1_000_000,
  }, options);
  await trainer.iterate();
  let steps = 0, ms = 0, rolloutMs = 0, updateMs = 0;
  while (steps < 8192) {
    const before = trainer.step, t0 = performance.now();
    const { metrics } = await trainer.iterate();
    ms += performance.now() - t0;
    steps += trainer.step - before;
    rolloutMs += metrics["perf/rollout_ms"] ?? 0;
    updateMs += metrics["perf/update_ms"] ?? 0;
  }
  const row = {
    numEnvs,
    hiddenSize,
    batchSize: numEnvs * trainer.options.numSteps,
    trainingStepsPerSecond: Math.round(steps / (ms / 1000)),
    rolloutMicrosPerEnvStep: round((rolloutMs * 1000) / steps),
    updateMicrosPerSampleEpoch: round((updateMs * 1000) / (steps * trainer.options.updateEpochs)),
  };
  trainer.dispose();
  return row;
}

const fastEnvs = ppo.presets!.fast!.numEnvs ?? 4;
const scaling = { numEnvs: [] as ScalingRow[], hiddenSize: [] as ScalingRow[] };
if (parts.has("scaling")) {
  for (const n of [1, 2, 4, 8, 16, 32, 64]) scaling.numEnvs.push(await measureShape(n, 64));
  for (const h of [64, 128, 256, 512]) scaling.hiddenSize.push(await measureShape(fastEnvs, h));
}
if (parts.has("scaling")) {
  console.log(
    "\nScaling (fast preset): envs  hidden  batch  steps/s  rollout µs/step  update µs/sample",
  );
  for (const r of [...scaling.numEnvs, ...scaling.hiddenSize]) {
    console.log(
      `  ${String(r.numEnvs).padEnd(6)}${String(r.hiddenSize).padEnd(8)}${
        String(r.batchSize).padEnd(7)
      }${String(r.trainingStepsPerSecond).padEnd(9)}${
        String(r.rolloutMicrosPerEnvStep).padEnd(17)
      }${r.updateMicrosPerSampleEpoch}`,
    );
  }
}

// ──────────────────────────────── 3. Workers ────────────────────────────────

const workers = parts.has("workers") ? await measureWorkers() : [];
if (parts.has("workers")) {
  console.log(
    "\nWorkers: env steps/s with workers/shards 0/1, 1/1, 2/1, 1/2, 2/2; speed-ups 2 vs 1 and 2 vs 0 with 1 shard, then with 2 shards; the capacity the machine gave (two trainers in two processes, arithmetic, allocation)",
  );
  for (const w of workers) {
    const x = (v: number | null) => `${v?.toFixed(2)}×`;
    console.log(
      `  ${w.config.padEnd(26)}${w.runs.map((r) => r.stepsPerSecond).join(" / ")}  ${
        x(w.speedup2vs1OneShard)
      }, ${x(w.speedup2vs0OneShard)}; ${x(w.speedup2vs1)}, ${x(w.speedup2vs0)}  (capacity ${
        w.independentCapacity?.toFixed(2)
      }, ${w.parallelCapacity.toFixed(2)}, ${w.allocationCapacity.toFixed(2)})`,
    );
  }
}

const seedRuns = parts.has("seeds") ? await measureSeeds() : [];
if (parts.has("seeds")) {
  console.log(
    "\n--seeds 1-8: seconds in one thread / with its workers / in two processes at once (median of 3 rounds); workers' speed-up, the independent capacity, the workers' share of it",
  );
  for (const r of seedRuns) {
    console.log(
      `  ${r.preset.padEnd(8)} ${r.totalTimestepsPerSeed.toLocaleString("en-US")} steps a seed: ${
        r.oneThreadSeconds.join(", ")
      } / ${r.workersSeconds.join(", ")} / ${
        r.twoProcessesSeconds.join(", ")
      } s → ${r.workersSpeedup}× of ${r.independentCapacity}× (${
        (100 * r.ofCapacity).toFixed(0)
      } %), ${r.workersStepsPerSecond.toLocaleString("en-US")} env steps/s`,
    );
  }
}

// ──────────────────────────────── 4. Kernels ────────────────────────────────

const kernels = parts.has("kernels")
  ? await measureKernels({ hidden: [64, 256], batch: [4, 256, 1024] })
  : [];
if (parts.has("kernels")) {
  console.log(
    "\nhidden  batch  act µs/sample tfjs / ref (ratio)  update µs/sample tfjs / ref (ratio)",
  );
  for (const k of kernels) {
    console.log(
      `${String(k.hidden).padEnd(8)}${
        String(k.batch).padEnd(7)
      }${k.actMicrosPerSampleTfjs} / ${k.actMicrosPerSampleReference} (${k.actRatio})`
        .padEnd(48) +
        `${k.updateMicrosPerSampleTfjs} / ${k.updateMicrosPerSampleReference} (${k.updateRatio})`,
    );
  }
}

// ──────────────────────────────── 5. Generation ────────────────────────────────

async function measureGeneration(): Promise<Record<string, unknown>> {
  const corpus = await loadSentimentCorpus();
  const tokenizer = WordTokenizer.fromTexts(corpus.map((s) => s.text));
  const prompts = corpus.slice(0, 256).flatMap((s) => {
    const split = splitPrompt(s.text, { promptWords: 3 });
    return split ? [Int32Array.from([1, ...tokenizer.encode(split.prompt)])] : [];
  });
  // The RLHF example's shape; untrained weights rarely end early, so every row writes 16 tokens.
  const model = new GruLanguageModel(tokenizer.vocabSize, { seed: 1 });
  const rows = [];
  for (const batch of [1, 64, 256]) {
    const row: Record<string, number> = { batch, maxNewTokens: 16 };
    for (const useCache of [true, false]) {
      const input = prompts.slice(0, batch);
      model.generate(input, { maxNewTokens: 16, rng: new Rng(0), useCache });
      let tokens = 0;
      const start = performance.now();
      do {
        const { completions } = model.generate(input, {
          maxNewTokens: 16,
          rng: new Rng(1),
          useCache,
        });
        tokens += completions.reduce((a, c) => a + c.length, 0);
      } while (performance.now() - start < 1000);
      row[useCache ? "tokensPerSecondCached" : "tokensPerSecondUncached"] = Math.round(
        tokens / ((performance.now() - start) / 1000),
      );
    }
    row.cacheSpeedup = round(row.tokensPerSecondCached! / row.tokensPerSecondUncached!);
    rows.push(row);
  }
  model.dispose();
  return { vocabulary: tokenizer.vocabSize, embeddingSize: 64, hiddenSize: 128, rows };
}
const generation = parts.has("generation") ? await measureGeneration() : { rows: [] };
if (parts.has("generation")) {
  console.log("\nGeneration (GRU LM, 16 new tokens): batch  tokens/s cached / uncached");
}
for (const r of generation.rows as Record<string, number>[]) {
  console.log(
    `  ${
      String(r.batch).padEnd(6)
    }${r.tokensPerSecondCached} / ${r.tokensPerSecondUncached} (${r.cacheSpeedup}×)`,
  );
}

// ──────────────────────────────── 6. RL speed ────────────────────────────────

/** `--rl-model` and `--rl-reward`, else an SFT model and a reward model trained here (~5 min). */
async function rlSources(): Promise<{ model: string; reward: string; made: string | null }> {
  if (values["rl-model"] !== "" && values["rl-reward"] !== "") {
    return { model: values["rl-model"], reward: values["rl-reward"], made: null };
  }
  const dir = await Deno.makeTempDir({ prefix: "proximal_bench_rl_" });
  for (
    const args of [
      ["--algo", "sft", "--out", `${dir}/sft`],
      ["--algo", "reward-model", "--model", `${dir}/sft`, "--out", `${dir}/rm`],
    ]
  ) {
    const output = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "cli/mod.ts", "--env", "text-completion", ...args],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
    }).output();
    if (!output.success) {
      throw new Error(
        `RL speed's ${args[1]} run failed: ${new TextDecoder().decode(output.stderr)}`,
      );
    }
  }
  return { model: `${dir}/sft`, reward: `${dir}/rm`, made: dir };
}

let rlSpeed: Record<string, unknown> | null = null;
if (parts.has("rlSpeed")) {
  const rounds = Number(values["rl-rounds"]);
  if (!Number.isInteger(rounds) || rounds < 1) {
    console.error(`error: --rl-rounds takes a whole number >= 1, got ${values["rl-rounds"]}`);
    Deno.exit(2);
  }
  console.log(
    `\nRL speed on the text env (32 envs), tokens/s wall (CPU)${
      values.baseline === "" ? "" : `, against ${values.baseline}`
    } …`,
  );
  const sources = await rlSources();
  rlSpeed = await measureRlSpeed(ROOT, {
    model: sources.model,
    reward: sources.reward,
    baseline: values.baseline,
    rounds,
    log: (line) => console.log(line),
  });
  if (sources.made) await Deno.remove(sources.made, { recursive: true });
  type Row = Record<string, number | null>;
  type Case = { versus: string; new: { median: Row }; speedup: Row };
  for (const [key, c] of Object.entries(rlSpeed.cases as Record<string, Case>)) {
    const m = c.new.median, s = c.speedup;
    console.log(
      `  ${
        key.padEnd(26)
      }${m.tokensPerSecond} tok/s (rollout ${m.rolloutTokensPerSecond}, update ${m.updateTokensPerSecond}; CPU ${m.tokensPerCpuSecond})` +
        (s.tokensPerSecond === null
          ? ""
          : `  ×${s.tokensPerSecond} vs old ${c.versus} (CPU ×${s.tokensPerCpuSecond})`),
    );
  }
}

// ──────────────────────── 7. RLHF: the README's four stages ────────────────────────

let stages: unknown = null;
if (parts.has("stages")) {
  console.log(
    "\nThe README's four RLHF stage commands (sft, reward-model, rlhf-ppo, dpo), seed 1 …",
  );
  stages = await measureStages(1);
}

// ──────────────────────────────── 7. RLHF: the loop ────────────────────────────────

let rlhf: unknown = null;
if (parts.has("rlhf")) {
  const dir = await Deno.makeTempDir({ prefix: "proximal_bench_rlhf_" });
  console.log("\nRLHF loop (examples/rlhf.ts) …");
  const start = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "examples/rlhf.ts", "--out", dir],
    cwd: ROOT,
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (output.code !== 0) throw new Error("The RLHF loop failed (its error is above)");
  rlhf = {
    ...JSON.parse(await Deno.readTextFile(`${dir}/report.json`)),
    processWallSeconds: round((performance.now() - start) / 1000),
  };
  const stdout = new TextDecoder().decode(output.stdout);
  console.log(stdout.split("\n== 6. evaluation")[1]?.trim() ?? stdout);
  await Deno.remove(dir, { recursive: true });
}

// ──────────────────────────────── Write ────────────────────────────────

const result = {
  benchmark: "proximal",
  date: new Date().toISOString(),
  deno: Deno.version.deno,
  backend: "wasm",
  cpus: navigator.hardwareConcurrency,
  cartpole: { ...presets, heldOut },
  startup,
  scaling,
  workers,
  seeds: seedRuns,
  kernels,
  generation,
  rlSpeed,
  stages,
  rlhf,
};
await Deno.mkdir(values.out.replace(/\/[^/]*$/, "") || ".", { recursive: true });
await Deno.writeTextFile(values.out, JSON.stringify(result, null, 2) + "\n");
console.log(`\n→ ${values.out}`);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** The median proper (the mean of the middle two of an even count). */
function middle(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b), mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

function range(xs: number[]): [number, number] {
  return [Math.min(...xs), Math.max(...xs)];
}

function round(x: number): number {
  return Math.round(x * 100) / 100;
}
