import assert from "node:assert/strict";
import { functionReward, labelPairs } from "@proximal/reward-models";

const judge = functionReward("number", ({ completion }) => Number(completion));

Deno.test("labelPairs pairs each prompt's best with its worst and skips ties", async () => {
  const { pairs, ties } = await labelPairs(
    [
      { prompt: "a", completions: ["0.1", "0.9", "0.5"] },
      { prompt: "b", completions: ["0.3", "0.3"] },
      { prompt: "c", completions: ["-1", "1"] },
    ],
    judge,
    { temperature: 1e-3 },
  );
  assert.deepEqual(pairs, [
    { prompt: "a", chosen: "0.9", rejected: "0.1" },
    { prompt: "c", chosen: "1", rejected: "-1" },
  ]);
  assert.equal(ties, 1);
});

Deno.test("labelPairs flips labels at the Bradley–Terry rate", async () => {
  // Margin 0.2 at temperature 0.2: P(keep) = σ(1) = 0.7311, so ~26.9 % of labels flip.
  const items = Array.from({ length: 4000 }, (_, i) => ({
    prompt: String(i),
    completions: ["0.4", "0.6"],
  }));
  const { flipRate, pairs } = await labelPairs(items, judge, { temperature: 0.2, seed: 3 });
  assert.equal(pairs.length, 4000);
  // Binomial sd of the rate: √(0.269·0.731/4000) ≈ 0.007; allow 4 sd.
  assert.ok(Math.abs(flipRate - 0.2689) < 0.028, `flip rate ${flipRate}`);
  const flipped = pairs.filter((p) => p.chosen === "0.4").length / pairs.length;
  assert.equal(flipped, flipRate);
});

Deno.test("labelPairs with pairsPerPrompt pairs the r-th best with the r-th worst, inwards", async () => {
  const { pairs, ranks, ties } = await labelPairs(
    [
      { prompt: "a", completions: ["0.1", "0.9", "0.5", "0.3", "0.7"] }, // 5 completions: 2 pairs
      { prompt: "b", completions: ["1", "0.5", "0", "0.5"] }, // the inner two tie: 1 pair
      { prompt: "c", completions: ["0.2", "0.2"] },
    ],
    judge,
    { temperature: 1e-3, pairsPerPrompt: 3 },
  );
  assert.deepEqual(pairs, [
    { prompt: "a", chosen: "0.9", rejected: "0.1" },
    { prompt: "a", chosen: "0.7", rejected: "0.3" },
    { prompt: "b", chosen: "1", rejected: "0" },
  ]);
  assert.deepEqual(ranks, [0, 1, 0]);
  assert.equal(ties, 1);
  await assert.rejects(
    () => labelPairs([{ prompt: "x", completions: ["1", "2"] }], judge, { pairsPerPrompt: 0 }),
    /^RangeError: labelPairs needs a whole pairsPerPrompt >= 1, got 0$/,
  );
});

Deno.test("labelPairs rejects a prompt with fewer than two completions", async () => {
  await assert.rejects(
    () => labelPairs([{ prompt: "x", completions: ["1"] }], judge),
    /Prompt 0 has 1 completions: pairs need two or more/,
  );
});
