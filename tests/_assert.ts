// Shared test assertion: element-wise closeness of number arrays, naming the first element off.
import assert from "node:assert/strict";

/** Asserts `actual` and `expected` have the same length and agree element-wise within `tol`. */
export function close(actual: ArrayLike<number>, expected: ArrayLike<number>, tol = 1e-5): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i]! - expected[i]!) <= tol,
      `element ${i}: ${actual[i]} is not within ${tol} of ${expected[i]}`,
    );
  }
}
