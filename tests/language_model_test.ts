// GruLanguageModel on the WASM backend: its math against a hand-worked example, an independent
// JavaScript forward pass and tfjs autodiff (gradients included); a full training step, memorising
// a small corpus, cached generation, reproducibility and memory.
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Adam, Rng, setupBackend } from "@proximal/core";
import { GruLanguageModel } from "@proximal/models";

await setupBackend("wasm");

/** Element-wise |actual − expected| ≤ tol; masked logits (≈ −1e9) need only be masked in both. */
function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    if (actual[i]! < -1e8 && expected[i]! < -1e8) continue;
    assert.ok(
      Math.abs(actual[i]! - expected[i]!) <= tol,
      `element ${i}: ${actual[i]} is not within ${tol} of ${expected[i]}`,
    );
  }
}

function ints(rows: number[][]): tf.Tensor2D {
  return tf.tensor2d(rows, [rows.length, rows[0]!.length], "int32");
}

/** Sets every variable of `model` from plain arrays, in `variables` order. */
function setWeights(model: GruLanguageModel, values: number[][]): void {
  model.variables.forEach((v, i) => {
    tf.tidy(() => v.assign(tf.tensor(values[i]!, v.shape, "float32")));
  });
}

// ── An independent forward pass in JavaScript (float64), from the documented weight layout and
// PyTorch's GRU equations.

const sigmoid = (x: number) => 1 / (1 + Math.exp(-x));

/** Logits [B][T][V] of `tokens` for `model`, computed from its weights in plain JavaScript. */
function referenceLogits(model: GruLanguageModel, tokens: number[][]): number[][][] {
  const V = model.vocabSize, E = model.embeddingSize, H = model.hiddenSize;
  const w = model.variables.map((v) => Array.from(v.dataSync()));
  const matVec = (x: number[], m: number[], cols: number, b: number[]) =>
    b.map((bias, j) => x.reduce((s, xi, i) => s + xi * m[i * cols + j]!, bias));
  return tokens.map((row) => {
    let inputs = row.map((id) => w[0]!.slice(id * E, (id + 1) * E));
    for (let l = 0; l < model.layers; l++) {
      const [wx, wh, bx, bh] = w.slice(1 + 4 * l, 5 + 4 * l) as [
        number[],
        number[],
        number[],
        number[],
      ];
      let h = new Array<number>(H).fill(0);
      inputs = inputs.map((x) => {
        const gx = matVec(x, wx, 3 * H, bx), gh = matVec(h, wh, 3 * H, bh);
        h = h.map((hj, j) => {
          const r = sigmoid(gx[j]! + gh[j]!);
          const z = sigmoid(gx[H + j]! + gh[H + j]!);
          const n = Math.tanh(gx[2 * H + j]! + r * gh[2 * H + j]!);
          return (1 - z) * n + z * hj;
        });
        return h;
      });
    }
    const [wOut, bOut] = w.slice(1 + 4 * model.layers, 3 + 4 * model.layers) as [
      number[],
      number[],
    ];
    return inputs.map((h) =>
      matVec(h, wOut, V, bOut).map((x, j) => model.maskedTokens.includes(j) ? x - 1e9 : x)
    );
  });
}

function logSoftmax(logits: number[]): number[] {
  const max = Math.max(...logits);
  const logZ = max + Math.log(logits.reduce((s, x) => s + Math.exp(x - max), 0));
  return logits.map((x) => x - logZ);
}

// ── The math.

