/**
 * The command line's flag syntax and help: `--flag=value`, negative numbers after a flag, the
 * nearest known flag for a mistyped one, each flag's type in `--help`, and a range error that
 * names the flag.
 */
import assert from "node:assert/strict";
import { joinNegativeValues, nearestFlag } from "../cli/_flags.ts";
import { STACK_LINE, train } from "./_cli.ts";

Deno.test("a negative number after a flag is its value; switches and words are left alone", () => {
  assert.deepEqual(
    joinNegativeValues(["--seed", "-3", "--stop-at-return", "-.5", "--check", "--env", "x"]),
    ["--seed=-3", "--stop-at-return=-.5", "--check", "--env", "x"],
  );
  assert.deepEqual(joinNegativeValues(["--out", "-dir", "--gamma=-1"]), [
    "--out",
    "-dir",
    "--gamma=-1",
  ]);
});

Deno.test("a mistyped flag finds its nearest known flag, an unrelated one none", () => {
  const known = ["learning-rate", "num-envs", "seed", "total-timesteps"];
  assert.equal(nearestFlag("--learning_rate", known), "learning-rate");
  assert.equal(nearestFlag("--totl-timesteps=5", known), "total-timesteps");
  assert.equal(nearestFlag("--Num_Envs", known), "num-envs");
  assert.equal(nearestFlag("--colour", known), undefined);
});

Deno.test("train CLI suggests the nearest flag and names the flag of a value out of range", async () => {
  const typo = await train(["--learning_rate", "1e-3"]);
  assert.equal(typo.code, 2, typo.stderr);
  assert.match(
    typo.stderr,
    /^error: Unknown flag --learning_rate: did you mean --learning-rate\?/m,
  );
  const range = await train([
    "--learning-rate=-1",
    "--eval-episodes",
    "0",
    "--out",
    "/nonexistent/x",
  ]);
  assert.equal(range.code, 2, range.stderr);
  assert.match(
    range.stderr,
    /^error: Cannot start ppo on cartpole: .*--learning-rate must be > 0, got -1$/m,
  );
  assert.doesNotMatch(range.stderr + typo.stderr, STACK_LINE);
});

Deno.test("train CLI --help shows each flag's type and the value syntax", async () => {
  const run = await train(["--help"]);
  assert.equal(run.code, 0, run.stderr);
  assert.match(run.stdout, /--seed <integer> +seed of everything random/);
  assert.match(run.stdout, /--stop-at-return <number>/);
  assert.match(run.stdout, /--learning-rate <number> +Adam step size/);
  assert.match(run.stdout, /--flag=value; negative numbers too \(--seed -3\)/);
  assert.match(
    run.stdout,
    /--preset continuous: .*\n {2}= .*--wrappers clip-action,normalize-obs,normalize-reward/,
  );
});
