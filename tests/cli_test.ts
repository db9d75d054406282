/**
 * `deno task train` end to end: each test runs cli/mod.ts as a subprocess from the repo
 * root, as a user would, and checks its exit code, what it prints and the files it writes.
 */
import assert from "node:assert/strict";
import { writeCheckpoint } from "@proximal/core";
import { type Run, STACK_LINE, train as runTrain } from "./_cli.ts";
import { assertAffine, polylines } from "./_svg.ts";

/** A run small enough for a test: one or two PPO iterations of 4 envs × 128 steps, no evaluation. */
const TINY = ["--total-timesteps", "512", "--eval-episodes", "0"];

/** Runs the CLI with `args` from the repo root; kills it after `timeoutMs`. */
function train(args: string[], timeoutMs = 30_000): Promise<Run> {
  return runTrain(args, timeoutMs);
}

/** Calls `fn` with a fresh temporary directory and removes it afterwards. */
async function withTempDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "proximal_cli_test_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Asserts the exit code (`"nonzero"`: any failure) and an `error:` line on stderr matching
 * `message`, without a stack trace.
 */
function assertFails(run: Run, code: number | "nonzero", message: RegExp): void {
  if (code === "nonzero") assert.notEqual(run.code, 0, `exit code 0; stderr:\n${run.stderr}`);
  else assert.equal(run.code, code, `exit code ${run.code}; stderr:\n${run.stderr}`);
  assert.match(run.stderr, /^error: /m);
  assert.match(run.stderr, message);
  assert.doesNotMatch(run.stderr, STACK_LINE);
}

/** A usage error: exit code 2 before any training, so nothing is written to `--out`. */
async function assertUsageError(args: string[], message: RegExp): Promise<void> {
  await withTempDir(async (dir) => {
    const out = `${dir}/run`;
    assertFails(await train([...args, ...TINY, "--out", out]), 2, message);
    await assert.rejects(Deno.stat(out), Deno.errors.NotFound);
  });
}

async function readLines(path: string): Promise<string[]> {
  return (await Deno.readTextFile(path)).split("\n").filter((line) => line !== "");
}

// ---------------------------------------------------------------------------------------------
// Usage errors: exit code 2 and one line
// ---------------------------------------------------------------------------------------------

Deno.test("train CLI rejects an unknown flag with exit code 2", async () => {
  await assertUsageError(["--bogus-flag", "3"], /Unknown flag --bogus-flag: see --help/);
});

Deno.test("train CLI rejects a plugin option that is not a number with exit code 2", async () => {
  await assertUsageError(
    ["--learning-rate", "abc"],
    /--learning-rate of algo plugin "ppo" must be a number, got "abc"/,
  );
});

Deno.test("train CLI rejects --num-envs 0 with exit code 2", async () => {
  await assertUsageError(["--num-envs", "0"], /Invalid --num-envs 0: expected a whole number >= 1/);
});

Deno.test("train CLI rejects a fractional --seed with exit code 2", async () => {
  await assertUsageError(["--seed", "1.5"], /Invalid --seed 1\.5: expected a whole number/);
});

Deno.test("train CLI rejects a boolean option that is not a boolean with exit code 2", async () => {
  await assertUsageError(
    ["--anneal-lr", "maybe"],
    /--anneal-lr of algo plugin "ppo" must be a boolean .*got "maybe"/,
  );
});

Deno.test("train CLI rejects an unknown --preset, listing the algorithm's presets", async () => {
  await assertUsageError(
    ["--preset", "fastest"],
    /Unknown --preset "fastest" for algo ppo: choose cleanrl, fast/,
  );
});

