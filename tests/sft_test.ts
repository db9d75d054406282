// SFT on the WASM backend: its loss against an independent log-softmax in JavaScript, learning a
// tiny grammar (and generating from it) and real review sentences (below the unigram entropy),
// exact resumption from a checkpoint, reproducibility, flat memory, and its refusals.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { sftBatch, type SftOptions, SftTrainer } from "@proximal/algos";
import { decodeCheckpoint, encodeCheckpoint, Rng, setupBackend } from "@proximal/core";
import { BOS_ID, EOS_ID, GruLanguageModel, WordTokenizer } from "@proximal/models";
import { loadSentimentCorpus, splitHoldout } from "@proximal/envs";

await setupBackend("wasm");

/** Metrics without wall-clock ones, which legitimately differ between runs. */
function deterministicPart(metrics: Record<string, number>): Record<string, number> {
  return Object.fromEntries(
    Object.entries(metrics).filter(([k]) =>
      k !== "train/tokens_per_second" && !k.startsWith("perf/")
    ),
  );
}

// ── A tiny grammar: DET NOUN VERB DET NOUN [ADV] "." over 15 words (ids 4 … 18).

const WORDS = [
  "the",
  "a",
  "cat",
  "dog",
  "bird",
  "sees",
  "likes",
  "chases",
  "ball",
  "fish",
  "mouse",
  "quickly",
  "slowly",
  "today",
  ".",
];
const VOCAB = ["<pad>", "<bos>", "<eos>", "<unk>", ...WORDS];
const id = (word: string) => VOCAB.indexOf(word);
const DET = ["the", "a"], NOUN = ["cat", "dog", "bird", "ball", "fish", "mouse"];
const VERB = ["sees", "likes", "chases"], ADV = ["quickly", "slowly", "today"];

function grammarSentence(rng: Rng): Int32Array {
  const pick = (words: string[]) => words[rng.int(words.length)]!;
  const words = [pick(DET), pick(NOUN), pick(VERB), pick(DET), pick(NOUN)];
  if (rng.int(2) === 1) words.push(pick(ADV));
  words.push(".");
  return Int32Array.from(words, id);
}

function inGrammar(ids: ArrayLike<number>): boolean {
  const words = Array.from(ids, (i) => VOCAB[i]!);
  const is = (k: number, set: string[]) => set.includes(words[k]!);
  const head = is(0, DET) && is(1, NOUN) && is(2, VERB) && is(3, DET) && is(4, NOUN);
  const rest = words.slice(5).join(" ");
  return head && (rest === "." || (is(5, ADV) && words.slice(6).join(" ") === "."));
}

function grammarData(count: number, seed: number) {
  const rng = new Rng(seed);
  const sentences = Array.from({ length: count }, () => grammarSentence(rng));
  return { ...splitHoldout(sentences, { fraction: 0.1, seed }), vocabSize: VOCAB.length };
}

const SMALL: Partial<SftOptions> = { embeddingSize: 8, hiddenSize: 16, batchSize: 4 };

// ── The math.

Deno.test("sftBatch wraps each sentence in <bos> … <eos>, right-pads it and cuts long ones without <eos>", () => {
  const batch = sftBatch(
    [Int32Array.from([5, 6, 7, 8, 9]), Int32Array.from([4]), Int32Array.from([5, 6, 7])],
    { maxLength: 3 },
  );
  assert.equal(batch.length, 4);
  assert.deepEqual([...batch.inputs], [1, 5, 6, 0, 1, 4, 0, 0, 1, 5, 6, 7]);
  assert.deepEqual([...batch.targets], [5, 6, 7, 0, 4, 2, 0, 0, 5, 6, 7, 2]);
  assert.deepEqual([...batch.mask], [1, 1, 1, 0, 1, 1, 0, 0, 1, 1, 1, 1]);
  assert.equal(batch.tokens, 9);
});

