// `deno task complete`: a stage's checkpoint completes prompts from the command line and from a
// file, reproducibly at a seed, and bad input is refused with the reason.
import assert from "node:assert/strict";
import { complete } from "../cli/complete.ts";
import { Rng, setupBackend, writeCheckpoint } from "@proximal/core";
import { GruLanguageModel, WordTokenizer } from "@proximal/models";
import { completePrompts, lmMeta } from "@proximal/rlhf";

await setupBackend("wasm");

Deno.test("complete reads a stage's checkpoint and writes JSONL, the same at the same seed", async () => {
  const tokenizer = WordTokenizer.fromTexts(["the food was good", "the food was bad"]);
  const model = new GruLanguageModel(tokenizer.vocabSize, {
    embeddingSize: 4,
    hiddenSize: 8,
    valueHead: true,
    seed: 1,
  });
  const dir = await Deno.makeTempDir();
  const tensors = Object.fromEntries(model.variables.map((v, i) => [
    `policy/${i}`,
    { shape: v.shape, data: v.dataSync() as Float32Array },
  ]));
  await writeCheckpoint(`${dir}/latest.ckpt`, {
    meta: { trainer: { lm: lmMeta(model, tokenizer, "policy") } },
    tensors,
  });
  await Deno.writeTextFile(`${dir}/prompts.txt`, 'the food\n{"prompt": "was"}\n\n');
  const args = [
    "--model",
    dir,
    "--prompts",
    `${dir}/prompts.txt`,
    "--prompt",
    "the",
    "--seed",
    "3",
  ];
  const first = await complete([...args, "--out", `${dir}/a.jsonl`, "--samples", "2"]);
  const rows = (await Deno.readTextFile(`${dir}/a.jsonl`)).trim().split("\n").map((l) =>
    JSON.parse(l)
  );
  assert.deepEqual(rows.map((r) => r.prompt), ["the", "the food", "was", "the", "the food", "was"]);
  assert.deepEqual(rows.map((r) => r.sample), [0, 0, 0, 1, 1, 1]);
  const again = await complete([...args, "--out", `${dir}/b.jsonl`, "--samples", "2"]);
  assert.deepEqual(again, first);
  // The same as the library call with the model in memory.
  const direct = completePrompts({ model, tokenizer }, ["the", "the food", "was"], {
    rng: new Rng(3),
  });
  assert.deepEqual(first.slice(0, 3).map((c) => c.completion), direct.map((c) => c.completion));
  await assert.rejects(() => complete(["--model", dir]), /Nothing to complete/);
  await assert.rejects(
    () => complete(["--model", dir, "--prompt", "a", "--temperature=-1"]),
    /--temperature must be a number >= 0, got -1/,
  );
  model.dispose();
  await Deno.remove(dir, { recursive: true });
});
