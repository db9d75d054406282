/**
 * A small, fast, seedable random number generator whose whole state is four
 * 32-bit words, so it can be saved in a checkpoint and restored exactly.
 *
 * The generator is xoshiro128** (Blackman & Vigna), seeded through splitmix32
 * so that nearby seeds give unrelated streams.
 */

/** The saved state of an {@linkcode Rng}: four unsigned 32-bit words. */
export type RngState = [number, number, number, number];

function splitmix32(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
    return (z ^ (z >>> 16)) >>> 0;
  };
}

/**
 * A seeded pseudo-random generator (xoshiro128**). Same seed, same stream.
 *
 * @example Draw reproducible numbers
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "@proximal/core";
 * const a = new Rng(1);
 * const b = new Rng(1);
 * assert.ok(a.uniform() === b.uniform());
 * ```
 */
export class Rng {
  #s: Uint32Array = new Uint32Array(4);
  #spareNormal: number | undefined = undefined;

  /**
   * Creates a generator from an integer seed.
   *
   * @param seed Any integer; only its low 32 bits are used.
   */
  constructor(seed: number) {
    if (!Number.isFinite(seed)) {
      throw new RangeError(`Cannot seed Rng: the seed must be a finite number, got ${seed}`);
    }
    const next = splitmix32(Math.trunc(seed));
    for (let i = 0; i < 4; i++) this.#s[i] = next();
  }

  /**
   * The next raw 32-bit unsigned integer.
   *
   * @returns An integer in [0, 2^32).
   * @example Raw bits
   * ```ts
   * import assert from "node:assert/strict";
   * import { Rng } from "@proximal/core";
   * const bits = new Rng(7).nextUint32();
   * assert.ok(bits >= 0 && bits < 2 ** 32);
   * ```
   */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1]!, 5), 7), 9) >>> 0;
    const t = s[1]! << 9;
    s[2]! ^= s[0]!;
    s[3]! ^= s[1]!;
    s[1]! ^= s[2]!;
    s[0]! ^= s[3]!;
    s[2]! ^= t;
    s[3] = rotl(s[3]!, 11);
    return result;
  }

  /**
   * A uniform float in [0, 1) with 32 bits of randomness.
   *
   * @returns A number in [0, 1).
   * @example Uniform draw
   * ```ts
   * import assert from "node:assert/strict";
   * import { Rng } from "@proximal/core";
   * const u = new Rng(3).uniform();
   * assert.ok(u >= 0 && u < 1);
   * ```
   */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /**
   * A uniform float in [low, high).
   *
   * @param low Inclusive lower bound.
   * @param high Exclusive upper bound.
   * @returns A number in [low, high).
   * @example Initial CartPole state
   * ```ts
   * import assert from "node:assert/strict";
   * import { Rng } from "@proximal/core";
   * const x = new Rng(0).range(-0.05, 0.05);
   * assert.ok(Math.abs(x) <= 0.05);
   * ```
   */
  range(low: number, high: number): number {
    return low + (high - low) * this.uniform();
  }

  /**
   * A uniform integer in [0, n).
   *
   * @param n The number of outcomes, a positive integer.
   * @returns An integer in [0, n).
   * @example Pick an action
   * ```ts
   * import assert from "node:assert/strict";
   * import { Rng } from "@proximal/core";
   * const a = new Rng(0).int(4);
   * assert.ok(Number.isInteger(a) && a >= 0 && a < 4);
   * ```
   */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`Rng.int needs a whole number n >= 1, got ${n}`);
    }
    return Math.floor(this.uniform() * n);
  }

  /**
   * A standard normal draw (Box–Muller; the second value of each pair is kept for the next call).
   *
   * @returns A sample of N(0, 1).
   * @example Gaussian noise
   * ```ts
   * import assert from "node:assert/strict";
   * import { Rng } from "@proximal/core";
   * const z = new Rng(0).normal();
   * assert.ok(Number.isFinite(z));
   * ```
   */
  normal(): number {
    if (this.#spareNormal !== undefined) {
      const z = this.#spareNormal;
      this.#spareNormal = undefined;
      return z;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.#spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /**
   * Shuffles an array in place (Fisher–Yates) and returns it.
   *
   * @param items The array to shuffle.
   * @returns The same array, shuffled.
   * @example Minibatch order
   * ```ts
   * import assert from "node:assert/strict";
   * import { Rng } from "@proximal/core";
   * const order = new Rng(0).shuffle(Int32Array.from([0, 1, 2, 3]));
   * assert.ok(order.length === 4);
   * ```
   */
  shuffle<T extends { length: number; [i: number]: unknown }>(items: T): T {
    for (let i = items.length - 1; i > 0; i--) {
      const j = Math.floor(this.uniform() * (i + 1));
      const tmp = items[i];
      items[i] = items[j];
      items[j] = tmp;
    }
    return items;
  }

  /**
   * A new generator whose stream is derived from this one's, for handing to a sub-component.
   *
   * @returns An independent generator.
   * @example One stream per environment
   * ```ts
   * import assert from "node:assert/strict";
   * import { Rng } from "@proximal/core";
   * const root = new Rng(1);
   * const envRng = root.fork();
   * assert.ok(envRng !== root);
   * ```
   */
  fork(): Rng {
    return new Rng(this.nextUint32());
  }

  /**
   * The generator's full state, for checkpoints.
   *
   * @returns The four state words and any cached normal draw.
   * @example Save and restore
   * ```ts
   * import assert from "node:assert/strict";
   * import { Rng } from "@proximal/core";
   * const rng = new Rng(5);
   * const saved = rng.getState();
   * const x = rng.uniform();
   * rng.setState(saved);
   * assert.ok(rng.uniform() === x);
   * ```
   */
  getState(): { words: RngState; spareNormal: number | null } {
    const s = this.#s;
    return { words: [s[0]!, s[1]!, s[2]!, s[3]!], spareNormal: this.#spareNormal ?? null };
  }

  /**
   * Restores a state returned by {@linkcode Rng.getState}.
   *
   * @param state The saved state.
   * @example Restore
   * ```ts
   * import { Rng } from "@proximal/core";
   * const rng = new Rng(5);
   * rng.setState(new Rng(6).getState());
   * ```
   */
  setState(state: { words: RngState; spareNormal: number | null }): void {
    if (typeof state !== "object" || state === null) {
      throw new TypeError(`Cannot restore Rng: expected a saved state object, got ${state}`);
    }
    const { words } = state;
    if (
      !Array.isArray(words) || words.length !== 4 ||
      !words.every((w) => Number.isInteger(w) && w >= 0 && w < 2 ** 32) ||
      words.every((w) => w === 0)
    ) {
      throw new TypeError(
        `Cannot restore Rng: expected four unsigned 32-bit words, not all zero, got ${
          JSON.stringify(words)
        }`,
      );
    }
    const spare = state.spareNormal;
    if (spare !== null && (typeof spare !== "number" || !Number.isFinite(spare))) {
      throw new TypeError(
        `Cannot restore Rng: spareNormal must be a finite number or null, got ${String(spare)}`,
      );
    }
    this.#s.set(words);
    this.#spareNormal = spare ?? undefined;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}
