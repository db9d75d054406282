// The DPO trainer on the WASM backend, on a synthetic task a small GRU learns in a second: prompts
// of two words, the chosen continuation one fixed three-token phrase and the rejected another. The
// model is first trained by plain NLL on both, so it starts near 50/50 between them, and on
// unrelated text (other prompt words, another continuation vocabulary) that DPO never sees, which
// measures drift. Shown here: DPO ranks the pairs and moves the model's own log-probs the right
// way; precomputed and recomputed reference log-probs agree exactly; every loss type trains;
// checkpoints resume exactly; memory stays flat; bad input is refused with a reason.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  completionLogProbs,
  DPO_METRIC_NAMES,
  DpoTrainer,
  type DpoTrainerOptions,
  type TokenizedPair,
  tokenizePairs,
} from "@proximal/algos";
import { Adam, decodeCheckpoint, encodeCheckpoint, Rng, setupBackend } from "@proximal/core";
import { BOS_ID, EOS_ID, GruLanguageModel, WordTokenizer } from "@proximal/models";

await setupBackend("wasm");

// ── The task. Ids 0–3 are <pad>, <bos>, <eos>, <unk>.
const V = 26;
const PAIR_WORDS = [4, 5, 6, 7, 8, 9]; // prompts of the preference pairs
const OTHER_WORDS = [10, 11, 12, 13]; // prompts of the unrelated text
const OTHER_CONTINUATIONS = [14, 15, 16, 17];
const CHOSEN = [18, 19, 20];
const REJECTED = [22, 23, 24];

const rng = new Rng(3);
const pick = (words: number[], k: number) =>
  Array.from({ length: k }, () => words[rng.int(words.length)]!);
const pairOf = (prompt: number[]): TokenizedPair => ({
  prompt,
  chosen: CHOSEN,
  rejected: REJECTED,
});
// Prompts of 1 to 3 words, so that minibatches are padded.
const PAIRS = Array.from({ length: 48 }, () => pairOf(pick(PAIR_WORDS, 1 + rng.int(3))));
const HOLDOUT = Array.from({ length: 16 }, () => pairOf(pick(PAIR_WORDS, 1 + rng.int(3))));
/** Unrelated text, as pairs so completionLogProbs scores it: only `chosen` is looked at. */
const UNRELATED: TokenizedPair[] = Array.from({ length: 32 }, () => ({
  prompt: pick(OTHER_WORDS, 2),
  chosen: pick(OTHER_CONTINUATIONS, 3),
  rejected: pick(OTHER_CONTINUATIONS, 3),
}));

/** 40 NLL steps on both completions of every pair and on the unrelated text. */
function pretrain(): GruLanguageModel {
  const model = new GruLanguageModel(V, { embeddingSize: 16, hiddenSize: 32, seed: 1 });
  const adam = new Adam(model.variables, { learningRate: 1e-2, maxGradNorm: 1 });
  const texts = [
    ...PAIRS.flatMap((p) => [p.chosen, p.rejected].map((c) => [p.prompt, c])),
    ...UNRELATED.map((p) => [p.prompt, p.chosen]),
  ];
  // <bos> prompt completion <eos>, padded with <pad> (masked out) to the longest.
  const sequences = texts.map(([prompt, completion]) => [
    BOS_ID,
    ...Array.from(prompt!),
    ...Array.from(completion!),
    EOS_ID,
  ]);
  const length = Math.max(...sequences.map((s) => s.length)) - 1;
  const pad = (row: number[]) => [...row, ...new Array(length - row.length).fill(0)];
  const tokens = tf.tensor2d(sequences.map((s) => pad(s.slice(0, -1))), undefined, "int32");
  const targets = tf.tensor2d(sequences.map((s) => pad(s.slice(1))), undefined, "int32");
  const mask = tf.tensor2d(sequences.map((s) => pad(s.slice(1).map(() => 1))));
  for (let step = 0; step < 40; step++) {
    adam.step(() => ({
      loss: tf.neg(tf.mean(model.sequenceLogProbs(tokens, targets, mask))),
    }));
  }
  tf.dispose([tokens, targets, mask]);
  return model;
}
const BASE = pretrain();
const OPTIONS: DpoTrainerOptions = { learningRate: 3e-3, seed: 1, holdout: HOLDOUT };

const mean = (xs: ArrayLike<number>) => Array.from(xs).reduce((a, b) => a + b, 0) / xs.length;

