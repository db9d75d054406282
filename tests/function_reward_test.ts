import assert from "node:assert/strict";
import { functionReward } from "@proximal/reward-models";

Deno.test("functionReward scores a batch in order, sync or async", async () => {
  const length = functionReward("length", ({ completion }) => completion.length);
  assert.deepEqual(
    Array.from(
      await length.score([{ prompt: "p", completion: "abc" }, { prompt: "p", completion: "" }]),
    ),
    [3, 0],
  );
  const later = functionReward("later", ({ prompt }) => Promise.resolve(prompt === "x" ? 1 : -1));
  assert.deepEqual(Array.from(await later.score([{ prompt: "x", completion: "" }])), [1]);
});

Deno.test("functionReward rejects a NaN score, naming the source and the completion", async () => {
  const broken = functionReward("broken", () => NaN);
  await assert.rejects(
    () => broken.score([{ prompt: "Hello", completion: " world" }]),
    /Reward source "broken" returned NaN for completion " world" of prompt "Hello"/,
  );
});
