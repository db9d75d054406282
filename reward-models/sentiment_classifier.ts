/**
 * {@linkcode SentimentClassifier}: a judge that training never sees. A bag-of-words logistic
 * regression (word unigrams and bigrams, L2-regularised) fitted on human sentiment labels, so a
 * policy tuned against VADER — directly or through a reward model trained on VADER's labels — can
 * be scored by a judge that shares neither VADER's lexicon nor its rules.
 */
import type { RewardSource, ScoreRequest } from "@proximal/core";

/** A sentence with its human label (1 positive, 0 negative). */
export interface LabelledText {
  /** The sentence. */
  text: string;
  /** 1 positive, 0 negative. */
  label: 0 | 1;
}

/** Options of {@linkcode SentimentClassifier.train}. */
export interface SentimentClassifierOptions {
  /** Full-batch Adam steps; default 300. */
  steps?: number;
  /** Adam's step size; default 0.05. */
  learningRate?: number;
  /** L2 coefficient λ of the loss mean(log-loss) + λ/2·‖w‖²; default 1e-3. */
  l2?: number;
  /** Also use word bigrams; default true. */
  bigrams?: boolean;
}

/** The defaults of {@linkcode SentimentClassifierOptions}. */
export const sentimentClassifierDefaults: Required<SentimentClassifierOptions> = {
  steps: 300,
  learningRate: 0.05,
  l2: 1e-3,
  bigrams: true,
};

/** Lower-cased words (letters, digits, apostrophes) of a text. */
function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z0-9']+/g) ?? [];
}

/**
 * A bag-of-words logistic-regression sentiment classifier, for evaluation: P(positive | text).
 *
 * @example Learn two words
 * ```ts
 * import assert from "node:assert/strict";
 * import { SentimentClassifier } from "@proximal/reward-models";
 * const classifier = SentimentClassifier.train([
 *   { text: "great food", label: 1 },
 *   { text: "awful food", label: 0 },
 *   { text: "great service", label: 1 },
 *   { text: "awful service", label: 0 },
 * ]);
 * assert.ok(classifier.probability("great") > 0.5 && classifier.probability("awful") < 0.5);
 * assert.equal(classifier.accuracy([{ text: "great place", label: 1 }]), 1);
 * ```
 */
export class SentimentClassifier implements RewardSource {
  /** The name in logs. */
  readonly name = "sentiment-classifier";
  /** Features (words and, with bigrams, word pairs joined by a space) seen in training. */
  readonly features: ReadonlyMap<string, number>;
  readonly #weights: Float64Array;
  readonly #bias: number;
  readonly #bigrams: boolean;

  private constructor(
    features: Map<string, number>,
    model: { weights: Float64Array; bias: number; bigrams: boolean },
  ) {
    this.features = features;
    this.#weights = model.weights;
    this.#bias = model.bias;
    this.#bigrams = model.bigrams;
  }