/** Runs the trainer to `done`; returns every epoch's metrics. */
async function train(trainer: DpoTrainer): Promise<Record<string, number>[]> {
  const epochs = [];
  while (!trainer.done) epochs.push((await trainer.iterate()).metrics);
  return epochs;
}

/** Metrics without the wall-clock one, which legitimately differs between runs. */
function deterministicPart(metrics: Record<string, number>): Record<string, number> {
  return Object.fromEntries(Object.entries(metrics).filter(([k]) => !k.startsWith("perf/")));
}

function weightsOf(model: GruLanguageModel): Float32Array[] {
  return model.variables.map((v) => v.dataSync() as Float32Array);
}

Deno.test("the pretrained model starts near 50/50 between the chosen and rejected continuations", () => {
  const { chosen, rejected } = completionLogProbs(BASE, PAIRS);
  // log π(chosen) − log π(rejected) averages ≈ 0, and no pair is far from even: |x| < 0.7 means
  // P(chosen) / (P(chosen) + P(rejected)) lies between 1/3 and 2/3.
  const logRatios = chosen.map((x, i) => x - rejected[i]!);
  assert.ok(Math.abs(mean(logRatios)) < 0.1, `mean log-ratio ${mean(logRatios)}`);
  assert.ok(logRatios.every((x) => Math.abs(x) < 0.7), `log-ratios ${logRatios}`);
});

Deno.test("DPO at seed 1 ranks >= 90 % of pairs right, raises the chosen log-probs, lowers the rejected, and moves unrelated text less", async () => {
  const model = BASE.clone();
  const before = completionLogProbs(model, PAIRS);
  const beforeHoldout = completionLogProbs(model, HOLDOUT);
  const beforeUnrelated = completionLogProbs(model, UNRELATED).chosen;
  const trainer = new DpoTrainer(model, PAIRS, { ...OPTIONS, epochs: 4 });
  const epochs = await train(trainer);
  const last = epochs.at(-1)!;
  assert.equal(trainer.step, 4 * PAIRS.length);
  assert.ok(last["rewards/accuracies"]! >= 0.9, `accuracy ${last["rewards/accuracies"]}`);
  assert.ok(last["eval/rewards/accuracies"]! >= 0.9);
  assert.ok(last["rewards/margins"]! > epochs[0]!["rewards/margins"]!);
  assert.ok(last["loss"]! < epochs[0]!["loss"]! && epochs[0]!["loss"]! < Math.LN2);

  // The model's own log-probs, before and after: every chosen completion up, every rejected down.
  const after = completionLogProbs(model, PAIRS);
  const chosenGain = after.chosen.map((x, i) => x - before.chosen[i]!);
  const rejectedGain = after.rejected.map((x, i) => x - before.rejected[i]!);
  assert.ok(chosenGain.every((d) => d > 0), `chosen changes ${chosenGain}`);
  assert.ok(rejectedGain.every((d) => d < 0), `rejected changes ${rejectedGain}`);
  // Text DPO never saw drifts, but less than the chosen completions rise.
  const drift = Math.abs(mean(completionLogProbs(model, UNRELATED).chosen) - mean(beforeUnrelated));
  assert.ok(drift < mean(chosenGain), `unrelated text moved ${drift}, chosen ${mean(chosenGain)}`);

  // The trainer's held-out rewards are β·(log π − log π_ref) of the same log-probs.
  const afterHoldout = completionLogProbs(model, HOLDOUT);
  const beta = trainer.options.beta;
  const reward = (a: Float32Array, b: Float32Array) => beta * mean(a.map((x, i) => x - b[i]!));
  assert.ok(
    Math.abs(last["eval/rewards/chosen"]! - reward(afterHoldout.chosen, beforeHoldout.chosen)) <
      1e-5,
  );
  assert.ok(
    Math.abs(
      last["eval/rewards/rejected"]! - reward(afterHoldout.rejected, beforeHoldout.rejected),
    ) < 1e-5,
  );
  assert.ok(Math.abs(last["eval/logps/chosen"]! - mean(afterHoldout.chosen)) < 1e-5);
  trainer.dispose();
});

