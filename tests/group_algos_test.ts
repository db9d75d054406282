// GRPO and RLOO: their math against numbers worked out by hand, a learning threshold at a fixed
// seed, an exact save → restore round trip, and flat memory, on the WASM backend.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  groupAdvantages,
  type GroupContext,
  groupPolicyLoss,
  Grpo,
  leaveOneOutAdvantages,
  Rloo,
} from "@proximal/algos";
import { setupBackend } from "@proximal/core";
import { GruLanguageModel } from "@proximal/models";
import { functionReward } from "@proximal/reward-models";
import { close } from "./_assert.ts";
import { batchLogProbs } from "../algos/_group_trainer.ts";

await setupBackend("wasm");

Deno.test("completion log-probs equal tokenLogProbs · mask: values and gradients", () => {
  const model = new GruLanguageModel(20, {
    embeddingSize: 6,
    hiddenSize: 12,
    layers: 2,
    maskedTokens: [0, 1],
    seed: 9,
  });
  // Three rows of width 5: prompt positions and padding have mask 0.
  const rows = 3, width = 5;
  const tokens = Int32Array.from([1, 4, 5, 6, 7, 1, 8, 9, 0, 0, 1, 3, 3, 3, 11]);
  const targets = Int32Array.from([4, 5, 6, 7, 2, 8, 9, 2, 0, 0, 3, 3, 3, 11, 12]);
  const mask = Float32Array.from([0, 1, 1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 1, 1, 1]);
  const weights = tf.tensor2d(Array.from({ length: 15 }, (_, k) => ((k * 7) % 5) - 1.5), [3, 5]);
  // The value head is not in these losses: no gradient, compared as zeros.
  const vars = model.variables as tf.Variable[];
  const run = (f: () => tf.Tensor2D) =>
    tf.tidy(() => {
      const { grads } = tf.variableGrads(() => tf.sum(tf.mul(f(), weights)) as tf.Scalar, vars);
      return {
        values: Array.from(f().dataSync()),
        grad: Array.from(
          tf.concat(vars.map((v) => (grads[v.name] ?? tf.zeros([v.size])).reshape([-1])))
            .dataSync(),
        ),
      };
    });
  const fast = run(() => batchLogProbs(model, { tokens, targets, mask, rows, width }));
  const reference = run(() =>
    tf.mul(
      model.tokenLogProbs(
        tf.tensor2d(tokens, [rows, width], "int32"),
        tf.tensor2d(targets, [rows, width], "int32"),
      ),
      tf.tensor2d(mask, [rows, width]),
    ) as tf.Tensor2D
  );
  close(fast.values, reference.values, 1e-5);
  close(fast.grad, reference.grad, 1e-5);
  assert.ok(reference.grad.some((g) => Math.abs(g) > 1e-2));
  weights.dispose();
  model.dispose();
});

Deno.test("group advantages: (r − mean)/(std + 1e-4) per group, unbiased std; 0 for a tie", () => {
  // Group 1: mean 2, std √((1 + 0 + 1)/2) = 1. Group 2: all equal → 0.
  const a = groupAdvantages(Float32Array.of(1, 2, 3, 5, 5, 5), { groupSize: 3, scale: true });
  close(a, [-1 / 1.0001, 0, 1 / 1.0001, 0, 0, 0], 1e-7);
  const b = groupAdvantages(Float32Array.of(0, 4), { groupSize: 2, scale: false });
  close(b, [-2, 2], 0);
  assert.throws(() => groupAdvantages(Float32Array.of(1, 2, 3), { groupSize: 2, scale: true }));
});

Deno.test("leave-one-out advantages: each reward minus the mean of the others", () => {
  // k = 3: baselines (2 + 6)/2 = 4, (1 + 6)/2 = 3.5, (1 + 2)/2 = 1.5. k = 2: r_i − r_other.
  close(leaveOneOutAdvantages(Float32Array.of(1, 2, 6), { k: 3 }), [-3, -1.5, 4.5], 1e-7);
  close(leaveOneOutAdvantages(Float32Array.of(0.5, 1.5, 2, 2), { k: 2 }), [-1, 1, 0, 0], 1e-7);
});

