// DPO's math against numbers worked out by hand (the working is in the comments): every loss
// variant, TRL's metrics, the gradients, and sequence log-probs with a gradient step, all on the
// WASM backend, where gather's gradient has no kernel.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { DPO_METRIC_NAMES, dpoLoss, type DpoLossOptions, sequenceLogProbs } from "@proximal/algos";
import { Adam, setupBackend } from "@proximal/core";
import { close } from "./_assert.ts";

await setupBackend("wasm");

// The 2-pair batch every test below uses, with β = 0.5:
//   pair 1: π_c = −10, π_r = −14, ref_c = −12, ref_r = −13
//           h = (−10 − −14) − (−12 − −13) = 4 − 1 = 3;       βh = 1.5
//   pair 2: π_c = −8,  π_r = −7,  ref_c = −8.5, ref_r = −8
//           h = (−8 − −7) − (−8.5 − −8) = −1 − (−0.5) = −0.5;  βh = −0.25
// σ(1.5) = 0.8175745, σ(−1.5) = 0.1824255; σ(−0.25) = 0.4378235, σ(0.25) = 0.5621765
// log σ(1.5) = −0.2014133, log σ(−1.5) = −1.7014133 (log σ(−x) = log σ(x) − x)
// log σ(−0.25) = −0.8259394, log σ(0.25) = −0.5759394
const BATCH = {
  policyChosen: [-10, -8],
  policyRejected: [-14, -7],
  referenceChosen: [-12, -8.5],
  referenceRejected: [-13, -8],
};

function lossOf(options: Partial<DpoLossOptions>): { loss: number; metrics: number[] } {
  return tf.tidy(() => {
    const { loss, metrics } = dpoLoss({
      policyChosenLogps: tf.tensor1d(BATCH.policyChosen),
      policyRejectedLogps: tf.tensor1d(BATCH.policyRejected),
      referenceChosenLogps: tf.tensor1d(BATCH.referenceChosen),
      referenceRejectedLogps: tf.tensor1d(BATCH.referenceRejected),
    }, options);
    return {
      loss: loss.dataSync()[0]!,
      metrics: DPO_METRIC_NAMES.map((name) => metrics[name].dataSync()[0]!),
    };
  });
}

/** ∂loss/∂(policy chosen, policy rejected log-probs), by tf.grads on the current backend. */
function policyGrads(options: Partial<DpoLossOptions>): [Float32Array, Float32Array] {
  return tf.tidy(() => {
    const f = tf.grads((chosen: tf.Tensor, rejected: tf.Tensor) =>
      dpoLoss({
        policyChosenLogps: chosen as tf.Tensor1D,
        policyRejectedLogps: rejected as tf.Tensor1D,
        referenceChosenLogps: tf.tensor1d(BATCH.referenceChosen),
        referenceRejectedLogps: tf.tensor1d(BATCH.referenceRejected),
      }, options).loss
    );
    const [gc, gr] = f([tf.tensor1d(BATCH.policyChosen), tf.tensor1d(BATCH.policyRejected)]);
    return [gc!.dataSync() as Float32Array, gr!.dataSync() as Float32Array];
  });
}

Deno.test("the sigmoid DPO loss is mean −log σ(βh)", () => {
  // losses = [−log σ(1.5), −log σ(−0.25)] = [0.2014133, 0.8259394]; mean = 0.5136763
  close([lossOf({ beta: 0.5 }).loss], [0.5136763]);
});

Deno.test("label smoothing 0.1 gives the conservative DPO loss", () => {
  // (1 − ε)·(−log σ(βh)) + ε·(−log σ(−βh)), ε = 0.1:
  //   pair 1: 0.9·0.2014133 + 0.1·1.7014133 = 0.1812720 + 0.1701413 = 0.3514133
  //   pair 2: 0.9·0.8259394 + 0.1·0.5759394 = 0.7433455 + 0.0575939 = 0.8009394
  //   mean = 0.5761763 (= 0.5136763 + ε·mean(βh) = 0.5136763 + 0.1·0.625, since
  //   −log σ(−x) = −log σ(x) + x)
  close([lossOf({ beta: 0.5, labelSmoothing: 0.1 }).loss], [0.5761763]);
});

Deno.test("the IPO loss is mean (h − 1/(2β))²", () => {
  // 1/(2β) = 1: (3 − 1)² = 4, (−0.5 − 1)² = 2.25; mean = 3.125
  close([lossOf({ beta: 0.5, lossType: "ipo" }).loss], [3.125]);
});

