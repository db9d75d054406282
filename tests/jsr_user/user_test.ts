// The user project's own tests, run with `deno test -A` in this folder: the library trains
// CartPole, and the CLI (run as `deno run -A jsr:@proximal/cli`) trains on the project's plugin.
import { trainCartPole } from "./train_cartpole.ts";

Deno.test("PPO from jsr:@proximal/algos learns CartPole", async () => {
  const mean = await trainCartPole(20_480);
  // A random policy balances about 22 steps; 20k steps of the fast settings reach well above.
  if (!(mean >= 100)) throw new Error(`Evaluation mean ${mean} is below 100`);
});

Deno.test("the CLI from jsr:@proximal/cli trains on this project's env plugin", async () => {
  const out = await Deno.makeTempDir();
  try {
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "jsr:@proximal/cli", "--env", "./my_env.ts", "--total-timesteps", "1024"]
        .concat(["--eval-episodes", "3", "--out", out]),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    if (!run.success) throw new Error(`The CLI failed: ${stderr}`);
    const evaluation = JSON.parse(await Deno.readTextFile(`${out}/eval.json`));
    if (evaluation.episodes !== 3 || !Number.isFinite(evaluation.mean)) {
      throw new Error(`Unexpected eval.json: ${JSON.stringify(evaluation)}`);
    }
    const config = JSON.parse(await Deno.readTextFile(`${out}/config.json`));
    if (config.env !== "./my_env.ts") throw new Error(`config.env is ${config.env}`);
    await Deno.stat(`${out}/curves.svg`);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});

Deno.test("the CLI from jsr:@proximal/cli trains two seeds of this project's env side by side", async () => {
  const out = await Deno.makeTempDir();
  try {
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", "-A", "jsr:@proximal/cli", "--env", "./my_env.ts", "--total-timesteps", "1024"]
        .concat(["--eval-episodes", "3", "--seeds", "1,2", "--seed-workers", "1"])
        .concat(["--out", `${out}/seeds`]),
      stdout: "piped",
      stderr: "piped",
    }).output();
    const stderr = new TextDecoder().decode(run.stderr);
    if (!run.success) throw new Error(`The CLI failed: ${stderr}`);
    const summary = JSON.parse(await Deno.readTextFile(`${out}/seeds/seeds.json`));
    const done = summary.runs.filter((r: { status: string }) => r.status === "done").length;
    if (done !== 2 || summary.evaluation?.seeds !== 2) {
      throw new Error(`Unexpected seeds.json: ${JSON.stringify(summary)}`);
    }
    for (const seed of [1, 2]) await Deno.stat(`${out}/seeds/seed-${seed}/eval.json`);
  } finally {
    await Deno.remove(out, { recursive: true });
  }
});
