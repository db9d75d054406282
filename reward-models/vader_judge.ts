/**
 * VADER (Hutto & Gilbert, "VADER: A Parsimonious Rule-based Model for Sentiment Analysis of Social
 * Media Text", ICWSM 2014) as the "human" judge of proximal's RLHF examples: a lexicon of words
 * rated by people, plus rules for negation, intensifiers, capitals and punctuation. Its compound
 * score runs from −1 (most negative) to +1 (most positive). It runs through the npm package
 * `vader-sentiment`, the JavaScript port of the reference Python implementation.
 */
import vader from "vader-sentiment";
import type { RewardSource } from "@proximal/core";
import { functionReward } from "./function_reward.ts";

/** Options of {@linkcode vaderJudge}. */
export interface VaderJudgeOptions {
  /**
   * Judge the prompt and the completion together, as a reader sees them, rather than the
   * completion alone; default true.
   */
  includePrompt?: boolean;
}

/** The defaults of {@linkcode VaderJudgeOptions}. */
export const vaderJudgeDefaults: Required<VaderJudgeOptions> = { includePrompt: true };

/** The part of `vader-sentiment` (CommonJS, untyped) used here. */
interface VaderModule {
  SentimentIntensityAnalyzer: {
    polarity_scores(text: string): { neg: number; neu: number; pos: number; compound: number };
  };
}

const analyzer = (vader as unknown as VaderModule).SentimentIntensityAnalyzer;

/**
 * VADER's compound sentiment score of a text.
 *
 * @param text Any text; an empty or sentiment-free text scores 0.
 * @returns A number in [−1, 1]: above 0.05 is positive, below −0.05 negative by VADER's usual
 * thresholds. Never NaN.
 * @example The first example of VADER's README
 * ```ts
 * import assert from "node:assert/strict";
 * import { vaderScore } from "@proximal/reward-models";
 * assert.equal(vaderScore("VADER is smart, handsome, and funny."), 0.8316);
 * assert.ok(vaderScore("The food was cold and the waiter was rude.") < 0);
 * ```
 */
export function vaderScore(text: string): number {
  if (typeof text !== "string") {
    throw new TypeError(`Cannot score sentiment: expected a string, got ${typeof text}`);
  }
  const compound = analyzer.polarity_scores(text).compound;
  // VADER gives 0 to text without sentiment; keep that promise for anything odd it returns.
  return Number.isFinite(compound) ? Math.max(-1, Math.min(1, compound)) : 0;
}

/**
 * VADER as a reward source: each request scores {@linkcode vaderScore} of `prompt + completion`
 * (the completion carries its own leading space), or of the completion alone with
 * `includePrompt: false`.
 *
 * Judging the whole text is the default because it is what a reader sees, and because VADER's
 * rules read across the seam: after the prompt "It was not", the completion " good" is negative,
 * while judged alone it would earn a positive reward. Completions of the same prompt still rank
 * by what they add, since the compound score grows with the summed valence of the words, so the
 * policy is rewarded for steering the sentence whatever the prompt's own sentiment.
 *
 * @param options `includePrompt` (default true).
 * @returns A {@linkcode RewardSource} named `"vader"`.
 * @example Prefer the positive continuation
 * ```ts
 * import assert from "node:assert/strict";
 * import { vaderJudge } from "@proximal/reward-models";
 * const [good, bad] = await vaderJudge().score([
 *   { prompt: "The pasta was", completion: " wonderful, I loved it." },
 *   { prompt: "The pasta was", completion: " awful, I hated it." },
 * ]);
 * assert.ok(good! > 0.5 && bad! < -0.5);
 * ```
 */
export function vaderJudge(options: VaderJudgeOptions = {}): RewardSource {
  const { includePrompt } = { ...vaderJudgeDefaults, ...options };
  return functionReward(
    "vader",
    ({ prompt, completion }) => vaderScore(includePrompt ? prompt + completion : completion),
  );
}
