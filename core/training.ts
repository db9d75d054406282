/**
 * The trainer kit: what every trainer shares, so that an algorithm's file holds only what is its
 * own. {@linkcode TrainingOptions} are the options every gradient trainer has;
 * {@linkcode checkOptions} validates any options object against a table of rules;
 * {@linkcode saveTrainerState} and {@linkcode readTrainerState} save and restore a trainer's
 * variables, Adam's state and the RNG with its own metadata, which a {@linkcode MetaReader} reads
 * back typed, refusing a damaged or foreign checkpoint with a message that names what is wrong.
 */
import * as tf from "@tensorflow/tfjs";
import type { Adam, AdamState } from "./adam.ts";
import { Rng, type RngState } from "./rng.ts";
import type { Variable } from "./tensors.ts";
import type { Checkpoint, SavedTensor } from "./trainer.ts";

// ──────────────────────────────── Options ────────────────────────────────

/**
 * The options every gradient trainer shares; each trainer's options type builds on it (PPO keeps
 * CleanRL's `updateEpochs` and picks the rest). The defaults are each trainer's own. A type rather
 * than an interface, so that options built on it stay plain records of flag values.
 */
export type TrainingOptions = {
  /** Adam's step size. */
  learningRate: number;
  /** Passes over the training data (for PPO: `updateEpochs` passes over each rollout). */
  epochs: number;
  /** Examples per gradient step (sentences, preference pairs, …). */
  batchSize: number;
  /** Rescale gradients whose global L2 norm exceeds this; 0 turns clipping off. */
  maxGradNorm: number;
  /** Adam's ε, added to the denominator of its update. */
  adamEpsilon: number;
  /** Seed of the trainer's random choices (initialisation, shuffles). */
  seed: number;
};

/** A check of one option's value; see {@linkcode checkOptions}. */
export interface OptionRule {
  /** What a valid value is, completing "must be …", e.g. `a whole number >= 1`. */
  readonly expected: string;
  /** True when `value` is valid. */
  readonly test: (value: unknown) => boolean;
  /** The error a violation throws: `RangeError` (the default) or `TypeError`. */
  readonly error?: "range" | "type";
}

const isFiniteNumber = (v: unknown): v is number => typeof v === "number" && Number.isFinite(v);
const isString = (v: unknown): v is string => typeof v === "string";
const isBoolean = (v: unknown): v is boolean => typeof v === "boolean";

function numberRule(expected: string, ok: (v: number) => boolean): OptionRule {
  return { expected, test: (v) => isFiniteNumber(v) && ok(v) };
}

/**
 * A finite number > 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { positive } from "@proximal/core";
 * assert.ok(positive.test(1e-3) && !positive.test(0));
 * ```
 */
export const positive: OptionRule = numberRule("> 0", (v) => v > 0);

/**
 * A finite number >= 0.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nonNegative } from "@proximal/core";
 * assert.ok(nonNegative.test(0) && !nonNegative.test(-1));
 * ```
 */
export const nonNegative: OptionRule = numberRule(">= 0", (v) => v >= 0);

/**
 * Any finite number.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { finite } from "@proximal/core";
 * assert.ok(finite.test(-2.5) && !finite.test(Infinity));
 * ```
 */
export const finite: OptionRule = numberRule("a finite number", () => true);

/**
 * A whole number (of any sign).
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { whole } from "@proximal/core";
 * assert.ok(whole.test(-3) && !whole.test(0.5));
 * ```
 */
export const whole: OptionRule = numberRule("a whole number", Number.isInteger);

/**
 * A number in [0, 1].
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { unitInterval } from "@proximal/core";
 * assert.ok(unitInterval.test(1) && !unitInterval.test(1.5));
 * ```
 */
export const unitInterval: OptionRule = numberRule("in [0, 1]", (v) => v >= 0 && v <= 1);

/**
 * `true` or `false`; a violation throws a `TypeError`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { flag } from "@proximal/core";
 * assert.ok(flag.test(false) && !flag.test(0));
 * ```
 */
export const flag: OptionRule = {
  expected: "true or false",
  test: (v) => typeof v === "boolean",
  error: "type",
};

