// The Bradley–Terry reward model and its trainer on the WASM backend: the loss against numbers
// worked out by hand and against the model's own scores, the direction of a gradient step, learning
// a separable toy preference, scoring, checkpoints (round trip, exact resume, a refused vocabulary,
// the reward model loaded alone), memory, and a quick check on human-labelled sentiment pairs.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  type Checkpoint,
  MetaReader,
  type PreferencePair,
  readCheckpoint,
  Rng,
  type ScoreRequest,
  setupBackend,
  writeCheckpoint,
} from "@proximal/core";
import { GruLanguageModel, WordTokenizer } from "@proximal/models";
import { loadSentimentCorpus, splitHoldout, splitPrompt } from "@proximal/envs";
import {
  bradleyTerryDefaults,
  bradleyTerryLoss,
  BradleyTerryRewardModel,
  BradleyTerryTrainer,
} from "@proximal/reward-models";
import { close } from "./_assert.ts";

await setupBackend("wasm");

/** log(1 + eˣ) in float64, independently of the module's helper. */
const softplus = (x: number) => Math.max(x, 0) + Math.log1p(Math.exp(-Math.abs(x)));

// ── A toy preference: chosen completions say "good", rejected ones "bad", among filler words.

const SUBJECTS = ["the soup", "the film", "my phone", "our room", "the staff", "this case"];
const FILLER = ["was", "really", "quite", "and", "so", "very", "it", "felt", "all", "too"];
const TOY_TEXT = [...SUBJECTS, ...FILLER, "good", "bad"].join(" ");

/** `n` pairs: a subject as prompt, then three filler words with "good" (chosen) or "bad" inserted. */
function toyPairs(n: number, seed: number): PreferencePair[] {
  const rng = new Rng(seed);
  const completion = (word: string) => {
    const words = Array.from({ length: 3 }, () => FILLER[rng.int(FILLER.length)]!);
    words.splice(rng.int(4), 0, word);
    return " " + words.join(" ");
  };
  return Array.from({ length: n }, () => ({
    prompt: SUBJECTS[rng.int(SUBJECTS.length)]!,
    chosen: completion("good"),
    rejected: completion("bad"),
  }));
}

const toyTokenizer = WordTokenizer.fromTexts([TOY_TEXT], { minCount: 1 });
const SMALL = { embeddingSize: 8, hiddenSize: 16 };

function toyModel(options: Partial<typeof bradleyTerryDefaults> = {}): BradleyTerryTrainer {
  return new BradleyTerryTrainer({ tokenizer: toyTokenizer }, {
    ...SMALL,
    seed: 3,
    ...options,
  });
}

/** The rewards of each pair's chosen and rejected completion, from `score`. */
async function pairRewards(
  model: BradleyTerryTrainer,
  pairs: readonly PreferencePair[],
): Promise<{ chosen: Float32Array; rejected: Float32Array }> {
  const score = (requests: ScoreRequest[]) => model.rewardModel.score(requests);
  const chosen = await score(pairs.map((p) => ({ prompt: p.prompt, completion: p.chosen })));
  const rejected = await score(
    pairs.map((p) => ({ prompt: p.prompt, completion: p.rejected })),
  );
  return { chosen, rejected };
}

// ── The loss.

// Hand-worked, r_c = [1, 0.5, 3], r_r = [0, 1.5, 3]: margins h = [1, −1, 0].
//   −log σ(1) = softplus(−1) = ln(1 + e⁻¹) = 0.3132617
//   −log σ(−1) = softplus(1) = ln(1 + e) = 1.3132617
//   −log σ(0) = ln 2 = 0.6931472
//   loss = (0.3132617 + 1.3132617 + 0.6931472) / 3 = 0.7732235
//   accuracy = 1/3 (the tie counts as wrong); margin = 0
// ∂loss/∂r_c = −σ(−h)/n = −[σ(−1), σ(1), σ(0)]/3 = −[0.2689414, 0.7310586, 0.5]/3
//            = [−0.0896471, −0.2436862, −0.1666667]; ∂loss/∂r_r is its opposite.
Deno.test("bradleyTerryLoss matches the hand-worked loss, accuracy, margin and gradient", () => {
  const chosen = tf.tensor1d([1, 0.5, 3]), rejected = tf.tensor1d([0, 1.5, 3]);
  const terms = bradleyTerryLoss(chosen, rejected);
  close(terms.loss.dataSync(), [0.7732235]);
  close(terms.accuracy.dataSync(), [1 / 3]);
  close(terms.margin.dataSync(), [0]);
  const [dChosen, dRejected] = tf.grads((c: tf.Tensor, r: tf.Tensor) =>
    bradleyTerryLoss(c as tf.Tensor1D, r as tf.Tensor1D).loss
  )([chosen, rejected]);
  close(dChosen!.dataSync(), [-0.0896471, -0.2436862, -0.1666667]);
  close(dRejected!.dataSync(), [0.0896471, 0.2436862, 0.1666667]);
  tf.dispose([chosen, rejected, terms.loss, terms.accuracy, terms.margin, dChosen!, dRejected!]);
});