Deno.test("sequenceLogProbs matches a hand-worked one-unit GRU", () => {
  // V = 4 (<pad> masked), E = H = 1. Embeddings: <bos> = 1, token 2 = 0. Wx = [0, 0, ln 2]
  // (r, z, n), Wh = 0, biases 0, output w = [0, 0, 10, 0], b = 0.
  // Step 1 (<bos>): r = z = σ(0) = ½, n = tanh(ln 2) = 0.6, h = (1 − ½)·0.6 = 0.3;
  //   logits over {1, 2, 3} = [0, 3, 0]: log p(2) = 3 − ln(2 + e³) = −0.0949230.
  // Step 2 (token 2, embedding 0): n = tanh(0) = 0, h = ½·0.3 = 0.15;
  //   logits = [0, 1.5, 0]: log p(3) = −ln(2 + e^1.5) = −1.8689811.
  const model = new GruLanguageModel(4, { embeddingSize: 1, hiddenSize: 1 });
  setWeights(model, [
    [0, 1, 0, 0],
    [0, 0, Math.LN2],
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
    [0, 0, 10, 0],
    [0, 0, 0, 0],
    [0],
    [0],
  ]);
  const tokens = ints([[1, 2], [1, 2]]), targets = ints([[2, 3], [2, 3]]);
  const sums = model.sequenceLogProbs(tokens, targets, tf.tensor2d([[1, 1], [1, 0]]));
  close(sums.dataSync(), [-0.0949230 - 1.8689811, -0.0949230], 1e-5);
  const perToken = model.tokenLogProbs(tokens, targets);
  close(perToken.dataSync(), [-0.0949230, -1.8689811, -0.0949230, -1.8689811], 1e-5);
  tf.dispose([tokens, targets, sums, perToken]);
  model.dispose();
});

Deno.test("logits, tokenLogProbs and nextTokenLogits match a JavaScript forward pass", () => {
  const model = new GruLanguageModel(9, { embeddingSize: 3, hiddenSize: 4, layers: 2, seed: 5 });
  const rows = [[1, 4, 5, 6, 2], [1, 7, 8, 0, 0], [1, 3, 3, 8, 4]];
  const targets = [[4, 5, 6, 2, 0], [7, 8, 2, 0, 0], [3, 3, 8, 4, 2]];
  const expected = referenceLogits(model, rows);
  const tokens = ints(rows), targetTensor = ints(targets);
  close(model.logits(tokens).dataSync(), expected.flat(2), 1e-4);
  const expectedLogProbs = expected.flatMap((row, b) =>
    row.map((logits, t) => logSoftmax(logits)[targets[b]![t]!]!)
  );
  // <pad> targets score about −1e9 (the model never predicts <pad>); compare the others.
  close(model.tokenLogProbs(tokens, targetTensor).dataSync(), expectedLogProbs, 1e-4);
  // The next-token logits after each row's last real token (lengths 4, 3, 5).
  const lengths = [4, 3, 5];
  const next = model.nextTokenLogits(tokens, { lengths: Int32Array.from(lengths) });
  close(next.logits.dataSync(), lengths.flatMap((n, b) => expected[b]![n - 1]!), 1e-4);
  // Continuing from that state one token at a time gives the logits of the longer prefix.
  const step = model.stepLogits(Int32Array.from([2, 2, 2]), next.state);
  const longer = referenceLogits(model, [[1, 4, 5, 6, 2], [1, 7, 8, 2], [1, 3, 3, 8, 4, 2]]);
  close(step.logits.dataSync(), longer.flatMap((row) => row.at(-1)!), 1e-4);
  tf.dispose([tokens, targetTensor, next.logits, next.value!, ...next.state.hidden]);
  tf.dispose([step.logits, step.value!, ...step.state.hidden]);
  model.dispose();
});

