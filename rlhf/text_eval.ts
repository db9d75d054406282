// What the RLHF example and the text-completion stages share: language-model checkpoints that carry
// their tokenizer, sampling, and the evaluation of a tuned policy against its reference.
import * as tf from "@tensorflow/tfjs";
import { type Checkpoint, Rng } from "@proximal/core";
import {
  assertSameVocabulary,
  GruLanguageModel,
  UNK_ID,
  type WordTokenizer,
} from "@proximal/models";
import type { SentimentTask as Task } from "@proximal/envs";
import { distinctN, SentimentClassifier, vaderScore, winRate } from "@proximal/reward-models";
import { readStageCheckpoint } from "./_stage_checkpoint.ts";

/** What a language-model checkpoint carries besides its weights (in `meta.trainer.lm`). */
export interface LmMeta {
  /** The tokenizer, as `WordTokenizer.toJSON` writes it. */
  tokenizer: unknown;
  /** The tokenizer's fingerprint, to refuse a model of another vocabulary. */
  fingerprint: string;
  /** The model's shape: what `GruLanguageModel` needs to rebuild it. */
  shape: { embeddingSize: number; hiddenSize: number; layers: number; maskedTokens: number[] };
  /** Tensor names are `${prefix}/${i}` in the model's variable order. */
  prefix: string;
}

/**
 * The `meta.lm` entry that lets a later stage load this model (see {@linkcode loadLanguageModel}).
 *
 * @param model The model whose shape to record.
 * @param tokenizer Its tokenizer.
 * @param prefix The name prefix of the model's tensors in the checkpoint.
 * @returns The entry, plain JSON.
 * @example The shape of a small model
 * ```ts
 * import assert from "node:assert/strict";
 * import { setupBackend } from "@proximal/core";
 * import { GruLanguageModel, WordTokenizer } from "@proximal/models";
 * import { lmMeta } from "@proximal/rlhf";
 * await setupBackend("wasm");
 * const tokenizer = WordTokenizer.fromTexts(["a good film", "a bad film"]);
 * const model = new GruLanguageModel(tokenizer.vocabSize, { embeddingSize: 4, hiddenSize: 8 });
 * const meta = lmMeta(model, tokenizer, "model");
 * assert.equal(meta.shape.hiddenSize, 8);
 * assert.equal(meta.fingerprint, tokenizer.fingerprint);
 * model.dispose();
 * ```
 */
export function lmMeta(model: GruLanguageModel, tokenizer: WordTokenizer, prefix: string): LmMeta {
  return {
    tokenizer: tokenizer.toJSON(),
    fingerprint: tokenizer.fingerprint,
    shape: {
      embeddingSize: model.embeddingSize,
      hiddenSize: model.hiddenSize,
      layers: model.layers,
      maskedTokens: [...model.maskedTokens],
    },
    prefix,
  };
}

/**
 * Loads the language model of a `deno task train` text stage's checkpoint (a `.ckpt` file or a
 * run directory), refusing one trained with another vocabulary than the task's.
 *
 * @param path A checkpoint file, or a run directory (its `latest.ckpt`).
 * @param tokenizer The task's tokenizer, which the checkpoint's must equal.
 * @returns The model (with a value head), the checkpoint and the file read.
 * @throws If `path` is empty, the file holds no language model, its metadata is malformed (the
 * error names the key), its vocabulary differs or a tensor's shape does not fit.
 * @example Save a model as a stage does, then load it
 * ```ts
 * import assert from "node:assert/strict";
 * import { setupBackend, writeCheckpoint } from "@proximal/core";
 * import { GruLanguageModel, WordTokenizer } from "@proximal/models";
 * import { lmMeta, loadLanguageModel } from "@proximal/rlhf";
 * await setupBackend("wasm");
 * const tokenizer = WordTokenizer.fromTexts(["a good film", "a bad film"]);
 * const model = new GruLanguageModel(tokenizer.vocabSize, { embeddingSize: 4, hiddenSize: 8 });
 * const tensors = Object.fromEntries(model.variables.map((v, i) => [
 *   `model/${i}`,
 *   { shape: v.shape, data: v.dataSync() as Float32Array },
 * ]));
 * const path = await Deno.makeTempFile({ suffix: ".ckpt" });
 * await writeCheckpoint(path, { meta: { trainer: { lm: lmMeta(model, tokenizer, "model") } }, tensors });
 * const loaded = await loadLanguageModel(path, tokenizer);
 * assert.equal(loaded.model.hiddenSize, 8);
 * loaded.model.dispose();
 * model.dispose();
 * await Deno.remove(path);
 * ```
 */
