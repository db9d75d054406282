/**
 * Observation and action spaces with Gymnasium's meaning: `Discrete(n)` is the
 * integers 0..n-1; `Box` is a real vector with per-element bounds.
 */
import type { Rng } from "./rng.ts";

/**
 * The integers `0 … n-1`, e.g. CartPole's two pushes.
 *
 * @example A two-action space
 * ```ts
 * import assert from "node:assert/strict";
 * import { Discrete, Rng } from "@proximal/core";
 * const space = new Discrete(2);
 * assert.ok(space.contains(space.sample(new Rng(0))));
 * ```
 */
export class Discrete {
  /** Tells the two space kinds apart. */
  readonly kind = "discrete" as const;
  /** The number of choices. */
  readonly n: number;

  /**
   * Creates the space `{0, …, n-1}`.
   *
   * @param n The number of choices, an integer ≥ 1.
   */
  constructor(n: number) {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`Discrete space needs a whole number of choices >= 1, got ${n}`);
    }
    this.n = n;
  }

  /**
   * A uniformly random element.
   *
   * @param rng The generator to draw from.
   * @returns An integer in [0, n).
   * @example Random action
   * ```ts
   * import assert from "node:assert/strict";
   * import { Discrete, Rng } from "@proximal/core";
   * const a = new Discrete(3).sample(new Rng(1));
   * assert.ok(a >= 0 && a < 3);
   * ```
   */
  sample(rng: Rng): number {
    return rng.int(this.n);
  }

  /**
   * Whether a value belongs to the space.
   *
   * @param value Any value.
   * @returns True for an integer in [0, n).
   * @example Membership
   * ```ts
   * import assert from "node:assert/strict";
   * import { Discrete } from "@proximal/core";
   * assert.ok(new Discrete(2).contains(1) && !new Discrete(2).contains(2));
   * ```
   */
  contains(value: unknown): boolean {
    return typeof value === "number" && Number.isInteger(value) && value >= 0 && value < this.n;
  }

  /**
   * A short description, as Gymnasium prints it.
   *
   * @returns For example `Discrete(2)`.
   * @example Printing
   * ```ts
   * import assert from "node:assert/strict";
   * import { Discrete } from "@proximal/core";
   * assert.ok(new Discrete(2).toString() === "Discrete(2)");
   * ```
   */
  toString(): string {
    return `Discrete(${this.n})`;
  }
}

/** Options of {@linkcode Box}. */
export interface BoxOptions {
  /** Lower bounds: one number for every element, or one per element. */
  low: number | ArrayLike<number>;
  /** Upper bounds: one number for every element, or one per element. */
  high: number | ArrayLike<number>;
  /** The shape; defaults to `[low.length]` when `low` is an array. */
  shape?: readonly number[];
}

/**
 * A box in ℝⁿ (flattened row-major), with per-element bounds that may be infinite.
 *
 * @example CartPole's observation space
 * ```ts
 * import assert from "node:assert/strict";
 * import { Box } from "@proximal/core";
 * const space = new Box({ low: -Infinity, high: Infinity, shape: [4] });
 * assert.ok(space.size === 4);
 * ```
 */
export class Box {
  /** Tells the two space kinds apart. */
  readonly kind = "box" as const;
  /** The shape, e.g. `[4]`. */
  readonly shape: readonly number[];
  /** The number of elements: the product of the shape. */
  readonly size: number;
  /** Per-element lower bounds. */
  readonly low: Float64Array;
  /** Per-element upper bounds. */
  readonly high: Float64Array;

  /**
   * Creates a box from bounds and a shape.
   *
   * @param options Bounds and shape; see {@linkcode BoxOptions}.
   */
  constructor(options: BoxOptions) {
    const { low, high } = options;
    const shape = options.shape ??
      (typeof low !== "number" ? [low.length] : typeof high !== "number" ? [high.length] : null);
    if (!shape) throw new TypeError("Box needs a shape when low and high are both numbers");
    if (!shape.every((d) => Number.isInteger(d) && d >= 1)) {
      throw new RangeError(`Box shape must be positive whole numbers, got [${shape.join(", ")}]`);
    }
    this.shape = [...shape];
    this.size = shape.reduce((a, b) => a * b, 1);
    this.low = fill(low, this.size, "low");
    this.high = fill(high, this.size, "high");
    for (let i = 0; i < this.size; i++) {
      if (!(this.low[i]! <= this.high[i]!)) {
        throw new RangeError(
          `Box bound ${i} is empty: low ${this.low[i]} is not <= high ${this.high[i]}`,
        );
      }
    }
  }