Deno.test("the hand-written gradients equal tfjs autodiff of the model in plain ops", () => {
  const V = 11, E = 5, H = 6, layers = 2;
  const model = new GruLanguageModel(V, { embeddingSize: E, hiddenSize: H, layers, seed: 3 });
  const vars = model.variables as tf.Variable[];
  const rows = [[1, 4, 5, 6, 2], [1, 7, 8, 0, 0], [1, 3, 3, 9, 10]];
  const targets = [[4, 5, 6, 2, 0], [7, 8, 2, 0, 0], [3, 3, 9, 10, 2]];
  // Padding, unscored prompt positions and a fractional weight: sequenceLogProbs sends only the
  // positions of nonzero weight through the output layer.
  const mask = [[1, 1, 1, 1, 0], [0, 1, 0.5, 0, 0], [0, 0, 1, 1, 1]];
  const weights = tf.tensor1d([1, -2, 0.5]);
  const tokens = ints(rows), targetTensor = ints(targets), maskTensor = tf.tensor2d(mask);
  // The reference: one-hot embedding, per-step GRU cells and tf.logSoftmax, all autodiffed.
  const reference = (): tf.Scalar => {
    const B = rows.length, T = rows[0]!.length;
    let xs = Array.from(
      { length: T },
      (_, t) => tf.matMul(tf.oneHot(tf.tensor1d(rows.map((r) => r[t]!), "int32"), V), vars[0]!),
    );
    for (let l = 0; l < layers; l++) {
      const [wx, wh, bx, bh] = vars.slice(1 + 4 * l, 5 + 4 * l) as tf.Tensor[];
      let h: tf.Tensor = tf.zeros([B, H]);
      xs = xs.map((x) => {
        const [xr, xz, xn] = tf.split(tf.add(tf.matMul(x, wx!), bx!), 3, 1);
        const [hr, hz, hn] = tf.split(tf.add(tf.matMul(h, wh!), bh!), 3, 1);
        const r = tf.sigmoid(tf.add(xr!, hr!)), z = tf.sigmoid(tf.add(xz!, hz!));
        const n = tf.tanh(tf.add(xn!, tf.mul(r, hn!)));
        h = tf.add(tf.mul(tf.sub(1, z), n), tf.mul(z, h));
        return h;
      });
    }
    const [wOut, bOut] = vars.slice(1 + 4 * layers, 3 + 4 * layers) as tf.Tensor[];
    const padMask = tf.oneHot(tf.tensor1d([0], "int32"), V).reshape([V]).mul(-1e9);
    const logits = tf.stack(xs.map((h) => tf.add(tf.add(tf.matMul(h, wOut!), bOut!), padMask)), 1);
    const picked = tf.sum(tf.mul(tf.oneHot(targetTensor, V), tf.logSoftmax(logits)), 2);
    return tf.sum(tf.mul(tf.sum(tf.mul(picked, maskTensor), 1), weights));
  };
  const ours = (): tf.Scalar =>
    tf.sum(tf.mul(model.sequenceLogProbs(tokens, targetTensor, maskTensor), weights));
  const a = tf.variableGrads(ours, vars), b = tf.variableGrads(reference, vars);
  close(a.value.dataSync(), b.value.dataSync(), 1e-5);
  for (const v of vars) {
    const got = a.grads[v.name], want = b.grads[v.name];
    if (v.name.includes("/value/")) {
      assert.ok(!got && !want, `${v.name}: the value head has no part in the log-probs`);
      continue;
    }
    assert.ok(got && want, `${v.name} has a gradient`);
    close(got.dataSync(), want.dataSync(), 1e-5);
  }
  tf.dispose([a.value, b.value, ...Object.values(a.grads), ...Object.values(b.grads)]);
  tf.dispose([tokens, targetTensor, maskTensor, weights]);
  model.dispose();
});