export async function loadLanguageModel(path: string, tokenizer: WordTokenizer): Promise<{
  model: GruLanguageModel;
  checkpoint: Checkpoint;
  source: string;
}> {
  if (path === "") {
    throw new Error(
      "No model given: pass --model with the checkpoint of an earlier stage (e.g. runs/sft/latest.ckpt)",
    );
  }
  const { source, checkpoint, meta } = await readStageCheckpoint(path, "a language model");
  const lm = meta.optionalReader("trainer")?.optionalReader("lm");
  if (!lm) {
    throw new Error(
      `Cannot load a language model from ${source}: it was not written by a text-completion stage of deno task train`,
    );
  }
  const prefix = lm.string("prefix"), shape = lm.reader("shape");
  assertSameVocabulary(lm.string("fingerprint"), tokenizer, { where: `checkpoint ${source}` });
  const model = new GruLanguageModel(tokenizer.vocabSize, {
    embeddingSize: shape.count("embeddingSize"),
    hiddenSize: shape.count("hiddenSize"),
    layers: shape.count("layers"),
    maskedTokens: shape.numbers("maskedTokens"),
    valueHead: true,
  });
  try {
    model.variables.forEach((v, i) => {
      const saved = checkpoint.tensors[`${prefix}/${i}`];
      if (!saved || saved.shape.join("x") !== v.shape.join("x")) {
        throw new Error(
          `Cannot load a language model from ${source}: tensor ${prefix}/${i} has shape [${
            saved?.shape ?? "missing"
          }], the model needs [${v.shape}]`,
        );
      }
      tf.tidy(() => v.assign(tf.tensor(saved.data, saved.shape, "float32")));
    });
  } catch (e) {
    model.dispose();
    throw e;
  }
  return { model, checkpoint, source };
}

/**
 * Samples one completion per prompt, in batches of 256.
 *
 * @param model The language model.
 * @param task The task: how prompts become ids and completions text, and the longest completion.
 * @param options The prompts (text) and the generator that draws the tokens.
 * @returns Each prompt's completion, as text that joins to it.
 * @example Two completions of an untrained model
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng, setupBackend } from "@proximal/core";
 * import { GruLanguageModel } from "@proximal/models";
 * import { sentimentTask } from "@proximal/envs";
 * import { sampleCompletions } from "@proximal/rlhf";
 * await setupBackend("wasm");
 * const task = sentimentTask();
 * const model = new GruLanguageModel(task.tokenizer.vocabSize, { embeddingSize: 4, hiddenSize: 8 });
 * const prompts = task.evalPrompts.slice(0, 2).map((p) => p.prompt);
 * assert.equal(sampleCompletions(model, task, { prompts, rng: new Rng(1) }).length, 2);
 * model.dispose();
 * ```
 */
export function sampleCompletions(
  model: GruLanguageModel,
  task: Task,
  options: { prompts: readonly string[]; rng: Rng },
): string[] {
  const out: string[] = [];
  for (let start = 0; start < options.prompts.length; start += 256) {
    const batch = options.prompts.slice(start, start + 256).map(task.promptIds);
    const { completions } = model.generate(batch, {
      maxNewTokens: task.maxNewTokens,
      rng: options.rng,
    });
    out.push(...completions.map(task.completionText));
  }
  return out;
}

