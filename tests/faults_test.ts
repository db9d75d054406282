/**
 * Fault injection: what a user or the machine can do to a run, and what must survive. Each test
 * runs cli/mod.ts (`deno task train`) as a subprocess and does the harm itself: kill -9 at a random
 * iteration, signals during a hung env call, flipped bytes in a checkpoint, a full disk during a
 * checkpoint write, a reused --out, and every kind of flag change on --resume. The README's
 * "Reliability" table lists the cases with what the program said.
 *
 * `FAULT_TRIALS=10 deno test -A tests/faults_test.ts` runs ten kill -9 trials (the README's
 * figure); CI runs three.
 */
import assert from "node:assert/strict";
import { decodeCheckpoint, readCheckpoint, Rng } from "@proximal/core";
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

const TRIALS = Number(Deno.env.get("FAULT_TRIALS") ?? 3);
/** 16 iterations of the fast preset (32 envs × 32 steps), a checkpoint every 2. */
const RUN = [
  "--preset",
  "fast",
  "--total-timesteps",
  "16384",
  "--checkpoint-every",
  "2048",
  "--eval-episodes",
  "0",
];
const FAULTY = "./tests/fixtures/faulty_env.ts";

/** metrics.jsonl without what depends on the clock (time, SPS, perf/*). */
async function times(dir: string): Promise<number[]> {
  const rows = (await Deno.readTextFile(`${dir}/metrics.jsonl`)).trim().split("\n");
  return rows.map((line) => (JSON.parse(line) as { time: number }).time);
}

function assertOneLineError(stderr: string, message: RegExp): void {
  assert.match(stderr, message);
  assert.doesNotMatch(stderr, STACK_LINE);
}

// ---------------------------------------------------------------------------------------------
// kill -9, then --resume: the same metrics, row for row
// ---------------------------------------------------------------------------------------------

