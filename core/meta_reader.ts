/**
 * {@linkcode MetaReader}: typed access to a checkpoint's JSON metadata, so that no trainer casts
 * it, with errors that name the key and what it holds.
 */
import { isFiniteNumber, isPlainObject, show } from "./_checks.ts";
import { Rng, type RngState } from "./rng.ts";
import { isCount } from "./training_options.ts";

const isString = (v: unknown): v is string => typeof v === "string";
const isBoolean = (v: unknown): v is boolean => typeof v === "boolean";

/** Options of {@linkcode MetaReader}. */
export interface MetaReaderOptions {
  /** Who reads, named in errors: `Cannot resume <owner>: …`, e.g. `SFT`. */
  owner: string;
  /** Where the checkpoint came from (a path), named in errors: `… from <source>: …`; default none. */
  source?: string;
  /** What failed, the verb of the message; default `resume`. */
  action?: string;
}

/** What {@linkcode MetaReader.rng} returns: a state for `Rng.setState`. */
export interface RngSnapshot {
  /** The generator's four state words. */
  words: RngState;
  /** A cached second normal sample, or null. */
  spareNormal: number | null;
}

/**
 * Typed access to a checkpoint's JSON metadata: each accessor returns the value with its type or
 * throws `Cannot resume <owner>: the checkpoint's <key> …`, naming the key (dotted for nested
 * readers) and what it holds, so no trainer casts metadata. The `optional…` accessors return
 * `undefined` for a missing key (or `null`) and throw for one of the wrong type.
 *
 * @example Read a count and a nested flag
 * ```ts
 * import assert from "node:assert/strict";
 * import { MetaReader } from "@proximal/core";
 * const meta = new MetaReader({ epoch: 3, early: { stopped: true } }, { owner: "SFT" });
 * assert.equal(meta.count("epoch"), 3);
 * assert.equal(meta.reader("early").boolean("stopped"), true);
 * assert.throws(
 *   () => meta.count("step"),
 *   /^Error: Cannot resume SFT: the checkpoint's step is missing$/,
 * );
 * ```
 */
export class MetaReader {
  readonly #meta: Record<string, unknown>;
  readonly #options: MetaReaderOptions;
  /** The dotted path from the checkpoint's meta to this object, for messages. */
  #path = "";

  /**
   * Reads `meta`.
   *
   * @param meta The checkpoint's metadata (or an object inside it).
   * @param options Who reads, from where; see {@linkcode MetaReaderOptions}.
   */
  constructor(meta: Record<string, unknown>, options: MetaReaderOptions) {
    this.#meta = meta;
    this.#options = options;
  }

  /**
   * Throws the reader's error: `Cannot <action> <owner>[ from <source>]: <detail>`.
   *
   * @param detail What is wrong.
   * @throws Always.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MetaReader } from "@proximal/core";
   * const meta = new MetaReader({}, { owner: "DPO" });
   * assert.throws(() => meta.fail("other pairs"), /^Error: Cannot resume DPO: other pairs$/);
   * ```
   */
  fail(detail: string): never {
    const { owner, source, action = "resume" } = this.#options;
    throw new Error(
      `Cannot ${action} ${owner}${source === undefined ? "" : ` from ${source}`}: ${detail}`,
    );
  }

  /**
   * True if `key` holds a value other than `undefined` or `null`.
   *
   * @param key The key.
   * @returns Whether it is there.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MetaReader } from "@proximal/core";
   * assert.ok(new MetaReader({ a: 0 }, { owner: "x" }).has("a"));
   * ```
   */
  has(key: string): boolean {
    return this.#meta[key] !== undefined && this.#meta[key] !== null;
  }

  /**
   * The raw JSON value at `key`, for a parser that checks it itself (e.g. a tokenizer's JSON).
   *
   * @param key The key.
   * @returns The value (`undefined` if missing).
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MetaReader } from "@proximal/core";
   * assert.deepEqual(new MetaReader({ vocab: ["a"] }, { owner: "x" }).json("vocab"), ["a"]);
   * ```
   */
  json(key: string): unknown {
    return this.#meta[key];
  }