/**
 * log π(completion | prompt) summed over each completion's generated tokens, in batches of 128.
 *
 * @param model The language model π.
 * @param prompts Each prompt's ids (starting with `<bos>`).
 * @param completions Each prompt's completion ids.
 * @returns One summed log-probability per pair.
 * @example An empty completion has log-probability 0
 * ```ts
 * import assert from "node:assert/strict";
 * import { setupBackend } from "@proximal/core";
 * import { GruLanguageModel } from "@proximal/models";
 * import { generatedLogProbs } from "@proximal/rlhf";
 * await setupBackend("wasm");
 * const model = new GruLanguageModel(8, { embeddingSize: 4, hiddenSize: 8 });
 * const logps = generatedLogProbs(model, [Int32Array.of(1, 5), Int32Array.of(1, 6)], [
 *   Int32Array.of(7, 2),
 *   Int32Array.of(),
 * ]);
 * assert.ok(logps[0]! < 0 && logps[1] === 0);
 * model.dispose();
 * ```
 */
export function generatedLogProbs(
  model: GruLanguageModel,
  prompts: readonly Int32Array[],
  completions: readonly Int32Array[],
): Float32Array {
  const out = new Float32Array(prompts.length);
  for (let start = 0; start < prompts.length; start += 128) {
    const rows = prompts.slice(start, start + 128).map((p, j) => ({
      p,
      c: completions[start + j]!,
    }));
    const length = Math.max(...rows.map(({ p, c }) => p.length + c.length)) - 1;
    const tokens = new Int32Array(rows.length * length),
      targets = new Int32Array(rows.length * length);
    const mask = new Float32Array(rows.length * length);
    rows.forEach(({ p, c }, r) => {
      const sequence = [...p, ...c];
      for (let t = 0; t < sequence.length - 1; t++) {
        tokens[r * length + t] = sequence[t]!;
        targets[r * length + t] = sequence[t + 1]!;
        if (t + 1 >= p.length) mask[r * length + t] = 1;
      }
    });
    const sums = tf.tidy(() =>
      model.sequenceLogProbs(
        tf.tensor2d(tokens, [rows.length, length], "int32"),
        tf.tensor2d(targets, [rows.length, length], "int32"),
        tf.tensor2d(mask, [rows.length, length]),
      )
    );
    out.set(sums.dataSync() as Float32Array, start);
    sums.dispose();
  }
  return out;
}

/** A policy's completions of the held-out prompts, as the judge and the reference see them. */
export interface PolicyEvaluation {
  /** VADER's mean compound score of prompt + completion. */
  meanJudgeScore: number;
  /** Mean over the completions of log π − log π_ref summed over their tokens. */
  klToReferencePerSequence: number;
  /** Distinct token bigrams over all bigrams of the completions (diversity). */
  distinct2: number;
  /** Share of the generated words that are `<unk>`. */
  unknownTokenRate: number;
  /** Mean number of words per completion. */
  meanLength: number;
  /** The first five prompts with their completions. */
  samples: string[];
  /** The judge's score of each completion (prompt included), for win-rates. */
  scores: number[];
  /** The held-out classifier's P(positive) of each completion (prompt included), when given one. */
  classifierScores?: number[];
}

/** A judge training never sees: {@linkcode heldOutJudge}'s classifier and its held-out accuracy. */
export interface HeldOutJudge {
  /** Bag-of-words logistic regression on the task's training sentences' human labels. */
  classifier: SentimentClassifier;
  /** Its accuracy on the task's held-out sentences. */
  heldOutAccuracy: number;
}

const judges = new WeakMap<Task, HeldOutJudge>();