Deno.test("a completion's log-prob sums its tokens and the <eos>, not the prompt's", () => {
  const model = BASE.clone();
  const pairs: TokenizedPair[] = [
    { prompt: [4, 5], chosen: [18], rejected: [22, 23, 24] },
    { prompt: [6], chosen: [], rejected: [10, 11] },
  ];
  const { chosen, rejected } = completionLogProbs(model, pairs);
  // By hand: the token log-probs of the whole sequence, summed from the completion's first token.
  const byHand = (prompt: number[], completion: number[]) => {
    const ids = [BOS_ID, ...prompt, ...completion, EOS_ID];
    const logProbs = tf.tidy(() =>
      model.tokenLogProbs(
        tf.tensor2d([ids.slice(0, -1)], undefined, "int32"),
        tf.tensor2d([ids.slice(1)], undefined, "int32"),
      )
    );
    const values = Array.from(logProbs.dataSync());
    logProbs.dispose();
    return mean(values.slice(prompt.length)) * (values.length - prompt.length);
  };
  const expected = [byHand([4, 5], [18]), byHand([6], []), byHand([4, 5], [22, 23, 24])];
  const got = [chosen[0]!, chosen[1]!, rejected[0]!];
  got.forEach((x, i) => assert.ok(Math.abs(x - expected[i]!) < 1e-5, `${x} vs ${expected[i]}`));
  // Averaged: divided by the completion's tokens, <eos> included.
  const averaged = completionLogProbs(model, pairs, { average: true });
  assert.ok(Math.abs(averaged.rejected[0]! - rejected[0]! / 4) < 1e-6);
  assert.ok(Math.abs(averaged.chosen[1]! - chosen[1]!) < 1e-6);
  model.dispose();
});

Deno.test("precomputed and recomputed reference log-probs give identical metrics and weights", async () => {
  for (const lossType of ["sigmoid", "ipo"] as const) {
    const runs = await Promise.all([true, false].map(async (precomputeReferenceLogProbs) => {
      const trainer = new DpoTrainer(BASE.clone(), PAIRS, {
        ...OPTIONS,
        lossType,
        epochs: 2,
        precomputeReferenceLogProbs,
      });
      const metrics = (await train(trainer)).map(deterministicPart);
      const weights = weightsOf(trainer.model);
      trainer.dispose();
      return { metrics, weights };
    }));
    assert.deepEqual(runs[0]!.metrics, runs[1]!.metrics, lossType);
    assert.deepEqual(runs[0]!.weights, runs[1]!.weights, lossType);
  }
});

Deno.test("each loss type (sigmoid, label-smoothed sigmoid, IPO, hinge) trains without NaN", async () => {
  const variants: DpoTrainerOptions[] = [
    { lossType: "sigmoid" },
    { lossType: "sigmoid", labelSmoothing: 0.1 },
    { lossType: "ipo" },
    { lossType: "hinge" },
  ];
  for (const variant of variants) {
    const trainer = new DpoTrainer(BASE.clone(), PAIRS, { ...OPTIONS, ...variant, epochs: 3 });
    const epochs = await train(trainer);
    const label = JSON.stringify(variant);
    for (const metrics of epochs) {
      assert.deepEqual(Object.keys(metrics), [...trainer.metricNames], label);
      for (const [name, value] of Object.entries(metrics)) {
        assert.ok(Number.isFinite(value), `${label}: ${name} is ${value}`);
      }
    }
    assert.ok(epochs[2]!["loss"]! < epochs[0]!["loss"]!, label);
    assert.ok(epochs[2]!["eval/rewards/accuracies"]! >= 0.9, label);
    assert.ok(trainer.model.variables.every((v) => v.dataSync().every(Number.isFinite)), label);
    trainer.dispose();
  }
});

Deno.test("a restored checkpoint resumes to the numbers of an uninterrupted run, needing no reference model when log-probs were precomputed", async () => {
  for (const precomputeReferenceLogProbs of [true, false]) {
    const options = { ...OPTIONS, epochs: 4, precomputeReferenceLogProbs };
    const straight = new DpoTrainer(BASE.clone(), PAIRS, options);
    const expected = (await train(straight)).slice(2).map(deterministicPart);
    const expectedWeights = weightsOf(straight.model);
    straight.dispose();

    const first = new DpoTrainer(BASE.clone(), PAIRS, options);
    await first.iterate();
    await first.iterate();
    const bytes = encodeCheckpoint(await first.save());
    first.dispose();
    // A freshly initialised model: the weights, and the reference (its log-probs or its weights),
    // must come from the checkpoint.
    const fresh = new GruLanguageModel(V, { embeddingSize: 16, hiddenSize: 32, seed: 99 });
    const resumed = new DpoTrainer(fresh, PAIRS, options);
    await resumed.restore(decodeCheckpoint(bytes));
    assert.equal(resumed.epoch, 2);
    assert.equal(resumed.step, 2 * PAIRS.length);
    const got = (await train(resumed)).map(deterministicPart);
    assert.deepEqual(got, expected, `precompute ${precomputeReferenceLogProbs}`);
    assert.deepEqual(weightsOf(resumed.model), expectedWeights);
    resumed.dispose();
  }
});

