/**
 * `--seeds`: each seed's run gives exactly the numbers and checkpoint of `--seed N` alone (in this
 * thread or a worker, first or after another seed), seeds.json says how each ended, a signal or
 * kill -9 leaves a set that `--resume <out>` finishes exactly, one seed's failure or hang is
 * reported without hiding the others, and a bad command line is refused before anything starts.
 * Runs cli/mod.ts as a subprocess, as tests/faults_test.ts does.
 */
import assert from "node:assert/strict";
import { readCheckpoint } from "@proximal/core";
import {
  exists,
  finish,
  lineCount,
  numbers,
  spawn,
  STACK_LINE,
  train,
  waitFor,
  withTempDir,
} from "./_cli.ts";
import { parseSeeds } from "../cli/_seeds.ts";
import type { SeedsSummary } from "../cli/_seeds_summary.ts";
import { UsageError } from "../cli/_flags.ts";

/** 240 iterations of 256 steps (~1.5 s a seed here), a checkpoint every 8. */
const RUN = [
  "--preset",
  "quick",
  "--total-timesteps",
  "61440",
  "--eval-episodes",
  "0",
  "--checkpoint-every",
  "2048",
];
const ROWS = 240;
const SEEDED_FAULT = "./tests/fixtures/seeded_fault_env.ts";

/** metrics.jsonl without what depends on the clock (time, SPS, perf/*). */
async function summaryOf(dir: string): Promise<SeedsSummary> {
  return JSON.parse(await Deno.readTextFile(`${dir}/seeds.json`)) as SeedsSummary;
}

function statuses(summary: SeedsSummary): Record<number, string> {
  return Object.fromEntries(summary.runs.map((run) => [run.seed, run.status]));
}

/** One `error:` line and no stack (Deno may print its own warnings before it). */
function assertOneLineError(stderr: string, message: RegExp): void {
  assert.match(stderr, message);
  assert.equal(stderr.match(/^error: /gm)?.length, 1, stderr);
  assert.doesNotMatch(stderr, STACK_LINE);
}

// The uninterrupted single runs `--seed N` with RUN's flags, run once and shared by the tests.
const REFERENCES = Deno.makeTempDirSync({ prefix: "proximal_seeds_ref_" });
globalThis.addEventListener("unload", () => Deno.removeSync(REFERENCES, { recursive: true }));
const references = new Map<number, Promise<string>>();

/** The directory of `--seed <seed>` run alone with RUN's flags. */
function reference(seed: number): Promise<string> {
  let dir = references.get(seed);
  if (dir === undefined) {
    const out = `${REFERENCES}/seed-${seed}`;
    dir = train([...RUN, "--seed", String(seed), "--out", out]).then((run) => {
      assert.equal(run.code, 0, run.stderr);
      return out;
    });
    references.set(seed, dir);
  }
  return dir;
}

