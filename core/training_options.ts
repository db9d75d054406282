/**
 * The trainer kit's options: {@linkcode TrainingOptions}, the options every gradient trainer
 * shares, and {@linkcode checkOptions}, one validator for any options object against a table of
 * rules ({@linkcode positive}, {@linkcode wholeAtLeast}, {@linkcode oneOf}, …).
 */
import { isFiniteNumber, show } from "./_checks.ts";

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