Deno.test("packed rows (lengths, a starting state, a row read at two lengths) equal each row read alone, with gradients", () => {
  const V = 12, H = 6;
  const model = new GruLanguageModel(V, { embeddingSize: 5, hiddenSize: H, layers: 2, seed: 5 });
  const vars = model.variables as tf.Variable[];
  const rows = [[1, 4, 5, 0, 0], [1, 7, 8, 9, 3], [1, 3, 0, 0, 0]];
  const start = [1, 2].map((seed) => tf.randomNormal([3, H], 0, 1, "float32", seed) as tf.Tensor2D);
  // Output j is row want[j] after lengths[j] tokens; row 1 is read at two lengths.
  const want = Int32Array.from([1, 0, 2, 1]), lengths = Int32Array.from([5, 3, 2, 2]);
  const weights = tf.randomNormal([4, V], 0, 1, "float32", 3);
  const loss = (logits: tf.Tensor, value: tf.Tensor, hidden: tf.Tensor[]) =>
    tf.addN([
      tf.sum(tf.mul(logits, weights)),
      tf.sum(value),
      ...hidden.map((h) => tf.sum(tf.square(h))),
    ]);
  const packed = () => {
    const { logits, value, state } = model.nextTokenLogits(ints(rows), {
      lengths,
      rows: want,
      state: { hidden: start },
    });
    return loss(logits, value!, state.hidden) as tf.Scalar;
  };
  const alone = () => {
    const parts = Array.from(
      want,
      (b, j) =>
        model.nextTokenLogits(ints([rows[b]!.slice(0, lengths[j]!)]), {
          state: { hidden: start.map((h) => tf.slice(h, [b, 0], [1, H]) as tf.Tensor2D) },
        }),
    );
    return loss(
      tf.concat(parts.map((p) => p.logits)),
      tf.concat(parts.map((p) => p.value!)),
      [0, 1].map((l) => tf.concat(parts.map((p) => p.state.hidden[l]!))),
    ) as tf.Scalar;
  };
  const a = tf.variableGrads(packed, vars), b = tf.variableGrads(alone, vars);
  close(a.value.dataSync(), b.value.dataSync(), 1e-4);
  for (const v of vars) close(a.grads[v.name]!.dataSync(), b.grads[v.name]!.dataSync(), 1e-5);
  // The starting state's gradient flows back to the right rows.
  const [ga] = tf.grads((h0: tf.Tensor, h1: tf.Tensor) => {
    const { logits, value, state } = model.nextTokenLogits(ints(rows), {
      lengths,
      rows: want,
      state: { hidden: [h0 as tf.Tensor2D, h1 as tf.Tensor2D] },
    });
    return loss(logits, value!, state.hidden);
  })(start);
  const [gb] = tf.grads((h0: tf.Tensor, h1: tf.Tensor) => {
    const parts = Array.from(
      want,
      (b, j) =>
        model.nextTokenLogits(ints([rows[b]!.slice(0, lengths[j]!)]), {
          state: { hidden: [h0, h1].map((h) => tf.slice(h, [b, 0], [1, H]) as tf.Tensor2D) },
        }),
    );
    return loss(
      tf.concat(parts.map((p) => p.logits)),
      tf.concat(parts.map((p) => p.value!)),
      [0, 1].map((l) => tf.concat(parts.map((p) => p.state.hidden[l]!))),
    );
  })(start);
  close(ga!.dataSync(), gb!.dataSync(), 1e-5);
  tf.dispose([a.value, b.value, ...Object.values(a.grads), ...Object.values(b.grads), ga!, gb!]);
  tf.dispose([...start, weights]);
  model.dispose();
});

// ── Training on WASM.

Deno.test("an Adam step on wasm changes the embedding and every weight the loss reaches", () => {
  const model = new GruLanguageModel(20, { embeddingSize: 8, hiddenSize: 16, layers: 2, seed: 1 });
  const before = model.variables.map((v) => v.dataSync().slice());
  const adam = new Adam(model.variables, { learningRate: 1e-2 });
  const tokens = ints([[1, 5, 6, 7], [1, 9, 10, 0]]), targets = ints([[5, 6, 7, 2], [9, 10, 2, 0]]);
  const mask = tf.tensor2d([[1, 1, 1, 1], [1, 1, 1, 0]]);
  const { loss } = adam.step(() => ({
    loss: tf.neg(tf.mean(model.sequenceLogProbs(tokens, targets, mask))) as tf.Scalar,
  }));
  assert.ok(Number.isFinite(loss) && loss > 0);
  model.variables.forEach((v, i) => {
    const changed = v.dataSync().some((x, j) => x !== before[i]![j]);
    // The value head is the only part the log-probs do not reach.
    assert.equal(changed, !v.name.includes("/value/"), v.name);
  });
  // Only the embedding rows of tokens read at scored positions move (the <pad> read last in row 2
  // feeds only its own, masked, prediction).
  const embedding = model.variables[0]!.dataSync(), E = 8;
  const moved = (id: number) =>
    embedding.slice(id * E, (id + 1) * E).some((x, j) => x !== before[0]![id * E + j]);
  assert.ok([1, 5, 6, 7, 9, 10].every(moved));
  assert.ok([2, 3, 4, 8, 11, 19].every((id) => !moved(id)));
  tf.dispose([tokens, targets, mask]);
  model.dispose();
});