Deno.test("the group loss: k3 KL, clipping and the three normalisations, by hand", () => {
  const loss = (
    lp: { new: number[][]; old: number[][]; ref: number[][] },
    advantages: number[],
    mask: number[][],
    options: { beta: number; lossType: string },
  ) =>
    tf.tidy(() => {
      const t = groupPolicyLoss({
        newLogProb: tf.tensor2d(lp.new),
        oldLogProb: tf.tensor2d(lp.old),
        refLogProb: tf.tensor2d(lp.ref),
        advantages: tf.tensor1d(advantages),
        mask: tf.tensor2d(mask),
      }, { epsilon: 0.2, maxNewTokens: 4, ...options });
      return [t.loss, t.policyLoss, t.kl, t.clipRatio].map((s) => s.dataSync()[0]!);
    });
  // Ratio 1, A = 2; ref − new = −ln 2 on token 1 → k3 = ½ + ln 2 − 1 = 0.193147; 0 on token 2.
  const l = Math.log;
  const kl = loss(
    { new: [[l(0.5), l(0.25)]], old: [[l(0.5), l(0.25)]], ref: [[l(0.25), l(0.25)]] },
    [2],
    [[1, 1]],
    { beta: 0.1, lossType: "dapo" },
  );
  close(kl, [(-2 - 2 + 0.1 * 0.193147) / 2, -2, 0.193147 / 2, 0], 1e-5);
  // Ratios 1.5 (A = 1) and 0.5 (A = −1): −min(1.5, 1.2) = −1.2 and −min(−0.5, −0.8) = 0.8.
  const clipped = loss(
    { new: [[l(0.75), l(0.1)]], old: [[l(0.5), l(0.2)]], ref: [[0, 0]] },
    [1],
    [[1, 0]],
    { beta: 0, lossType: "dapo" },
  );
  close(clipped.slice(0, 2), [-1.2, -1.2], 1e-5);
  close([clipped[3]!], [1], 0);
  const down = loss(
    { new: [[l(0.1)]], old: [[l(0.2)]], ref: [[0]] },
    [-1],
    [[1]],
    { beta: 0, lossType: "dapo" },
  );
  close([down[0]!], [0.8], 1e-5);
  // Rows of 2 and 1 completion tokens, A = 1 and 3, ratio 1: per token −(1 + 1 + 3)/3; per
  // sequence −(1 + 3)/2; a constant −5/(2 · 4).
  const same = { new: [[0, 0], [0, 0]], old: [[0, 0], [0, 0]], ref: [[0, 0], [0, 0]] };
  const mask = [[1, 1], [1, 0]];
  close([loss(same, [1, 3], mask, { beta: 0, lossType: "dapo" })[0]!], [-5 / 3], 1e-6);
  close([loss(same, [1, 3], mask, { beta: 0, lossType: "grpo" })[0]!], [-2], 1e-6);
  close([loss(same, [1, 3], mask, { beta: 0, lossType: "dr_grpo" })[0]!], [-0.625], 1e-6);
});

/** A tiny task: after <bos> 3, say 5 (reward: the share of 5s among the completion's words). */
function tinyContext(seed: number, totalTokens: number): GroupContext {
  const policy = new GruLanguageModel(8, { embeddingSize: 8, hiddenSize: 16, seed });
  return {
    policy,
    reference: policy.clone(),
    reward: functionReward("fives", ({ completion }) => {
      const words = completion.trim().split(" ").filter((w) => w !== "");
      return words.length === 0 ? 0 : words.filter((w) => w === "5").length / words.length;
    }),
    task: { prompts: [Int32Array.of(1, 3)], decode: (ids) => ids.join(" "), maxNewTokens: 4 },
    seed,
    totalTokens,
  };
}

for (
  const [name, make] of [
    ["GRPO", (c: GroupContext) => new Grpo(c, { promptsPerBatch: 4, learningRate: 1e-2 })],
    ["RLOO", (c: GroupContext) => new Rloo(c, { promptsPerBatch: 8, learningRate: 1e-2 })],
  ] as const
) {
  const reward = (m: Record<string, number>) => m["reward"] ?? m["objective/scores"]!;
  Deno.test(`${name} learns to say the rewarded token (seed 1)`, async () => {
    const trainer = make(tinyContext(1, 1e9));
    const rewards: number[] = [];
    for (let i = 0; i < 30; i++) rewards.push(reward((await trainer.iterate()).metrics));
    const first = rewards.slice(0, 3).reduce((a, b) => a + b) / 3;
    const last = rewards.slice(-3).reduce((a, b) => a + b) / 3;
    assert.ok(first < 0.3 && last > 0.8, `${name}: reward ${first} → ${last}`);
    trainer.dispose();
  });

  Deno.test(`${name}: save → restore continues with the same numbers; memory stays flat`, async () => {
    const a = make(tinyContext(2, 1e9));
    await a.iterate();
    const checkpoint = await a.save();
    const next = (await a.iterate()).metrics;
    const b = make(tinyContext(2, 1e9));
    await b.restore(checkpoint);
    const resumed = (await b.iterate()).metrics;
    for (const key of Object.keys(next).filter((k) => !k.startsWith("perf/"))) {
      assert.equal(resumed[key], next[key], key);
    }
    assert.equal(b.step, a.step);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) await b.iterate();
    assert.equal(tf.memory().numTensors, before);
    a.dispose();
    b.dispose();
  });
}
