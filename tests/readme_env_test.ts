/**
 * The README's `Box` env ("Writing an env plugin") type-checks as written, with no cast: `step`
 * reads its action as a `Float32Array` because `create` returns a `BoxEnv`. The same text typed as
 * a plain `Env` does not type-check, which shows the check has teeth. It also trains and resumes
 * as the README says: a seeded reset repeats, and getState/setState continue to the same numbers.
 */
import assert from "node:assert/strict";
import { fileURLToPath } from "node:url";

const ROOT = fileURLToPath(new URL("..", import.meta.url));

/** The README's code block that defines the `reach` env. */
async function readmeBoxEnv(): Promise<string> {
  const readme = await Deno.readTextFile(`${ROOT}/README.md`);
  const block = [...readme.matchAll(/```ts\n([\s\S]*?)```/g)].map((m) => m[1]!)
    .find((code) => code.includes("export const reach"));
  assert.ok(block, "README has no code block defining the reach env");
  return block;
}

/** `deno check` of the files, written to tests/fixtures (so the import map applies), in one run. */
async function check(files: string[]): Promise<{ ok: boolean; output: string }> {
  const paths: string[] = [];
  try {
    for (const code of files) {
      const path = await Deno.makeTempFile({ dir: `${ROOT}/tests/fixtures`, suffix: ".ts" });
      paths.push(path);
      await Deno.writeTextFile(path, code);
    }
    const out = await new Deno.Command(Deno.execPath(), {
      args: ["check", ...paths],
      cwd: ROOT,
      stdout: "piped",
      stderr: "piped",
      env: { NO_COLOR: "1" },
    }).output();
    return { ok: out.success, output: new TextDecoder().decode(out.stderr) };
  } finally {
    for (const path of paths) await Deno.remove(path);
  }
}

Deno.test("the README's Box env type-checks with no cast, and not as a plain Env", async () => {
  const code = await readmeBoxEnv();
  assert.doesNotMatch(code, / as (Float32Array|number|unknown)\b/, "the README's env casts");
  // The same env typed as a plain Env: its step's `action[0]` must be an error, which an
  // expect-error directive turns into a failed check if it is not.
  const line = code.split("\n").find((l) => l.includes("action[0]"));
  assert.ok(line, "the README's step reads action[0]");
  const plain = code
    .replace("BoxEnv<ReachState>", "Env<Float32Array, number | Float32Array, ReachState>")
    .replace("type BoxEnv,", "type Env,")
    .replace(line, `        // @ts-expect-error: number | Float32Array has no [0]\n${line}`);
  const result = await check([code, plain]);
  assert.ok(result.ok, result.output);
});

Deno.test("the README's Box env repeats a seeded reset and resumes from getState exactly", async () => {
  const path = await Deno.makeTempFile({ dir: `${ROOT}/tests/fixtures`, suffix: ".ts" });
  try {
    await Deno.writeTextFile(path, await readmeBoxEnv());
    const { reach } = await import(`file://${path}`);
    const a = reach.create(reach.defaults), b = reach.create(reach.defaults);
    assert.deepEqual(a.reset({ seed: 4 }), b.reset({ seed: 4 }));
    for (let t = 0; t < 5; t++) a.step(Float32Array.of(0.3));
    b.setState(JSON.parse(JSON.stringify(a.getState())));
    for (let t = 0; t < 60; t++) {
      const x = a.step(Float32Array.of(-0.2)), y = b.step(Float32Array.of(-0.2));
      assert.deepEqual(y, x);
      if (x.truncated) assert.deepEqual(b.reset(), a.reset());
    }
  } finally {
    await Deno.remove(path);
  }
});
