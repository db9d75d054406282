// The repetition and length penalties in the reward: repeated words and word counts, by hand.
import assert from "node:assert/strict";
import {
  functionReward,
  lengthPenalty,
  repeatedWordShare,
  repetitionPenalty,
  wordCount,
} from "@proximal/reward-models";

Deno.test("the share of repeated words: 1 − distinct/total, case-blind, 0 below two words", () => {
  assert.equal(repeatedWordShare(" great food, GREAT service, great"), 1 - 3 / 5);
  assert.equal(repeatedWordShare("fine"), 0);
  assert.equal(repeatedWordShare(""), 0);
  assert.equal(repeatedWordShare("a b c"), 0);
});

Deno.test("the penalty subtracts coef × share from each score, prompt excluded", async () => {
  const source = functionReward("len", ({ completion }) => completion.length);
  const penalised = repetitionPenalty(source, { coef: 3 });
  const scores = await penalised.score([
    { prompt: "good good good", completion: "ok ok" }, // share ½: 5 − 1.5
    { prompt: "", completion: "no repeats" }, // share 0: 10
  ]);
  assert.deepEqual(Array.from(scores), [3.5, 10]);
  assert.throws(() => repetitionPenalty(source, { coef: -1 }), /coef must be a finite number >= 0/);
});

Deno.test("the length penalty subtracts coef × words of the completion, prompt excluded", async () => {
  const source = functionReward("ten", () => 10);
  const penalised = lengthPenalty(source, { coef: 0.5 });
  const scores = await penalised.score([
    { prompt: "a long long prompt", completion: "it's good, really!" }, // 3 words: 10 − 1.5
    { prompt: "", completion: " " }, // no words: 10
  ]);
  assert.deepEqual(Array.from(scores), [8.5, 10]);
  assert.equal(wordCount("Great food-great SERVICE"), 4);
  assert.throws(() => lengthPenalty(source, { coef: NaN }), /coef must be a finite number >= 0/);
});