Deno.test("sft reports the loss of a two-sentence batch that a JavaScript log-softmax of the model's logits gives", async () => {
  const model = new GruLanguageModel(12, { embeddingSize: 6, hiddenSize: 10, seed: 3 });
  // Laid out by hand: <bos> 5 6 7 → 5 6 7 <eos> and <bos> 8 9 → 8 9 <eos>, padded.
  const inputs = [[BOS_ID, 5, 6, 7], [BOS_ID, 8, 9, 0]];
  const targets = [[5, 6, 7, EOS_ID], [8, 9, EOS_ID, 0]];
  const logits = model.logits(tf.tensor2d(inputs, [2, 4], "int32"));
  const values = logits.arraySync() as number[][][];
  logits.dispose();
  let nll = 0, tokens = 0;
  for (let b = 0; b < 2; b++) {
    for (let t = 0; t < 4; t++) {
      if (targets[b]![t] === 0) continue;
      const row = values[b]![t]!;
      const max = Math.max(...row);
      const logSumExp = max + Math.log(row.reduce((s, x) => s + Math.exp(x - max), 0));
      nll -= row[targets[b]![t]!]! - logSumExp;
      tokens++;
    }
  }
  const expected = nll / tokens;

  const sft = new SftTrainer(
    {
      train: [Int32Array.from([5, 6, 7]), Int32Array.from([8, 9])],
      holdout: [Int32Array.from([5, 6, 7]), Int32Array.from([8, 9])],
      vocabSize: 12,
      model,
    },
    { batchSize: 2, epochs: 1 },
  );
  assert.ok(Math.abs(sft.evaluate().loss - expected) < 1e-5);
  // One batch: the epoch's train/loss is that batch's loss before the Adam step.
  const { step, metrics } = await sft.iterate();
  assert.equal(step, 7);
  assert.ok(
    Math.abs(metrics["train/loss"]! - expected) < 1e-5,
    `train/loss ${metrics["train/loss"]} vs ${expected}`,
  );
  assert.ok(metrics["eval/loss"]! < metrics["train/loss"]!, "one step lowers the loss");
  assert.ok(Math.abs(metrics["eval/perplexity"]! - Math.exp(metrics["eval/loss"]!)) < 1e-9);
  assert.ok(sft.done);
  await assert.rejects(
    sft.iterate(),
    /^Error: Cannot run another SFT epoch: all 1 epochs are done$/,
  );
  sft.dispose();
});

// ── Learning.

Deno.test("sft learns a 15-word grammar far below log V, and greedy decoding of a memorised prompt stays in the grammar", async () => {
  const data = grammarData(40, 1);
  assert.equal(data.train.length, 36);
  const sft = new SftTrainer(data, { ...SMALL, learningRate: 1e-2, epochs: 30, seed: 1 });
  const evalLoss: number[] = [];
  while (!sft.done) evalLoss.push((await sft.iterate()).metrics["eval/loss"]!);
  const first = evalLoss[0]!, last = evalLoss.at(-1)!;
  assert.ok(last < 0.5 * Math.log(VOCAB.length), `eval/loss ${last} vs log V ${Math.log(19)}`);
  assert.ok(last < first - 1, `eval/loss ${first} → ${last}`);

  // A training sentence's first two words, then greedy decoding.
  const prompt = Int32Array.from([BOS_ID, ...data.train[0]!.subarray(0, 2)]);
  const { completions } = sft.model.generate([prompt], { maxNewTokens: 10, temperature: 0 });
  const completion = completions[0]!;
  assert.equal(completion.at(-1), EOS_ID, "the completion ends");
  const sentence = [...prompt.subarray(1), ...completion.subarray(0, -1)];
  assert.ok(inGrammar(sentence), sentence.map((i) => VOCAB[i]).join(" "));
  sft.dispose();
});