Deno.test("restore refuses a checkpoint of other pairs, the other reference mode or another algo", async () => {
  const trainer = new DpoTrainer(BASE.clone(), PAIRS, { ...OPTIONS, epochs: 1 });
  await trainer.iterate();
  const checkpoint = await trainer.save();
  trainer.dispose();

  const other = new DpoTrainer(BASE.clone(), PAIRS.slice(1), OPTIONS);
  await assert.rejects(
    () => other.restore(checkpoint),
    /^Error: Cannot resume DPO: the checkpoint was trained on other train pairs \(fingerprint [0-9a-f]{8}, these pairs [0-9a-f]{8}\)$/,
  );
  other.dispose();
  const noHoldout = new DpoTrainer(BASE.clone(), PAIRS, { learningRate: 3e-3 });
  await assert.rejects(
    () => noHoldout.restore(checkpoint),
    /the checkpoint was trained with a holdout and this trainer has none/,
  );
  noHoldout.dispose();
  const recomputing = new DpoTrainer(BASE.clone(), PAIRS, {
    ...OPTIONS,
    precomputeReferenceLogProbs: false,
  });
  await assert.rejects(
    () => recomputing.restore(checkpoint),
    /holds precomputed reference log-probs, not the reference's weights \(set precomputeReferenceLogProbs: true\)/,
  );
  await assert.rejects(
    () => recomputing.restore({ ...checkpoint, meta: { ...checkpoint.meta, algo: "ppo" } }),
    /^Error: Cannot resume DPO: the checkpoint is of algo "ppo"$/,
  );
  recomputing.dispose();
});

Deno.test("tf.memory().numTensors stays flat across epochs, with and without a reference copy", async () => {
  for (const precomputeReferenceLogProbs of [true, false]) {
    const trainer = new DpoTrainer(BASE.clone(), PAIRS, {
      ...OPTIONS,
      epochs: 3,
      precomputeReferenceLogProbs,
    });
    await trainer.iterate();
    const before = tf.memory().numTensors;
    await trainer.iterate();
    await trainer.save();
    await trainer.iterate();
    assert.equal(tf.memory().numTensors, before);
    trainer.dispose();
  }
});

Deno.test("without a holdout there are no eval/ metrics; the reference need not be the policy", async () => {
  const reference = BASE.clone();
  const policy = new GruLanguageModel(V, { embeddingSize: 16, hiddenSize: 32, seed: 5 });
  const trainer = new DpoTrainer(policy, PAIRS, { learningRate: 3e-3, referenceModel: reference });
  reference.dispose(); // precomputed: the trainer no longer needs it
  const { step, metrics, episodes } = await trainer.iterate();
  assert.equal(step, PAIRS.length);
  assert.deepEqual(episodes, []);
  assert.deepEqual(Object.keys(metrics), [
    "loss",
    ...DPO_METRIC_NAMES,
    "grad_norm",
    "learning_rate",
    "epoch",
    "perf/pairs_per_second",
  ]);
  assert.equal(trainer.model, policy);
  trainer.dispose();
});

