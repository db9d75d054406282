import assert from "node:assert/strict";
import { Box, Discrete, flatSize, Rng } from "@proximal/core";

Deno.test("discrete rejects a number of choices that is not a whole number >= 1", () => {
  for (const n of [0, -1, 1.5, NaN, Infinity]) {
    assert.throws(() => new Discrete(n), {
      name: "RangeError",
      message: `Discrete space needs a whole number of choices >= 1, got ${n}`,
    });
  }
  assert.equal(new Discrete(1).n, 1);
});

Deno.test("discrete samples every value in [0, n) and contains exactly those", () => {
  const space = new Discrete(4);
  const rng = new Rng(0);
  const seen = new Set<number>();
  for (let i = 0; i < 1000; i++) {
    const a = space.sample(rng);
    assert.ok(space.contains(a), String(a));
    seen.add(a);
  }
  assert.deepEqual([...seen].sort(), [0, 1, 2, 3]);
  for (const v of [-1, 4, 0.5, NaN, "1", null, undefined, [1]]) {
    assert.equal(space.contains(v), false, String(v));
  }
  assert.equal(space.toString(), "Discrete(4)");
  assert.equal(flatSize(space), 1);
});

Deno.test("box rejects missing shapes, bad shapes, wrong lengths and empty bounds", () => {
  assert.throws(() => new Box({ low: 0, high: 1 }), {
    name: "TypeError",
    message: "Box needs a shape when low and high are both numbers",
  });
  for (const shape of [[0], [2, -1], [1.5]]) {
    assert.throws(() => new Box({ low: 0, high: 1, shape }), {
      name: "RangeError",
      message: /^Box shape must be positive whole numbers, got \[/,
    });
  }
  assert.throws(() => new Box({ low: [0, 0], high: 1, shape: [3] }), {
    name: "RangeError",
    message: "Box low has 2 elements but the shape holds 3",
  });
  assert.throws(() => new Box({ low: [0, 0], high: [1, 1, 1] }), {
    name: "RangeError",
    message: "Box high has 3 elements but the shape holds 2",
  });
  assert.throws(() => new Box({ low: [0, 2], high: [1, 1] }), {
    name: "RangeError",
    message: "Box bound 1 is empty: low 2 is not <= high 1",
  });
  assert.throws(() => new Box({ low: NaN, high: 1, shape: [1] }), RangeError);
});

Deno.test("box infers its shape, broadcasts scalar bounds and reports its size", () => {
  const fromArray = new Box({ low: [-1, -2, -3], high: 5 });
  assert.deepEqual(fromArray.shape, [3]);
  assert.deepEqual(Array.from(fromArray.high), [5, 5, 5]);
  const matrix = new Box({ low: 0, high: 1, shape: [2, 3] });
  assert.equal(matrix.size, 6);
  assert.equal(flatSize(matrix), 6);
  assert.equal(matrix.toString(), "Box(0, 1, [2, 3])");
  // A point box (low = high) is allowed.
  const point = new Box({ low: 2, high: 2, shape: [1] });
  assert.deepEqual(Array.from(point.sample(new Rng(0))), [2]);
});

Deno.test("box samples finite bounds uniformly within them", () => {
  const box = new Box({ low: [-1, 0, 10], high: [1, 0.5, 20] });
  const rng = new Rng(1);
  const sums = [0, 0, 0];
  const n = 20_000;
  for (let i = 0; i < n; i++) {
    const x = box.sample(rng);
    assert.ok(x instanceof Float32Array && x.length === 3);
    assert.ok(box.contains(x), String(x));
    for (let j = 0; j < 3; j++) sums[j]! += x[j]!;
  }
  const means = sums.map((s) => s / n);
  assertNear(means[0]!, 0, 0.03, "mean of U(-1, 1)");
  assertNear(means[1]!, 0.25, 0.01, "mean of U(0, 0.5)");
  assertNear(means[2]!, 15, 0.1, "mean of U(10, 20)");
});

Deno.test("box samples infinite bounds: normal, or exponential beyond a finite bound", () => {
  const box = new Box({ low: [-Infinity, 3, -Infinity], high: [Infinity, Infinity, -3] });
  const rng = new Rng(2);
  const n = 50_000;
  const cols: number[][] = [[], [], []];
  for (let i = 0; i < n; i++) {
    const x = box.sample(rng);
    assert.ok(x.every(Number.isFinite) && box.contains(x), String(x));
    for (let j = 0; j < 3; j++) cols[j]!.push(x[j]!);
  }
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const variance = (xs: number[]) => {
    const m = mean(xs);
    return mean(xs.map((v) => (v - m) ** 2));
  };
  // Both bounds infinite: N(0, 1).
  assertNear(mean(cols[0]!), 0, 0.03, "unbounded mean");
  assertNear(variance(cols[0]!), 1, 0.05, "unbounded variance");
  // Only low finite: low + Exp(1), so mean low + 1 and never below low.
  assert.ok(Math.min(...cols[1]!) >= 3);
  assertNear(mean(cols[1]!), 4, 0.03, "low-bounded mean");
  // Only high finite: high - Exp(1).
  assert.ok(Math.max(...cols[2]!) <= -3);
  assertNear(mean(cols[2]!), -4, 0.03, "high-bounded mean");
});

Deno.test("box contains checks length, bounds (inclusive) and element types", () => {
  const box = new Box({ low: [0, -1], high: [1, 1] });
  assert.ok(box.contains([0, -1]));
  assert.ok(box.contains([1, 1]));
  assert.ok(box.contains(Float32Array.of(0.5, 0)));
  assert.ok(box.contains(Float64Array.of(0.5, 0)));
  for (const v of [[0.5], [0.5, 0, 0], [1.01, 0], [0.5, -2], [NaN, 0], ["0", 0], "01", null, 3]) {
    assert.equal(box.contains(v), false, JSON.stringify(v));
  }
  const open = new Box({ low: -Infinity, high: Infinity, shape: [1] });
  assert.ok(open.contains([1e30]));
  assert.equal(open.contains([NaN]), false);
});

Deno.test({
  name: "box samples stay inside bounds that are not float32 numbers",
  fn() {
    const box = new Box({ low: 0.09999999, high: 0.1, shape: [1] });
    const rng = new Rng(0);
    for (let i = 0; i < 1000; i++) {
      const x = box.sample(rng);
      assert.ok(box.contains(x), `sample ${x[0]} is outside [0.09999999, 0.1]`);
    }
  },
});

function assertNear(actual: number, expected: number, tol: number, what: string) {
  assert.ok(
    Math.abs(actual - expected) <= tol,
    `${what}: ${actual}, expected ${expected} ± ${tol}`,
  );
}