Deno.test(`kill -9 at a random iteration then --resume gives the uninterrupted run's metrics (${TRIALS} trials)`, async () => {
  await withTempDir(async (dir) => {
    const reference = await train([...RUN, "--out", `${dir}/reference`]);
    assert.equal(reference.code, 0, reference.stderr);
    const expected = await numbers(`${dir}/reference`);
    assert.equal(expected.length, 16);
    const rng = new Rng(13);
    for (let trial = 0; trial < TRIALS; trial++) {
      const out = `${dir}/trial-${trial}`;
      // From row 3 on, a checkpoint (written after row 2) exists to resume from.
      const killAt = 3 + rng.int(12);
      const child = spawn([...RUN, "--out", out]);
      await waitFor(
        async () => (await lineCount(`${out}/metrics.jsonl`)) >= killAt,
        60_000,
        "rows",
      );
      child.kill("SIGKILL");
      const killed = await finish(child);
      assert.equal(killed.status.signal, "SIGKILL");
      const logged = await lineCount(`${out}/metrics.jsonl`);
      const resumed = await train(["--resume", out]);
      assert.equal(resumed.code, 0, resumed.stderr);
      assert.deepEqual(await numbers(out), expected, `trial ${trial}: killed after ${logged} rows`);
      const at = resumed.stdout.match(/at step ([\d,]+)/)?.[1];
      const dropped = resumed.stdout.match(/dropped (\d+) metrics rows/)?.[1] ?? "0";
      const stale = resumed.stdout.match(/removed (\d+) temporary/)?.[1] ?? "0";
      console.log(
        `trial ${trial}: killed after ${logged} rows, resumed at step ${at}, ${dropped} rows dropped, ${stale} temp files removed`,
      );
      const t = await times(out);
      assert.ok(t.every((x, i) => i === 0 || x >= t[i - 1]!), `time goes backwards: ${t}`);
      const names = [...Deno.readDirSync(out)].map((e) => e.name);
      assert.deepEqual(names.filter((n) => n.includes(".tmp")), [], "temporary files left");
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Signals: saved at the boundary, or ended at once when an env call hangs
// ---------------------------------------------------------------------------------------------

Deno.test("SIGINT saves a checkpoint at the next iteration boundary and exits 130; --resume finishes the run", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/run`;
    const child = spawn([...RUN, "--out", out]);
    await waitFor(async () => (await lineCount(`${out}/metrics.jsonl`)) >= 3, 60_000, "rows");
    child.kill("SIGINT");
    const { status, stderr } = await finish(child);
    assert.equal(status.code, 130, stderr);
    assert.match(stderr, /SIGINT: stopping after this iteration with a checkpoint/);
    const rows = await lineCount(`${out}/metrics.jsonl`);
    assert.ok(rows >= 3 && rows < 16, `${rows} rows`);
    await readCheckpoint(`${out}/latest.ckpt`);
    const resumed = await train(["--resume", out]);
    assert.equal(resumed.code, 0, resumed.stderr);
    // The checkpoint is the last row's: nothing to log again.
    assert.match(resumed.stdout, new RegExp(`at step ${(rows * 1024).toLocaleString("en-US")}\n`));
    assert.doesNotMatch(resumed.stdout, /dropped/);
    assert.equal(await lineCount(`${out}/metrics.jsonl`), 16);
  });
});

// With --num-workers 1 the envs are stepped in PPO's worker, which records its calls in the
// watchdog's env call record: the same messages, the same limits.
for (
  const [signals, workers] of [
    [["SIGTERM"], "0"],
    [["SIGINT", "SIGINT"], "0"],
    [["SIGTERM"], "1"],
  ] as const
) {
  Deno.test(`${signals.join(" + ")} during a hung env step (--num-workers ${workers}) ends the process within 2 s, naming the env, copy and call`, async () => {
    await withTempDir(async (dir) => {
      const marker = `${dir}/hanging`;
      const child = spawn([
        "--env",
        FAULTY,
        "--after",
        "300",
        "--copy",
        "2",
        "--marker",
        marker,
        "--total-timesteps",
        "100000",
        "--num-workers",
        workers,
        "--out",
        `${dir}/run`,
      ]);
      await waitFor(() => exists(marker), 60_000, "the hang");
      const start = Date.now();
      for (const signal of signals) {
        child.kill(signal);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      // A process the signals did not end fails the test rather than hanging it.
      const kill = setTimeout(() => child.kill("SIGKILL"), 10_000);
      const { status, stderr } = await finish(child);
      clearTimeout(kill);
      const seconds = (Date.now() - start) / 1000;
      assert.ok(seconds < 2, `took ${seconds} s`);
      assert.equal(status.signal, signals[0]);
      assertOneLineError(
        stderr,
        /error: Stopped at once .*env "faulty" copy 2 was in step\(\) at vector step 301 for [\d.]+ s/,
      );
    });
  });
}

Deno.test("an env call over --env-call-timeout (a reset hung at set-up) ends the run with exit code 1, naming it", async () => {
  await withTempDir(async (dir) => {
    const start = Date.now();
    const run = await train([
      "--env",
      FAULTY,
      "--fault",
      "hang-reset",
      "--copy",
      "1",
      "--env-call-timeout",
      "1",
      "--num-workers",
      "0",
      "--out",
      `${dir}/run`,
    ], 30_000);
    assert.equal(run.code, 1, run.stderr);
    assert.ok(Date.now() - start < 15_000);
    assertOneLineError(
      run.stderr,
      /error: Stopped: env "faulty" copy 1 was in reset\(\) at vector step 0 for 1\.\d s, longer than --env-call-timeout 1; no checkpoint was written yet/,
    );
  });
});

// The main thread builds and resets its own copies even with workers: a step hangs in the worker.
Deno.test("an env step over --env-call-timeout in PPO's worker (--num-workers 1) ends the run with exit code 1, naming it", async () => {
  await withTempDir(async (dir) => {
    const child = spawn([
      "--env",
      FAULTY,
      "--after",
      "300",
      "--copy",
      "2",
      "--env-call-timeout",
      "1",
      "--num-workers",
      "1",
      "--out",
      `${dir}/run`,
    ]);
    // SIGKILL: an unrecorded hang would survive SIGTERM (the watchdog takes it as a first stop).
    const kill = setTimeout(() => child.kill("SIGKILL"), 30_000);
    const { status, stderr } = await finish(child);
    clearTimeout(kill);
    assert.equal(status.code, 1, stderr);
    assertOneLineError(
      stderr,
      /error: Stopped: env "faulty" copy 2 was in step\(\) at vector step 301 for 1\.\d s, longer than --env-call-timeout 1; no checkpoint was written yet/,
    );
  });
});

Deno.test("an env's own exception is wrapped with its name, copy, call and step", async () => {
  await withTempDir(async (dir) => {
    const run = await train([
      "--env",
      FAULTY,
      "--fault",
      "throw",
      "--after",
      "100",
      "--copy",
      "3",
      "--total-timesteps",
      "2048",
      "--num-workers",
      "0",
      "--out",
      `${dir}/run`,
    ]);
    assert.equal(run.code, 1, run.stderr);
    assertOneLineError(
      run.stderr,
      /^error: Env "faulty" copy 3 threw in step\(\) at vector step 101: the simulator lost its connection$/m,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Checkpoints: flipped bytes, a full disk
// ---------------------------------------------------------------------------------------------

Deno.test("one flipped byte at 20 random offsets of a real checkpoint: 20 refusals naming the file", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/run`;
    const run = await train([
      ...RUN.slice(0, 2),
      "--total-timesteps",
      "2048",
      "--eval-episodes",
      "0",
      "--out",
      out,
    ]);
    assert.equal(run.code, 0, run.stderr);
    const bytes = await Deno.readFile(`${out}/latest.ckpt`);
    const rng = new Rng(7);
    for (let i = 0; i < 20; i++) {
      const offset = rng.int(bytes.length);
      const damaged = bytes.slice();
      damaged[offset]! ^= 1 + rng.int(255);
      assert.throws(
        () => decodeCheckpoint(damaged, { source: `${out}/latest.ckpt` }),
        (e: Error) => e.message.startsWith(`Invalid checkpoint ${out}/latest.ckpt: `),
        `offset ${offset}`,
      );
    }
    // And through the CLI: refused with exit code 2, the file left as it was.
    const damaged = bytes.slice();
    damaged[bytes.length - 1000]! ^= 0x40;
    await Deno.writeFile(`${out}/latest.ckpt`, damaged);
    const resumed = await train(["--resume", out]);
    assert.equal(resumed.code, 2, resumed.stderr);
    assertOneLineError(
      resumed.stderr,
      /^error: Invalid checkpoint .*latest\.ckpt: checksum mismatch: the file was changed or damaged after it was written$/m,
    );
    assert.deepEqual(await Deno.readFile(`${out}/latest.ckpt`), damaged);
  });
});

/** Mounts a tmpfs of `size` at `dir` (root only); false where that is not allowed. */
async function mountTmpfs(dir: string, size: string): Promise<boolean> {
  try {
    const { success } = await new Deno.Command("mount", {
      args: ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir],
      stdout: "null",
      stderr: "null",
    }).output();
    return success;
  } catch {
    return false;
  }
}

const canMount = await (async () => {
  const dir = await Deno.makeTempDir();
  const ok = await mountTmpfs(dir, "64k");
  if (ok) await new Deno.Command("umount", { args: [dir] }).output();
  await Deno.remove(dir);
  return ok;
})();

Deno.test({
  name:
    "a full disk during a checkpoint write leaves the previous checkpoint intact, loadable and resumable",
  // Mounting a small tmpfs needs root; elsewhere the README's figure is the record.
  ignore: !canMount,
  fn: async () => {
    await withTempDir(async (dir) => {
      const disk = `${dir}/disk`;
      await Deno.mkdir(disk);
      // 100 pages: two 121 kB checkpoints and the logs fit, a third and a temp file do not.
      assert.ok(await mountTmpfs(disk, "400k"));
      try {
        const out = `${disk}/run`;
        const run = await train([
          ...RUN.slice(0, 4),
          "--checkpoint-every",
          "1024",
          "--eval-episodes",
          "0",
          "--out",
          out,
        ]);
        assert.equal(run.code, 1, run.stderr);
        assertOneLineError(
          run.stderr,
          /^error: Cannot write checkpoint .*\/run\/.*\.ckpt: No space left on device/m,
        );
        const checkpoint = await readCheckpoint(`${out}/latest.ckpt`);
        assert.ok(Object.keys(checkpoint.tensors).length > 0);
        assert.ok("run" in checkpoint.meta);
        const names = [...Deno.readDirSync(out)].map((e) => e.name);
        assert.deepEqual(names.filter((n) => n.includes(".tmp")), [], "temporary files left");
        // Off the full disk, the run resumes from it and ends as an uninterrupted one.
        await new Deno.Command("cp", { args: ["-r", out, `${dir}/copy`] }).output();
        const resumed = await train(["--resume", `${dir}/copy`]);
        assert.equal(resumed.code, 0, resumed.stderr);
        const reference = await train([...RUN, "--out", `${dir}/reference`]);
        assert.equal(reference.code, 0, reference.stderr);
        assert.deepEqual(await numbers(`${dir}/copy`), await numbers(`${dir}/reference`));
      } finally {
        await new Deno.Command("umount", { args: [disk] }).output();
      }
    });
  },
});

// ---------------------------------------------------------------------------------------------
// A run directory belongs to one run; resume is exact or refused
// ---------------------------------------------------------------------------------------------

Deno.test("--out of an existing run without --resume is refused and nothing is overwritten", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/run`;
    const first = await train([
      ...RUN.slice(0, 2),
      "--total-timesteps",
      "2048",
      "--eval-episodes",
      "0",
      "--out",
      out,
    ]);
    assert.equal(first.code, 0, first.stderr);
    const files = ["latest.ckpt", "metrics.jsonl", "metrics.csv", "config.json"];
    const before = await Promise.all(files.map((f) => Deno.readFile(`${out}/${f}`)));
    const again = await train([
      ...RUN.slice(0, 2),
      "--total-timesteps",
      "2048",
      "--seed",
      "2",
      "--out",
      out,
    ]);
    assert.equal(again.code, 2, again.stderr);
    assertOneLineError(
      again.stderr,
      /^error: Invalid --out .*\/run: it already holds a run \(latest\.ckpt\); continue it with --resume .*\/run, or choose another --out$/m,
    );
    assert.deepEqual(await Promise.all(files.map((f) => Deno.readFile(`${out}/${f}`))), before);
  });
});

Deno.test("every flag change on --resume is refused with the reason, or applied and said", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/run`;
    const first = await train(["--total-timesteps", "1024", "--eval-episodes", "0", "--out", out]);
    assert.equal(first.code, 0, first.stderr);
    const checkpoint = await Deno.readFile(`${out}/latest.ckpt`);
    const refused: [string[], RegExp][] = [
      [["--seed", "3"], /the run has --seed 1, not 3 \(its numbers depend on it/],
      [["--num-envs", "8"], /the run has --num-envs 4, not 8 /],
      [["--num-steps", "64"], /the run has --num-steps 128, not 64 /],
      [["--learning-rate", "0.001"], /the run has --learning-rate 0\.00025, not 0\.001 /],
      [["--preset", "fast"], /the run has --num-envs 4, not 32 as --preset fast sets /],
      [["--backend", "cpu"], /the run has --backend wasm, not cpu /],
      [["--env", FAULTY], /it was trained with --env cartpole, not/],
      [
        ["--total-timesteps", "512"],
        /Invalid --total-timesteps 512: the run being resumed is already at step 1,024/,
      ],
      [
        ["--out", `${dir}/elsewhere`],
        /Invalid --out .*elsewhere: a resumed run continues in its own directory/,
      ],
    ];
    for (const [flags, message] of refused) {
      const run = await train(["--resume", out, ...flags]);
      assert.equal(run.code, 2, `${flags.join(" ")}: ${run.stderr}`);
      assertOneLineError(run.stderr, message);
    }
    assert.deepEqual(
      await Deno.readFile(`${out}/latest.ckpt`),
      checkpoint,
      "the checkpoint is untouched",
    );
    const applied = await train([
      "--resume",
      out,
      "--total-timesteps",
      "2048",
      "--eval-episodes",
      "2",
      "--checkpoint-every",
      "512",
      "--stop-at-return",
      "400",
      "--num-workers",
      "1",
    ]);
    assert.equal(applied.code, 0, applied.stderr);
    for (
      const line of [
        "applied: --num-workers 1 (was 0)",
        "applied: --total-timesteps 2,048 (was 1,024)",
        "applied: --eval-episodes 2 (was 0)",
        "applied: --checkpoint-every 512 (was 100,000)",
        "applied: --stop-at-return 400 (was none)",
      ]
    ) {
      assert.ok(applied.stdout.includes(line), `missing "${line}" in:\n${applied.stdout}`);
    }
    const config = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
    assert.equal(config.totalTimesteps, 2048);
    assert.equal(config.evalEpisodes, 2);
    assert.equal(JSON.parse(await Deno.readTextFile(`${out}/eval.json`)).episodes, 2);
  });
});