Deno.test("sft learns real review sentences in one epoch: held-out loss below the holdout's own unigram entropy", async () => {
  const corpus = await loadSentimentCorpus();
  const { train, holdout } = splitHoldout(corpus.map((s) => s.text), { seed: 0 });
  const tokenizer = WordTokenizer.fromTexts(train);
  const encode = (texts: string[]) => texts.map((t) => tokenizer.encode(t));
  const data = { train: encode(train), holdout: encode(holdout), vocabSize: tokenizer.vocabSize };
  assert.ok(data.train.length === 2700 && data.train.every((s) => s.length > 0));

  // The best any model blind to context can do on the holdout: the entropy of its own token
  // frequencies (the targets SFT scores: up to 32 tokens of each sentence, then <eos>).
  const counts = new Map<number, number>();
  let total = 0;
  for (const s of data.holdout) {
    for (const t of [...s.subarray(0, 32), EOS_ID]) {
      counts.set(t, (counts.get(t) ?? 0) + 1);
      total++;
    }
  }
  let unigramEntropy = 0;
  for (const c of counts.values()) unigramEntropy -= (c / total) * Math.log(c / total);

  const sft = new SftTrainer(data, {
    embeddingSize: 32,
    hiddenSize: 64,
    learningRate: 1e-2,
    epochs: 1,
  });
  const { metrics } = await sft.iterate();
  assert.ok(
    metrics["eval/loss"]! < unigramEntropy - 0.1,
    `eval/loss ${metrics["eval/loss"]} vs unigram entropy ${unigramEntropy}`,
  );
  sft.dispose();
});

// ── Reproducibility, resumption, memory.

Deno.test("sft resumes from a checkpoint to exactly the metrics of an uninterrupted run", async () => {
  const data = grammarData(40, 2);
  const options = { ...SMALL, epochs: 3, seed: 5 };
  const straight = new SftTrainer(data, options);
  const expected = [];
  for (let e = 0; e < 3; e++) expected.push(deterministicPart((await straight.iterate()).metrics));

  const first = new SftTrainer(data, options);
  await first.iterate();
  const bytes = encodeCheckpoint(await first.save());
  first.dispose();
  const resumed = new SftTrainer(data, options);
  await resumed.restore(decodeCheckpoint(bytes));
  assert.equal(resumed.epoch, 1);
  assert.equal(resumed.step, straight.step / 3);
  const after = [];
  while (!resumed.done) after.push(deterministicPart((await resumed.iterate()).metrics));
  assert.deepEqual(after, expected.slice(1));
  assert.equal(resumed.step, straight.step);
  straight.dispose();
  resumed.dispose();
});

