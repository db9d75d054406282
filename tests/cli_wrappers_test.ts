/**
 * `--wrappers` and `--preset continuous` from the command line: a wrapped run resumes to the
 * numbers of an uninterrupted one (the wrappers' statistics ride in the checkpoint), a wrong
 * wrapper name is a usage error, and the continuous example learns with the preset alone.
 */
import assert from "node:assert/strict";
import { STACK_LINE, train } from "./_cli.ts";

/** Rows of metrics.jsonl without the wall-clock ones. */
async function metrics(dir: string): Promise<Record<string, unknown>[]> {
  const text = await Deno.readTextFile(`${dir}/metrics.jsonl`);
  return text.split("\n").filter((l) => l !== "").map((line) => {
    const row = JSON.parse(line) as Record<string, unknown>;
    for (const key of Object.keys(row)) {
      if (key === "time" || key === "charts/SPS" || key.startsWith("perf/")) delete row[key];
    }
    return row;
  });
}

// Two small iterations of the preset's wrapped PPO on the point mass.
const SMALL = [
  "--env",
  "./examples/point_mass.ts",
  "--preset",
  "continuous",
  "--num-steps",
  "200",
  "--num-minibatches",
  "4",
  "--update-epochs",
  "2",
  "--eval-episodes",
  "0",
  "--anneal-lr", // annealing depends on the budget, which a resume raises
  "false",
];

Deno.test("train CLI resumes a wrapped run to the numbers of an uninterrupted one", async () => {
  const dir = await Deno.makeTempDir({ prefix: "proximal_wrappers_" });
  try {
    const whole = await train([...SMALL, "--total-timesteps", "600", "--out", `${dir}/whole`]);
    assert.equal(whole.code, 0, whole.stderr);
    const config = JSON.parse(await Deno.readTextFile(`${dir}/whole/config.json`));
    assert.equal(config.wrappers, "clip-action,normalize-obs,normalize-reward");
    assert.equal(config.preset, "continuous");

    const first = await train([...SMALL, "--total-timesteps", "400", "--out", `${dir}/parts`]);
    assert.equal(first.code, 0, first.stderr);
    const rest = await train([
      "--resume",
      `${dir}/parts`,
      "--total-timesteps",
      "600",
      "--eval-episodes",
      "0",
    ]);
    assert.equal(rest.code, 0, rest.stderr);
    const expected = await metrics(`${dir}/whole`);
    assert.equal(expected.length, 3);
    assert.deepEqual(await metrics(`${dir}/parts`), expected);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("train CLI rejects an unknown wrapper, naming the known ones, with exit code 2", async () => {
  const run = await train([
    "--wrappers",
    "normalize-obs,normalise-reward",
    "--out",
    "/nonexistent",
  ]);
  assert.equal(run.code, 2, run.stderr);
  assert.match(
    run.stderr,
    /^error: Unknown wrapper in --wrappers: normalise-reward \(choose from/m,
  );
  assert.doesNotMatch(run.stderr, STACK_LINE);
});

Deno.test("train CLI --check stops on a plugin module with a type error, naming it", async () => {
  const dir = await Deno.makeTempDir({ prefix: "proximal_check_" });
  try {
    // Runs fine (the mistyped value is never used) but does not type-check.
    await Deno.copyFile("examples/catch_env.ts", `${dir}/env.ts`);
    await Deno.writeTextFile(
      `${dir}/env.ts`,
      (await Deno.readTextFile(`${dir}/env.ts`)).replace(
        /@proximal\/core/g,
        `${Deno.cwd()}/core/mod.ts`,
      ) +
        '\nexport const broken: number = "not a number";\n',
    );
    const run = await train(["--check", "--env", `${dir}/env.ts`, "--out", `${dir}/run`]);
    assert.equal(run.code, 2, run.stderr);
    assert.match(run.stderr, /^error: Type check of .*env\.ts failed \(deno check\):/m);
    assert.match(run.stderr, /TS2322/);
    await assert.rejects(Deno.stat(`${dir}/run`), Deno.errors.NotFound);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