Deno.test("resuming an env without getState says that its episodes restart", async () => {
  await withTempDir(async (dir) => {
    const out = `${dir}/run`;
    const args = ["--env", FAULTY, "--fault", "none", "--eval-episodes", "0"];
    const first = await train([...args, "--total-timesteps", "512", "--out", out]);
    assert.equal(first.code, 0, first.stderr);
    const resumed = await train(["--resume", out, "--total-timesteps", "1024"]);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(
      resumed.stdout,
      /note: env "faulty" has no getState\(\), so its episodes restart from a reset/,
    );
  });
});

// ---------------------------------------------------------------------------------------------
// Numbers and paths at the door: one line, exit code 2, nothing written
// ---------------------------------------------------------------------------------------------

Deno.test("bad numbers and unusable --out paths are refused at the door with one line and exit code 2", async () => {
  await withTempDir(async (dir) => {
    await Deno.writeTextFile(`${dir}/file`, "occupied");
    const cases: [string[], RegExp][] = [
      [["--num-envs", "-3"], /^error: Invalid --num-envs -3: expected a whole number >= 1$/m],
      [
        ["--seed", "-3", "--total-timesteps", "1e99"],
        /^error: Invalid --total-timesteps 1e99: too large to count exactly/m,
      ],
      [
        ["--total-timesteps", "100"],
        /^error: Invalid --total-timesteps 100: below one rollout \(--num-envs 4 × --num-steps 128 = 512 steps\)$/m,
      ],
      [["--out", `${dir}/file`], /^error: Invalid --out .*\/file: it is a file, not a directory$/m],
      [
        ["--out", `${dir}/file/run`],
        /^error: Invalid --out .*\/file\/run: .*\/file is a file, not a directory$/m,
      ],
      [
        ["--env-call-timeout", "-1"],
        /^error: Invalid --env-call-timeout -1: expected seconds >= 0/m,
      ],
    ];
    for (const [flags, message] of cases) {
      const args = flags.includes("--out") ? flags : [...flags, "--out", `${dir}/run`];
      const run = await train(args);
      assert.equal(run.code, 2, `${flags.join(" ")}: ${run.stderr}`);
      assertOneLineError(run.stderr, message);
      assert.equal(await exists(`${dir}/run`), false);
    }
  });
});
