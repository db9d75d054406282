// The trainer kit: the option validator's messages, the typed metadata reader, and saving and
// restoring a trainer's variables, Adam and RNG — exactly, through the checkpoint file format, and
// refusing a damaged or foreign checkpoint without changing anything.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import {
  Adam,
  between,
  checkOptions,
  type Checkpoint,
  decodeCheckpoint,
  encodeCheckpoint,
  flag,
  MetaReader,
  nonNegative,
  note,
  oneOf,
  readTrainerState,
  Rng,
  saveTrainerState,
  setupBackend,
  type TrainerParts,
  trainingRules,
  wholeAtLeast,
} from "@proximal/core";

await setupBackend("wasm");

// ── Options.

Deno.test("checkOptions names the owner, the option, the rule and the value", () => {
  const rules = {
    ...trainingRules,
    numSteps: wholeAtLeast(1),
    lossType: oneOf(["sigmoid", "ipo"]),
    fraction: between(0, 1, { excludeHigh: true }),
    precompute: flag,
    targetKl: note(nonNegative, "0 = off"),
  };
  const good = {
    learningRate: 1e-3,
    epochs: 2,
    batchSize: 8,
    maxGradNorm: 0,
    adamEpsilon: 1e-8,
    seed: -4,
    numSteps: 128,
    lossType: "ipo",
    fraction: 0,
    precompute: true,
    targetKl: 0,
    unchecked: "anything",
  };
  checkOptions("PPO", good, rules);
  const cases: [Partial<typeof good>, RegExp][] = [
    [{ numSteps: 0 }, /^RangeError: PPO option numSteps must be a whole number >= 1, got 0$/],
    [{ numSteps: 1.5 }, /^RangeError: PPO option numSteps must be a whole number >= 1, got 1\.5$/],
    [{ learningRate: -1 }, /^RangeError: PPO option learningRate must be > 0, got -1$/],
    [{ learningRate: NaN }, /^RangeError: PPO option learningRate must be > 0, got NaN$/],
    [{ maxGradNorm: -1 }, /^RangeError: PPO option maxGradNorm must be >= 0 \(0 = off\), got -1$/],
    [{ seed: 0.5 }, /^RangeError: PPO option seed must be a whole number, got 0\.5$/],
    [
      { lossType: "kto" },
      /^RangeError: PPO option lossType must be one of sigmoid, ipo, got "kto"$/,
    ],
    [{ fraction: 1 }, /^RangeError: PPO option fraction must be in \[0, 1\), got 1$/],
    [
      { precompute: 1 as unknown as boolean },
      /^TypeError: PPO option precompute must be true or false, got 1$/,
    ],
    [
      { targetKl: "0.1" as unknown as number },
      /^RangeError: PPO option targetKl must be >= 0 \(0 = off\), got "0\.1"$/,
    ],
  ];
  for (const [change, pattern] of cases) {
    assert.throws(() => checkOptions("PPO", { ...good, ...change }, rules), pattern);
  }
});

// ── Metadata.

Deno.test("MetaReader returns typed values and names the key path of a malformed one", () => {
  const meta = new MetaReader({
    epoch: 2,
    step: -1,
    data: "abc",
    done: false,
    ids: [0, 3],
    best: null,
    early: { bestEpoch: "two", stopped: true },
    shards: [{ n: 1 }, { n: 2.5 }],
  }, { owner: "SFT" });
  assert.equal(meta.count("epoch"), 2);
  assert.equal(meta.string("data"), "abc");
  assert.equal(meta.boolean("done"), false);
  assert.deepEqual(meta.numbers("ids"), [0, 3]);
  assert.equal(meta.optionalNumber("best"), undefined);
  assert.equal(meta.optionalCount("missing"), undefined);
  assert.equal(meta.reader("early").boolean("stopped"), true);
  assert.ok(meta.has("epoch") && !meta.has("best") && !meta.has("missing"));
  assert.throws(
    () => meta.count("step"),
    /^Error: Cannot resume SFT: the checkpoint's step is -1, not a count$/,
  );
  assert.throws(
    () => meta.optionalCount("data"),
    /^Error: Cannot resume SFT: the checkpoint's data is "abc", not a count$/,
  );
  assert.throws(
    () => meta.count("adamT"),
    /^Error: Cannot resume SFT: the checkpoint's adamT is missing$/,
  );
  assert.throws(
    () => meta.reader("early").count("bestEpoch"),
    /^Error: Cannot resume SFT: the checkpoint's early\.bestEpoch is "two", not a count$/,
  );
  assert.throws(
    () => meta.readers("shards")[1]!.count("n"),
    /^Error: Cannot resume SFT: the checkpoint's shards\[1\]\.n is 2\.5, not a count$/,
  );
  assert.throws(
    () => meta.reader("data"),
    /^Error: Cannot resume SFT: the checkpoint's data is "abc", not a JSON object$/,
  );
  const loading = new MetaReader({}, {
    owner: "the reward model",
    source: "rm.ckpt",
    action: "load",
  });
  assert.throws(
    () => loading.string("tokenizer"),
    /^Error: Cannot load the reward model from rm\.ckpt: the checkpoint's tokenizer is missing$/,
  );
});