Deno.test("train CLI --preset fast sets its options and env count, explicit flags win", async () => {
  await withTempDir(async (dir) => {
    // One rollout of the preset's 32 envs × 32 steps (a smaller budget is refused).
    const run = await train([
      "--preset",
      "fast",
      "--learning-rate",
      "1e-3",
      "--total-timesteps",
      "1024",
      "--eval-episodes",
      "0",
      "--out",
      dir,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    assert.equal(config.numEnvs, 32);
    assert.equal(config.algoOptions.numSteps, 32);
    assert.equal(config.algoOptions.numMinibatches, 4);
    assert.equal(config.algoOptions.learningRate, 1e-3);
    assert.equal(config.algoOptions.clipCoef, 0.2); // not in the preset: the default
  });
});

Deno.test("train CLI rejects an unknown env name, listing the built-in ones, with exit code 2", async () => {
  await assertUsageError(
    ["--env", "mountaincar"],
    /Unknown env plugin "mountaincar": available: .*\bcartpole\b/,
  );
});

Deno.test("train CLI rejects --env pointing to a missing file with exit code 2", async () => {
  await assertUsageError(
    ["--env", "./tests/fixtures/does_not_exist.ts"],
    /Cannot load env plugin "\.\/tests\/fixtures\/does_not_exist\.ts": file not found/,
  );
});

Deno.test("train CLI rejects an env module that exports no env plugin with exit code 2", async () => {
  await assertUsageError(
    ["--env", "./tests/fixtures/no_plugin.ts"],
    /Cannot load env plugin "\.\/tests\/fixtures\/no_plugin\.ts": the module exports no env plugin/,
  );
});

// ---------------------------------------------------------------------------------------------
// Buggy user envs: the run fails at the step the env misbehaves, naming the env and the problem
// ---------------------------------------------------------------------------------------------

Deno.test("train CLI stops a run whose env returns an observation of the wrong length, naming the env", async () => {
  await withTempDir(async (dir) => {
    const run = await train([
      "--env",
      "./tests/fixtures/wrong_shape_env.ts",
      ...TINY,
      "--out",
      dir,
    ]);
    assertFails(run, "nonzero", /observation of 2 values; its observation space .* needs 3/);
    assert.match(
      run.stderr,
      /wrong-shape|wrong_shape_env\.ts/,
      `the message names the env:\n${run.stderr}`,
    );
  });
});

Deno.test("train CLI stops a run whose env returns a NaN reward, naming the env", async () => {
  await withTempDir(async (dir) => {
    const run = await train(["--env", "./tests/fixtures/nan_reward_env.ts", ...TINY, "--out", dir]);
    assertFails(
      run,
      "nonzero",
      /step\(\) at vector step 3 returned a reward that is not a finite number: NaN/,
    );
    assert.match(
      run.stderr,
      /nan-reward|nan_reward_env\.ts/,
      `the message names the env:\n${run.stderr}`,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Help
// ---------------------------------------------------------------------------------------------

Deno.test("train CLI --help exits 0 and lists --learning-rate with its default and the built-in cartpole", async () => {
  const run = await train(["--help"]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /--learning-rate <number> .*\(default: 0\.00025\)/);
  assert.match(run.stdout, /^Built-in env plugins: .*\bcartpole\b/m);
  assert.doesNotMatch(run.stderr, /error:/);
  assert.doesNotMatch(run.stderr, STACK_LINE);
});

Deno.test("train CLI --help lists plugin aliases, and --algo ppo on the text env is rlhf-ppo", async () => {
  const run = await train(["--env", "text-preference", "--algo", "ppo", "--help"]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /^Built-in env plugins: .*\btext-completion \(alias text-preference\)/m);
  assert.match(
    run.stdout,
    /^Algorithms of env text-completion: sft, reward-model, rlhf-ppo \(alias ppo\), dpo, grpo, rloo$/m,
  );
  assert.match(run.stdout, /^text-completion \(env plugin; alias text-preference\)$/m);
  assert.match(run.stdout, /^rlhf-ppo \(algo plugin; alias ppo\)$/m);
  assert.match(run.stdout, /--ref-kl-coef <number> .*\(default: 0\.35; alias --kl-coef\)/);
  assert.match(run.stdout, /--ref-kl-target <number> .*\(default: 0; alias --kl-target\)/);
  // PPO's own penalty keeps its name, apart from the leash.
  assert.match(run.stdout, /--kl-penalty-coef <number> .*not the leash/);
  // On CartPole, --algo ppo is PPO itself.
  const cartpole = await train(["--algo", "ppo", "--help"]);
  assert.match(cartpole.stdout, /^ppo \(algo plugin\)$/m);
});

// ---------------------------------------------------------------------------------------------
// Resuming from a bad or foreign checkpoint
// ---------------------------------------------------------------------------------------------

Deno.test("train CLI refuses --resume of a directory without a checkpoint with exit code 2", async () => {
  await withTempDir(async (dir) => {
    const run = await train(["--resume", dir, ...TINY]);
    assertFails(run, 2, /Cannot read checkpoint .*latest\.ckpt: file not found/);
    assert.ok(run.stderr.includes(`${dir}/latest.ckpt`), run.stderr);
  });
});

Deno.test("train CLI refuses --resume of a corrupt latest.ckpt, naming the file, with exit code 2", async () => {
  await withTempDir(async (dir) => {
    const garbage = new Uint8Array(256).map((_, i) => (i * 37 + 11) % 256);
    await Deno.writeFile(`${dir}/latest.ckpt`, garbage);
    const run = await train(["--resume", dir, ...TINY]);
    assertFails(run, 2, /Invalid checkpoint /);
    assert.ok(run.stderr.includes(`${dir}/latest.ckpt`), run.stderr);
    // The bad checkpoint is left as it was.
    assert.deepEqual(await Deno.readFile(`${dir}/latest.ckpt`), garbage);
  });
});

Deno.test("train CLI refuses --resume of a checkpoint with a malformed run config, naming the key", async () => {
  await withTempDir(async (dir) => {
    const run = {
      env: "cartpole",
      algo: "ppo",
      envOptions: {},
      algoOptions: {},
      seed: 1,
      numEnvs: "four",
      totalTimesteps: 512,
    };
    await writeCheckpoint(`${dir}/latest.ckpt`, { meta: { run, trainer: {} }, tensors: {} });
    assertFails(
      await train(["--resume", dir, ...TINY]),
      2,
      /^error: Cannot resume the run from .*latest\.ckpt: the checkpoint's run\.numEnvs is "four", not a count$/m,
    );
  });
});

Deno.test("train CLI refuses to resume a cartpole checkpoint with another env, naming both", async () => {
  await withTempDir(async (dir) => {
    const first = await train([...TINY, "--out", dir]);
    assert.equal(first.code, 0, first.stderr);
    const before = await Deno.readFile(`${dir}/latest.ckpt`);
    for (const other of ["./tests/fixtures/good_env_plugin.ts", "./examples/catch_env.ts"]) {
      const run = await train(["--resume", dir, "--env", other, ...TINY]);
      assertFails(run, 2, /Cannot resume from .*latest\.ckpt: it was trained with --env cartpole/);
      assert.ok(run.stderr.includes(other), `the message names ${other}:\n${run.stderr}`);
    }
    assert.deepEqual(await Deno.readFile(`${dir}/latest.ckpt`), before);
  });
});

// ---------------------------------------------------------------------------------------------
// Successful runs
// ---------------------------------------------------------------------------------------------

interface MetricsRow {
  step: number;
  time: number;
  "losses/value_loss": number | null;
  "charts/episodic_return"?: number | null;
}

Deno.test("train CLI writes metrics, a checkpoint and an evaluation, then resumes to a larger budget", async () => {
  await withTempDir(async (dir) => {
    // 1024 steps = 2 PPO iterations of 4 envs × 128 steps: rows at steps 512 and 1024.
    const run = await train(["--total-timesteps", "1024", "--eval-episodes", "5", "--out", dir]);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stderr, /error:/);
    assert.doesNotMatch(run.stderr, STACK_LINE);

    const names = [];
    for await (const entry of Deno.readDir(dir)) names.push(entry.name);
    for (const file of ["metrics.jsonl", "metrics.csv", "latest.ckpt", "eval.json", "curves.svg"]) {
      assert.ok(names.includes(file), `${file} missing from ${names.join(", ")}`);
    }
    assert.deepEqual(names.filter((name) => name.includes(".tmp")), [], "temporary files left");

    const jsonl = await readLines(`${dir}/metrics.jsonl`);
    const rows = jsonl.map((line) => JSON.parse(line) as MetricsRow);
    assert.deepEqual(rows.map((row) => row.step), [512, 1024]);
    for (const row of rows) {
      assert.equal(typeof row["losses/value_loss"], "number");
      assert.ok(Number.isFinite(row.time));
    }
    const csv = await readLines(`${dir}/metrics.csv`);
    assert.match(csv[0]!, /^step,time,/);
    assert.ok(csv[0]!.split(",").includes("losses/value_loss"));
    assert.equal(csv.length - 1, jsonl.length);
    assert.deepEqual(csv.slice(1).map((line) => Number(line.split(",")[0])), [512, 1024]);

    const evaluation = JSON.parse(await Deno.readTextFile(`${dir}/eval.json`));
    assert.equal(evaluation.episodes, 5);
    assert.equal(evaluation.returns.length, 5);
    assert.equal(evaluation.envSteps, 1024);
    // CartPole pays 1 per step for at most 500 steps.
    for (const r of evaluation.returns) assert.ok(r >= 1 && r <= 500, `return ${r}`);

    // Resume to 2048 steps: two more iterations, appended to the same files.
    const resumed = await train([
      "--resume",
      dir,
      "--total-timesteps",
      "2048",
      "--eval-episodes",
      "0",
    ]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.doesNotMatch(resumed.stderr, STACK_LINE);
    assert.match(resumed.stdout, /Resumed from .*latest\.ckpt at step 1,024/);
    const jsonlAfter = await readLines(`${dir}/metrics.jsonl`);
    assert.deepEqual(jsonlAfter.slice(0, jsonl.length), jsonl, "earlier rows are kept");
    assert.deepEqual(
      jsonlAfter.map((line) => (JSON.parse(line) as MetricsRow).step),
      [512, 1024, 1536, 2048],
    );
    const csvAfter = await readLines(`${dir}/metrics.csv`);
    assert.deepEqual(csvAfter.slice(0, csv.length), csv, "earlier rows are kept");
    assert.equal(csvAfter.filter((line) => line.startsWith("step,")).length, 1, "one header");
    assert.equal(csvAfter.length - 1, jsonlAfter.length);
    const leftovers = [];
    for await (const entry of Deno.readDir(dir)) {
      if (entry.name.includes(".tmp")) leftovers.push(entry.name);
    }
    assert.deepEqual(leftovers, [], "temporary files left after resuming");

    // The picture redrawn at the end of the resumed run holds all four rows: the return's line
    // has one vertex per row, placed by one affine map of (step, return) to pixels.
    const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    assert.equal(config.unit, "env steps");
    const svg = await Deno.readTextFile(`${dir}/curves.svg`);
    assert.ok(svg.includes("charts/episodic_return") && svg.includes("env steps"));
    assert.match(resumed.stdout, /Learning curves: .*curves\.svg/);
    const line = polylines(svg, "#1f77b4")[0]!;
    const after = jsonlAfter.map((l) => JSON.parse(l) as MetricsRow);
    assert.equal(line.length, 4);
    assertAffine(after.map((r) => r.step), line.map((p) => p[0]), "x");
    assertAffine(
      after.map((r) => r["charts/episodic_return"] as number),
      line.map((p) => p[1]),
      "y",
    );
  });
});

Deno.test("train CLI trains a user env plugin loaded by path (examples/catch_env.ts)", async () => {
  await withTempDir(async (dir) => {
    const run = await train([
      "--env",
      "./examples/catch_env.ts",
      "--total-timesteps",
      "1024",
      "--eval-episodes",
      "2",
      "--out",
      dir,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.doesNotMatch(run.stderr, STACK_LINE);
    const evaluation = JSON.parse(await Deno.readTextFile(`${dir}/eval.json`));
    assert.equal(evaluation.returns.length, 2);
    const rows = await readLines(`${dir}/metrics.jsonl`);
    assert.equal(rows.length, 2);
  });
});

Deno.test("train CLI counts in the trainer's unit and skips the evaluation of a trainer without a policy", async () => {
  await withTempDir(async (dir) => {
    const run = await train([
      "--algo",
      "./tests/fixtures/counting_algo.ts",
      "--total-timesteps",
      "30",
      "--out",
      dir,
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^10\/30 widgets \(33%\) +return – \(last 20\)$/m);
    assert.match(run.stdout, /^30\/30 widgets \(100%\) +return – \(last 20\)$/m);
    assert.match(run.stdout, /^Stopped \(step budget reached\) after 30 widgets in /m);
    assert.match(run.stdout, /^No evaluation: counting has no policy to run and no evaluation/m);
    await assert.rejects(Deno.stat(`${dir}/eval.json`), Deno.errors.NotFound);
    const rows = (await readLines(`${dir}/metrics.jsonl`)).map((line) => JSON.parse(line));
    assert.deepEqual(rows.map((row) => row["widgets/total"]), [10, 20, 30]);
  });
});