Deno.test("DPO trains a language model without a value head, to the numbers of one with a value head", async () => {
  // The same language-model weights without the value head, which comes last in `variables`.
  const noValueHead = new GruLanguageModel(V, {
    embeddingSize: 16,
    hiddenSize: 32,
    valueHead: false,
  });
  assert.equal(noValueHead.variables.length, BASE.variables.length - 2);
  noValueHead.variables.forEach((v, i) => v.assign(BASE.variables[i]!));
  const options = { ...OPTIONS, epochs: 2 };
  const withHead = new DpoTrainer(BASE.clone(), PAIRS, options);
  const without = new DpoTrainer(noValueHead, PAIRS, options);
  assert.ok(
    !("policy" in without) && !("policy" in withHead),
    "DPO exposes no actor-critic policy",
  );
  const expected = (await train(withHead)).map(deterministicPart);
  assert.deepEqual((await train(without)).map(deterministicPart), expected);
  const expectedWeights = weightsOf(withHead.model).slice(0, -2);
  assert.deepEqual(weightsOf(without.model), expectedWeights);
  // A checkpoint of the model without a value head resumes; one with a value head is refused.
  const checkpoint = await without.save();
  const other = new GruLanguageModel(V, { embeddingSize: 16, hiddenSize: 32, valueHead: false });
  const resumed = new DpoTrainer(other, PAIRS, options);
  await resumed.restore(checkpoint);
  assert.deepEqual(weightsOf(resumed.model), expectedWeights);
  await assert.rejects(
    withHead.restore(checkpoint),
    /^Error: Cannot resume DPO: policy tensor 7 has shape \[missing\], the model needs \[32,1\]/,
  );
  [withHead, without, resumed].forEach((t) => t.dispose());
});

Deno.test("the trainer refuses empty or over-long pair sets, special tokens, another vocabulary and bad options", () => {
  const model = BASE.clone();
  assert.throws(
    () => new DpoTrainer(model, []),
    /^RangeError: Cannot train DPO: the pair set is empty$/,
  );
  assert.throws(
    () => new DpoTrainer(model, PAIRS, { holdout: [] }),
    /Cannot evaluate DPO: the holdout is empty \(leave it out instead\)/,
  );
  const long = { prompt: [4, 5, 6, 7], chosen: [18, 19], rejected: [22, 23, 24] };
  assert.throws(
    () => new DpoTrainer(model, [...PAIRS, long, long], { maxLength: 8 }),
    {
      message:
        "Cannot train DPO: pair 48 is 9 tokens long (<bos>, 4 prompt, 3 completion, <eos>), over maxLength 8; 2 of 50 pairs are too long (raise maxLength or drop them; DPO does not truncate)",
    },
  );
  assert.throws(
    () => new DpoTrainer(model, [{ prompt: [BOS_ID, 4], chosen: [18], rejected: [22] }]),
    /^RangeError: Invalid DPO pair 0: prompt has <bos> at position 0 \(give ids without special tokens: the trainer adds <bos> and <eos>\)$/,
  );
  assert.throws(
    () =>
      new DpoTrainer(model, PAIRS, {
        holdout: [{ prompt: [4], chosen: [18, EOS_ID], rejected: [22] }],
      }),
    /Invalid DPO holdout pair 0: chosen has <eos> at position 1/,
  );
  assert.throws(
    () => new DpoTrainer(model, [{ prompt: [4], chosen: [V], rejected: [22] }]),
    /Invalid DPO pair 0: chosen has 26 at position 0, not a token id in \[0, 26\)/,
  );
  const otherVocabulary = new GruLanguageModel(V + 1, { embeddingSize: 4, hiddenSize: 4 });
  assert.throws(
    () => new DpoTrainer(model, PAIRS, { referenceModel: otherVocabulary }),
    /^RangeError: Cannot train DPO against this reference model: its vocabulary has 27 tokens, the policy's 26$/,
  );
  otherVocabulary.dispose();
  assert.throws(
    () => new DpoTrainer(model, PAIRS, { batchSize: 0 }),
    /^RangeError: DPO option batchSize must be a whole number >= 1, got 0$/,
  );
  assert.throws(
    () => new DpoTrainer(model, PAIRS, { learningRate: -1 }),
    /DPO option learningRate must be > 0, got -1/,
  );
  assert.throws(
    () => new DpoTrainer(model, PAIRS, { lossType: "hinge", labelSmoothing: 0.2 }),
    /labelSmoothing applies only to lossType "sigmoid"/,
  );
  model.dispose();
});

Deno.test("tokenizePairs encodes prompt and completions separately, without special tokens", () => {
  const tokenizer = WordTokenizer.fromTexts(["the soup was lovely . cold"], { minCount: 1 });
  const [pair] = tokenizePairs(
    [{ prompt: "The soup was", chosen: " lovely.", rejected: " cold." }],
    tokenizer,
  );
  assert.equal(tokenizer.decode(pair!.prompt), "the soup was");
  assert.equal(tokenizer.decode(pair!.chosen), "lovely.");
  assert.equal(tokenizer.decode(pair!.rejected), "cold.");
  assert.ok(![pair!.prompt, pair!.chosen].some((ids) => Array.from(ids).includes(BOS_ID)));
});
