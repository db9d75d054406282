/**
 * The RLHF stages from the command line (`deno task train --env text-completion --algo …`), as a
 * user runs them: each stage's checkpoint feeds the next, and bad input gets a one-line error
 * naming what and where; the earlier names (`--env text-preference`, `--algo ppo`, `--kl-coef`)
 * still work. Models are tiny so the chain runs in about a minute.
 */
import assert from "node:assert/strict";
import { MetaReader, readCheckpoint, writeCheckpoint } from "@proximal/core";
import { type Run, STACK_LINE, train as runTrain } from "./_cli.ts";

const TINY_LM = ["--embedding-size", "16", "--hidden-size", "32"];

function train(args: string[], env = "text-completion"): Promise<Run> {
  return runTrain(["--env", env, ...args]);
}

function assertOk(run: Run, what: string): void {
  assert.equal(run.code, 0, `${what} failed:\n${run.stdout}\n${run.stderr}`);
}

function assertFails(run: Run, message: RegExp): void {
  assert.notEqual(run.code, 0, `expected a failure:\n${run.stdout}`);
  assert.match(run.stderr, message);
  assert.doesNotMatch(run.stderr, STACK_LINE);
}

async function readJson(path: string): Promise<Record<string, unknown>> {
  return JSON.parse(await Deno.readTextFile(path));
}

