import assert from "node:assert/strict";
import { loadSentimentCorpus } from "@proximal/envs";
import { vaderJudge, vaderScore } from "@proximal/reward-models";

Deno.test("vaderScore reproduces the compound scores printed in VADER's README", () => {
  // github.com/cjhutto/vaderSentiment, README.rst, "Output for the above example code" (the
  // reference Python implementation by VADER's authors), e.g.
  //   VADER is smart, handsome, and funny.---- {'pos': 0.746, 'compound': 0.8316, ...}
  const readme: [string, number][] = [
    ["VADER is smart, handsome, and funny.", 0.8316],
    ["VADER is smart, handsome, and funny!", 0.8439],
    ["VADER is very smart, handsome, and funny.", 0.8545],
    ["VADER is VERY SMART, handsome, and FUNNY.", 0.9227],
    ["VADER is VERY SMART, handsome, and FUNNY!!!", 0.9342],
    ["VADER is not smart, handsome, nor funny.", -0.7424],
    ["The book was good.", 0.4404],
    ["At least it isn't a horrible book.", 0.431],
    ["Today SUX!", -0.5461],
    ["Make sure you :) or :D today!", 0.8633],
  ];
  for (const [text, compound] of readme) assert.equal(vaderScore(text), compound, text);
});

Deno.test("vaderScore: clearly positive > 0.5, clearly negative < -0.5, no sentiment 0", () => {
  assert.ok(vaderScore("This phone is excellent, I love it and the battery is great!") > 0.5);
  assert.ok(vaderScore("Terrible food, rude staff, the worst meal I have ever had.") < -0.5);
  assert.equal(vaderScore("The phone has a screen and a battery."), 0);
});

Deno.test("vaderScore and the judge never give NaN, even for empty or odd text", async () => {
  const odd = [
    "",
    " ",
    "\n\t",
    "!!!",
    "?!?!",
    "\u0000",
    "😁💘🤬",
    "constructor",
    "__proto__ toString hasOwnProperty valueOf",
    "NOT",
    "but but but",
    "kind of",
    "good ".repeat(5000),
    "bad! ".repeat(5000),
  ];
  for (const text of odd) {
    const score = vaderScore(text);
    assert.ok(
      Number.isFinite(score) && score >= -1 && score <= 1,
      `${JSON.stringify(text)}: ${score}`,
    );
  }
  assert.equal(vaderScore(""), 0);
  const rewards = await vaderJudge().score(odd.map((text) => ({ prompt: "", completion: text })));
  assert.ok(rewards.every(Number.isFinite));
  assert.deepEqual([...await vaderJudge().score([{ prompt: "", completion: "" }])], [0]);
  assert.throws(() => vaderScore(undefined as unknown as string), {
    message: "Cannot score sentiment: expected a string, got undefined",
  });
});

Deno.test("vader judge scores prompt + completion by default, the completion alone on request", async () => {
  const request = { prompt: "It was not", completion: " good at all." };
  const [together] = await vaderJudge().score([request]);
  const [alone] = await vaderJudge({ includePrompt: false }).score([request]);
  assert.equal(together, Math.fround(vaderScore("It was not good at all.")));
  assert.ok(together! < 0, `${together}`);
  assert.equal(alone, Math.fround(vaderScore(" good at all.")));
  assert.ok(alone! > 0, `${alone}`);
  assert.equal(vaderJudge().name, "vader");

  const [good, bad] = await vaderJudge().score([
    { prompt: "The pasta was", completion: " wonderful, I loved it." },
    { prompt: "The pasta was", completion: " awful, I hated it." },
  ]);
  assert.ok(good! > 0.5 && bad! < -0.5, `${good} ${bad}`);
});

Deno.test("vader agrees with the corpus's human labels on about 4 sentences in 5", async () => {
  const corpus = await loadSentimentCorpus();
  // VADER's usual threshold: compound >= 0.05 is positive. Measured: 81.0 % (2,431 of 3,000).
  const agree = corpus.filter((s) => (vaderScore(s.text) >= 0.05 ? 1 : 0) === s.label).length;
  assert.ok(agree / corpus.length > 0.78 && agree / corpus.length < 0.84, `${agree}`);
});