/** 20 sentences over 12 tokens: <bos> a b, a continuation fixed by (a, b), <eos>. */
function tinyCorpus(): number[][] {
  const rng = new Rng(42), seen = new Set<string>(), corpus: number[][] = [];
  while (corpus.length < 20) {
    const a = 3 + rng.int(9), b = 3 + rng.int(9);
    if (seen.has(`${a},${b}`)) continue;
    seen.add(`${a},${b}`);
    const rest = Array.from({ length: 2 + rng.int(2) }, () => 3 + rng.int(9));
    corpus.push([1, a, b, ...rest, 2]);
  }
  return corpus;
}

Deno.test("SFT on 20 sentences beats log V by far and greedy decoding recites them", () => {
  const V = 12, corpus = tinyCorpus();
  const T = Math.max(...corpus.map((s) => s.length)) - 1;
  const pad = (row: number[]) => [...row, ...new Array<number>(T - row.length).fill(0)];
  const tokens = ints(corpus.map((s) => pad(s.slice(0, -1))));
  const targets = ints(corpus.map((s) => pad(s.slice(1))));
  const mask = tf.tensor2d(corpus.map((s) => pad(s.slice(1).map(() => 1))));
  const count = corpus.reduce((n, s) => n + s.length - 1, 0);
  const model = new GruLanguageModel(V, { embeddingSize: 16, hiddenSize: 32, seed: 7 });
  const adam = new Adam(model.variables, { learningRate: 0.02, maxGradNorm: 1 });
  const crossEntropy = () =>
    tf.div(tf.neg(tf.sum(model.sequenceLogProbs(tokens, targets, mask))), count) as tf.Scalar;
  let loss = Infinity;
  for (let i = 0; i < 300; i++) loss = adam.step(() => ({ loss: crossEntropy() })).loss;
  // The first two words are drawn at random (≈ log 9 + log 20/9 nats over ~6 tokens); the rest
  // is memorisable, so the floor is ≈ 0.5 nats against log 12 ≈ 2.48.
  assert.ok(loss < 0.75, `cross-entropy ${loss} after 300 steps`);
  const { completions } = model.generate(
    corpus.map((s) => Int32Array.from(s.slice(0, 3))),
    { maxNewTokens: 6, temperature: 0 },
  );
  const recited = completions.filter((c, i) => c.join() === corpus[i]!.slice(3).join()).length;
  assert.equal(recited, corpus.length, `recited ${recited} of ${corpus.length} continuations`);
  tf.dispose([tokens, targets, mask]);
  model.dispose();
});

// ── Generation.

Deno.test("cached and uncached generation give the same tokens and log-probs", () => {
  const model = new GruLanguageModel(15, { embeddingSize: 8, hiddenSize: 16, layers: 2, seed: 4 });
  const prompts = [[1], [1, 5, 6], [1, 7], [1, 8, 9, 10, 11]].map((p) => Int32Array.from(p));
  for (const options of [{ temperature: 1, topK: 0 }, { temperature: 0.7, topK: 4 }]) {
    const run = (useCache: boolean) =>
      model.generate(prompts, { maxNewTokens: 12, rng: new Rng(9), useCache, ...options });
    const cached = run(true), uncached = run(false);
    assert.deepEqual(cached.completions, uncached.completions);
    cached.logProbs.forEach((lp, i) => close(lp, uncached.logProbs[i]!, 1e-5));
    // Rows stop at <eos> (so they leave the batch at different times) or at maxNewTokens.
    for (const c of cached.completions) assert.ok(c.at(-1) === 2 || c.length === 12);
    for (const lp of cached.logProbs.flatMap((l) => Array.from(l))) assert.ok(lp <= 0);
  }
  model.dispose();
});