  /**
   * Fits the classifier on labelled sentences (deterministic: zero start, full-batch Adam).
   *
   * @param sentences The training sentences with their human labels; both labels needed.
   * @param options See {@linkcode SentimentClassifierOptions}.
   * @returns The classifier.
   * @example See {@linkcode SentimentClassifier}
   * ```ts ignore
   * const classifier = SentimentClassifier.train(task.train);
   * ```
   */
  static train(
    sentences: readonly LabelledText[],
    options: SentimentClassifierOptions = {},
  ): SentimentClassifier {
    const o = { ...sentimentClassifierDefaults, ...options };
    if (!Number.isInteger(o.steps) || o.steps < 1) {
      throw new RangeError(
        `SentimentClassifier's steps must be a whole number >= 1, got ${o.steps}`,
      );
    }
    if (!(o.learningRate > 0) || !(o.l2 >= 0)) {
      throw new RangeError(
        `SentimentClassifier needs learningRate > 0 and l2 >= 0, got ${o.learningRate} and ${o.l2}`,
      );
    }
    const labels = new Set(sentences.map((s) => s.label));
    if (!labels.has(0) || !labels.has(1)) {
      throw new RangeError(
        `SentimentClassifier needs sentences of both labels: got ${sentences.length} sentences with labels {${
          [...labels].join(", ")
        }}`,
      );
    }
    const features = new Map<string, number>();
    const grams = (text: string) => featureNames(text, o.bigrams);
    for (const s of sentences) {
      for (const f of grams(s.text)) if (!features.has(f)) features.set(f, features.size);
    }
    const rows = sentences.map((s) => indices(grams(s.text), features));
    const F = features.size, n = sentences.length;
    const w = new Float64Array(F + 1); // the last entry is the bias
    const m = new Float64Array(F + 1), v = new Float64Array(F + 1), g = new Float64Array(F + 1);
    const [b1, b2, eps] = [0.9, 0.999, 1e-8];
    for (let step = 1; step <= o.steps; step++) {
      g.fill(0);
      rows.forEach((row, i) => {
        let z = w[F]!;
        for (const f of row) z += w[f]!;
        const err = (1 / (1 + Math.exp(-z)) - sentences[i]!.label) / n;
        for (const f of row) g[f]! += err;
        g[F]! += err;
      });
      for (let f = 0; f < F; f++) g[f]! += o.l2 * w[f]!;
      for (let f = 0; f <= F; f++) {
        m[f] = b1 * m[f]! + (1 - b1) * g[f]!;
        v[f] = b2 * v[f]! + (1 - b2) * g[f]! ** 2;
        const mHat = m[f]! / (1 - b1 ** step), vHat = v[f]! / (1 - b2 ** step);
        w[f]! -= o.learningRate * mHat / (Math.sqrt(vHat) + eps);
      }
    }
    return new SentimentClassifier(features, {
      weights: w.subarray(0, F),
      bias: w[F]!,
      bigrams: o.bigrams,
    });
  }

  /**
   * P(positive | text); unseen words count for nothing.
   *
   * @param text Any text.
   * @returns A probability in (0, 1).
   * @example See {@linkcode SentimentClassifier}
   * ```ts ignore
   * const p = classifier.probability("the food was great");
   * ```
   */
  probability(text: string): number {
    if (typeof text !== "string") {
      throw new TypeError(`Cannot classify sentiment: expected a string, got ${typeof text}`);
    }
    let z = this.#bias;
    for (const f of indices(featureNames(text, this.#bigrams), this.features)) {
      z += this.#weights[f]!;
    }
    return 1 / (1 + Math.exp(-z));
  }

  /**
   * The share of sentences whose label the classifier gets right (P > 0.5 is positive).
   *
   * @param sentences Labelled sentences (e.g. the held-out split).
   * @returns Accuracy in [0, 1].
   * @example See {@linkcode SentimentClassifier}
   * ```ts ignore
   * const accuracy = classifier.accuracy(task.holdout);
   * ```
   */
  accuracy(sentences: readonly LabelledText[]): number {
    if (sentences.length === 0) throw new RangeError("Cannot measure accuracy on no sentences");
    const right = sentences.filter((s) => (this.probability(s.text) > 0.5 ? 1 : 0) === s.label);
    return right.length / sentences.length;
  }

  /**
   * P(positive) of prompt + completion, as a reader sees them (the `RewardSource` interface, for
   * evaluation: win-rates against a judge the policy was not trained on).
   *
   * @param batch The requests.
   * @returns One probability per request.
   * @example Score a completion
   * ```ts ignore
   * const [p] = await classifier.score([{ prompt: "the food was", completion: " great" }]);
   * ```
   */
  score(batch: readonly ScoreRequest[]): Promise<Float32Array> {
    return Promise.resolve(
      Float32Array.from(batch, (r) => this.probability(r.prompt + r.completion)),
    );
  }
}

/** The feature names of a text: its words and, with bigrams, adjacent word pairs. */
function featureNames(text: string, bigrams: boolean): string[] {
  const w = words(text);
  return bigrams ? [...w, ...w.slice(1).map((x, i) => `${w[i]} ${x}`)] : w;
}

/** The distinct known features' indices (a bag of words: presence, not counts). */
function indices(names: readonly string[], features: ReadonlyMap<string, number>): number[] {
  const out = new Set<number>();
  for (const name of names) {
    const f = features.get(name);
    if (f !== undefined) out.add(f);
  }
  return [...out];
}
