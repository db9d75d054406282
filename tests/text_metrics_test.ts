import assert from "node:assert/strict";
import { distinctN, winRate } from "@proximal/reward-models";

Deno.test("winRate counts ties as half and its bootstrap interval brackets the rate", () => {
  // 6 wins, 2 ties, 2 losses of 10: rate = (6 + 1) / 10 = 0.7.
  const a = [1, 1, 1, 1, 1, 1, 0, 0, 0, 0];
  const b = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1];
  const result = winRate(a, b, { seed: 1 });
  assert.equal(result.rate, 0.7);
  assert.deepEqual([result.wins, result.ties, result.losses], [6, 2, 2]);
  const [low, high] = result.interval;
  assert.ok(low < 0.7 && high > 0.7 && low >= 0 && high <= 1, `${low} – ${high}`);
  // The bootstrap of a mean of 10 outcomes with sd ≈ 0.40 has sd ≈ 0.13: the 95 % interval is
  // roughly 0.7 ± 0.25, so it must be wider than 0.3 and narrower than 0.7.
  assert.ok(high - low > 0.3 && high - low < 0.7, `width ${high - low}`);
  assert.deepEqual(winRate(a, b, { seed: 1 }), result);
});

Deno.test("winRate's interval narrows with more comparisons and rejects bad input", () => {
  const many = Array.from({ length: 1000 }, (_, i) => (i % 4 === 0 ? 0 : 1));
  const { rate, interval } = winRate(many, new Array(1000).fill(0.5));
  assert.equal(rate, 0.75);
  assert.ok(interval[1] - interval[0] < 0.07, `${interval}`); // 2·1.96·√(0.1875/1000) ≈ 0.054
  assert.throws(() => winRate([1], [1, 2]), /same length, got 1 and 2/);
  assert.throws(() => winRate([NaN], [1]), /non-finite score at comparison 0/);
});

Deno.test("distinctN pools n-grams over texts", () => {
  // Bigrams: (a b) (b a) (a b) | (a b) (b c): 5 in all, 3 unique.
  assert.equal(distinctN([["a", "b", "a", "b"], ["a", "b", "c"]]), 3 / 5);
  assert.equal(distinctN([[1, 2, 3]], { n: 3 }), 1);
  assert.equal(distinctN([["a"]]), 0);
});
