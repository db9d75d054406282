// DPO's pairs as the trainer keeps them: checked and encoded once as `<bos> prompt completion
// <eos>` sequences, laid out in minibatches of chosen and rejected rows, and scored by a language
// model. Shared by the trainer (algos/dpo.ts) and completionLogProbs (algos/log_probs.ts).
import * as tf from "@tensorflow/tfjs";
import type { Tensor, Tensor1D } from "@proximal/core";
import { BOS_ID, EOS_ID, type GruLanguageModel, PAD_ID } from "@proximal/models";

/**
 * One preference pair as token ids, without special tokens (no `<pad>`, `<bos>` or `<eos>`): the
 * DPO trainer scores the sequences `<bos> prompt chosen <eos>` and `<bos> prompt rejected <eos>`.
 */
export interface TokenizedPair {
  /** The prompt's ids; may be empty (the completion then follows `<bos>` alone). */
  prompt: ArrayLike<number>;
  /** The preferred completion's ids; may be empty (the completion is then `<eos>` alone). */
  chosen: ArrayLike<number>;
  /** The rejected completion's ids; may be empty. */
  rejected: ArrayLike<number>;
}

/** The log-probs `completionLogProbs` returns, one per pair. */
export interface CompletionLogProbs {
  /** log π(chosen <eos> | <bos> prompt) of each pair. */
  chosen: Float32Array;
  /** log π(rejected <eos> | <bos> prompt) of each pair. */
  rejected: Float32Array;
}

/** Pairs in a minibatch when nothing is trained (reference log-probs, evaluation). */
export const REFERENCE_BATCH = 64;

/** One sequence `<bos> prompt completion <eos>` and where its completion starts. */
export interface EncodedSequence {
  /** All its ids. */
  ids: Int32Array;
  /** The tokens scored: the completion's and the `<eos>`. */
  completionTokens: number;
}

/** Pairs as the trainer keeps them. */
export interface EncodedPairs {
  chosen: EncodedSequence[];
  rejected: EncodedSequence[];
  /** FNV-1a of every pair's ids, so a checkpoint can refuse other pairs. */
  fingerprint: string;
  /** The reference's summed completion log-probs, when precomputed (or restored). */
  reference?: CompletionLogProbs;
}

/**
 * A minibatch of b pairs as 2b rows (chosen rows first), all `length` long: `tokens` are the
 * sequences without their last id, `targets` without their first, `mask` 1 where the target is a
 * completion token or the `<eos>`; `counts` the completion lengths, row by row.
 */
export interface Batch {
  rows: number;
  length: number;
  tokens: Int32Array;
  targets: Int32Array;
  mask: Float32Array;
  counts: Float32Array;
}

/** Checks the pairs' ids and lengths and builds their sequences. */
export function encodePairs(
  pairs: readonly TokenizedPair[],
  model: GruLanguageModel,
  options: { maxLength: number; what: string },
): EncodedPairs {
  const { maxLength, what } = options;
  const V = model.vocabSize;
  const forbidden = new Map<number, string>([
    [PAD_ID, "<pad>"],
    [BOS_ID, "<bos>"],
    [EOS_ID, "<eos>"],
  ]);
  for (const id of model.maskedTokens) {
    if (!forbidden.has(id)) forbidden.set(id, `token ${id}, which the model never predicts`);
  }
  const chosen: EncodedSequence[] = [], rejected: EncodedSequence[] = [];
  let hash = 0x811c9dc5;
  const mix = (x: number) => {
    for (let k = 0; k < 4; k++) {
      hash = Math.imul(hash ^ ((x >>> (8 * k)) & 0xff), 0x01000193) >>> 0;
    }
  };
  let tooLong = 0, firstTooLong = "";
  pairs.forEach((pair, i) => {
    for (const field of ["prompt", "chosen", "rejected"] as const) {
      const ids = pair[field];
      if (!ids || typeof ids.length !== "number") {
        throw new TypeError(`Invalid DPO ${what} ${i}: "${field}" must be an array of token ids`);
      }
      for (let t = 0; t < ids.length; t++) {
        const id = ids[t]!;
        if (!Number.isInteger(id) || id < 0 || id >= V) {
          throw new RangeError(
            `Invalid DPO ${what} ${i}: ${field} has ${id} at position ${t}, not a token id in [0, ${V})`,
          );
        }
        const name = forbidden.get(id);
        if (name !== undefined) {
          throw new RangeError(
            `Invalid DPO ${what} ${i}: ${field} has ${name} at position ${t} (give ids without special tokens: the trainer adds <bos> and <eos>)`,
          );
        }
      }
    }
    const sequence = (completion: ArrayLike<number>): EncodedSequence => {
      const ids = new Int32Array(pair.prompt.length + completion.length + 2);
      ids[0] = BOS_ID;
      ids.set(pair.prompt as ArrayLike<number>, 1);
      ids.set(completion, 1 + pair.prompt.length);
      ids[ids.length - 1] = EOS_ID;
      return { ids, completionTokens: completion.length + 1 };
    };
    const c = sequence(pair.chosen), r = sequence(pair.rejected);
    const longest = Math.max(c.ids.length, r.ids.length);
    if (longest > maxLength) {
      tooLong++;
      if (firstTooLong === "") {
        firstTooLong =
          `${what} ${i} is ${longest} tokens long (<bos>, ${pair.prompt.length} prompt, ${
            longest - pair.prompt.length - 2
          } completion, <eos>)`;
      }
    }
    chosen.push(c);
    rejected.push(r);
    for (const s of [pair.prompt, pair.chosen, pair.rejected]) {
      mix(s.length);
      for (let t = 0; t < s.length; t++) mix(s[t]!);
    }
  });
  if (tooLong > 0) {
    throw new RangeError(
      `Cannot train DPO: ${firstTooLong}, over maxLength ${maxLength}; ${tooLong} of ${pairs.length} ${what}s are too long (raise maxLength or drop them; DPO does not truncate)`,
    );
  }
  return { chosen, rejected, fingerprint: hash.toString(16).padStart(8, "0") };
}