Deno.test("sft refuses a checkpoint of another shape, vocabulary, data or algorithm, with the reason", async () => {
  const data = grammarData(20, 3);
  const sft = new SftTrainer(data, SMALL);
  const checkpoint = await sft.save();
  const refuse = async (other: SftTrainer, pattern: RegExp, ckpt = checkpoint) => {
    await assert.rejects(other.restore(ckpt), pattern);
    other.dispose();
  };
  await refuse(
    new SftTrainer(data, { ...SMALL, hiddenSize: 12 }),
    /^Error: Cannot resume SFT: model tensor 1 has shape \[8,48\], the model needs \[8,36\] \(were embeddingSize, hiddenSize, layers/,
  );
  await refuse(
    new SftTrainer({ ...data, vocabSize: 20 }, SMALL),
    /^Error: Cannot resume SFT: the checkpoint's model has a vocabulary of 19 tokens, this trainer's 20/,
  );
  await refuse(
    new SftTrainer({ ...data, train: data.train.slice(1) }, SMALL),
    /^Error: Cannot resume SFT: the checkpoint was trained on other sentences/,
  );
  await refuse(
    new SftTrainer(data, SMALL),
    /^Error: Cannot resume SFT: the checkpoint is of algo "ppo"$/,
    { ...checkpoint, meta: { ...checkpoint.meta, algo: "ppo" } },
  );
  sft.dispose();
});

Deno.test("sft with the same seed gives the same metrics, and another seed different ones", async () => {
  const data = grammarData(40, 4);
  const run = async (seed: number) => {
    const sft = new SftTrainer(data, { ...SMALL, epochs: 2, seed });
    const metrics = [];
    while (!sft.done) metrics.push(deterministicPart((await sft.iterate()).metrics));
    sft.dispose();
    return metrics;
  };
  const a = await run(7);
  assert.deepEqual(await run(7), a);
  assert.notDeepEqual(await run(8), a);
});

Deno.test("sft keeps tf.memory().numTensors flat across epochs and evaluations", async () => {
  const data = grammarData(40, 5);
  const sft = new SftTrainer(data, { ...SMALL, epochs: 4 });
  await sft.iterate();
  sft.evaluate();
  const before = tf.memory().numTensors;
  while (!sft.done) await sft.iterate();
  sft.evaluate(data.train);
  assert.equal(tf.memory().numTensors, before);
  sft.dispose();
});

// ── Refusals.

Deno.test("sft rejects empty sentences and special or unknown ids, naming the sentence", () => {
  const ok = Int32Array.from([4, 5]);
  const build = (train: Int32Array[], holdout: Int32Array[] = []) => () =>
    new SftTrainer({ train, holdout, vocabSize: 10 }, SMALL);
  assert.throws(
    build([ok, new Int32Array(0)]),
    /^RangeError: Invalid SFT sentence train\[1\]: it is empty$/,
  );
  assert.throws(
    build([ok], [ok, ok, Int32Array.from([])]),
    /^RangeError: Invalid SFT sentence holdout\[2\]: it is empty$/,
  );
  assert.throws(
    build([Int32Array.from([BOS_ID, 4, 5, EOS_ID])]),
    /^RangeError: Invalid SFT sentence train\[0\]: token 1 at position 0 is <bos>, <eos> or a token the model never predicts \(pass sentences without <bos>\/<eos>: the trainer adds them\)$/,
  );
  assert.throws(
    build([ok, Int32Array.from([4, 10])]),
    /^RangeError: Invalid SFT sentence train\[1\]: token 10 at position 1 is outside the vocabulary \[0, 10\)$/,
  );
  assert.throws(build([]), /^RangeError: Cannot train SFT: there are no training sentences$/);
});

Deno.test("sft rejects bad options and a model that does not fit the data or the options", () => {
  const data = { train: [Int32Array.from([4, 5])], holdout: [], vocabSize: 10 };
  assert.throws(
    () => new SftTrainer(data, { batchSize: 0 }),
    /^RangeError: SFT option batchSize must be a whole number >= 1, got 0$/,
  );
  assert.throws(
    () => new SftTrainer(data, { learningRate: -1 }),
    /^RangeError: SFT option learningRate must be > 0, got -1$/,
  );
  const model = new GruLanguageModel(10, { embeddingSize: 4, hiddenSize: 8, valueHead: false });
  assert.throws(
    () => new SftTrainer({ ...data, vocabSize: 11, model }, {}),
    /^RangeError: Cannot train the given model with SFT: it has a vocabulary of 10 tokens, the data 11$/,
  );
  assert.throws(
    () => new SftTrainer({ ...data, model }, { hiddenSize: 16 }),
    /^RangeError: Cannot train the given model with SFT: option hiddenSize is 16, the model's is 8 \(leave the option out\)$/,
  );
  const sft = new SftTrainer({ ...data, model }, {});
  assert.deepEqual(
    [sft.options.embeddingSize, sft.options.hiddenSize, sft.options.layers],
    [4, 8, 1],
  );
  assert.throws(
    () => sft.policy,
    /^Error: SftTrainer's policy is an LmPolicy, which needs a model with a value head/,
  );
  sft.dispose();
});