/** Each seed's metrics (and, if `checkpoints`, latest.ckpt's bytes) equal its single run's. */
async function assertSameAsAlone(out: string, seeds: number[], checkpoints = true): Promise<void> {
  for (const seed of seeds) {
    const alone = await reference(seed);
    const rows = await numbers(`${out}/seed-${seed}`);
    assert.equal(rows.length, ROWS, `seed ${seed}`);
    assert.deepEqual(rows, await numbers(alone), `seed ${seed}'s metrics`);
    if (checkpoints) {
      assert.deepEqual(
        await Deno.readFile(`${out}/seed-${seed}/latest.ckpt`),
        await Deno.readFile(`${alone}/latest.ckpt`),
        `seed ${seed}'s checkpoint`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------
// parseSeeds and the command line
// ---------------------------------------------------------------------------------------------

Deno.test("parseSeeds reads lists and ranges in the order given", () => {
  assert.deepEqual(parseSeeds("7"), [7]);
  assert.deepEqual(parseSeeds("1,2,3"), [1, 2, 3]);
  assert.deepEqual(parseSeeds("3,1,2"), [3, 1, 2]);
  assert.deepEqual(parseSeeds("5-8"), [5, 6, 7, 8]);
  assert.deepEqual(parseSeeds("4-4"), [4]);
  assert.deepEqual(parseSeeds("1,2,5-8"), [1, 2, 5, 6, 7, 8]);
  assert.deepEqual(parseSeeds(" 10 - 12 , 0, -3 "), [10, 11, 12, 0, -3]);
  assert.deepEqual(parseSeeds("1-1000").length, 1000);
});

Deno.test("parseSeeds refuses duplicates, backward ranges, non-numbers and too many seeds, naming the value", () => {
  const cases: [string, string][] = [
    ["1,2,1", "Invalid --seeds 1,2,1: seed 1 is listed twice"],
    ["1-5,3", "Invalid --seeds 1-5,3: seed 3 is listed twice"],
    ["5-2", "Invalid --seeds 5-2: the range 5-2 runs backwards"],
    ["1,x", 'Invalid --seeds 1,x: expected whole numbers and ranges such as 1,2,5-8, got "x"'],
    ["1.5", 'Invalid --seeds 1.5: expected whole numbers and ranges such as 1,2,5-8, got "1.5"'],
    ["", 'Invalid --seeds : expected whole numbers and ranges such as 1,2,5-8, got ""'],
    ["1,,2", 'Invalid --seeds 1,,2: expected whole numbers and ranges such as 1,2,5-8, got ""'],
    ["-3-5", 'Invalid --seeds -3-5: expected whole numbers and ranges such as 1,2,5-8, got "-3-5"'],
    ["1-1001", "Invalid --seeds 1-1001: more than 1000 seeds"],
    ["1-600,601-1200", "Invalid --seeds 1-600,601-1200: more than 1000 seeds"],
    ["2147483648", "Invalid --seeds 2147483648: seed 2147483648 is out of range"],
    [
      "99999999999999999999",
      "Invalid --seeds 99999999999999999999: seed 100000000000000000000 is out of range",
    ],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseSeeds(text), (e: Error) => {
      assert.ok(e instanceof UsageError, text);
      assert.equal(e.message, message);
      return true;
    });
  }
});

Deno.test("--seeds usage errors are refused at the door: exit code 2, one line, no seed run started", async () => {
  await withTempDir(async (dir) => {
    // A seeds directory to resume (only its summary matters here) and a single run's.
    await Deno.mkdir(`${dir}/seeds`);
    const summary = {
      args: RUN,
      runs: [{ seed: 1, outDir: `${dir}/seeds/seed-1`, status: "queued" }],
    };
    await Deno.writeTextFile(`${dir}/seeds/seeds.json`, JSON.stringify(summary));
    await Deno.mkdir(`${dir}/single`);
    // A seed's directory that already holds a run: refused for that seed, before any other starts.
    await Deno.mkdir(`${dir}/taken/seed-2`, { recursive: true });
    await Deno.writeTextFile(`${dir}/taken/seed-2/latest.ckpt`, "");
    const run = `${dir}/run`;
    const cases: [string[], RegExp][] = [
      [
        ["--seeds", "1,2", "--seed", "3", "--out", run],
        /^error: Cannot use --seed with --seeds: each of the seeds' runs sets its own$/m,
      ],
      [
        ["--seed-workers", "1", "--out", run],
        /^error: Invalid --seed-workers: it sets the workers of --seeds \(give --seeds\)$/m,
      ],
      [["--seeds", "1,1", "--out", run], /^error: Invalid --seeds 1,1: seed 1 is listed twice$/m],
      [
        ["--seeds", "3-1", "--out", run],
        /^error: Invalid --seeds 3-1: the range 3-1 runs backwards$/m,
      ],
      [["--seeds", "one", "--out", run], /^error: Invalid --seeds one: expected whole numbers/m],
      [
        ["--seeds", "0-1000", "--out", run],
        /^error: Invalid --seeds 0-1000: more than 1000 seeds$/m,
      ],
      ...["-1", "1.5", "x", ""].map((w): [string[], RegExp] => [
        ["--seeds", "1,2", "--seed-workers", w, "--out", run],
        new RegExp(
          `^error: Invalid --seed-workers ${w}: expected a whole number >= 0 \\(0 = one seed after another in this thread\\)$`,
          "m",
        ),
      ]),
      [
        ["--seeds", "1,2", "--out", `${dir}/seeds`],
        /^error: Invalid --out .*\/seeds: it already holds seeds \(seeds\.json\); continue them with --resume .*\/seeds, or choose another --out$/m,
      ],
      [
        ["--resume", `${dir}/single`, "--seeds", "1,2"],
        /^error: Cannot resume .*\/single with --seeds: it holds one run \(no seeds\.json\); resume it without --seeds$/m,
      ],
      [
        ["--resume", `${dir}/seeds`, "--out", run],
        /^error: Invalid --out .*\/run: a resumed run continues in its own directory \(.*\/seeds\)$/m,
      ],
      [
        ["--resume", `${dir}/seeds`, "--seeds", "1,2"],
        /^error: Invalid --seeds 1,2: .*\/seeds holds seeds 1; leave --seeds out to resume them$/m,
      ],
      [
        ["--seeds", "1,2", "--num-envs", "-3", "--out", run],
        /^error: Invalid --num-envs -3: expected a whole number >= 1$/m,
      ],
      [
        ["--seeds", "1,2", "--total-timesteps", "100", "--out", run],
        /^error: Invalid --total-timesteps 100: below one rollout/m,
      ],
      [
        ["--seeds", "1,2", "--help", "--out", run],
        /^error: Cannot combine --help with --seeds$/m,
      ],
      [
        ["--seeds", "1,2", "--out", `${dir}/taken`],
        /^error: Invalid --out .*\/taken\/seed-2: it already holds a run \(latest\.ckpt\)/m,
      ],
    ];
    for (const [flags, message] of cases) {
      const result = await train(flags);
      assert.equal(result.code, 2, `${flags.join(" ")}: ${result.stderr}`);
      assertOneLineError(result.stderr, message);
      assert.equal(await exists(run), false, `${flags.join(" ")} made ${run}`);
      assert.deepEqual([...Deno.readDirSync(`${dir}/seeds`)].map((e) => e.name), ["seeds.json"]);
      assert.deepEqual([...Deno.readDirSync(`${dir}/single`)], []);
      assert.deepEqual([...Deno.readDirSync(`${dir}/taken`)].map((e) => e.name), ["seed-2"]);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Each seed's run is its single run
// ---------------------------------------------------------------------------------------------

for (
  const [seeds, workers, why] of [
    ["2,3", "1", "seed 3 in a worker"],
    ["3,2", "0", "one after another in this thread"],
    ["1,2,3,4", "1", "a second seed in the same worker and in this thread"],
  ] as const
) {
  Deno.test(`--seeds ${seeds} --seed-workers ${workers} (${why}) gives each seed the metrics and checkpoint of --seed N alone`, async () => {
    await withTempDir(async (dir) => {
      const out = `${dir}/seeds`;
      const run = await train([...RUN, "--seeds", seeds, "--seed-workers", workers, "--out", out]);
      assert.equal(run.code, 0, run.stderr);
      const list = parseSeeds(seeds);
      assert.deepEqual(Object.values(statuses(await summaryOf(out))), list.map(() => "done"));
      await assertSameAsAlone(out, list);
    });
  });
}

Deno.test("seeds.json holds each seed's status, steps and evaluation, and the evaluation across seeds; output.log the run's lines", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/seeds`;
    const args = [
      "--preset",
      "quick",
      "--total-timesteps",
      "2048",
      "--eval-episodes",
      "3",
      "--seeds",
      "1-3",
      "--seed-workers",
      "1",
      "--out",
      out,
    ];
    const run = await train(args);
    assert.equal(run.code, 0, run.stderr);
    const summary = await summaryOf(out);
    assert.deepEqual(summary.args, args);
    assert.equal(summary.workers, 1);
    assert.ok(summary.seconds > 0 && summary.stepsPerSecond > 0);
    const means: number[] = [];
    for (const [i, seed] of [1, 2, 3].entries()) {
      const seedRun = summary.runs[i]!;
      const evaluation = JSON.parse(await Deno.readTextFile(`${out}/seed-${seed}/eval.json`));
      assert.equal(seedRun.seed, seed);
      assert.equal(seedRun.outDir, `${out}/seed-${seed}`);
      assert.equal(seedRun.status, "done");
      assert.equal(seedRun.step, 2048);
      assert.ok(seedRun.seconds! > 0);
      assert.deepEqual(seedRun.evaluation, { mean: evaluation.mean, std: evaluation.std });
      assert.equal(seedRun.error, undefined);
      means.push(evaluation.mean);
      const log = await Deno.readTextFile(`${out}/seed-${seed}/output.log`);
      for (
        const line of [
          `Training ppo on cartpole (seed ${seed}, 8 envs, 2,048 steps, wasm) → ${out}/seed-${seed}\n`,
          `Stopped (step budget reached) after 2,048 env steps in `,
          `Evaluation over 3 episodes (deterministic): mean return ${evaluation.mean.toFixed(1)}`,
          `Learning curves: ${out}/seed-${seed}/curves.svg\n`,
        ]
      ) {
        assert.ok(log.includes(line), `seed ${seed}: no "${line}" in:\n${log}`);
      }
      // The run's lines go to its log, not to the command's output.
      assert.ok(!run.stdout.includes(`(seed ${seed}, 8 envs`), run.stdout);
      assert.match(
        run.stdout,
        new RegExp(
          `seed ${seed}: evaluation ${evaluation.mean.toFixed(1)} ± ${
            evaluation.std.toFixed(1)
          } — 2,048 steps`,
        ),
      );
    }
    // Different seeds, different returns: the evaluation across them is not a copy of one.
    assert.ok(new Set(means).size > 1, `${means}`);
    const mean = (means[0]! + means[1]! + means[2]!) / 3;
    const std = Math.sqrt(means.reduce((a, m) => a + (m - mean) ** 2, 0) / 3);
    const across = summary.evaluation!;
    assert.ok(Math.abs(across.mean - mean) < 1e-9, `${across.mean} vs ${mean}`);
    assert.ok(Math.abs(across.std - std) < 1e-9, `${across.std} vs ${std}`);
    assert.equal(across.min, Math.min(...means));
    assert.equal(across.max, Math.max(...means));
    assert.equal(across.seeds, 3);
    assert.match(run.stdout, /Seeds: 3 of 3 done in [\d.]+ s/);
    assert.ok(
      run.stdout.includes(
        `evaluation across 3 seeds: mean return ${mean.toFixed(1)} ± ${std.toFixed(1)} (min ${
          Math.min(...means).toFixed(1)
        }, max ${Math.max(...means).toFixed(1)})`,
      ),
      run.stdout,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Signals and kill -9, then --resume: the uninterrupted runs' numbers
// ---------------------------------------------------------------------------------------------

for (const [signal, code] of [["SIGTERM", 143], ["SIGINT", 130]] as const) {
  Deno.test(`${signal} during --seeds stops the running seeds with a checkpoint, starts no more (exit ${code}); --resume finishes each as if uninterrupted`, async () => {
    await withTempDir(async (dir) => {
      const out = `${dir}/seeds`;
      // Two lanes: seeds 1 and 2 run, 3 waits.
      const child = spawn([...RUN, "--seeds", "1,2,3", "--seed-workers", "1", "--out", out]);
      // A first row: the seed's watchdog listens (training waits for it).
      await waitFor(
        async () =>
          (await lineCount(`${out}/seed-1/metrics.jsonl`)) >= 1 &&
          (await lineCount(`${out}/seed-2/metrics.jsonl`)) >= 1,
        60_000,
        "both lanes' first rows",
      );
      child.kill(signal);
      const stopped = await finish(child);
      assert.equal(stopped.status.code, code, stopped.stderr);
      const summary = await summaryOf(out);
      assert.deepEqual(statuses(summary), { 1: "interrupted", 2: "interrupted", 3: "queued" });
      for (const seed of [1, 2]) {
        const rows = await lineCount(`${out}/seed-${seed}/metrics.jsonl`);
        assert.ok(rows >= 1 && rows < ROWS, `seed ${seed}: ${rows} rows`);
        const step = summary.runs[seed - 1]!.step!;
        assert.equal(step, rows * 256, `seed ${seed}'s step`);
        await readCheckpoint(`${out}/seed-${seed}/latest.ckpt`);
      }
      assert.equal(await exists(`${out}/seed-3`), false);
      assert.match(stopped.stdout, /not finished: seeds 1, 2, 3 \(continue with --resume /);

      const resumed = await train(["--resume", out]);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.deepEqual(statuses(await summaryOf(out)), { 1: "done", 2: "done", 3: "done" });
      for (const seed of [1, 2]) {
        assert.match(
          await Deno.readTextFile(`${out}/seed-${seed}/output.log`),
          /Resumed from .*latest\.ckpt at step/,
        );
      }
      await assertSameAsAlone(out, [1, 2, 3]);
    });
  });
}

// The worker is still loading the CLI and this thread's seed is being built: no watchdog listens
// yet, so --seeds itself must pass the signal on to each seed's run as it starts.
Deno.test("SIGTERM before the seeds' watchdogs listen still stops every started seed with a checkpoint (exit 143)", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/seeds`;
    const child = spawn([
      ...RUN.slice(0, 2),
      "--total-timesteps",
      "10000000",
      "--eval-episodes",
      "0",
      "--seeds",
      "1,2",
      "--seed-workers",
      "1",
      "--out",
      out,
    ]);
    await waitFor(() => exists(`${out}/seed-1`), 60_000, "seed 1's directory");
    child.kill("SIGTERM");
    const start = Date.now();
    // A seed that missed the signal trains ten million steps (minutes): fail, not hang.
    const kill = setTimeout(() => child.kill("SIGKILL"), 20_000);
    const stopped = await finish(child);
    clearTimeout(kill);
    assert.equal(stopped.status.code, 143, stopped.stderr);
    const seconds = (Date.now() - start) / 1000;
    assert.ok(seconds < 15, `took ${seconds} s`);
    assert.deepEqual(statuses(await summaryOf(out)), { 1: "interrupted", 2: "interrupted" });
    for (const seed of [1, 2]) await readCheckpoint(`${out}/seed-${seed}/latest.ckpt`);
  });
});

Deno.test("kill -9 during --seeds, then --resume <out>: each seed ends with the uninterrupted run's metrics", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/seeds`;
    const child = spawn([...RUN, "--seeds", "1,2,3", "--seed-workers", "1", "--out", out]);
    // Past row 8 each running seed has a checkpoint to resume from.
    await waitFor(
      async () =>
        (await lineCount(`${out}/seed-1/metrics.jsonl`)) >= 10 &&
        (await lineCount(`${out}/seed-2/metrics.jsonl`)) >= 10,
      60_000,
      "both lanes' tenth rows",
    );
    child.kill("SIGKILL");
    const killed = await finish(child);
    assert.equal(killed.status.signal, "SIGKILL");
    // seeds.json is as it was when the seeds started: nobody wrote the kill down.
    const logged = await Promise.all(
      [1, 2].map((s) => lineCount(`${out}/seed-${s}/metrics.jsonl`)),
    );
    const resumed = await train(["--resume", out]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.deepEqual(statuses(await summaryOf(out)), { 1: "done", 2: "done", 3: "done" });
    console.log(`killed after ${logged.join(" and ")} rows of seeds 1 and 2`);
    // The checkpoints differ only in what a resume records; the numbers are the point here.
    await assertSameAsAlone(out, [1, 2, 3], false);
    for (const seed of [1, 2, 3]) {
      const names = [...Deno.readDirSync(`${out}/seed-${seed}`)].map((e) => e.name);
      assert.deepEqual(names.filter((n) => n.includes(".tmp")), [], "temporary files left");
    }
  });
});

// ---------------------------------------------------------------------------------------------
// One seed's failure or hang
// ---------------------------------------------------------------------------------------------

Deno.test("a seed whose run throws is recorded as failed with its error, the others finish, and the command exits 1 naming it", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/seeds`;
    // Seeds 10 apart: the envs' first resets (seed + copy) hit 20 in seed 20's run only.
    const run = await train([
      "--env",
      SEEDED_FAULT,
      "--victim",
      "20",
      "--seeds",
      "10,20,30",
      "--seed-workers",
      "1",
      "--total-timesteps",
      "2048",
      "--eval-episodes",
      "0",
      "--out",
      out,
    ]);
    assert.equal(run.code, 1, run.stderr);
    const error =
      'Env "seeded-fault" copy 0 threw in step() at vector step 101: the simulator lost its connection';
    assertOneLineError(run.stderr, /^error: 1 of 3 seeds failed: seed 20 \(.*\)$/m);
    assert.ok(run.stderr.includes(`error: 1 of 3 seeds failed: seed 20 (${error})`), run.stderr);
    const summary = await summaryOf(out);
    assert.deepEqual(statuses(summary), { 10: "done", 20: "failed", 30: "done" });
    assert.equal(summary.runs[1]!.error, error);
    for (const seed of [10, 30]) {
      assert.equal(summary.runs.find((r) => r.seed === seed)!.step, 2048);
      assert.equal(await lineCount(`${out}/seed-${seed}/metrics.jsonl`), 4);
      await readCheckpoint(`${out}/seed-${seed}/latest.ckpt`);
    }
    assert.match(run.stdout, /seed 20: failed: Env "seeded-fault" copy 0 threw in step\(\)/);
    assert.match(run.stdout, /not finished: seeds 20 \(continue with --resume /);
  });
});

/** Seeds 10 and 20, seed 20 in the worker, whose env's step hangs from its 101st vector step. */
const HANG_IN_WORKER = [
  "--env",
  SEEDED_FAULT,
  "--fault",
  "hang",
  "--victim",
  "20",
  "--seeds",
  "10,20",
  "--seed-workers",
  "1",
];

Deno.test("an env call over --env-call-timeout in a seed's worker ends the process with exit code 1 within seconds, naming it", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/seeds`;
    // Seed 10 runs in this thread, seed 20 (whose step hangs) in the worker.
    const child = spawn([
      ...HANG_IN_WORKER,
      ...["--total-timesteps", "100000", "--env-call-timeout", "1", "--out", out],
    ]);
    const start = Date.now();
    // SIGKILL: a hang nobody noticed would otherwise hang the test.
    const kill = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const { status, stderr } = await finish(child);
    clearTimeout(kill);
    const seconds = (Date.now() - start) / 1000;
    assert.equal(status.code, 1, stderr);
    assert.ok(seconds < 10, `took ${seconds} s`);
    assertOneLineError(
      stderr,
      /^error: Stopped: env "seeded-fault" copy 0 was in step\(\) at vector step 101 for 1\.\d s, longer than --env-call-timeout 1; no checkpoint was written yet in .*\/seed-20$/m,
    );
  });
});