// ── Saving and restoring.

/** A toy trainer's parts: two groups of variables, Adam over the first, an RNG. */
function toyParts(seed: number, hidden = 3): TrainerParts & { adam: Adam; rng: Rng } {
  const rng = new Rng(seed);
  const w = tf.variable(
    tf.tensor2d(Array.from({ length: 2 * hidden }, () => rng.normal()), [2, hidden]),
  );
  const b = tf.variable(tf.tensor1d(Array.from({ length: hidden }, () => rng.normal())));
  const ref = tf.variable(tf.tensor1d([rng.normal(), rng.normal()]));
  return {
    variables: { model: [w, b], reference: [ref] },
    adam: new Adam([w, b], { learningRate: 0.1 }),
    rng,
  };
}

/** Takes an Adam step on a toy loss and draws from the RNG, so every part has moved. */
function advance(parts: ReturnType<typeof toyParts>): void {
  const [w, b] = parts.variables.model as [tf.Variable, tf.Variable];
  parts.adam.step(() => ({ loss: tf.sum(tf.square(tf.add(tf.sum(w, 0), b))) as tf.Scalar }));
  parts.rng.normal(); // leaves a spare normal in the state
}

function valuesOf(parts: ReturnType<typeof toyParts>): unknown {
  return {
    variables: Object.values(parts.variables).flat().map((v) => Array.from(v.dataSync())),
    adam: parts.adam.getState(),
    rng: parts.rng.getState(),
  };
}

function dispose(parts: TrainerParts): void {
  tf.dispose(Object.values(parts.variables).flat());
}

const READ = { algo: "toy", owner: "Toy", hint: "was hidden changed?" };

Deno.test("a round trip through the file format restores weights, Adam and the RNG exactly", () => {
  const a = toyParts(1);
  advance(a);
  advance(a);
  const saved = valuesOf(a);
  const bytes = encodeCheckpoint(saveTrainerState("toy", a, { epoch: 2, data: "f00d" }));
  const b = toyParts(2);
  advance(b);
  const state = readTrainerState(decodeCheckpoint(bytes), b, READ);
  assert.equal(state.meta.count("epoch"), 2);
  assert.equal(state.meta.string("data"), "f00d");
  assert.notDeepEqual(valuesOf(b), saved);
  state.apply();
  assert.deepEqual(valuesOf(b), saved);
  // Both continue identically: the next step and draws agree.
  advance(a);
  advance(b);
  assert.deepEqual(valuesOf(b), valuesOf(a));
  assert.equal(b.rng.uniform(), a.rng.uniform());
  dispose(a);
  dispose(b);
});

Deno.test("saveTrainerState refuses meta that uses its reserved keys", () => {
  const a = toyParts(1);
  assert.throws(
    () => saveTrainerState("toy", a, { rng: 1 }),
    /^Error: Cannot save toy's state: its meta uses the reserved key "rng"$/,
  );
  dispose(a);
});