Deno.test("bradleyTerryLoss stays finite and differentiable for huge margins computed in the tape", () => {
  // Rewards computed inside the differentiated function, where tf.logSigmoid's gradient fails.
  const w = tf.variable(tf.scalar(100));
  const { value, grads } = tf.variableGrads(() => {
    const chosen = tf.mul(w, tf.tensor1d([1, -1])) as tf.Tensor1D;
    return bradleyTerryLoss(chosen, tf.zeros([2]) as tf.Tensor1D).loss;
  });
  // h = [100, −100]: softplus(−100) ≈ 3.7e−44, softplus(100) = 100; mean 50.
  close(value.dataSync(), [50], 1e-4);
  // ∂/∂w = (−σ(−100)·1 − σ(100)·(−1)) / 2 = (≈0 + 1) / 2 = 0.5.
  close(grads[w.name]!.dataSync(), [0.5]);
  assert.throws(
    () => bradleyTerryLoss(tf.tensor1d([1, 2]), tf.tensor1d([1])),
    /^RangeError: bradleyTerryLoss needs chosen and rejected rewards of the same shape \[n\]/,
  );
  tf.dispose([w, value, grads[w.name]!]);
});

Deno.test("a training step reports mean softplus(−(r_c − r_r)) of the model's own scores and raises the margin", async () => {
  const pairs = toyPairs(8, 11); // one batch: one epoch is one Adam step
  const model = toyModel({ learningRate: 1e-3 });
  const before = await pairRewards(model, pairs);
  const margins = Array.from(before.chosen, (c, i) => c - before.rejected[i]!);
  const expectedLoss = margins.reduce((s, h) => s + softplus(-h), 0) / margins.length;
  const expectedAccuracy = margins.filter((h) => h > 0).length / margins.length;
  const expectedMargin = margins.reduce((s, h) => s + h, 0) / margins.length;
  assert.ok(Math.abs(expectedLoss - Math.LN2) < 0.2, `untrained loss ${expectedLoss} ≈ ln 2`);

  const { epoch, step, metrics } = await model.trainEpoch(pairs);
  assert.equal(epoch, 1);
  assert.equal(step, 1);
  // The step's loss is measured before the update, on the same rewards `score` gave.
  close([metrics["train/loss"]!], [expectedLoss]);
  close([metrics["train/accuracy"]!], [expectedAccuracy]);
  close([metrics["train/margin"]!], [expectedMargin]);
  assert.ok(model.evaluate(pairs).loss < expectedLoss);

  const after = await pairRewards(model, pairs);
  const newMargins = Array.from(after.chosen, (c, i) => c - after.rejected[i]!);
  const mean = (xs: number[]) => xs.reduce((s, x) => s + x, 0) / xs.length;
  assert.ok(
    mean(newMargins) > mean(margins),
    `mean margin ${mean(newMargins)} should exceed ${mean(margins)}`,
  );
  const raised = newMargins.filter((h, i) => h > margins[i]!).length;
  assert.ok(raised >= 6, `only ${raised} of 8 margins rose`);
  model.dispose();
});