/** The minibatch of the pairs `rows` (see {@linkcode Batch}). */
export function makeBatch(data: EncodedPairs, rows: Int32Array): Batch {
  const sequences = [
    ...Array.from(rows, (k) => data.chosen[k]!),
    ...Array.from(rows, (k) => data.rejected[k]!),
  ];
  const length = Math.max(...sequences.map((s) => s.ids.length)) - 1;
  const n = sequences.length;
  const tokens = new Int32Array(n * length), targets = new Int32Array(n * length);
  const mask = new Float32Array(n * length), counts = new Float32Array(n);
  sequences.forEach(({ ids, completionTokens }, row) => {
    const offset = row * length, last = ids.length - 1;
    tokens.set(ids.subarray(0, last), offset);
    targets.set(ids.subarray(1), offset);
    // Target t is ids[t + 1]: the completion's tokens and the <eos> are the last ones.
    mask.fill(1, offset + last - completionTokens, offset + last);
    counts[row] = completionTokens;
  });
  return { rows: n, length, tokens, targets, mask, counts };
}

/** `[2b]` summed completion log-probs of a minibatch under `model`; call inside a tidy. */
export function batchLogProbs(model: GruLanguageModel, batch: Batch): Tensor1D {
  const shape: [number, number] = [batch.rows, batch.length];
  return model.sequenceLogProbs(
    tf.tensor2d(batch.tokens, shape, "int32"),
    tf.tensor2d(batch.targets, shape, "int32"),
    tf.tensor2d(batch.mask, shape),
  );
}

/** The summed completion log-probs of all `data`'s pairs under `model`, forward only. */
export function referenceSums(
  model: GruLanguageModel,
  data: EncodedPairs,
  batchSize: number,
): CompletionLogProbs {
  const n = data.chosen.length, order = byLength(data);
  const chosen = new Float32Array(n), rejected = new Float32Array(n);
  for (let first = 0; first < n; first += batchSize) {
    const rows = order.subarray(first, Math.min(n, first + batchSize)), b = rows.length;
    const values = readBack(() => batchLogProbs(model, makeBatch(data, rows)));
    rows.forEach((k, j) => {
      chosen[k] = values[j]!;
      rejected[k] = values[b + j]!;
    });
  }
  return { chosen, rejected };
}

/**
 * The pairs' indices, shortest first (by their longer sequence), for passes without gradients:
 * batching pairs of similar length wastes less on padding, and a row's log-prob does not depend
 * on the rest of its batch, so the order changes nothing else.
 */
export function byLength(data: EncodedPairs): Int32Array {
  const longest = data.chosen.map((c, k) => Math.max(c.ids.length, data.rejected[k]!.ids.length));
  return Int32Array.from(longest, (_, k) => k).sort((a, b) => longest[a]! - longest[b]! || a - b);
}

/** Runs `fn` in a tidy and reads its tensor back. */
export function readBack(fn: () => Tensor): Float32Array {
  const out = tf.tidy(fn);
  const data = out.dataSync() as Float32Array;
  out.dispose();
  return data;
}