Deno.test("a refused checkpoint names what is wrong and changes nothing", () => {
  const a = toyParts(1);
  advance(a);
  const checkpoint = saveTrainerState("toy", a, { epoch: 1 });
  const b = toyParts(2);
  advance(b);
  const before = valuesOf(b);
  const refuse = (damaged: Checkpoint, pattern: RegExp, parts: TrainerParts = b) => {
    assert.throws(() => readTrainerState(damaged, parts, READ), pattern);
    assert.deepEqual(valuesOf(b), before);
  };
  const withTensors = (change: (t: Checkpoint["tensors"]) => void): Checkpoint => {
    const copy = structuredClone(checkpoint);
    change(copy.tensors);
    return copy;
  };
  const withMeta = (change: Record<string, unknown>): Checkpoint => ({
    ...checkpoint,
    meta: { ...checkpoint.meta, ...change },
  });

  refuse(withMeta({ algo: "ppo" }), /^Error: Cannot resume Toy: the checkpoint is of algo "ppo"$/);
  refuse(
    withMeta({ algo: undefined }),
    /^Error: Cannot resume Toy: the checkpoint names no algo/,
  );
  // A flipped shape: the tensor's group, index, both shapes and the hint.
  refuse(
    withTensors((t) => {
      t["model/0"] = { shape: [3, 2], data: t["model/0"]!.data };
    }),
    /^Error: Cannot resume Toy: model tensor 0 has shape \[3,2\], the model needs \[2,3\] \(was hidden changed\?\)$/,
  );
  refuse(
    withTensors((t) => delete t["reference/0"]),
    /^Error: Cannot resume Toy: reference tensor 0 has shape \[missing\], the model needs \[2\]/,
  );
  refuse(
    withTensors((t) => {
      t["model/2"] = { shape: [1], data: new Float32Array(1) };
    }),
    /^Error: Cannot resume Toy: the checkpoint's model has more tensors than this trainer's \(was hidden changed\?\)$/,
  );
  refuse(
    withTensors((t) => delete t["adam/v"]),
    /^Error: Cannot resume Toy: the checkpoint has no optimizer state \(adam\/m, adam\/v\)$/,
  );
  refuse(
    withTensors((t) => {
      t["adam/m"] = { shape: [2], data: new Float32Array(2) };
    }),
    /^Error: Cannot resume Toy: the checkpoint's optimizer state holds 2 and 9 values, the optimizer 9/,
  );
  refuse(
    withMeta({ adamT: 1.5 }),
    /^Error: Cannot resume Toy: the checkpoint's adamT is 1\.5, not a count$/,
  );
  refuse(
    withMeta({ rng: { words: [0, 0, 0, 0], spareNormal: null } }),
    /^Error: Cannot resume Toy: the checkpoint's rng is damaged: Cannot restore Rng: expected four unsigned 32-bit words, not all zero/,
  );
  refuse(
    withMeta({ rng: { words: [1, 2, 3] } }),
    /^Error: Cannot resume Toy: the checkpoint's rng is damaged: expected four words, got 3$/,
  );
  refuse(
    withMeta({ rng: "seed" }),
    /^Error: Cannot resume Toy: the checkpoint's rng is "seed", not a JSON object$/,
  );
  // A trainer with another shape: refused before anything is assigned.
  const wider = toyParts(3, 4);
  const widerBefore = valuesOf(wider);
  assert.throws(
    () => readTrainerState(checkpoint, wider, READ),
    /model tensor 0 has shape \[2,3\], the model needs \[2,4\]/,
  );
  assert.deepEqual(valuesOf(wider), widerBefore);

  // A trainer's own check after reading: it fails with the same prefix, and without apply()
  // nothing has changed.
  const state = readTrainerState(checkpoint, b, READ);
  assert.throws(() => state.meta.fail("other data"), /^Error: Cannot resume Toy: other data$/);
  assert.throws(
    () => state.tensor("extra"),
    /^Error: Cannot resume Toy: the checkpoint has no tensor "extra"$/,
  );
  assert.equal(state.optionalTensor("extra"), undefined);
  assert.deepEqual(valuesOf(b), before);
  [a, b, wider].forEach(dispose);
});

Deno.test("parts without Adam or an RNG save and restore only their variables", () => {
  const a = toyParts(1);
  const checkpoint = saveTrainerState("toy", { variables: a.variables }, {});
  assert.deepEqual(Object.keys(checkpoint.meta), ["algo"]);
  assert.deepEqual(Object.keys(checkpoint.tensors), ["model/0", "model/1", "reference/0"]);
  const b = toyParts(2);
  readTrainerState(checkpoint, { variables: b.variables }, READ).apply();
  assert.deepEqual(
    Object.values(b.variables).flat().map((v) => Array.from(v.dataSync())),
    Object.values(a.variables).flat().map((v) => Array.from(v.dataSync())),
  );
  [a, b].forEach(dispose);
});

Deno.test("saving and restoring keeps tf.memory().numTensors flat", () => {
  const a = toyParts(1);
  const checkpoint = saveTrainerState("toy", a, {});
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) {
    readTrainerState(saveTrainerState("toy", a, {}), a, READ).apply();
    readTrainerState(checkpoint, a, READ).apply();
  }
  assert.equal(tf.memory().numTensors, before);
  dispose(a);
});