Deno.test("a separable toy preference reaches >= 95 % held-out accuracy at seed 3", async () => {
  const train = toyPairs(48, 1), holdout = toyPairs(32, 2);
  const model = toyModel({ learningRate: 1e-2, batchSize: 8, epochs: 4 });
  const reports = await model.train(train, { holdout });
  assert.equal(reports.length, 4);
  assert.deepEqual(Object.keys(reports[0]!.metrics), model.metricNames);
  const last = reports.at(-1)!.metrics;
  assert.ok(last["eval/accuracy"]! >= 0.95, `held-out accuracy ${last["eval/accuracy"]}`);
  assert.equal(model.accuracy(holdout), last["eval/accuracy"]);
  assert.ok(last["eval/loss"]! < reports[0]!.metrics["eval/loss"]!);
  // Done: training again does nothing.
  assert.deepEqual(await model.train(train), []);
  model.dispose();
});

Deno.test("early stopping stops after `patience` worse epochs and restores the best epoch's weights", async () => {
  // A third of the labels swapped at random: a model with a large step overfits them within a few
  // epochs, so the validation loss has its minimum before the last epoch trained.
  const rng = new Rng(21);
  const pairs = toyPairs(64, 9).map((p) =>
    rng.uniform() < 0.33 ? { ...p, chosen: p.rejected, rejected: p.chosen } : p
  );
  const options = {
    learningRate: 3e-2,
    batchSize: 8,
    epochs: 12,
    validationFraction: 0.25,
    patience: 3,
  };
  const model = toyModel(options);
  const weights: Float32Array[][] = [];
  let checkpoint: Checkpoint | undefined;
  const reports = await model.train(pairs, {
    holdout: toyPairs(16, 10),
    onEpoch: async ({ epoch }) => {
      weights.push(model.model.variables.map((v) => v.dataSync().slice() as Float32Array));
      if (epoch === 2) checkpoint = await model.save();
    },
  });
  assert.deepEqual(Object.keys(reports[0]!.metrics), model.metricNames);
  const losses = reports.map((r) => r.metrics["val/loss"]!);
  const best = losses.indexOf(Math.min(...losses)) + 1;
  assert.equal(model.bestEpoch, best);
  assert.ok(best < reports.length, `best epoch ${best} of ${reports.length}: nothing to restore`);
  assert.equal(reports.length, best + options.patience, `validation losses ${losses}`);
  assert.ok(model.done && model.epoch < options.epochs);
  model.model.variables.forEach((v, i) => {
    assert.deepEqual(v.dataSync(), weights[best - 1]![i], `variable ${i} is not the best epoch's`);
  });
  assert.deepEqual(await model.train(pairs), []); // done: training again does nothing

  // Resumed from epoch 2's checkpoint, training holds back the same pairs, stops at the same epoch
  // and restores the same weights.
  const resumed = BradleyTerryTrainer.fromCheckpoint(checkpoint!);
  await resumed.train(pairs);
  assert.equal(resumed.bestEpoch, best);
  assert.equal(resumed.epoch, model.epoch);
  resumed.model.variables.forEach((v, i) => {
    assert.deepEqual(v.dataSync(), weights[best - 1]![i], `resumed variable ${i}`);
  });

  // Off (the default): every epoch is trained, the last one's weights kept, no val/* metrics.
  const plain = toyModel({ ...options, validationFraction: 0 });
  const plainReports = await plain.train(pairs);
  assert.equal(plainReports.length, options.epochs);
  assert.equal(plain.bestEpoch, 0);
  assert.ok(!("val/loss" in plainReports[0]!.metrics));
  const tiny = toyModel({ validationFraction: 0.5, epochs: 1 });
  await assert.rejects(
    tiny.train(pairs.slice(0, 1)),
    /^RangeError: Cannot train the reward model: validationFraction 0.5 of 1 pairs leaves/,
  );
  assert.throws(
    () => toyModel({ validationFraction: 1 }),
    /^RangeError: Reward model option validationFraction must be in \[0, 1\), got 1$/,
  );
  [model, resumed, plain, tiny].forEach((m) => m.dispose());
});

