import assert from "node:assert/strict";
import { Rng, type RngState } from "@proximal/core";

const N = 100_000;

function draws(rng: Rng, n: number, draw: (r: Rng) => number): number[] {
  return Array.from({ length: n }, () => draw(rng));
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

function variance(xs: readonly number[]): number {
  const m = mean(xs);
  return xs.reduce((a, b) => a + (b - m) ** 2, 0) / xs.length;
}

Deno.test("rng reproduces the reference xoshiro128** outputs from state {1, 2, 3, 4}", () => {
  // Known answer published with the reference C implementation (xoshiro128starstar.c v1.1)
  // and used by Rust's rand_xoshiro test `reference`; also reproduced by a direct Python
  // transcription of that C code. Independent of core/rng.ts.
  const rng = new Rng(0);
  rng.setState({ words: [1, 2, 3, 4], spareNormal: null });
  assert.deepEqual(draws(rng, 10, (r) => r.nextUint32()), [
    11520,
    0,
    5927040,
    70819200,
    2031721883,
    1637235492,
    1287239034,
    3734860849,
    3729100597,
    4258142804,
  ]);
});

Deno.test("rng gives the same stream for the same seed", () => {
  for (const seed of [0, 1, -7, 123456789, 2 ** 31 + 5]) {
    const a = draws(new Rng(seed), 1000, (r) => r.nextUint32());
    const b = draws(new Rng(seed), 1000, (r) => r.nextUint32());
    assert.deepEqual(a, b, `seed ${seed}`);
  }
  // Only the low 32 bits of the seed matter (documented).
  assert.equal(new Rng(2 ** 32 + 3).uniform(), new Rng(3).uniform());
});

Deno.test("rng streams of different seeds differ, even for neighbouring seeds", () => {
  const firsts = new Set<number>();
  for (let seed = 0; seed < 1000; seed++) firsts.add(new Rng(seed).nextUint32());
  assert.ok(firsts.size >= 999, `only ${firsts.size} distinct first outputs for 1000 seeds`);
  // Seeds 1 and 2 agree on no more than chance in their first 1000 outputs.
  const a = draws(new Rng(1), 1000, (r) => r.int(2));
  const b = draws(new Rng(2), 1000, (r) => r.int(2));
  const agree = a.filter((v, i) => v === b[i]).length;
  assert.ok(Math.abs(agree - 500) < 80, `${agree} of 1000 coin flips agree`);
});

Deno.test("rng rejects non-finite seeds", () => {
  for (const seed of [NaN, Infinity, -Infinity]) {
    assert.throws(() => new Rng(seed), { name: "RangeError", message: /^Cannot seed Rng: / });
  }
});

Deno.test("rng uniform lies in [0, 1) with mean 1/2 and variance 1/12", () => {
  const xs = draws(new Rng(42), N, (r) => r.uniform());
  assert.ok(xs.every((x) => x >= 0 && x < 1));
  // Standard error of the mean is 0.289 / sqrt(N) ≈ 0.0009: 0.005 is over 5 sigma.
  assert.ok(Math.abs(mean(xs) - 0.5) < 0.005, `mean ${mean(xs)}`);
  assert.ok(Math.abs(variance(xs) - 1 / 12) < 0.002, `variance ${variance(xs)}`);
  // Each tenth of [0, 1) gets about N/10 draws (sd ≈ 95).
  const bins = new Array(10).fill(0);
  for (const x of xs) bins[Math.floor(x * 10)]++;
  for (const count of bins) assert.ok(Math.abs(count - N / 10) < 600, `bins ${bins}`);
  // Neighbouring draws are uncorrelated.
  let cov = 0;
  for (let i = 1; i < N; i++) cov += (xs[i]! - 0.5) * (xs[i - 1]! - 0.5);
  assert.ok(Math.abs(cov / (N - 1) / (1 / 12)) < 0.02, `lag-1 correlation ${cov / (N - 1) * 12}`);
});

Deno.test("rng nextUint32 sets each bit about half the time", () => {
  const counts = new Array(32).fill(0);
  const rng = new Rng(9);
  for (let i = 0; i < N; i++) {
    const x = rng.nextUint32();
    assert.ok(Number.isInteger(x) && x >= 0 && x < 2 ** 32);
    for (let b = 0; b < 32; b++) counts[b] += (x >>> b) & 1;
  }
  // sd of each count is sqrt(N)/2 ≈ 158.
  for (const c of counts) assert.ok(Math.abs(c - N / 2) < 1000, `bit counts ${counts}`);
});

Deno.test("rng normal has mean 0, variance 1 and the Gaussian's spread", () => {
  const xs = draws(new Rng(7), N, (r) => r.normal());
  assert.ok(xs.every(Number.isFinite));
  // Standard errors: mean 0.0032, variance sqrt(2/N) ≈ 0.0045.
  assert.ok(Math.abs(mean(xs)) < 0.02, `mean ${mean(xs)}`);
  assert.ok(Math.abs(variance(xs) - 1) < 0.03, `variance ${variance(xs)}`);
  const within1 = xs.filter((x) => Math.abs(x) < 1).length / N;
  const within2 = xs.filter((x) => Math.abs(x) < 2).length / N;
  assert.ok(Math.abs(within1 - 0.6827) < 0.01, `P(|z| < 1) = ${within1}`);
  assert.ok(Math.abs(within2 - 0.9545) < 0.005, `P(|z| < 2) = ${within2}`);
});

Deno.test("rng range stays within [low, high)", () => {
  const rng = new Rng(3);
  for (let i = 0; i < 10_000; i++) {
    const x = rng.range(-0.05, 0.05);
    assert.ok(x >= -0.05 && x < 0.05, String(x));
    const y = rng.range(10, 20);
    assert.ok(y >= 10 && y < 20, String(y));
  }
});

Deno.test("rng int(n) covers every value in [0, n) about equally", () => {
  const rng = new Rng(5);
  for (const n of [1, 2, 3, 7, 10]) {
    const counts = new Array(n).fill(0);
    const total = 1000 * n;
    for (let i = 0; i < total; i++) {
      const k = rng.int(n);
      assert.ok(Number.isInteger(k) && k >= 0 && k < n, `int(${n}) gave ${k}`);
      counts[k]++;
    }
    // Each count is about 1000 with sd <= 32.
    for (const c of counts) assert.ok(Math.abs(c - 1000) < 160, `int(${n}) counts ${counts}`);
  }
  for (const n of [0, -1, NaN]) assert.throws(() => rng.int(n), RangeError);
});

Deno.test("rng shuffle returns a permutation, each order about equally often", () => {
  const rng = new Rng(11);
  const counts = new Map<string, number>();
  for (let i = 0; i < 6000; i++) {
    const order = rng.shuffle([0, 1, 2]);
    const key = order.join("");
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  assert.equal(counts.size, 6);
  for (const [key, c] of counts) assert.ok(Math.abs(c - 1000) < 150, `${key}: ${c}`);
  const big = rng.shuffle(Int32Array.from({ length: 100 }, (_, i) => i));
  assert.deepEqual(Array.from(big).sort((a, b) => a - b), Array.from({ length: 100 }, (_, i) => i));
});

Deno.test("rng fork gives a deterministic stream different from its parent's", () => {
  const a = new Rng(1), b = new Rng(1);
  const childA = a.fork(), childB = b.fork();
  assert.deepEqual(
    draws(childA, 100, (r) => r.nextUint32()),
    draws(childB, 100, (r) => r.nextUint32()),
  );
  const child = new Rng(1).fork();
  const parent = new Rng(1);
  parent.fork();
  const childStream = draws(child, 100, (r) => r.nextUint32());
  const parentStream = draws(parent, 100, (r) => r.nextUint32());
  assert.notDeepEqual(childStream, parentStream);
  // Two forks in a row differ from each other.
  const root = new Rng(2);
  assert.notEqual(root.fork().nextUint32(), root.fork().nextUint32());
});

Deno.test("rng getState/setState restores the exact stream, including the cached normal", () => {
  const rng = new Rng(8);
  draws(rng, 10, (r) => r.uniform());
  rng.normal(); // leaves the pair's second value cached
  const saved = JSON.parse(JSON.stringify(rng.getState()));
  assert.equal(typeof saved.spareNormal, "number");
  const mixed = (
    r: Rng,
  ) => [r.normal(), r.uniform(), r.normal(), r.normal(), r.int(10), r.nextUint32()];
  const expected = mixed(rng);
  const restored = new Rng(999);
  restored.setState(saved);
  assert.deepEqual(mixed(restored), expected);
  // The cached value matters: dropping it changes the next normal draw.
  const dropped = new Rng(999);
  dropped.setState({ ...saved, spareNormal: null });
  assert.notEqual(dropped.normal(), expected[0]);
  // getState is a copy, not a live view.
  const s = rng.getState();
  rng.uniform();
  assert.notDeepEqual(rng.getState().words, s.words);
});

Deno.test("rng setState rejects malformed words and leaves the generator unchanged", () => {
  const rng = new Rng(1);
  const before = rng.getState();
  const bad: unknown[] = [
    [1, 2, 3],
    [1, 2, 3, 4, 5],
    [0, 0, 0, 0],
    [1, 2, 3, -1],
    [1, 2, 3, 2 ** 32],
    [1, 2, 3, 1.5],
    [1, 2, 3, NaN],
    ["1", 2, 3, 4],
    "1,2,3,4",
    null,
  ];
  for (const words of bad) {
    assert.throws(
      () => rng.setState({ words: words as RngState, spareNormal: null }),
      { name: "TypeError", message: /^Cannot restore Rng: expected four unsigned 32-bit words/ },
      JSON.stringify(words),
    );
  }
  assert.deepEqual(rng.getState(), before);
});

Deno.test({
  name: "rng setState rejects a spareNormal that is not a finite number or null",
  fn() {
    const rng = new Rng(1);
    const words = rng.getState().words;
    for (const spareNormal of ["x", NaN, Infinity, {}]) {
      assert.throws(
        () => rng.setState({ words, spareNormal: spareNormal as number }),
        TypeError,
        String(spareNormal),
      );
    }
  },
});