  /**
   * A whole number >= 0.
   *
   * @param key The key.
   * @returns The count.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MetaReader } from "@proximal/core";
   * assert.equal(new MetaReader({ step: 64 }, { owner: "x" }).count("step"), 64);
   * ```
   */
  count(key: string): number {
    return this.#required(key, isCount, "a count");
  }

  /**
   * A whole number >= 0, or `undefined` when missing.
   *
   * @param key The key.
   * @returns The count or `undefined`.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MetaReader } from "@proximal/core";
   * assert.equal(new MetaReader({}, { owner: "x" }).optionalCount("step"), undefined);
   * ```
   */
  optionalCount(key: string): number | undefined {
    return this.#optional(key, isCount, "a count");
  }

  /**
   * A finite number.
   *
   * @param key The key.
   * @returns The number.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MetaReader } from "@proximal/core";
   * assert.equal(new MetaReader({ coef: 0.2 }, { owner: "x" }).number("coef"), 0.2);
   * ```
   */
  number(key: string): number {
    return this.#required(key, isFiniteNumber, "a finite number");
  }

  /**
   * A finite number, or `undefined` when missing or null.
   *
   * @param key The key.
   * @returns The number or `undefined`.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MetaReader } from "@proximal/core";
   * assert.equal(new MetaReader({ best: null }, { owner: "x" }).optionalNumber("best"), undefined);
   * ```
   */
  optionalNumber(key: string): number | undefined {
    return this.#optional(key, isFiniteNumber, "a finite number");
  }

  /**
   * A string.
   *
   * @param key The key.
   * @returns The string.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MetaReader } from "@proximal/core";
   * assert.equal(new MetaReader({ data: "ab12" }, { owner: "x" }).string("data"), "ab12");
   * ```
   */
  string(key: string): string {
    return this.#required(key, isString, "a string");
  }

  /**
   * A string, or `undefined` when missing or null.
   *
   * @param key The key.
   * @returns The string or `undefined`.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MetaReader } from "@proximal/core";
   * assert.equal(new MetaReader({}, { owner: "x" }).optionalString("data"), undefined);
   * ```
   */
  optionalString(key: string): string | undefined {
    return this.#optional(key, isString, "a string");
  }

  /**
   * A boolean.
   *
   * @param key The key.
   * @returns The boolean.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MetaReader } from "@proximal/core";
   * assert.equal(new MetaReader({ stopped: false }, { owner: "x" }).boolean("stopped"), false);
   * ```
   */
  boolean(key: string): boolean {
    return this.#required(key, isBoolean, "true or false");
  }

  /**
   * A boolean, or `undefined` when missing or null.
   *
   * @param key The key.
   * @returns The boolean or `undefined`.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MetaReader } from "@proximal/core";
   * assert.equal(new MetaReader({}, { owner: "x" }).optionalBoolean("stopped"), undefined);
   * ```
   */
  optionalBoolean(key: string): boolean | undefined {
    return this.#optional(key, isBoolean, "true or false");
  }