Deno.test("generation is reproducible: same seed, same completions; another seed, others", () => {
  const model = new GruLanguageModel(15, { embeddingSize: 8, hiddenSize: 16, seed: 4 });
  const prompts = Array.from({ length: 6 }, (_, i) => Int32Array.from([1, 3 + i]));
  const run = (seed: number) =>
    model.generate(prompts, { maxNewTokens: 10, rng: new Rng(seed), eosId: -1 });
  assert.deepEqual(run(1), run(1));
  assert.notDeepEqual(run(1).completions, run(2).completions);
  // A model built from the same seed generates the same text.
  const twin = new GruLanguageModel(15, { embeddingSize: 8, hiddenSize: 16, seed: 4 });
  assert.deepEqual(
    twin.generate(prompts, { maxNewTokens: 10, rng: new Rng(1), eosId: -1 }),
    run(1),
  );
  // Greedy decoding needs no rng and never produces the masked <pad>.
  const greedy = model.generate(prompts, { maxNewTokens: 10, temperature: 0 });
  assert.ok(greedy.completions.every((c) => !c.includes(0)));
  twin.dispose();
  model.dispose();
});

Deno.test("tf.memory().numTensors stays flat across training steps and generations", () => {
  const model = new GruLanguageModel(20, { embeddingSize: 8, hiddenSize: 16, layers: 2, seed: 1 });
  const adam = new Adam(model.variables, { learningRate: 1e-3 });
  const tokens = ints([[1, 5, 6, 7], [1, 9, 10, 0]]), targets = ints([[5, 6, 7, 2], [9, 10, 2, 0]]);
  const mask = tf.tensor2d([[1, 1, 1, 1], [1, 1, 1, 0]]);
  const prompts = [Int32Array.from([1, 4]), Int32Array.from([1])];
  const rng = new Rng(0);
  const round = () => {
    adam.step(() => ({
      loss: tf.neg(tf.mean(model.sequenceLogProbs(tokens, targets, mask))) as tf.Scalar,
    }));
    model.generate(prompts, { maxNewTokens: 6, rng });
    model.generate(prompts, { maxNewTokens: 6, rng, useCache: false, topK: 3 });
    model.logits(tokens).dispose();
    const step = model.nextTokenLogits(tokens, { lengths: Int32Array.from([4, 3]) });
    tf.dispose([step.logits, step.value!, ...step.state.hidden]);
  };
  round();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 5; i++) round();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([tokens, targets, mask]);
  model.dispose();
});

Deno.test("bad arguments are refused with the reason", () => {
  assert.throws(
    () => new GruLanguageModel(10, { hiddenSize: 0 }),
    /^RangeError: GruLanguageModel's hiddenSize must be a whole number >= 1, got 0$/,
  );
  assert.throws(() => new GruLanguageModel(10, { maskedTokens: [10] }), /Cannot mask token 10/);
  const model = new GruLanguageModel(10, { embeddingSize: 2, hiddenSize: 3 });
  assert.throws(
    () => model.generate([Int32Array.from([1])], { maxNewTokens: 3 }),
    /generate needs an rng unless temperature is 0/,
  );
  assert.throws(
    () => model.generate([Int32Array.from([1, 12])], { maxNewTokens: 3, temperature: 0 }),
    /Prompt 0 has token 12, outside the vocabulary \[0, 10\)/,
  );
  const tokens = ints([[1, 2, 3]]);
  assert.throws(
    () => model.logits(ints([[1, 10]])),
    /Token 10 at row 0, position 1 is not an id in the vocabulary \[0, 10\)/,
  );
  assert.throws(
    () => model.nextTokenLogits(tokens, { lengths: Int32Array.from([4]) }),
    /Row 0's length must be in \[1, 3\], got 4/,
  );
  assert.throws(
    () => model.sequenceLogProbs(tokens, tokens, tf.ones([1, 2]) as tf.Tensor2D),
    /sequenceLogProbs needs mask shaped like the tokens \[1, 3\], got \[1, 2\]/,
  );
  tokens.dispose();
  model.dispose();
});
