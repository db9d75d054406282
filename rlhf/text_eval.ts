// What the RLHF example and the text-preference CLI stages share: language-model checkpoints that
// carry their tokenizer, sampling, and the evaluation of a tuned policy against its reference.
import * as tf from "@tensorflow/tfjs";
import { type Checkpoint, readCheckpoint, Rng } from "@proximal/core";
import {
  assertSameVocabulary,
  GruLanguageModel,
  UNK_ID,
  type WordTokenizer,
} from "@proximal/models";
import type { SentimentTask as Task } from "@proximal/envs";
import { distinctN, vaderScore, winRate } from "@proximal/reward-models";

/** What a language-model checkpoint carries besides its weights (in `meta.lm`). */
export interface LmMeta {
  tokenizer: unknown;
  fingerprint: string;
  shape: { embeddingSize: number; hiddenSize: number; layers: number; maskedTokens: number[] };
  /** Tensor names are `${prefix}/${i}` in the model's variable order. */
  prefix: string;
}

/** The `meta.lm` entry that lets a later stage load this model. */
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
  const source = path.endsWith(".ckpt") ? path : `${path.replace(/\/$/, "")}/latest.ckpt`;
  const checkpoint = await readCheckpoint(source);
  const trainerMeta = checkpoint.meta.trainer as Record<string, unknown> | undefined;
  const lm = trainerMeta?.lm as LmMeta | undefined;
  if (!lm || typeof lm.fingerprint !== "string" || typeof lm.prefix !== "string" || !lm.shape) {
    throw new Error(
      `Cannot load a language model from ${source}: it was not written by a text-preference stage of deno task train`,
    );
  }
  assertSameVocabulary(lm.fingerprint, tokenizer, { where: `checkpoint ${source}` });
  const model = new GruLanguageModel(tokenizer.vocabSize, { ...lm.shape, valueHead: true });
  try {
    model.variables.forEach((v, i) => {
      const saved = checkpoint.tensors[`${lm.prefix}/${i}`];
      if (!saved || saved.shape.join("x") !== v.shape.join("x")) {
        throw new Error(
          `Cannot load a language model from ${source}: tensor ${lm.prefix}/${i} has shape [${
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

/** Samples one completion per prompt, in batches of 256. */
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

/** log π(completion | prompt) summed over each completion's generated tokens. */
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
  meanJudgeScore: number;
  klToReferencePerSequence: number;
  distinct2: number;
  unknownTokenRate: number;
  meanLength: number;
  samples: string[];
  /** The judge's score of each completion (prompt included), for win-rates. */
  scores: number[];
}

/**
 * Generates a completion for each prompt with `model` and measures it: VADER's score, the
 * per-sequence KL to `reference` (log-ratio of the sampled completions), distinct-2, the
 * unknown-token rate, and the first five samples.
 */
export function evaluateCompletions(
  model: GruLanguageModel,
  reference: GruLanguageModel,
  options: { task: Task; prompts: readonly string[]; seed: number },
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
  };
}

/** The judge's win-rate of `tuned` over `reference` (ties half) with its bootstrap interval. */
export function judgeWinRate(
  tuned: PolicyEvaluation,
  reference: PolicyEvaluation,
  seed: number,
): { rate: number; interval: [number, number] } {
  const w = winRate(tuned.scores, reference.scores, { seed });
  return { rate: w.rate, interval: [w.interval[0], w.interval[1]] };
}

/** One line per policy: judge score, win-rate, KL, distinct-2, <unk>. */
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