Deno.test("the hinge loss is mean max(0, 1 − βh)", () => {
  // max(0, 1 − 1.5) = 0, max(0, 1 + 0.25) = 1.25; mean = 0.625
  close([lossOf({ beta: 0.5, lossType: "hinge" }).loss], [0.625]);
});

Deno.test("TRL's reward, accuracy, margin and log-prob metrics match hand numbers", () => {
  // chosen rewards   β·(π_c − ref_c) = 0.5·[2, 0.5]  = [1, 0.25]  → mean 0.625
  // rejected rewards β·(π_r − ref_r) = 0.5·[−1, 1]   = [−0.5, 0.5] → mean 0
  // accuracies: 1 > −0.5 yes, 0.25 > 0.5 no → 0.5
  // margins: [1.5, −0.25] → mean 0.625 (= β·mean(h))
  // logps/chosen = mean(−10, −8) = −9; logps/rejected = mean(−14, −7) = −10.5
  const expected = [0.625, 0, 0.5, 0.625, -9, -10.5];
  assert.deepEqual(DPO_METRIC_NAMES, [
    "rewards/chosen",
    "rewards/rejected",
    "rewards/accuracies",
    "rewards/margins",
    "logps/chosen",
    "logps/rejected",
  ]);
  // The metrics do not depend on the loss type.
  for (const lossType of ["sigmoid", "ipo", "hinge"] as const) {
    close(lossOf({ beta: 0.5, lossType }).metrics, expected);
  }
});

Deno.test("the defaults are TRL's: β = 0.1, sigmoid, no label smoothing", () => {
  // β = 0.1: βh = [0.3, −0.05]; −log σ(0.3) = 0.5543552, −log σ(−0.05) = 0.7184596
  //   mean = 0.6364074
  close([lossOf({}).loss], [0.6364074]);
});

Deno.test("the sigmoid loss's gradient w.r.t. the policy's chosen log-probs is −β·σ(−βh)/n on WASM", () => {
  assert.equal(tf.getBackend(), "wasm");
  // ∂/∂π_c [−log σ(βh)] / n = −β·σ(−βh)/n, and ∂h/∂π_r = −1 flips the sign for π_r:
  //   −0.5·[σ(−1.5), σ(0.25)]/2 = −0.25·[0.1824255, 0.5621765] = [−0.0456064, −0.1405441]
  const [gc, gr] = policyGrads({ beta: 0.5 });
  close(gc, [-0.0456064, -0.1405441]);
  close(gr, [0.0456064, 0.1405441]);
  // With ε = 0.1: −β·[(1 − ε)·σ(−βh) − ε·σ(βh)]/n
  //   pair 1: −0.25·(0.9·0.1824255 − 0.1·0.8175745) = −0.25·0.0824255 = −0.0206064
  //   pair 2: −0.25·(0.9·0.5621765 − 0.1·0.4378235) = −0.25·0.4621765 = −0.1155441
  close(policyGrads({ beta: 0.5, labelSmoothing: 0.1 })[0], [-0.0206064, -0.1155441]);
  // IPO: 2·(h − 1/(2β))/n = [2·2/2, 2·(−1.5)/2] = [2, −1.5]
  close(policyGrads({ beta: 0.5, lossType: "ipo" })[0], [2, -1.5]);
  // Hinge: −β/n where 1 − βh > 0, else 0 → [0, −0.25]
  close(policyGrads({ beta: 0.5, lossType: "hinge" })[0], [0, -0.25]);
});

Deno.test("the sigmoid loss stays finite, with finite gradients, at extreme margins", () => {
  // βh = ±200: −log σ(200) ≈ 0, −log σ(−200) = 200; with ε = 0.1 the first becomes 0.1·200 = 20.
  const run = (labelSmoothing: number) =>
    tf.tidy(() => {
      const f = tf.valueAndGrad((chosen: tf.Tensor) =>
        dpoLoss({
          policyChosenLogps: chosen as tf.Tensor1D,
          policyRejectedLogps: tf.tensor1d([0, 0]),
          referenceChosenLogps: tf.tensor1d([0, 0]),
          referenceRejectedLogps: tf.tensor1d([0, 0]),
        }, { beta: 1, labelSmoothing }).loss
      );
      const { value, grad } = f(tf.tensor1d([200, -200]));
      return [value.dataSync()[0]!, ...grad.dataSync()];
    });
  // ε = 0: mean(0, 200) = 100; gradient −β·σ(−βh)/n = [−0·…, −1/2] = [0, −0.5]
  close(run(0), [100, 0, -0.5]);
  // ε = 0.1: mean(0.9·0 + 0.1·200, 0.9·200 + 0.1·0) = mean(20, 180) = 100;
  //   gradient −β·(σ(−βh) − ε)/n = [−(0 − 0.1)/2, −(1 − 0.1)/2] = [0.05, −0.45]
  close(run(0.1), [100, 0.05, -0.45]);
});