  /**
   * An array of finite numbers (a copy).
   *
   * @param key The key.
   * @returns The numbers.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MetaReader } from "@proximal/core";
   * assert.deepEqual(new MetaReader({ ids: [0, 3] }, { owner: "x" }).numbers("ids"), [0, 3]);
   * ```
   */
  numbers(key: string): number[] {
    const isNumbers = (v: unknown): v is number[] => Array.isArray(v) && v.every(isFiniteNumber);
    return [...this.#required(key, isNumbers, "a list of finite numbers")];
  }

  /**
   * A reader of the JSON object at `key`; its errors name the key path, e.g. `early.stopped`.
   *
   * @param key The key.
   * @returns The nested reader.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MetaReader } from "@proximal/core";
   * const meta = new MetaReader({ shape: { layers: "two" } }, { owner: "x" });
   * assert.throws(
   *   () => meta.reader("shape").count("layers"),
   *   /the checkpoint's shape\.layers is "two", not a count/,
   * );
   * ```
   */
  reader(key: string): MetaReader {
    return this.#child(key, this.object(key));
  }

  /**
   * The JSON object at `key` as it is (not a copy), for handing a part of the metadata on whole,
   * e.g. the trainer's state inside a run's checkpoint to `Trainer.restore`.
   *
   * @param key The key.
   * @returns The object.
   * @example The trainer's part of a run's checkpoint
   * ```ts
   * import assert from "node:assert/strict";
   * import { MetaReader } from "@proximal/core";
   * const meta = new MetaReader({ run: {}, trainer: { algo: "ppo" } }, { owner: "x" });
   * assert.deepEqual(meta.object("trainer"), { algo: "ppo" });
   * ```
   */
  object(key: string): Record<string, unknown> {
    return this.#required(key, isPlainObject, "a JSON object");
  }

  /**
   * A reader of the JSON object at `key`, or `undefined` when missing or null.
   *
   * @param key The key.
   * @returns The nested reader or `undefined`.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MetaReader } from "@proximal/core";
   * assert.equal(new MetaReader({}, { owner: "x" }).optionalReader("early"), undefined);
   * ```
   */
  optionalReader(key: string): MetaReader | undefined {
    const value = this.#optional(key, isPlainObject, "a JSON object");
    return value === undefined ? undefined : this.#child(key, value);
  }

  /**
   * Readers of an array of JSON objects (e.g. one state per worker shard).
   *
   * @param key The key.
   * @returns One reader per element, named `key[i]` in errors.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MetaReader } from "@proximal/core";
   * const meta = new MetaReader({ shards: [{ n: 1 }, { n: 2 }] }, { owner: "x" });
   * const shards = meta.readers("shards");
   * assert.deepEqual(shards.map((s) => s.count("n")), [1, 2]);
   * ```
   */
  readers(key: string): MetaReader[] {
    const isObjects = (v: unknown): v is Record<string, unknown>[] =>
      Array.isArray(v) && v.every(isPlainObject);
    return this.#required(key, isObjects, "a list of JSON objects")
      .map((value, i) => this.#child(`${key}[${i}]`, value));
  }

  /**
   * A random generator's saved state (checked as `Rng.setState` checks it).
   *
   * @param key The key; default `rng`.
   * @returns A state for `Rng.setState`.
   * @example
   * ```ts
   * import assert from "node:assert/strict";
   * import { MetaReader, Rng } from "@proximal/core";
   * const rng = new Rng(1);
   * const saved = JSON.parse(JSON.stringify({ rng: rng.getState() }));
   * const meta = new MetaReader(saved, { owner: "x" });
   * assert.deepEqual(meta.rng(), rng.getState());
   * ```
   */
  rng(key = "rng"): RngSnapshot {
    const state = this.reader(key);
    const words = state.numbers("words");
    const [a, b, c, d] = words;
    const snapshot: RngSnapshot = {
      words: [a ?? NaN, b ?? NaN, c ?? NaN, d ?? NaN],
      spareNormal: state.optionalNumber("spareNormal") ?? null,
    };
    try {
      if (words.length !== 4) throw new Error(`expected four words, got ${words.length}`);
      new Rng(0).setState(snapshot);
    } catch (error) {
      this.fail(`the checkpoint's ${this.#name(key)} is damaged: ${messageOf(error)}`);
    }
    return snapshot;
  }

  #name(key: string): string {
    return this.#path === "" ? key : `${this.#path}.${key}`;
  }

  #child(key: string, value: Record<string, unknown>): MetaReader {
    const child = new MetaReader(value, this.#options);
    child.#path = this.#name(key);
    return child;
  }

  #required<T>(key: string, ok: (v: unknown) => v is T, expected: string): T {
    const value: unknown = this.#meta[key];
    if (value === undefined) this.fail(`the checkpoint's ${this.#name(key)} is missing`);
    if (!ok(value)) {
      return this.fail(`the checkpoint's ${this.#name(key)} is ${show(value)}, not ${expected}`);
    }
    return value;
  }

  #optional<T>(key: string, ok: (v: unknown) => v is T, expected: string): T | undefined {
    const value: unknown = this.#meta[key];
    return value === undefined || value === null ? undefined : this.#required(key, ok, expected);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