Deno.test("score gives one finite reward per request, in order, the same every time and in any batch", async () => {
  const trainer = toyModel({ evalBatchSize: 3 }); // several length-sorted batches
  const model = trainer.rewardModel;
  const requests = [
    { prompt: "the soup", completion: " was good" },
    { prompt: "the film", completion: " was really quite bad and so very bad" },
    { prompt: "my phone", completion: "" },
    { prompt: "our room", completion: " good" },
    { prompt: "the staff", completion: " felt all too good and it was" },
    { prompt: "this case", completion: " was bad" },
    { prompt: "the soup", completion: "was good" }, // the same ids as the first request
  ];
  const rewards = await model.score(requests);
  assert.ok(rewards instanceof Float32Array);
  assert.equal(rewards.length, requests.length);
  assert.ok(rewards.every(Number.isFinite));
  assert.deepEqual(await model.score(requests), rewards);
  assert.equal(rewards[6], rewards[0]);
  const alone = await Promise.all(requests.map(async (r) => (await model.score([r]))[0]!));
  close(alone, rewards);
  const reversed = await model.score([...requests].reverse());
  close(reversed, [...rewards].reverse());
  assert.deepEqual(await model.score([]), new Float32Array(0));
  await assert.rejects(
    model.score([{ prompt: "the soup", completion: 3 as unknown as string }]),
    /^TypeError: Reward source "bradley-terry" cannot score request 0: it needs "prompt" and "completion" strings$/,
  );
  trainer.dispose();
});

Deno.test("pairs longer than maxLength are cut, keeping <eos> where the reward is read", async () => {
  const model = toyModel({ maxLength: 4 });
  // "the soup was good" fills the 4 tokens; whatever follows is cut.
  const [a, b, c] = await model.rewardModel.score([
    { prompt: "the soup", completion: " was good" },
    { prompt: "the soup", completion: " was good and so very bad" },
    { prompt: "the soup", completion: " was bad" },
  ]);
  assert.equal(a, b);
  assert.notEqual(a, c);
  model.dispose();
});

Deno.test("save and fromCheckpoint round trip through a file with identical scores", async () => {
  const dir = await Deno.makeTempDir();
  const pairs = toyPairs(16, 5);
  const model = toyModel({ batchSize: 8, epochs: 1, maxLength: 12, evalBatchSize: 5 });
  await model.train(pairs);
  const path = `${dir}/rm.ckpt`;
  await writeCheckpoint(path, await model.save());
  const requests = pairs.map((p) => ({ prompt: p.prompt, completion: p.chosen }));
  const expected = await model.rewardModel.score(requests);
  // The trainer, to go on training: its options and epoch come back too.
  const loaded = BradleyTerryTrainer.fromCheckpoint(await readCheckpoint(path), {
    source: path,
  });
  assert.equal(loaded.tokenizer.fingerprint, toyTokenizer.fingerprint);
  assert.deepEqual(loaded.options, model.options);
  assert.equal(loaded.epoch, 1);
  assert.deepEqual(await loaded.rewardModel.score(requests), expected);
  // The reward model alone, to score: from the file, with how it reads texts.
  const rewardModel = await BradleyTerryRewardModel.load(path);
  assert.equal(rewardModel.tokenizer.fingerprint, toyTokenizer.fingerprint);
  assert.deepEqual(rewardModel.options, { maxLength: 12, evalBatchSize: 5 });
  assert.deepEqual(await rewardModel.score(requests), expected);
  // Restoring into a fresh trainer of the same vocabulary and shape gives the same scores too.
  const fresh = toyModel({ batchSize: 8, seed: 99, maxLength: 12 });
  await fresh.restore(await readCheckpoint(path), { source: path });
  assert.deepEqual(await fresh.rewardModel.score(requests), expected);
  [model, loaded, rewardModel, fresh].forEach((m) => m.dispose());
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a resumed run matches an uninterrupted one exactly", async () => {
  const pairs = toyPairs(20, 6);
  const straight = toyModel({ batchSize: 8, epochs: 2, learningRate: 1e-2 });
  await straight.train(pairs);
  const first = toyModel({ batchSize: 8, epochs: 2, learningRate: 1e-2 });
  await first.trainEpoch(pairs);
  const checkpoint = await first.save();
  const resumed = BradleyTerryTrainer.fromCheckpoint(checkpoint);
  const reports = await resumed.train(pairs);
  assert.equal(reports.length, 1);
  assert.equal(resumed.step, straight.step);
  straight.model.variables.forEach((v, i) => {
    assert.deepEqual(resumed.model.variables[i]!.dataSync(), v.dataSync(), `variable ${i}`);
  });
  [straight, first, resumed].forEach((m) => m.dispose());
});

