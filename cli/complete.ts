/**
 * `deno task complete`: complete prompts with any text stage's model.
 *
 *   deno task complete --model runs/dpo --prompt "the food was" [--prompt …] [--samples 3]
 *   deno task complete --model runs/ppo --prompts prompts.txt --out completions.jsonl
 *
 * `--prompts FILE` reads one prompt per line (or JSONL rows with a `prompt` field); the output is
 * JSONL, one `{"prompt", "completion", "logProb", "sample"}` row per completion, to `--out` or
 * stdout. `--temperature` (1; 0 = greedy), `--top-k` (0 = off), `--seed` (1), `--max-new-tokens`
 * (16).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { Rng, setupBackend } from "@proximal/core";
import { completePrompts, type Completion, loadCompleter } from "@proximal/rlhf";

/**
 * Runs the command on its arguments.
 *
 * @param args The command-line arguments.
 * @returns The completions, also written as JSONL.
 * @example Complete two prompts
 * ```ts ignore
 * await complete(["--model", "runs/dpo", "--prompt", "the food was", "--prompt", "i hated"]);
 * ```
 */
export async function complete(args: readonly string[]): Promise<Completion[]> {
  const { values } = parseArgs({
    args: [...args],
    options: {
      model: { type: "string", default: "" },
      prompt: { type: "string", multiple: true, default: [] },
      prompts: { type: "string", default: "" },
      out: { type: "string", default: "" },
      temperature: { type: "string", default: "1" },
      "top-k": { type: "string", default: "0" },
      seed: { type: "string", default: "1" },
      samples: { type: "string", default: "1" },
      "max-new-tokens": { type: "string", default: "16" },
    },
  });
  const number = (name: string, value: string, check: (x: number) => boolean, what: string) => {
    const x = Number(value);
    if (value.trim() === "" || !check(x)) {
      throw new RangeError(`--${name} must be ${what}, got ${value}`);
    }
    return x;
  };
  const whole = (x: number) => Number.isInteger(x);
  const temperature = number(
    "temperature",
    values.temperature,
    (x) => x >= 0 && isFinite(x),
    "a number >= 0",
  );
  const topK = number("top-k", values["top-k"], (x) => whole(x) && x >= 0, "a whole number >= 0");
  const seed = number("seed", values.seed, whole, "a whole number");
  const samples = number(
    "samples",
    values.samples,
    (x) => whole(x) && x >= 1,
    "a whole number >= 1",
  );
  const maxNewTokens = number(
    "max-new-tokens",
    values["max-new-tokens"],
    (x) => whole(x) && x >= 1,
    "a whole number >= 1",
  );
  const prompts = [...values.prompt];
  if (values.prompts !== "") {
    const lines = (await Deno.readTextFile(values.prompts)).split("\n");
    lines.forEach((line, i) => {
      if (line.trim() === "") return;
      if (!line.trimStart().startsWith("{")) return void prompts.push(line);
      const row = JSON.parse(line) as { prompt?: unknown };
      if (typeof row.prompt !== "string") {
        throw new TypeError(`Line ${i + 1} of ${values.prompts} has no string "prompt" field`);
      }
      prompts.push(row.prompt);
    });
  }
  if (prompts.length === 0) {
    throw new RangeError("Nothing to complete: give --prompt TEXT or --prompts FILE");
  }
  await setupBackend("wasm");
  const loaded = await loadCompleter(values.model);
  try {
    const rng = new Rng(seed), out: Completion[] = [], rows: string[] = [];
    for (let s = 0; s < samples; s++) {
      const done = completePrompts(loaded, prompts, { rng, temperature, topK, maxNewTokens });
      done.forEach((c) => rows.push(JSON.stringify({ ...c, sample: s })));
      out.push(...done);
    }
    const text = rows.join("\n") + "\n";
    if (values.out !== "") await Deno.writeTextFile(values.out, text);
    else await Deno.stdout.write(new TextEncoder().encode(text));
    return out;
  } finally {
    loaded.model.dispose();
  }
}

if (import.meta.main) {
  try {
    await complete(Deno.args);
  } catch (e) {
    console.error(`error: ${e instanceof Error ? e.message : e}`);
    Deno.exit(2);
  }
}