/**
 * A whole number >= `min`.
 *
 * @param min The least valid value.
 * @returns The rule.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { wholeAtLeast } from "@proximal/core";
 * assert.ok(wholeAtLeast(1).test(3) && !wholeAtLeast(1).test(0));
 * ```
 */
export function wholeAtLeast(min: number): OptionRule {
  return numberRule(`a whole number >= ${min}`, (v) => Number.isInteger(v) && v >= min);
}

/** Options of {@linkcode between}. */
export interface BetweenOptions {
  /** Exclude the upper bound: `[low, high)`; default false. */
  excludeHigh?: boolean;
}

/**
 * A number in `[low, high]` (or `[low, high)`).
 *
 * @param low The least valid value.
 * @param high The greatest valid value (or the bound below it, with `excludeHigh`).
 * @param options `excludeHigh`.
 * @returns The rule.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { between } from "@proximal/core";
 * const fraction = between(0, 1, { excludeHigh: true });
 * assert.equal(fraction.expected, "in [0, 1)");
 * assert.ok(fraction.test(0) && !fraction.test(1));
 * ```
 */
export function between(low: number, high: number, options: BetweenOptions = {}): OptionRule {
  const open = options.excludeHigh ?? false;
  return numberRule(
    `in [${low}, ${high}${open ? ")" : "]"}`,
    (v) => v >= low && (open ? v < high : v <= high),
  );
}

/**
 * One of the given strings.
 *
 * @param values The valid values.
 * @returns The rule.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { oneOf } from "@proximal/core";
 * assert.equal(oneOf(["sigmoid", "ipo"]).expected, "one of sigmoid, ipo");
 * ```
 */
export function oneOf(values: readonly string[]): OptionRule {
  return {
    expected: `one of ${values.join(", ")}`,
    test: (v) => typeof v === "string" && values.includes(v),
  };
}

/**
 * A rule whose message adds a note on what a value means, e.g. `>= 0 (0 = off)`.
 *
 * @param rule The rule.
 * @param text The note, shown in parentheses.
 * @returns The same check with the longer message.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { nonNegative, note } from "@proximal/core";
 * assert.equal(note(nonNegative, "0 = off").expected, ">= 0 (0 = off)");
 * ```
 */
export function note(rule: OptionRule, text: string): OptionRule {
  return { ...rule, expected: `${rule.expected} (${text})` };
}

/**
 * The rules of the shared {@linkcode TrainingOptions}; a trainer spreads them into its own table
 * and overrides what differs.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { trainingRules } from "@proximal/core";
 * assert.equal(trainingRules.maxGradNorm.expected, ">= 0 (0 = off)");
 * ```
 */
export const trainingRules: { readonly [K in keyof TrainingOptions]: OptionRule } = {
  learningRate: positive,
  epochs: wholeAtLeast(1),
  batchSize: wholeAtLeast(1),
  maxGradNorm: note(nonNegative, "0 = off"),
  adamEpsilon: positive,
  seed: whole,
};

/**
 * Rejects the first option that breaks its rule, naming the trainer, the option, what it must be
 * and what it is: `RangeError: PPO option numSteps must be a whole number >= 1, got 0`. Options
 * without a rule are not checked.
 *
 * @param owner The trainer's name in the message, e.g. `SFT`.
 * @param options The options in force.
 * @param rules A rule per option to check.
 * @throws `RangeError` (or `TypeError`, for a rule that says so) naming the option.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkOptions, positive, wholeAtLeast } from "@proximal/core";
 * const rules = { learningRate: positive, numSteps: wholeAtLeast(1) };
 * checkOptions("PPO", { learningRate: 3e-4, numSteps: 128 }, rules);
 * assert.throws(
 *   () => checkOptions("PPO", { learningRate: 3e-4, numSteps: 0 }, rules),
 *   /^RangeError: PPO option numSteps must be a whole number >= 1, got 0$/,
 * );
 * ```
 */
export function checkOptions<T extends object>(
  owner: string,
  options: T,
  rules: { readonly [K in keyof T]?: OptionRule },
): void {
  for (const key of Object.keys(rules) as (keyof T & string)[]) {
    const rule = rules[key];
    const value: unknown = options[key];
    if (rule && !rule.test(value)) {
      const message = `${owner} option ${key} must be ${rule.expected}, got ${show(value)}`;
      throw rule.error === "type" ? new TypeError(message) : new RangeError(message);
    }
  }
}

