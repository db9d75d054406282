// The `rlSpeed` part of `deno task bench`: training tokens/s of the text env's RL stages (PPO as
// the README's `rlhf-ppo` command runs it, GRPO and RLOO), rollout and update apart, this
// checkout against a baseline checkout (say, the previous main), taking turns round by round so
// that the machine's load falls on both alike. Each measurement is a fresh process running
// `bench/_rl_speed_run.ts` with the measured checkout's `deno.json`, so both run this runner.

/** One case: a stage and its options; `newOnly` cases use options the baseline lacks. */
export interface RlSpeedCase {
  /** The key in the JSON. */
  key: string;
  algo: "rlhf-ppo" | "grpo" | "rloo";
  options?: Record<string, unknown>;
  /** Run in this checkout only (compared with the baseline's `versus` case). */
  newOnly?: { versus: string };
  /** Timed iterations after the first (warm-up) one. */
  iterations: number;
}

/** A runner's summary line (see bench/_rl_speed_run.ts). */
interface Summary {
  tokens: number;
  tokensPerSecond: number;
  tokensPerCpuSecond: number;
  rolloutTokensPerSecond: number;
  updateTokensPerSecond: number;
  rolloutMsPerIteration: number;
  updateMsPerIteration: number;
}

/**
 * The cases of the bench: the README's PPO, GRPO and RLOO at each checkout's stage defaults, and
 * each at the previous round's settings in this checkout (what the code alone changed).
 */
export const RL_SPEED_CASES: readonly RlSpeedCase[] = [
  // The README's `rlhf-ppo` command: the stage's defaults in each checkout.
  { key: "ppo", algo: "rlhf-ppo", iterations: 6 },
  // Main 01154e1's settings: 4 minibatches of whole env copies × 4 epochs at lr 3e-4.
  {
    key: "ppoPreviousSettings",
    algo: "rlhf-ppo",
    options: { numMinibatches: 4, updateEpochs: 4, learningRate: 3e-4 },
    newOnly: { versus: "ppo" },
    iterations: 4,
  },
  { key: "grpo", algo: "grpo", iterations: 4 },
  {
    key: "grpoPreviousSettings",
    algo: "grpo",
    options: { numIterations: 4, learningRate: 8e-4 },
    newOnly: { versus: "grpo" },
    iterations: 4,
  },
  { key: "rloo", algo: "rloo", iterations: 4 },
  {
    key: "rlooPreviousSettings",
    algo: "rloo",
    options: { numIterations: 4, learningRate: 1e-3 },
    newOnly: { versus: "rloo" },
    iterations: 4,
  },
];

async function runOnce(
  root: string,
  runner: string,
  args: Record<string, unknown>,
): Promise<Summary> {
  const output = await new Deno.Command(Deno.execPath(), {
    args: ["run", "-A", "--config", `${root}/deno.json`, runner, JSON.stringify(args)],
    stdout: "piped",
    stderr: "piped",
  }).output();
  if (!output.success) {
    throw new Error(
      `RL speed run failed in ${root} (${JSON.stringify(args)}):\n${
        new TextDecoder().decode(output.stderr)
      }`,
    );
  }
  const lines = new TextDecoder().decode(output.stdout).trim().split("\n");
  return JSON.parse(lines.at(-1)!) as Summary;
}

function middle(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b), mid = s.length >> 1;
  return s.length % 2 === 1 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

const r1 = (x: number) => Math.round(x * 10) / 10, r2 = (x: number) => Math.round(x * 100) / 100;

/** Medians over the rounds of a checkout's summaries. */
function medians(runs: Summary[]): Record<string, number> {
  const keys: (keyof Summary)[] = [
    "tokensPerSecond",
    "tokensPerCpuSecond",
    "rolloutTokensPerSecond",
    "updateTokensPerSecond",
    "rolloutMsPerIteration",
    "updateMsPerIteration",
  ];
  return Object.fromEntries(keys.map((k) => [k, r1(middle(runs.map((r) => r[k])))]));
}

/**
 * Measures every case `rounds` times in each checkout, baseline then this one within a round.
 *
 * @param root This checkout.
 * @param options The SFT and reward-model run directories, the baseline checkout ("" = none), the
 * rounds and a line printer.
 * @returns Per case: each checkout's runs and medians, and new ÷ old ratios (median of the rounds'
 * ratios, wall and CPU).
 */
export async function measureRlSpeed(
  root: string,
  options: {
    model: string;
    reward: string;
    baseline: string;
    rounds: number;
    log: (line: string) => void;
  },
): Promise<Record<string, unknown>> {
  const runner = `${root}/bench/_rl_speed_run.ts`;
  const runs = new Map<string, { old: Summary[]; new: Summary[] }>(
    RL_SPEED_CASES.map((c) => [c.key, { old: [], new: [] }]),
  );
  for (let round = 0; round < options.rounds; round++) {
    for (const c of RL_SPEED_CASES) {
      const args = {
        algo: c.algo,
        model: options.model,
        reward: options.reward,
        iterations: c.iterations + 1,
        options: c.options ?? {},
      };
      const list = runs.get(c.key)!;
      if (options.baseline !== "" && !c.newOnly) {
        list.old.push(await runOnce(options.baseline, runner, args));
      }
      list.new.push(await runOnce(root, runner, args));
      const last = list.new.at(-1)!, old = list.old.at(-1);
      options.log(
        `  round ${round + 1} ${c.key.padEnd(26)} new ${
          Math.round(last.tokensPerSecond)
        } tok/s (cpu ${Math.round(last.tokensPerCpuSecond)})` + (old
          ? `  old ${Math.round(old.tokensPerSecond)} (cpu ${Math.round(old.tokensPerCpuSecond)})`
          : ""),
      );
    }
  }
  const out: Record<string, unknown> = {};
  for (const c of RL_SPEED_CASES) {
    const list = runs.get(c.key)!;
    const old = c.newOnly ? runs.get(c.newOnly.versus)!.old : list.old;
    const ratio = (k: keyof Summary) =>
      old.length === 0 ? null : r2(middle(list.new.map((r, i) => r[k] / old[i]![k])));
    out[c.key] = {
      algo: c.algo,
      options: c.options ?? {},
      versus: c.newOnly?.versus ?? c.key,
      new: { runs: list.new, median: medians(list.new) },
      old: list.old.length > 0 ? { runs: list.old, median: medians(list.old) } : null,
      speedup: {
        tokensPerSecond: ratio("tokensPerSecond"),
        tokensPerCpuSecond: ratio("tokensPerCpuSecond"),
        rolloutTokensPerSecond: ratio("rolloutTokensPerSecond"),
        updateTokensPerSecond: ratio("updateTokensPerSecond"),
      },
    };
  }
  return {
    model: options.model,
    reward: options.reward,
    baselineRoot: options.baseline === "" ? null : options.baseline,
    rounds: options.rounds,
    numEnvs: 32,
    cases: out,
  };
}