  /**
   * A random element: uniform where both bounds are finite, normal where both are infinite,
   * shifted exponential where one is (Gymnasium's rule).
   *
   * @param rng The generator to draw from.
   * @returns A new vector of `size` elements.
   * @example Random action in [-1, 1]
   * ```ts
   * import assert from "node:assert/strict";
   * import { Box, Rng } from "@proximal/core";
   * const box = new Box({ low: -1, high: 1, shape: [2] });
   * assert.ok(box.contains(box.sample(new Rng(0))));
   * ```
   */
  sample(rng: Rng): Float32Array {
    const out = new Float32Array(this.size);
    for (let i = 0; i < this.size; i++) {
      const lo = this.low[i]!, hi = this.high[i]!;
      const loFinite = Number.isFinite(lo), hiFinite = Number.isFinite(hi);
      let v: number;
      if (loFinite && hiFinite) v = rng.range(lo, hi);
      else if (!loFinite && !hiFinite) v = rng.normal();
      else if (loFinite) v = lo - Math.log(1 - rng.uniform());
      else v = hi + Math.log(1 - rng.uniform());
      out[i] = Math.min(Math.max(v, lo), hi);
      // Float32 rounding can step just past a bound that is not itself a float32: step back.
      if (out[i]! > hi) out[i] = float32AtMost(hi);
      else if (out[i]! < lo) out[i] = -float32AtMost(-lo);
    }
    return out;
  }

  /**
   * Whether a value is a vector of the right size within the bounds.
   *
   * @param value Any value.
   * @returns True when every element is a number within its bounds.
   * @example Membership
   * ```ts
   * import assert from "node:assert/strict";
   * import { Box } from "@proximal/core";
   * const box = new Box({ low: 0, high: 1, shape: [2] });
   * assert.ok(box.contains([0.5, 1]) && !box.contains([0.5, 2]));
   * ```
   */
  contains(value: unknown): boolean {
    if (!isNumberArray(value) || value.length !== this.size) return false;
    for (let i = 0; i < this.size; i++) {
      const v = value[i]!;
      if (Number.isNaN(v) || v < this.low[i]! || v > this.high[i]!) return false;
    }
    return true;
  }

  /**
   * A short description.
   *
   * @returns For example `Box(-1, 1, [2])`.
   * @example Printing
   * ```ts
   * import assert from "node:assert/strict";
   * import { Box } from "@proximal/core";
   * assert.ok(new Box({ low: -1, high: 1, shape: [2] }).toString() === "Box(-1, 1, [2])");
   * ```
   */
  toString(): string {
    let lo = Infinity, hi = -Infinity;
    for (let i = 0; i < this.size; i++) {
      lo = Math.min(lo, this.low[i]!);
      hi = Math.max(hi, this.high[i]!);
    }
    return `Box(${lo}, ${hi}, [${this.shape.join(", ")}])`;
  }
}

/**
 * Any space an env can declare.
 *
 * @example Narrowing on `kind`
 * ```ts
 * import assert from "node:assert/strict";
 * import { Discrete, type Space } from "@proximal/core";
 * function actionCount(space: Space): number {
 *   return space.kind === "discrete" ? space.n : space.size;
 * }
 * assert.ok(actionCount(new Discrete(2)) === 2);
 * ```
 */
export type Space = Discrete | Box;

/**
 * The number of floats one element of a space takes when flattened (`1` for `Discrete`).
 *
 * @param space The space.
 * @returns Its flat size.
 * @example Flat sizes
 * ```ts
 * import assert from "node:assert/strict";
 * import { Box, Discrete, flatSize } from "@proximal/core";
 * assert.ok(flatSize(new Discrete(5)) === 1);
 * assert.ok(flatSize(new Box({ low: 0, high: 1, shape: [2, 3] })) === 6);
 * ```
 */
export function flatSize(space: Space): number {
  return space.kind === "discrete" ? 1 : space.size;
}

function isNumberArray(value: unknown): value is ArrayLike<number> {
  if (ArrayBuffer.isView(value) && !(value instanceof DataView)) return true;
  return Array.isArray(value) && value.every((v) => typeof v === "number");
}

function fill(bound: number | ArrayLike<number>, size: number, name: string): Float64Array {
  if (typeof bound === "number") return new Float64Array(size).fill(bound);
  if (bound.length !== size) {
    throw new RangeError(`Box ${name} has ${bound.length} elements but the shape holds ${size}`);
  }
  return Float64Array.from(bound);
}

/** The largest float32 that is <= x. */
function float32AtMost(x: number): number {
  const f = Math.fround(x);
  if (f <= x) return f;
  const bits = new Uint32Array(Float32Array.of(f).buffer);
  bits[0] = f > 0 ? bits[0]! - 1 : bits[0]! + 1; // one float32 step towards -Infinity
  return new Float32Array(bits.buffer)[0]!;
}