/**
 * True for a whole number >= 0 that is exactly representable (a step, an epoch, a length).
 *
 * @param value Anything.
 * @returns Whether it is a count.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isCount } from "@proximal/core";
 * assert.ok(isCount(0) && isCount(2048) && !isCount(-1) && !isCount(1.5) && !isCount("3"));
 * ```
 */
export function isCount(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

// ──────────────────────────────── Reading metadata ────────────────────────────────

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
   * assert.throws(() => meta.reader("shape").count("layers"), /the checkpoint's shape\.layers is "two", not a count/);
   * ```
   */
  reader(key: string): MetaReader {
    return this.#child(key, this.#required(key, isPlainObject, "a JSON object"));
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
   * const shards = new MetaReader({ shards: [{ n: 1 }, { n: 2 }] }, { owner: "x" }).readers("shards");
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
   * const meta = new MetaReader(JSON.parse(JSON.stringify({ rng: rng.getState() })), { owner: "x" });
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

// ──────────────────────────────── Saving and restoring ────────────────────────────────

/** What a trainer's checkpoint saves and restores; see {@linkcode saveTrainerState}. */
export interface TrainerParts {
  /** Named groups of variables, saved as tensors `${group}/0`, `${group}/1`, … in their order. */
  variables: Readonly<Record<string, readonly Variable[]>>;
  /** The optimizer: its moments as tensors `adam/m` and `adam/v`, its step count as meta `adamT`. */
  adam?: Adam;
  /** The random generator, as meta `rng`. */
  rng?: Rng;
}

/** Options of {@linkcode readTrainerState}. */
export interface ReadTrainerStateOptions {
  /** The algorithm's name the checkpoint must carry in `meta.algo`, e.g. `sft`. */
  algo: string;
  /** Who reads, named in errors: `Cannot resume <owner>: …`, e.g. `SFT`. */
  owner: string;
  /**
   * What a misshapen tensor suggests, shown after its shapes, e.g. `were hiddenSize or layers
   * changed?`; default `is it the same model architecture?`.
   */
  hint?: string;
  /** Where the checkpoint came from (a path), named in errors; default none. */
  source?: string;
  /** The verb of error messages; default `resume`. */
  action?: string;
  /**
   * The trainer's own checks that explain a mismatch better than a tensor's shape would (another
   * vocabulary, the other reference mode), run after the algo check and before the tensors'.
   */
  check?: (meta: MetaReader) => void;
}

/** What {@linkcode readTrainerState} returns: the checked checkpoint, ready to apply. */
export interface TrainerState {
  /** The trainer's own metadata, read typed. */
  readonly meta: MetaReader;
  /**
   * A tensor the trainer saved besides its parts, checked to exist.
   *
   * @param name Its name in the checkpoint.
   * @returns The tensor.
   */
  tensor(name: string): SavedTensor;
  /**
   * A tensor the trainer saved besides its parts, or `undefined` if there is none.
   *
   * @param name Its name in the checkpoint.
   * @returns The tensor or `undefined`.
   */
  optionalTensor(name: string): SavedTensor | undefined;
  /**
   * Assigns the variables, Adam's state and the RNG. Everything was checked before, so it cannot
   * fail half-way; call it once the trainer's own checks have passed too.
   */
  apply(): void;
}

const RESERVED = ["algo", "adamT", "rng"];

/**
 * A trainer's checkpoint: its variables (tensors `${group}/${i}`), Adam's moments (`adam/m`,
 * `adam/v`) and step count (meta `adamT`), the RNG (meta `rng`), the algorithm's name (meta
 * `algo`) and the trainer's own metadata beside them. Add tensors of its own to the result.
 *
 * @param algo The algorithm's name, e.g. `sft`.
 * @param parts The variables, optimizer and generator to save.
 * @param meta The trainer's own JSON metadata (counters, fingerprints); it may not use the keys
 * `algo`, `adamT` or `rng`.
 * @returns The checkpoint.
 * @throws If `meta` uses a reserved key.
 * @example Save and restore a variable, Adam and the RNG
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { Adam, readTrainerState, Rng, saveTrainerState, setupBackend } from "@proximal/core";
 * await setupBackend("wasm");
 * const w = tf.variable(tf.tensor1d([1, 2]));
 * const parts = { variables: { model: [w] }, adam: new Adam([w]), rng: new Rng(0) };
 * const checkpoint = saveTrainerState("toy", parts, { epoch: 1 });
 * w.assign(tf.tensor1d([0, 0]));
 * const state = readTrainerState(checkpoint, parts, { algo: "toy", owner: "Toy" });
 * assert.equal(state.meta.count("epoch"), 1);
 * state.apply();
 * assert.deepEqual(Array.from(w.dataSync()), [1, 2]);
 * w.dispose();
 * ```
 */
export function saveTrainerState(
  algo: string,
  parts: TrainerParts,
  meta: Record<string, unknown>,
): Checkpoint {
  const clash = RESERVED.find((key) => key in meta);
  if (clash !== undefined) {
    throw new Error(`Cannot save ${algo}'s state: its meta uses the reserved key "${clash}"`);
  }
  const tensors: Record<string, SavedTensor> = {};
  for (const [group, variables] of Object.entries(parts.variables)) {
    Object.assign(tensors, saveVariables(variables, group));
  }
  const state: Record<string, unknown> = { algo, ...meta };
  if (parts.adam) {
    const adam = parts.adam.getState();
    tensors["adam/m"] = adam.m;
    tensors["adam/v"] = adam.v;
    state.adamT = adam.t;
  }
  if (parts.rng) state.rng = parts.rng.getState();
  return { meta: state, tensors };
}

/**
 * Checks a checkpoint of {@linkcode saveTrainerState} against a trainer's parts — the algorithm's
 * name, every variable's tensor and shape (no more, no fewer), Adam's moments and step count, the
 * RNG — and returns its metadata, to be read typed, and an `apply()` that restores the parts.
 * Nothing changes until `apply()`, so a refused checkpoint leaves the trainer as it was.
 *
 * @param checkpoint The checkpoint.
 * @param parts The trainer's variables, optimizer and generator, as given to `saveTrainerState`.
 * @param options The algorithm's name, the owner and a hint for errors; see
 * {@linkcode ReadTrainerStateOptions}.
 * @returns The metadata reader and `apply`.
 * @throws `Cannot resume <owner>: <what is wrong>`.
 * @example Refuse a misshapen tensor, naming it
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { readTrainerState, saveTrainerState, setupBackend } from "@proximal/core";
 * await setupBackend("wasm");
 * const small = tf.variable(tf.zeros([2])), large = tf.variable(tf.zeros([3]));
 * const checkpoint = saveTrainerState("toy", { variables: { model: [small] } }, {});
 * assert.throws(
 *   () =>
 *     readTrainerState(checkpoint, { variables: { model: [large] } }, {
 *       algo: "toy",
 *       owner: "Toy",
 *       hint: "was hiddenSize changed?",
 *     }),
 *   /^Error: Cannot resume Toy: model tensor 0 has shape \[2\], the model needs \[3\] \(was hiddenSize changed\?\)$/,
 * );
 * tf.dispose([small, large]);
 * ```
 */
export function readTrainerState(
  checkpoint: Checkpoint,
  parts: TrainerParts,
  options: ReadTrainerStateOptions,
): TrainerState {
  const { meta, tensors } = checkpoint;
  const hint = options.hint ?? "is it the same model architecture?";
  const readerOptions: MetaReaderOptions = { owner: options.owner };
  if (options.source !== undefined) readerOptions.source = options.source;
  if (options.action !== undefined) readerOptions.action = options.action;
  const reader = new MetaReader(meta, readerOptions);
  const fail = (detail: string): never => reader.fail(detail);

  if (meta.algo !== options.algo) {
    fail(
      typeof meta.algo === "string"
        ? `the checkpoint is of algo "${meta.algo}"`
        : `the checkpoint names no algo (not a trainer's checkpoint?)`,
    );
  }
  options.check?.(reader);
  for (const [group, variables] of Object.entries(parts.variables)) {
    variables.forEach((v, i) => {
      const saved = tensors[`${group}/${i}`];
      if (!saved || saved.shape.join("x") !== v.shape.join("x")) {
        fail(
          `${group} tensor ${i} has shape [${
            saved?.shape ?? "missing"
          }], the model needs [${v.shape}] (${hint})`,
        );
      }
    });
    if (tensors[`${group}/${variables.length}`]) {
      fail(`the checkpoint's ${group} has more tensors than this trainer's (${hint})`);
    }
  }
  let adamState: AdamState | undefined;
  if (parts.adam) {
    const m = tensors["adam/m"], v = tensors["adam/v"];
    if (!m || !v) fail("the checkpoint has no optimizer state (adam/m, adam/v)");
    const size = parts.adam.getState().m.data.length;
    if (m!.data.length !== size || v!.data.length !== size) {
      fail(
        `the checkpoint's optimizer state holds ${m!.data.length} and ${
          v!.data.length
        } values, the optimizer ${size} (${hint})`,
      );
    }
    adamState = { t: reader.count("adamT"), m: m!, v: v! };
  }
  const rngState = parts.rng ? reader.rng("rng") : undefined;

  return {
    meta: reader,
    tensor(name: string): SavedTensor {
      const saved = tensors[name];
      return saved ?? fail(`the checkpoint has no tensor "${name}"`);
    },
    optionalTensor(name: string): SavedTensor | undefined {
      return tensors[name];
    },
    apply(): void {
      if (parts.adam && adamState) parts.adam.setState(adamState);
      if (parts.rng && rngState) parts.rng.setState(rngState);
      for (const [group, variables] of Object.entries(parts.variables)) {
        loadVariables(variables, tensors, group);
      }
    },
  };
}

/**
 * The values of a list of variables as checkpoint tensors named `${prefix}/0`, `${prefix}/1`, ….
 * {@linkcode saveTrainerState} saves a trainer's groups with it.
 *
 * @param variables The variables, in their fixed order.
 * @param prefix The name prefix, e.g. `policy`.
 * @returns Copies of their values.
 * @example Save a variable
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { saveVariables, setupBackend } from "@proximal/core";
 * await setupBackend("wasm");
 * const w = tf.variable(tf.tensor1d([1, 2]));
 * assert.deepEqual(Array.from(saveVariables([w], "model")["model/0"]!.data), [1, 2]);
 * w.dispose();
 * ```
 */
export function saveVariables(
  variables: readonly Variable[],
  prefix: string,
): Record<string, SavedTensor> {
  const tensors: Record<string, SavedTensor> = {};
  variables.forEach((v, i) => {
    tensors[`${prefix}/${i}`] = { shape: [...v.shape], data: Float32Array.from(v.dataSync()) };
  });
  return tensors;
}

/**
 * Assigns checkpoint tensors `${prefix}/i` to a list of variables. It checks only that each
 * tensor exists: {@linkcode readTrainerState} checks shapes first, with a message that says
 * which option would explain a mismatch.
 *
 * @param variables The variables, in their fixed order.
 * @param tensors The checkpoint's tensors.
 * @param prefix The name prefix used by {@linkcode saveVariables}.
 * @throws If a tensor is missing.
 * @example Restore a variable
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { loadVariables, setupBackend } from "@proximal/core";
 * await setupBackend("wasm");
 * const w = tf.variable(tf.tensor1d([0, 0]));
 * loadVariables([w], { "model/0": { shape: [2], data: Float32Array.of(3, 4) } }, "model");
 * assert.deepEqual(Array.from(w.dataSync()), [3, 4]);
 * w.dispose();
 * ```
 */
export function loadVariables(
  variables: readonly Variable[],
  tensors: Readonly<Record<string, SavedTensor>>,
  prefix: string,
): void {
  variables.forEach((variable, i) => {
    const saved = tensors[`${prefix}/${i}`];
    if (!saved) throw new Error(`Cannot restore: the checkpoint has no tensor "${prefix}/${i}"`);
    tf.tidy(() => variable.assign(tf.tensor(saved.data, saved.shape, "float32")));
  });
}

// ──────────────────────────────── Helpers ────────────────────────────────

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** A value as a message shows it: strings quoted, long JSON cut. */
function show(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (typeof value !== "object" || value === null) return String(value);
  const json = JSON.stringify(value);
  return json.length > 60 ? `${json.slice(0, 57)}...` : json;
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