/**
 * The judge for evaluation only: a `SentimentClassifier` fitted on the human labels of the task's
 * training sentences (never on VADER's, never seen by a stage's training), with its accuracy on
 * the held-out sentences. Made once per task.
 *
 * @param task The task: its training split fits the classifier, its held-out split scores it.
 * @returns The classifier and its held-out accuracy.
 * @example Better than chance on held-out sentences
 * ```ts
 * import assert from "node:assert/strict";
 * import { sentimentTask } from "@proximal/envs";
 * import { heldOutJudge } from "@proximal/rlhf";
 * assert.ok(heldOutJudge(sentimentTask()).heldOutAccuracy > 0.7);
 * ```
 */
export function heldOutJudge(task: Task): HeldOutJudge {
  let judge = judges.get(task);
  if (!judge) {
    const classifier = SentimentClassifier.train(task.train);
    judge = { classifier, heldOutAccuracy: classifier.accuracy(task.holdout) };
    judges.set(task, judge);
  }
  return judge;
}

/**
 * Generates a completion for each prompt with `model` and measures it: VADER's score, the
 * per-sequence KL to `reference` (log-ratio of the sampled completions), distinct-2, the
 * unknown-token rate, and the first five samples.
 *
 * @param model The policy's language model.
 * @param reference The model it is compared with (for the KL).
 * @param options The task, the prompts (text) and the seed of the sampling.
 * @returns The measures.
 * @example A model against itself is 0 nats away
 * ```ts
 * import assert from "node:assert/strict";
 * import { setupBackend } from "@proximal/core";
 * import { GruLanguageModel } from "@proximal/models";
 * import { sentimentTask } from "@proximal/envs";
 * import { evaluateCompletions } from "@proximal/rlhf";
 * await setupBackend("wasm");
 * const task = sentimentTask();
 * const model = new GruLanguageModel(task.tokenizer.vocabSize, { embeddingSize: 4, hiddenSize: 8 });
 * const prompts = task.evalPrompts.slice(0, 8).map((p) => p.prompt);
 * const evaluation = evaluateCompletions(model, model, { task, prompts, seed: 1 });
 * assert.equal(evaluation.klToReferencePerSequence, 0);
 * assert.equal(evaluation.scores.length, 8);
 * model.dispose();
 * ```
 */
export function evaluateCompletions(
  model: GruLanguageModel,
  reference: GruLanguageModel,
  options: {
    task: Task;
    prompts: readonly string[];
    seed: number;
    /** Also score with this judge (`classifierScores`); default none. */
    classifier?: SentimentClassifier;
  },
): PolicyEvaluation {
  const { task, prompts } = options;
  const ids = prompts.map(task.promptIds);
  const { completions } = model.generate(ids, {
    maxNewTokens: task.maxNewTokens,
    rng: new Rng(options.seed),
  });
  const texts = completions.map(task.completionText);
  const scores = texts.map((c, i) => vaderScore(prompts[i]! + c));
  const policyLp = generatedLogProbs(model, ids, completions);
  const referenceLp = generatedLogProbs(reference, ids, completions);
  const words = completions.map((c) => Array.from(c).filter((id) => id > 2));
  const allIds = words.flat();
  return {
    meanJudgeScore: scores.reduce((a, b) => a + b, 0) / ids.length,
    klToReferencePerSequence: policyLp.reduce((a, lp, i) => a + lp - referenceLp[i]!, 0) /
      ids.length,
    distinct2: distinctN(words),
    unknownTokenRate: allIds.filter((id) => id === UNK_ID).length / Math.max(1, allIds.length),
    meanLength: allIds.length / ids.length,
    samples: prompts.slice(0, 5).map((p, i) => p + texts[i]),
    scores,
    ...(options.classifier
      ? { classifierScores: texts.map((c, i) => options.classifier!.probability(prompts[i]! + c)) }
      : {}),
  };
}