Deno.test("dpoLoss rejects bad options and mismatched inputs, naming them", () => {
  const z = tf.zeros([2]) as tf.Tensor1D;
  const inputs = {
    policyChosenLogps: z,
    policyRejectedLogps: z,
    referenceChosenLogps: z,
    referenceRejectedLogps: z,
  };
  assert.throws(() => dpoLoss(inputs, { beta: 0 }), /DPO option beta must be > 0, got 0/);
  assert.throws(
    () => dpoLoss(inputs, { lossType: "kto" as "ipo" }),
    /DPO option lossType must be one of sigmoid, ipo, hinge, got "kto"/,
  );
  assert.throws(() => dpoLoss(inputs, { labelSmoothing: 0.6 }), /labelSmoothing must be in/);
  assert.throws(
    () => dpoLoss(inputs, { lossType: "ipo", labelSmoothing: 0.1 }),
    /labelSmoothing applies only to lossType "sigmoid": got 0.1 with "ipo"/,
  );
  const three = tf.zeros([3]) as tf.Tensor1D;
  assert.throws(
    () => dpoLoss({ ...inputs, referenceRejectedLogps: three }),
    /referenceRejectedLogps must be \[n\] like policyChosenLogps \(n = 2 > 0\), got shape \[3\]/,
  );
  tf.dispose([z, three]);
});

// Tiny vocabulary of 3, B = 2 sequences of T = 2 tokens.
//   logits [0, 0, 0] (or [5, 5, 5]): uniform, log-softmax = −ln 3 = −1.0986123 everywhere
//   logits [0, ln 3, ln 4]: probs [1, 3, 4]/8, log-softmax = [−ln 8, ln(3/8), ln(1/2)]
//                                                       = [−2.0794415, −0.9808293, −0.6931472]
//   logits [ln 4, ln 3, 0]: the same, reversed
// Sequence 0: targets [2, 1], mask [1, 1]: −ln 3 + ln(3/8) = −ln 8 = −2.0794415
// Sequence 1: targets [0, 0], mask [1, 0]: −ln 3 = −1.0986123 (the masked ln(1/2) is dropped;
//   unmasked the sum would be −ln 3 − ln 2 = −ln 6 = −1.7917595)
const LN3 = Math.log(3), LN4 = Math.log(4);
const LOGITS = [[[0, 0, 0], [0, LN3, LN4]], [[5, 5, 5], [LN4, LN3, 0]]];
const TARGETS = [[2, 1], [0, 0]];
const MASK = [[1, 1], [1, 0]];

Deno.test("sequenceLogProbs sums the masked log-softmax of the targets", () => {
  const [masked, unmasked, averaged] = tf.tidy(() => {
    const logits = tf.tensor3d(LOGITS);
    const targets = tf.tensor2d(TARGETS, [2, 2], "int32");
    const mask = tf.tensor2d(MASK);
    return [
      sequenceLogProbs(logits, targets, { mask }).dataSync(),
      sequenceLogProbs(logits, targets).dataSync(),
      // Averaged over counted tokens: [−ln 8 / 2, −ln 3 / 1] = [−1.0397208, −1.0986123]
      sequenceLogProbs(logits, targets, { mask, average: true }).dataSync(),
    ];
  });
  close(masked!, [-2.0794415, -1.0986123]);
  close(unmasked!, [-2.0794415, -1.7917595]);
  close(averaged!, [-1.0397208, -1.0986123]);
});