Deno.test("a checkpoint from another vocabulary is refused, naming the checkpoint", async () => {
  const model = toyModel();
  const checkpoint = await model.save();
  const other = new BradleyTerryTrainer(
    { tokenizer: WordTokenizer.fromTexts([TOY_TEXT + " fine"], { minCount: 1 }) },
    SMALL,
  );
  await assert.rejects(
    other.restore(checkpoint, { source: "runs/rm/latest.ckpt" }),
    new RegExp(
      `^Error: Vocabulary mismatch: checkpoint runs/rm/latest\\.ckpt was trained with vocabulary ${toyTokenizer.fingerprint}, the tokenizer has ${other.tokenizer.fingerprint}$`,
    ),
  );
  await assert.rejects(
    other.restore({ meta: { algo: "ppo" }, tensors: {} }, { source: "ppo.ckpt" }),
    /^Error: Cannot restore the reward model from ppo\.ckpt: the checkpoint is of algo "ppo"$/,
  );
  assert.throws(
    () => BradleyTerryRewardModel.fromCheckpoint({ meta: { algo: "sft" }, tensors: {} }),
    /^Error: Cannot load a reward model: the checkpoint is of algo "sft"$/,
  );
  assert.throws(
    () => BradleyTerryTrainer.fromCheckpoint({ meta: { kind: "sft" }, tensors: {} }),
    /^Error: Cannot load a reward model: the checkpoint names no algo/,
  );
  const damaged = structuredClone(checkpoint);
  new MetaReader(damaged.meta, { owner: "the test" }).object("tokenizer").fingerprint =
    "0000000000000000";
  assert.throws(
    () => BradleyTerryRewardModel.fromCheckpoint(damaged, { source: "rm.ckpt" }),
    /^TypeError: Invalid tokenizer in checkpoint rm\.ckpt: "fingerprint" is "0000000000000000" but the vocabulary's is/,
  );
  const bigger = new BradleyTerryTrainer({ tokenizer: toyTokenizer }, {
    embeddingSize: 8,
    hiddenSize: 8,
  });
  await assert.rejects(
    bigger.restore(checkpoint),
    /^Error: Cannot restore the reward model: model tensor 1 has shape \[8,48\], the model needs \[8,24\]/,
  );
  [model, other, bigger].forEach((m) => m.dispose());
});

Deno.test("a given model (an SFT clone) is trained in place: its value head is the reward, its LM head is untouched", async () => {
  const sft = new GruLanguageModel(toyTokenizer.vocabSize, { ...SMALL, seed: 8 });
  const model = new BradleyTerryTrainer({ tokenizer: toyTokenizer, model: sft.clone() }, {
    batchSize: 8,
  });
  assert.equal(model.options.hiddenSize, 16);
  // Before training, the reward is the clone's value head at <eos>.
  const ids = [1, ...toyTokenizer.encode("the soup was good"), 2];
  const { logits, value, state } = sft.nextTokenLogits(
    tf.tensor2d([ids], [1, ids.length], "int32"),
  );
  const [reward] = await model.rewardModel.score([{ prompt: "the soup", completion: " was good" }]);
  close([reward!], value!.dataSync());
  tf.dispose([logits, value!, ...state.hidden]);

  const head = 1 + 4 * sft.layers; // the output projection w, then b
  const before = model.model.variables.map((v) => v.dataSync().slice());
  await model.trainEpoch(toyPairs(8, 4));
  model.model.variables.forEach((v, i) => {
    const same = v.dataSync().every((x, j) => x === before[i]![j]);
    assert.equal(same, i === head || i === head + 1, `variable ${i} changed: ${!same}`);
  });
  // The caller's model is not the one trained.
  assert.deepEqual(sft.variables[0]!.dataSync(), before[0]);

  assert.throws(
    () => new BradleyTerryTrainer({ tokenizer: toyTokenizer, model: sft }, { hiddenSize: 32 }),
    /^Error: Cannot build a Bradley–Terry reward model: hiddenSize 32 was asked for, but the given model's is 16/,
  );
  const noHead = new GruLanguageModel(toyTokenizer.vocabSize, { ...SMALL, valueHead: false });
  assert.throws(
    () => new BradleyTerryTrainer({ tokenizer: toyTokenizer, model: noHead }),
    /^Error: Cannot build a Bradley–Terry reward model: the language model has no value head/,
  );
  const wrongVocab = new GruLanguageModel(toyTokenizer.vocabSize + 1, SMALL);
  assert.throws(
    () => new BradleyTerryTrainer({ tokenizer: toyTokenizer, model: wrongVocab }),
    /^Error: Cannot build a Bradley–Terry reward model: the language model has 27 tokens, the tokenizer 26$/,
  );
  assert.throws(
    () => new BradleyTerryTrainer({ tokenizer: toyTokenizer }, { batchSize: 0 }),
    /^RangeError: Reward model option batchSize must be a whole number >= 1, got 0$/,
  );
  // The reward model alone refuses the same models.
  assert.throws(
    () => new BradleyTerryRewardModel({ tokenizer: toyTokenizer, model: noHead }),
    /^Error: Cannot build a Bradley–Terry reward model: the language model has no value head/,
  );
  assert.throws(
    () => new BradleyTerryRewardModel({ tokenizer: toyTokenizer, model: sft }, { maxLength: 0 }),
    /^RangeError: Reward model option maxLength must be a whole number >= 1, got 0$/,
  );
  await assert.rejects(
    model.trainEpoch([{ prompt: "the soup", chosen: " good" } as PreferencePair]),
    /^TypeError: Cannot train the reward model: pair 0 needs "prompt", "chosen" and "rejected" strings$/,
  );
  [model, sft, noHead, wrongVocab].forEach((m) => m.dispose());
});