/**
 * The held-out classifier's win-rate of `tuned` over `reference` (ties half) with its 95 %
 * bootstrap interval; both evaluations need `classifierScores`.
 *
 * @param tuned The tuned policy's evaluation.
 * @param reference The reference's, on the same prompts.
 * @param options The bootstrap's seed.
 * @returns The rate and its interval.
 * @example A sure win
 * ```ts
 * import assert from "node:assert/strict";
 * import { classifierWinRate, type PolicyEvaluation } from "@proximal/rlhf";
 * const of = (classifierScores: number[]): PolicyEvaluation => ({
 *   meanJudgeScore: 0,
 *   klToReferencePerSequence: 0,
 *   distinct2: 1,
 *   unknownTokenRate: 0,
 *   meanLength: 1,
 *   samples: [],
 *   scores: [0, 0],
 *   classifierScores,
 * });
 * assert.equal(classifierWinRate(of([0.9, 0.8]), of([0.1, 0.2]), { seed: 1 }).rate, 1);
 * ```
 */
export function classifierWinRate(
  tuned: PolicyEvaluation,
  reference: PolicyEvaluation,
  options: { seed: number },
): { rate: number; interval: [number, number] } {
  if (!tuned.classifierScores || !reference.classifierScores) {
    throw new Error(
      "Cannot compute the classifier's win-rate: evaluate both policies with a classifier",
    );
  }
  const w = winRate(tuned.classifierScores, reference.classifierScores, { seed: options.seed });
  return { rate: w.rate, interval: [w.interval[0], w.interval[1]] };
}

/**
 * The judge's win-rate of `tuned` over `reference` (ties half) with its bootstrap interval.
 *
 * @param tuned The tuned policy's evaluation.
 * @param reference The reference's, on the same prompts.
 * @param seed Seed of the bootstrap.
 * @returns The rate and its 95 % interval.
 * @example One win, one tie
 * ```ts
 * import assert from "node:assert/strict";
 * import { judgeWinRate, type PolicyEvaluation } from "@proximal/rlhf";
 * const of = (scores: number[]): PolicyEvaluation => ({
 *   meanJudgeScore: 0,
 *   klToReferencePerSequence: 0,
 *   distinct2: 1,
 *   unknownTokenRate: 0,
 *   meanLength: 1,
 *   samples: [],
 *   scores,
 * });
 * assert.equal(judgeWinRate(of([0.5, 0.2]), of([0.1, 0.2]), 1).rate, 0.75);
 * ```
 */
export function judgeWinRate(
  tuned: PolicyEvaluation,
  reference: PolicyEvaluation,
  seed: number,
): { rate: number; interval: [number, number] } {
  const w = winRate(tuned.scores, reference.scores, { seed });
  return { rate: w.rate, interval: [w.interval[0], w.interval[1]] };
}

/**
 * One line per policy: judge score, win-rate, KL, distinct-2, `<unk>` rate.
 *
 * @param name The policy's name, first on the line.
 * @param e Its evaluation.
 * @param win Its win-rate over the reference, if any.
 * @returns The line.
 * @example The reference's line
 * ```ts
 * import assert from "node:assert/strict";
 * import { describeEvaluation } from "@proximal/rlhf";
 * const line = describeEvaluation("sft", {
 *   meanJudgeScore: 0.25,
 *   klToReferencePerSequence: 0,
 *   distinct2: 0.78,
 *   unknownTokenRate: 0.085,
 *   meanLength: 9,
 *   samples: [],
 *   scores: [],
 * });
 * assert.equal(line, "sft: judge 0.250, KL 0.00, distinct-2 0.780, <unk> 8.5 %");
 * ```
 */
export function describeEvaluation(
  name: string,
  e: PolicyEvaluation,
  win?: { rate: number; interval: [number, number] },
): string {
  const pct = (x: number) => (x * 100).toFixed(1);
  return `${name}: judge ${e.meanJudgeScore.toFixed(3)}${
    win ? `, win-rate ${pct(win.rate)} % [${pct(win.interval[0])}, ${pct(win.interval[1])}]` : ""
  }, KL ${e.klToReferencePerSequence.toFixed(2)}, distinct-2 ${e.distinct2.toFixed(3)}, <unk> ${
    pct(e.unknownTokenRate)
  } %`;
}