Deno.test("sequenceLogProbs ignores TRL's −100 label pad and checks its inputs", () => {
  // Sequence 1's masked target is −100, TRL's label pad: oneHot(−100) is all zeros, so the sum is
  // still −ln 3 with or without the mask.
  const out = tf.tidy(() =>
    sequenceLogProbs(tf.tensor3d(LOGITS), tf.tensor2d([[2, 1], [0, -100]], [2, 2], "int32"))
      .dataSync()
  );
  close(out, [-2.0794415, -1.0986123]);
  const logits = tf.zeros([2, 2, 3]);
  assert.throws(
    () => sequenceLogProbs(logits, tf.zeros([2, 2]) as tf.Tensor2D),
    /targets must be int32 token ids, got float32/,
  );
  assert.throws(
    () => sequenceLogProbs(logits, tf.zeros([2, 3], "int32") as tf.Tensor2D),
    /targets must be \[2, 2\] to match the logits, got shape \[2,3\]/,
  );
  assert.throws(
    () => sequenceLogProbs(tf.zeros([2, 3]), tf.zeros([2, 3], "int32") as tf.Tensor2D),
    /logits must be \[B, T, V\]/,
  );
  logits.dispose();
});

Deno.test("sequenceLogProbs's gradient is mask·(oneHot − softmax), and a DPO step through it runs on WASM", () => {
  assert.equal(tf.getBackend(), "wasm");
  // ∂/∂logits of Σ_b logps[b]: mask[b,t]·(oneHot(target) − softmax(logits[b,t]))
  //   seq 0, t 0: [0, 0, 1] − [1/3, 1/3, 1/3] = [−0.3333333, −0.3333333, 0.6666667]
  //   seq 0, t 1: [0, 1, 0] − [1/8, 3/8, 1/2] = [−0.125, 0.625, −0.5]
  //   seq 1, t 0: [1, 0, 0] − [1/3, 1/3, 1/3] = [0.6666667, −0.3333333, −0.3333333]
  //   seq 1, t 1: masked → [0, 0, 0]
  const grad = tf.tidy(() => {
    const targets = tf.tensor2d(TARGETS, [2, 2], "int32");
    const mask = tf.tensor2d(MASK);
    return tf.grad((logits: tf.Tensor) => tf.sum(sequenceLogProbs(logits, targets, { mask })))(
      tf.tensor3d(LOGITS),
    ).dataSync();
  });
  const third = 1 / 3;
  close(grad, [
    ...[-third, -third, 2 * third, -0.125, 0.625, -0.5],
    ...[2 * third, -third, -third, 0, 0, 0],
  ]);

  // One Adam step on free policy logits, sequence 0 chosen and sequence 1 rejected, against a
  // frozen copy as the reference: h = 0 at the start, so the loss is ln 2 and must then fall, the
  // chosen log-prob rise and the rejected one fall; the masked position's logits must not move.
  const policyLogits = tf.variable(tf.tensor3d(LOGITS));
  const reference = tf.tidy(() =>
    sequenceLogProbs(tf.tensor3d(LOGITS), tf.tensor2d(TARGETS, [2, 2], "int32"), {
      mask: tf.tensor2d(MASK),
    })
  );
  const adam = new Adam([policyLogits], { learningRate: 0.1, maxGradNorm: 0 });
  const step = () =>
    adam.step(() => {
      const logps = sequenceLogProbs(policyLogits, tf.tensor2d(TARGETS, [2, 2], "int32"), {
        mask: tf.tensor2d(MASK),
      });
      const [chosen, rejected] = tf.split(logps, 2) as [tf.Tensor1D, tf.Tensor1D];
      const [refChosen, refRejected] = tf.split(reference, 2) as [tf.Tensor1D, tf.Tensor1D];
      const { loss, metrics } = dpoLoss({
        policyChosenLogps: chosen,
        policyRejectedLogps: rejected,
        referenceChosenLogps: refChosen,
        referenceRejectedLogps: refRejected,
      }, { beta: 0.5 });
      return { loss, metrics: DPO_METRIC_NAMES.map((name) => metrics[name]) };
    });
  const first = step();
  close([first.loss], [Math.LN2]);
  close(first.metrics, [0, 0, 0, 0, -2.0794415, -1.0986123]);
  const second = step();
  assert.ok(second.loss < first.loss, `loss ${second.loss} did not fall below ${first.loss}`);
  const [, , accuracy, margin, chosenLogp, rejectedLogp] = second.metrics as number[];
  assert.equal(accuracy, 1);
  assert.ok(margin! > 0);
  assert.ok(chosenLogp! > -2.0794415 && rejectedLogp! < -1.0986123);
  close(policyLogits.dataSync().slice(9), [LN4, LN3, 0]);
  policyLogits.dispose();
  reference.dispose();
});
