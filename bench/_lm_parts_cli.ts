// The README's `rlhf-ppo` command with gradientParts 1, gradientParts 2 and gradientParts 2 with
// one worker, as CLI processes taking turns round by round (the order rotating), so that the
// machine's load falls on all alike: each run's wall seconds and training seconds (the CLI's
// "Stopped … in X s of training"), and whether the worker's run logged the numbers of the run
// without it (every metric but time, SPS and perf/*, every iteration).
//
//   deno run -A bench/_lm_parts_cli.ts '{"model":"runs/sft","reward":"runs/rm","rounds":2,
//     "out":"lm_parts_cli.json"}'
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));
const args = JSON.parse(Deno.args[0] ?? "{}") as {
  model: string;
  reward: string;
  rounds?: number;
  totalTimesteps?: number;
  out?: string;
  /** More flags for every run (e.g. ["--num-minibatches", "1"]). */
  flags?: string[];
};
const SETUPS: Record<string, string[]> = {
  parts1: ["--gradient-parts", "1", "--num-workers", "0"],
  parts2: ["--gradient-parts", "2", "--num-workers", "0"],
  parts2worker: ["--gradient-parts", "2", "--num-workers", "1"],
};
const keys = Object.keys(SETUPS), rounds = args.rounds ?? 1;
const dir = await Deno.makeTempDir({ prefix: "proximal_lm_parts_" });

interface Run {
  wallSeconds: number;
  trainingSeconds: number;
  metrics: Record<string, number>[];
}

async function run(key: string, round: number): Promise<Run> {
  const out = `${dir}/${key}-${round}`, start = performance.now();
  const output = await new Deno.Command(Deno.execPath(), {
    args: [
      "run",
      "-A",
      "cli/mod.ts",
      ...["--env", "text-completion", "--algo", "rlhf-ppo", "--model", args.model],
      ...["--reward", args.reward, "--num-envs", "32"],
      ...["--total-timesteps", String(args.totalTimesteps ?? 30720), "--out", out],
      ...SETUPS[key]!,
      ...args.flags ?? [],
    ],
    cwd: ROOT,
    stdout: "piped",
    stderr: "piped",
  }).output();
  const wallSeconds = (performance.now() - start) / 1000;
  const stdout = new TextDecoder().decode(output.stdout);
  if (!output.success) {
    throw new Error(`${key} failed:\n${stdout}\n${new TextDecoder().decode(output.stderr)}`);
  }
  const trained = stdout.match(/in ([\d.]+) s of training/);
  const metrics = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n")
    .map((line) => JSON.parse(line) as Record<string, number>);
  return { wallSeconds, trainingSeconds: Number(trained?.[1] ?? NaN), metrics };
}

/** Metric values that differ between two runs, but for time, SPS and perf/*. */
function differing(a: Run, b: Run): { values: number; differing: number } {
  let values = 0, count = 0;
  a.metrics.forEach((row, i) => {
    for (const [k, v] of Object.entries(row)) {
      if (k === "time" || k === "charts/SPS" || k.startsWith("perf/")) continue;
      values++;
      if (!Object.is(v, b.metrics[i]?.[k])) count++;
    }
  });
  return { values, differing: count };
}

const runs = new Map<string, Run[]>(keys.map((k) => [k, []]));
for (let round = 0; round < rounds; round++) {
  for (let i = 0; i < keys.length; i++) {
    const key = keys[(i + round) % keys.length]!, result = await run(key, round);
    runs.get(key)!.push(result);
    console.log(
      `round ${round + 1} ${key}: ${
        result.wallSeconds.toFixed(1)
      } s (training ${result.trainingSeconds} s)`,
    );
  }
}
await Deno.remove(dir, { recursive: true });

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b), mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
};
const r2 = (x: number) => Math.round(x * 100) / 100;
const ratio = (a: string, b: string) =>
  r2(median(runs.get(a)!.map((r, i) => runs.get(b)![i]!.trainingSeconds / r.trainingSeconds)));
const result = {
  summary: true,
  rounds,
  model: args.model,
  reward: args.reward,
  flags: args.flags ?? [],
  setups: Object.fromEntries(keys.map((key) => {
    const list = runs.get(key)!;
    return [key, {
      flags: SETUPS[key]!.join(" "),
      wallSeconds: list.map((r) => r2(r.wallSeconds)),
      trainingSeconds: list.map((r) => r.trainingSeconds),
      updateMsMedian: r2(median(list.flatMap((r) => r.metrics.map((m) => m["perf/update_ms"]!)))),
      rolloutMsMedian: r2(median(list.flatMap((r) => r.metrics.map((m) => m["perf/rollout_ms"]!)))),
    }];
  })),
  // Training-speed ratios (training seconds b ÷ a), median of the rounds.
  speedup: {
    workerVsParts1: ratio("parts2worker", "parts1"),
    workerVsParts2: ratio("parts2worker", "parts2"),
    parts2VsParts1: ratio("parts2", "parts1"),
  },
  sameNumbers: runs.get("parts2")!.map((r, i) => differing(r, runs.get("parts2worker")![i]!)),
};
console.log(JSON.stringify(result));
if (args.out) await Deno.writeTextFile(args.out, JSON.stringify(result, null, 2) + "\n");
