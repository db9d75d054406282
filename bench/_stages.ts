/**
 * The README's four RLHF stage commands ("RLHF stages from the command line": `sft`,
 * `reward-model`, `rlhf-ppo`, `dpo`) at one seed, each a CLI process of its own as a user runs
 * them, for `bench/run.ts`'s JSON: each stage's wall seconds (process start to exit, start-up,
 * pair labelling and the final evaluation included), their total, and the figures that say the
 * stages still learn (SFT's held-out perplexity, the reward model's held-out accuracies, the
 * tuned policies' win-rates over SFT).
 *
 * Run alone: `deno run -A bench/_stages.ts [seed]` prints each stage as it ends, then the JSON.
 */
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** One stage's process. */
export interface StageRun {
  /** The stage: sft, reward-model, rlhf-ppo or dpo. */
  stage: string;
  /** Wall seconds from the process's start to its exit. */
  wallSeconds: number;
  /** Figures from the stage's `eval.json` and `metrics.jsonl` (see {@linkcode measureStages}). */
  figures: Record<string, number>;
}

/** What {@linkcode measureStages} returns. */
export interface StagesBench {
  /** The seed of every stage. */
  seed: number;
  /** The stages in order. */
  stages: StageRun[];
  /** Σ of the stages' wall seconds. */
  totalWallSeconds: number;
}

/**
 * Runs the four stages in order in a temporary directory (removed after), as the README's
 * commands do. The figures: `trainSeconds` and `evalSeconds` (the CLI's, in `eval.json`; the rest
 * of a stage's wall time is start-up, pair labelling and writing), SFT's last held-out
 * `eval/perplexity`, DPO's last `eval/rewards/accuracies`, the reward model's `heldOutAccuracy` and
 * `humanPairAccuracy`, and the tuned policies' win-rates over SFT, KL and distinct-2.
 *
 * @param seed The `--seed` of every stage.
 * @returns Each stage's wall seconds and figures, and the total.
 */
export async function measureStages(seed = 1): Promise<StagesBench> {
  const dir = await Deno.makeTempDir({ prefix: "proximal_bench_stages_" });
  const stage = async (name: string, flags: string[]): Promise<StageRun> => {
    const out = `${dir}/${name}`;
    const start = performance.now();
    const { code } = await new Deno.Command(Deno.execPath(), {
      args: [
        "run",
        "-A",
        "cli/mod.ts",
        "--env",
        "text-completion",
        "--algo",
        name,
        ...flags,
        "--seed",
        String(seed),
        "--out",
        out,
      ],
      cwd: ROOT,
      stdout: "null",
      stderr: "inherit",
    }).output();
    if (code !== 0) throw new Error(`The ${name} stage failed (its error is above)`);
    const wallSeconds = Math.round((performance.now() - start) / 100) / 10;
    const metrics = (await Deno.readTextFile(`${out}/metrics.jsonl`)).trim().split("\n")
      .map((line) => JSON.parse(line) as Record<string, number>);
    const evaluation = JSON.parse(await Deno.readTextFile(`${out}/eval.json`)) as Record<
      string,
      number
    >;
    const pick = (source: Record<string, number> | undefined, keys: string[]) =>
      Object.fromEntries(
        keys.filter((k) => source?.[k] !== undefined).map((k) => [k, source![k]!]),
      );
    const figures = {
      ...pick(metrics.at(-1), ["eval/perplexity", "eval/rewards/accuracies"]),
      ...pick(evaluation, [
        "trainSeconds",
        "evalSeconds",
        "heldOutAccuracy",
        "humanPairAccuracy",
        "winRateOverReference",
        "classifierWinRateOverReference",
        "klToReferencePerSequence",
        "distinct2",
      ]),
    };
    console.log(`  ${name}: ${wallSeconds} s ${JSON.stringify(figures)}`);
    return { stage: name, wallSeconds, figures };
  };
  try {
    const stages = [
      await stage("sft", []),
      await stage("reward-model", ["--model", `${dir}/sft`]),
      await stage("rlhf-ppo", [
        "--model",
        `${dir}/sft`,
        "--reward",
        `${dir}/reward-model`,
        "--num-envs",
        "32",
        "--total-timesteps",
        "30720",
      ]),
      await stage("dpo", ["--model", `${dir}/sft`]),
    ];
    const total = stages.reduce((sum, s) => sum + s.wallSeconds, 0);
    return { seed, stages, totalWallSeconds: Math.round(total * 10) / 10 };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

if (import.meta.main) {
  console.log(JSON.stringify(await measureStages(Number(Deno.args[0] ?? 1)), null, 2));
}