// --seeds listens for signals itself (to start no more seeds): a watchdog's "at once" cannot rely
// on the signal's default action ending the process.
Deno.test("SIGTERM during a hung env step in a seed's worker ends the process at once, naming the call", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/seeds`;
    const child = spawn([
      ...HANG_IN_WORKER,
      ...["--total-timesteps", "10000000", "--eval-episodes", "0", "--out", out],
    ]);
    // Seed 20's step hangs from its 101st vector step, right after its set-up.
    await waitFor(() => exists(`${out}/seed-20/config.json`), 60_000, "seed 20's run");
    await new Promise((resolve) => setTimeout(resolve, 1500));
    child.kill("SIGTERM");
    const start = Date.now();
    const kill = setTimeout(() => child.kill("SIGKILL"), 15_000);
    const { status, stderr } = await finish(child);
    clearTimeout(kill);
    const seconds = (Date.now() - start) / 1000;
    assert.equal(status.code, 143, stderr);
    assert.ok(seconds < 5, `took ${seconds} s`);
    assertOneLineError(
      stderr,
      /^error: Stopped at once after SIGTERM: env "seeded-fault" copy 0 was in step\(\) at vector step 101 for [\d.]+ s, so the iteration cannot end; no checkpoint was written yet in .*\/seed-20$/m,
    );
  });
});