Deno.test("the tensor count stays flat across epochs, evaluation and scoring", async () => {
  const pairs = toyPairs(24, 7), holdout = toyPairs(8, 8);
  const model = toyModel({ batchSize: 8, epochs: 4 });
  await model.trainEpoch(pairs, { holdout }); // first-use allocations
  const counts: number[] = [];
  await model.train(pairs, {
    holdout,
    onEpoch: async () => {
      await model.rewardModel.score(pairs.map((p) => ({ prompt: p.prompt, completion: p.chosen })));
      model.accuracy(holdout);
      counts.push(tf.memory().numTensors);
    },
  });
  assert.equal(counts.length, 3);
  assert.ok(counts.every((n) => n === counts[0]), `tensor counts ${counts}`);
  model.dispose();
});

// ── Real data: the corpus's human labels. Each source's positive and negative sentences are split
// after 4 words and paired in file order: chosen = a positive sentence's continuation, rejected =
// a negative one's. The prompt is the positive sentence's start for even pairs and the negative
// one's for odd pairs, so the prompt says nothing about which continuation fits it and the model
// has to learn sentiment. 1,225 pairs; 20 % held out.
Deno.test("on human-labelled sentiment pairs, held-out accuracy is clearly above chance", async () => {
  const corpus = await loadSentimentCorpus();
  const pairs: PreferencePair[] = [];
  for (const source of ["amazon", "imdb", "yelp"]) {
    const splits = (label: 0 | 1) =>
      corpus.filter((s) => s.source === source && s.label === label)
        .flatMap((s) => splitPrompt(s.text) ?? []);
    const positive = splits(1), negative = splits(0);
    for (let i = 0; i < Math.min(positive.length, negative.length); i++) {
      pairs.push({
        prompt: (i % 2 === 0 ? positive[i]! : negative[i]!).prompt,
        chosen: positive[i]!.continuation,
        rejected: negative[i]!.continuation,
      });
    }
  }
  const { train, holdout } = splitHoldout(pairs, { fraction: 0.2, seed: 0 });
  const tokenizer = WordTokenizer.fromTexts(train.flatMap((p) => [p.prompt, p.chosen, p.rejected]));
  const model = new BradleyTerryTrainer({ tokenizer }, { epochs: 3, seed: 0 });
  const start = performance.now();
  const reports = await model.train(train, { holdout });
  const accuracy = reports.at(-1)!.metrics["eval/accuracy"]!;
  console.log(
    `   ${train.length} training pairs, ${holdout.length} held out: held-out accuracy ${
      (accuracy * 100).toFixed(1)
    } % after ${reports.length} epochs (${((performance.now() - start) / 1000).toFixed(1)} s)`,
  );
  // Measured: 69 % at seed 0 (66–68 % at seeds 1–3). With 245 held-out pairs chance is 50 ± 3.2 %
  // (one standard error), so 60 % is three standard errors above chance and still three below the
  // measured value.
  assert.ok(accuracy >= 0.6, `held-out accuracy ${accuracy}`);
  model.dispose();
});
