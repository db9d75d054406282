/**
 * What the RLHF evaluation reports beside the judge's verdicts: the win-rate of one policy's
 * completions over another's with a bootstrap confidence interval, and distinct-n, the share of
 * unique n-grams, which falls when a policy games a judge by repeating itself.
 */
import { Rng } from "@proximal/core";

/** Options of {@linkcode winRate}. */
export interface WinRateOptions {
  /** Bootstrap resamples for the interval; default 2,000. */
  resamples?: number;
  /** Confidence level of the interval; default 0.95. */
  confidence?: number;
  /** Seed of the bootstrap; default 0. */
  seed?: number;
}

/** What {@linkcode winRate} returns. */
export interface WinRateResult {
  /** Wins plus half the ties, over the number of comparisons. */
  rate: number;
  /** Comparisons the first policy won. */
  wins: number;
  /** Comparisons that tied. */
  ties: number;
  /** Comparisons the first policy lost. */
  losses: number;
  /** The percentile-bootstrap interval of `rate`: [low, high]. */
  interval: [number, number];
}

/**
 * The win-rate of scores `a` over paired scores `b` (ties count half), with a percentile
 * bootstrap interval over the comparisons.
 *
 * @param a The tuned policy's scores, one per prompt.
 * @param b The baseline's scores for the same prompts.
 * @param options See {@linkcode WinRateOptions}.
 * @returns The rate, the counts and the interval.
 * @example Two wins, a tie and a loss
 * ```ts
 * import assert from "node:assert/strict";
 * import { winRate } from "@proximal/reward-models";
 * const { rate, wins, ties, losses } = winRate([0.9, 0.5, 0.2, 0.7], [0.1, 0.5, 0.8, 0.3]);
 * assert.deepEqual([rate, wins, ties, losses], [0.625, 2, 1, 1]);
 * ```
 */
export function winRate(
  a: ArrayLike<number>,
  b: ArrayLike<number>,
  options: WinRateOptions = {},
): WinRateResult {
  if (a.length !== b.length || a.length === 0) {
    throw new RangeError(
      `Win-rate needs two non-empty score lists of the same length, got ${a.length} and ${b.length}`,
    );
  }
  const n = a.length;
  const outcome = new Float64Array(n); // 1 win, 0.5 tie, 0 loss
  let wins = 0, ties = 0;
  for (let i = 0; i < n; i++) {
    if (!Number.isFinite(a[i]!) || !Number.isFinite(b[i]!)) {
      throw new TypeError(`Win-rate got a non-finite score at comparison ${i}: ${a[i]} vs ${b[i]}`);
    }
    outcome[i] = a[i]! > b[i]! ? 1 : a[i]! === b[i]! ? 0.5 : 0;
    if (outcome[i] === 1) wins++;
    else if (outcome[i] === 0.5) ties++;
  }
  const rate = (wins + ties / 2) / n;
  const resamples = options.resamples ?? 2000, confidence = options.confidence ?? 0.95;
  const rng = new Rng(options.seed ?? 0);
  const rates = new Float64Array(resamples);
  for (let r = 0; r < resamples; r++) {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += outcome[rng.int(n)]!;
    rates[r] = sum / n;
  }
  rates.sort();
  const tail = (1 - confidence) / 2;
  const at = (q: number) => rates[Math.min(resamples - 1, Math.max(0, Math.floor(q * resamples)))]!;
  return { rate, wins, ties, losses: n - wins - ties, interval: [at(tail), at(1 - tail)] };
}

/**
 * Distinct-n over a set of texts (Li et al., 2016): unique n-grams divided by all n-grams, pooled
 * over the texts. 1 means no n-gram repeats; a judge-gaming "great great great" drives it down.
 *
 * @param texts Token lists (e.g. `tokenizer.encode` ids or split words).
 * @param options `n`, default 2.
 * @returns A number in [0, 1]; 0 when the texts hold no n-gram.
 * @example Repetition lowers distinct-2
 * ```ts
 * import assert from "node:assert/strict";
 * import { distinctN } from "@proximal/reward-models";
 * assert.equal(distinctN([["a", "b", "c"]]), 1);
 * assert.equal(distinctN([["great", "great", "great"]]), 0.5);
 * ```
 */
export function distinctN(
  texts: readonly ArrayLike<string | number>[],
  options: { n?: number } = {},
): number {
  const n = options.n ?? 2;
  if (!Number.isInteger(n) || n < 1) throw new RangeError(`distinct-n needs n >= 1, got ${n}`);
  const seen = new Set<string>();
  let total = 0;
  for (const tokens of texts) {
    for (let i = 0; i + n <= tokens.length; i++) {
      seen.add(Array.from({ length: n }, (_, j) => String(tokens[i + j])).join("\u0000"));
      total++;
    }
  }
  return total === 0 ? 0 : seen.size / total;
}