Deno.test("text-completion stages chain through checkpoints: sft → reward-model → rlhf-ppo, dpo", async (t) => {
  const dir = await Deno.makeTempDir({ prefix: "proximal_text_stages_" });
  try {
    await t.step("sft writes a checkpoint, metrics and an evaluation with samples", async () => {
      const run = await train([
        "--algo",
        "sft",
        "--epochs",
        "1",
        ...TINY_LM,
        "--eval-episodes",
        "32",
        "--out",
        `${dir}/sft`,
      ]);
      assertOk(run, "sft");
      // SFT counts tokens and ends after its epochs.
      assert.match(run.stdout, /^[\d,]+ tokens \(100%\)$/m);
      assert.match(run.stdout, /^Stopped \(training finished\) after [\d,]+ tokens in /m);
      await Deno.stat(`${dir}/sft/latest.ckpt`);
      const rows = (await Deno.readTextFile(`${dir}/sft/metrics.jsonl`)).trim().split("\n");
      assert.ok(Number.isFinite(JSON.parse(rows.at(-1)!)["eval/perplexity"]));
      // Its picture: perplexity large, the losses small, against tokens.
      const svg = await Deno.readTextFile(`${dir}/sft/curves.svg`);
      for (const text of ["eval/perplexity", "train/loss", "eval/loss", "tokens"]) {
        assert.ok(svg.includes(text), `curves.svg lacks ${text}`);
      }
      const evaluation = await readJson(`${dir}/sft/eval.json`);
      assert.equal(evaluation.prompts, 32);
      assert.equal((evaluation.details as { samples: string[] }).samples.length, 5);
    });

    await t.step(
      "reward-model labels pairs with the judge and reports held-out accuracy",
      async () => {
        const run = await train([
          "--algo",
          "reward-model",
          "--model",
          `${dir}/sft`,
          "--epochs",
          "1",
          "--samples-per-prompt",
          "2",
          "--eval-episodes",
          "1",
          "--out",
          `${dir}/rm`,
        ]);
        assertOk(run, "reward-model");
        assert.match(run.stdout, /^Stopped \(training finished\) after [\d,]+ pairs in /m);
        const pairs = (await Deno.readTextFile(`${dir}/rm/pairs.jsonl`)).trim().split("\n");
        assert.ok(pairs.length > 500, `${pairs.length} pairs`);
        assert.deepEqual(Object.keys(JSON.parse(pairs[0]!)), ["prompt", "chosen", "rejected"]);
        const evaluation = await readJson(`${dir}/rm/eval.json`);
        assert.ok(
          (evaluation.heldOutAccuracy as number) >= 0 &&
            (evaluation.heldOutAccuracy as number) <= 1,
        );
        assert.ok((evaluation.humanPairs as number) > 100);
      },
    );

    await t.step(
      "a reward-model checkpoint whose stageStep is not a count is refused",
      async () => {
        const checkpoint = await readCheckpoint(`${dir}/rm/latest.ckpt`);
        // object() hands back the trainer's meta itself, so this edits the checkpoint.
        new MetaReader(checkpoint.meta, { owner: "the test" }).object("trainer").stageStep = "x";
        await writeCheckpoint(`${dir}/rm-bad/latest.ckpt`, checkpoint);
        const run = await train(["--resume", `${dir}/rm-bad`, "--pairs", `${dir}/rm/pairs.jsonl`]);
        assertFails(
          run,
          /^error: Cannot resume the reward-model stage: the checkpoint's stageStep is "x", not a count$/m,
        );
      },
    );

    await t.step(
      "rlhf-ppo tunes the SFT model against the reward model with a KL leash",
      async () => {
        const run = await train([
          "--algo",
          "rlhf-ppo",
          "--ref-kl-coef",
          "0.3",
          "--model",
          `${dir}/sft`,
          "--reward",
          `${dir}/rm`,
          "--num-envs",
          "8",
          "--total-timesteps",
          "256",
          "--eval-episodes",
          "16",
          "--out",
          `${dir}/ppo`,
        ]);
        assertOk(run, "rlhf-ppo");
        // Each env step writes one token.
        assert.match(run.stdout, /^128\/256 tokens \(50%\) .*reward -?\d/m);
        assert.match(run.stdout, /^Stopped \(step budget reached\) after 256 tokens in /m);
        const config = await readJson(`${dir}/ppo/config.json`);
        assert.equal(config.algo, "rlhf-ppo");
        const svg = await Deno.readTextFile(`${dir}/ppo/curves.svg`);
        for (const text of ["objective/kl", "env/reward_mean", "losses/policy_loss", "tokens"]) {
          assert.ok(svg.includes(text), `curves.svg lacks ${text}`);
        }
        assert.equal((config.algoOptions as Record<string, unknown>).refKlCoef, 0.3);
        const last = JSON.parse(
          (await Deno.readTextFile(`${dir}/ppo/metrics.jsonl`)).trim().split("\n").at(-1)!,
        );
        assert.ok(Number.isFinite(last["env/reward_mean"]));
        // The leash's metrics (TRL's names), apart from PPO's own KL penalty.
        assert.ok(Number.isFinite(last["objective/kl"]));
        assert.equal(last["objective/kl_coef"], 0.3);
        const evaluation = await readJson(`${dir}/ppo/eval.json`);
        for (const key of ["winRateOverReference", "klToReferencePerSequence", "distinct2"]) {
          assert.ok(Number.isFinite(evaluation[key]), key);
        }
        assert.match(run.stdout, /before → after:/);
      },
    );

    await t.step(
      "rlhf-ppo computes gradient parts in a worker and ends cleanly (--gradient-parts 2 --num-workers 1)",
      async () => {
        const run = await train([
          "--algo",
          "rlhf-ppo",
          "--model",
          `${dir}/sft`,
          "--num-envs",
          "8",
          "--total-timesteps",
          "256",
          "--gradient-parts",
          "2",
          "--num-workers",
          "1",
          "--eval-episodes",
          "0",
          "--out",
          `${dir}/ppo-parts`,
        ]);
        assertOk(run, "rlhf-ppo with a worker");
        const config = await readJson(`${dir}/ppo-parts/config.json`);
        const options = config.algoOptions as Record<string, unknown>;
        assert.deepEqual([options.gradientParts, options.numWorkers], [2, 1]);
        const rows = (await Deno.readTextFile(`${dir}/ppo-parts/metrics.jsonl`)).trim().split("\n");
        // 0 or 1: the run trains on this thread while the worker starts.
        assert.ok(rows.every((row) => [0, 1].includes(JSON.parse(row)["perf/workers"])));
      },
    );

    await t.step("dpo trains on the same pairs file and resumes from its checkpoint", async () => {
      const args = [
        "--algo",
        "dpo",
        "--model",
        `${dir}/sft`,
        "--pairs",
        `${dir}/rm/pairs.jsonl`,
        "--epochs",
        "1",
        "--eval-episodes",
        "0",
        "--out",
        `${dir}/dpo`,
      ];
      const dpo = await train(args);
      assertOk(dpo, "dpo");
      assert.match(dpo.stdout, /^Stopped \(training finished\) after [\d,]+ pairs in /m);
      const svg = await Deno.readTextFile(`${dir}/dpo/curves.svg`);
      for (const text of ["rewards/accuracies", "rewards/margins", "loss", "pairs"]) {
        assert.ok(svg.includes(text), `curves.svg lacks ${text}`);
      }
      // Resumed under the env's earlier name, which names the same plugin.
      const evaluationFree = await train([
        "--resume",
        `${dir}/dpo`,
        "--model",
        `${dir}/sft`,
        "--pairs",
        `${dir}/rm/pairs.jsonl`,
        "--epochs",
        "2",
        "--eval-episodes",
        "0",
      ], "text-preference");
      assertOk(evaluationFree, "dpo resume");
      assert.match(evaluationFree.stdout, /Resumed from .*latest\.ckpt at step [1-9]/);
    });

    await t.step(
      "dpo refuses to resume on a pairs file that changed since it started",
      async () => {
        const lines = (await Deno.readTextFile(`${dir}/rm/pairs.jsonl`)).trim().split("\n");
        const first = JSON.parse(lines[0]!);
        lines[0] = JSON.stringify({ ...first, chosen: first.rejected, rejected: first.chosen });
        await Deno.writeTextFile(`${dir}/pairs-edited.jsonl`, lines.join("\n") + "\n");
        const before = await Deno.readFile(`${dir}/dpo/latest.ckpt`);
        const run = await train([
          "--resume",
          `${dir}/dpo`,
          "--pairs",
          `${dir}/pairs-edited.jsonl`,
          "--epochs",
          "3",
          "--eval-episodes",
          "0",
        ]);
        assertFails(
          run,
          /^error: .*Cannot resume the dpo stage: the pairs in .*pairs-edited\.jsonl differ from the ones it was trained on \(fingerprint [0-9a-f]{16}, the checkpoint's [0-9a-f]{16}\)/m,
        );
        assert.deepEqual(await Deno.readFile(`${dir}/dpo/latest.ckpt`), before);
      },
    );

    await t.step(
      "a vocabulary mismatch between the checkpoint and the tokenizer is refused",
      async () => {
        const run = await train([
          "--algo",
          "ppo",
          "--model",
          `${dir}/sft`,
          "--min-count",
          "3",
          "--total-timesteps",
          "64",
        ]);
        assertFails(
          run,
          /^error: .*Vocabulary mismatch: checkpoint .*sft\/latest\.ckpt was trained with vocabulary/m,
        );
      },
    );

    await t.step("a reward source that returns NaN stops PPO with its name", async () => {
      // Under the earlier names: --env text-preference, --algo ppo, --kl-coef.
      const run = await train([
        "--algo",
        "ppo",
        "--kl-coef",
        "0.25",
        "--model",
        `${dir}/sft`,
        "--reward",
        "./tests/fixtures/nan_reward_plugin.ts",
        "--num-envs",
        "8",
        "--total-timesteps",
        "256",
        "--eval-episodes",
        "0",
        "--out",
        `${dir}/nan`,
      ], "text-preference");
      assertFails(
        run,
        /^error: Reward source "nan-judge" returned NaN for completion .*scores must be finite numbers/m,
      );
      const config = await readJson(`${dir}/nan/config.json`);
      assert.equal(config.env, "text-completion");
      assert.equal(config.algo, "rlhf-ppo");
      assert.equal((config.algoOptions as Record<string, unknown>).refKlCoef, 0.25);
    });

    await t.step("a malformed pairs file is named with its line", async () => {
      const path = `${dir}/bad.jsonl`;
      await Deno.writeTextFile(
        path,
        `{"prompt":"a","chosen":"good","rejected":"bad"}\n{"prompt":"a","chosen":"good"}\n`,
      );
      const run = await train(["--algo", "dpo", "--model", `${dir}/sft`, "--pairs", path]);
      assertFails(
        run,
        new RegExp(
          `^error: .*Invalid pairs file ${path.replace(/[.]/g, "\\.")} line 2: "rejected"`,
          "m",
        ),
      );
    });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("text-completion: an empty prompt set, a missing --model and a leash given twice are one-line errors", async () => {
  assertFails(
    await train(["--algo", "sft", "--prompt-words", "200", "--epochs", "1"]),
    /^error: .*The text-completion prompt set is empty: no training sentence has more than 200 words/m,
  );
  const twice = await train(["--algo", "rlhf-ppo", "--kl-coef", "0.2", "--ref-kl-coef", "0.3"]);
  assert.equal(twice.code, 2, twice.stderr);
  assertFails(
    twice,
    /^error: --ref-kl-coef and --kl-coef of algo plugin "rlhf-ppo" set the same option: give one$/m,
  );
  assertFails(
    await train(["--algo", "ppo", "--total-timesteps", "64"]),
    /^error: .*No model given: pass --model/m,
  );
});
