// The held-out judge: a bag-of-words logistic regression on human labels, checked against one
// Adam step worked out by hand, and against the corpus's held-out split.
import assert from "node:assert/strict";
import { SentimentClassifier } from "@proximal/reward-models";
import { sentimentTask } from "@proximal/envs";
import { heldOutJudge } from "@proximal/rlhf";

Deno.test("one Adam step from zero moves each weight by the step size against its gradient", () => {
  // At w = 0 every p is ½: ∂/∂w_good = (½ − 1)/2 = −¼, ∂/∂w_bad = (½ − 0)/2 = ¼, ∂/∂b = 0; Adam's
  // first step is −lr·g/|g| (up to ε), so w_good = 0.05, w_bad = −0.05, b = 0.
  const c = SentimentClassifier.train(
    [{ text: "good", label: 1 }, { text: "bad", label: 0 }],
    { steps: 1, learningRate: 0.05, l2: 0, bigrams: false },
  );
  const sigmoid = (z: number) => 1 / (1 + Math.exp(-z));
  assert.ok(Math.abs(c.probability("good") - sigmoid(0.05)) < 1e-7);
  assert.ok(Math.abs(c.probability("Bad!") - sigmoid(-0.05)) < 1e-7);
  assert.ok(Math.abs(c.probability("good bad") - 0.5) < 1e-7);
  assert.equal(c.probability("unseen words"), 0.5);
});

Deno.test("bigrams are features of their own; unseen ones count for nothing", async () => {
  const c = SentimentClassifier.train([
    { text: "not good", label: 0 },
    { text: "very good", label: 1 },
    { text: "good", label: 1 },
  ]);
  assert.ok(c.features.has("not good") && c.features.has("very good"));
  assert.ok(c.probability("not good") < 0.5 && c.probability("very good") > 0.5);
  const [p] = await c.score([{ prompt: "not", completion: " good" }]);
  assert.ok(Math.abs(p! - c.probability("not good")) < 1e-6);
});

Deno.test("the judge of the sentiment corpus scores its held-out sentences well above chance", () => {
  const task = sentimentTask();
  const judge = heldOutJudge(task);
  assert.ok(judge.heldOutAccuracy >= 0.75, `held-out accuracy ${judge.heldOutAccuracy}`);
  assert.equal(heldOutJudge(task), judge); // made once per task
});

Deno.test("bad input is refused with the reason", () => {
  assert.throws(
    () => SentimentClassifier.train([{ text: "good", label: 1 }]),
    /needs sentences of both labels/,
  );
  assert.throws(
    () =>
      SentimentClassifier.train([{ text: "a", label: 1 }, { text: "b", label: 0 }], { steps: 0 }),
    /steps must be a whole number/,
  );
});
