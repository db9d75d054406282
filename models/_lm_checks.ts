// Input checks of GruLanguageModel's options and methods, kept apart so the model file reads as
// the model. Each throws a RangeError (an Error for a missing rng) that names the method or option
// and what it got.
import type * as tf from "@tensorflow/tfjs";
import type { Rng } from "@proximal/core";
import type { GenerateOptions, GruLanguageModelOptions, GruState } from "./language_model_types.ts";

/** The model's sizes that a state must match. */
interface StateShape {
  readonly layers: number;
  readonly hiddenSize: number;
}

/** Checks the vocabulary size and the resolved options of a new model. */
export function checkModelOptions(
  vocabSize: number,
  options: Readonly<Required<GruLanguageModelOptions>>,
): void {
  const whole = (name: string, value: number, min = 1) => {
    if (!Number.isInteger(value) || value < min) {
      throw new RangeError(
        `GruLanguageModel's ${name} must be a whole number >= ${min}, got ${value}`,
      );
    }
  };
  whole("vocabSize", vocabSize, 2);
  whole("embeddingSize", options.embeddingSize);
  whole("hiddenSize", options.hiddenSize);
  whole("layers", options.layers);
  for (const id of options.maskedTokens) {
    if (!Number.isInteger(id) || id < 0 || id >= vocabSize) {
      throw new RangeError(
        `Cannot mask token ${id}: ids must be whole numbers in [0, ${vocabSize})`,
      );
    }
  }
  if (options.maskedTokens.length >= vocabSize) {
    throw new RangeError(`Cannot mask all ${vocabSize} tokens: the model must predict something`);
  }
}

/** Checks that `tokens` is a non-empty `[B, T]` tensor; returns `[B, T]`. */
export function checkTokens(tokens: tf.Tensor, method: string): [number, number] {
  if (tokens.rank !== 2 || tokens.size === 0) {
    throw new RangeError(
      `${method} needs tokens of shape [batch, time], got [${tokens.shape.join(", ")}]`,
    );
  }
  return tokens.shape as [number, number];
}

/** Checks that `tensor` (the targets or mask `name` of `method`) has the tokens' `shape`. */
export function checkSameShape(
  tensor: tf.Tensor,
  shape: readonly number[],
  where: { method: string; name: string },
): void {
  if (tensor.shape.join() !== shape.join()) {
    throw new RangeError(
      `${where.method} needs ${where.name} shaped like the tokens [${shape.join(", ")}], got [${
        tensor.shape.join(", ")
      }]`,
    );
  }
}

/**
 * Checks `nextTokenLogits`'s `lengths`, each in [1, T]: one per row of `[B, T]` tokens, or with
 * `rows`, one per entry of `rows`, each a row index in [0, B).
 */
export function checkLengths(
  lengths: Int32Array,
  tokens: readonly [number, number],
  rows?: Int32Array,
): void {
  const [B, T] = tokens;
  if (rows) {
    if (lengths.length !== rows.length) {
      throw new RangeError(
        `nextTokenLogits needs one length per entry of rows: got ${lengths.length} for ${rows.length}`,
      );
    }
    const bad = rows.findIndex((r) => !Number.isInteger(r) || r < 0 || r >= B);
    if (bad >= 0) {
      throw new RangeError(`rows[${bad}] must be a row index in [0, ${B}), got ${rows[bad]}`);
    }
  } else if (lengths.length !== B) {
    throw new RangeError(
      `nextTokenLogits needs one length per row: got ${lengths.length} for ${B} rows`,
    );
  }
  lengths.forEach((n, b) => {
    if (!Number.isInteger(n) || n < 1 || n > T) {
      throw new RangeError(`Row ${b}'s length must be in [1, ${T}], got ${n}`);
    }
  });
}

/** Checks that `state` holds one `[batch, hiddenSize]` tensor per layer of `model`. */
export function checkState(
  model: StateShape,
  state: GruState,
  where: { batch: number; method: string },
): void {
  const { batch, method } = where;
  const ok = state.hidden.length === model.layers &&
    state.hidden.every((h) => h.shape[0] === batch && h.shape[1] === model.hiddenSize);
  if (!ok) {
    throw new RangeError(
      `${method} needs a state of ${model.layers} [${batch}, ${model.hiddenSize}] tensors, got ${
        state.hidden.map((h) => `[${h.shape.join(", ")}]`).join(", ") || "none"
      }`,
    );
  }
}

/** {@linkcode GenerateOptions} with their defaults filled in. */
interface ResolvedGenerateOptions {
  maxNewTokens: number;
  temperature: number;
  topK: number;
  eosId: number;
  useCache: boolean;
  rng: Rng | undefined;
}

/** Checks `generate`'s options and resolves their defaults. */
export function checkGenerateOptions(options: GenerateOptions): ResolvedGenerateOptions {
  const maxNewTokens = options.maxNewTokens;
  const temperature = options.temperature ?? 1;
  const topK = options.topK ?? 0;
  const eosId = options.eosId ?? 2;
  const useCache = options.useCache ?? true;
  if (!Number.isInteger(maxNewTokens) || maxNewTokens < 1) {
    throw new RangeError(
      `generate's maxNewTokens must be a whole number >= 1, got ${maxNewTokens}`,
    );
  }
  if (!(temperature >= 0) || !Number.isFinite(temperature)) {
    throw new RangeError(
      `generate's temperature must be a finite number >= 0, got ${temperature}`,
    );
  }
  if (!Number.isInteger(topK) || topK < 0) {
    throw new RangeError(`generate's topK must be a whole number >= 0, got ${topK}`);
  }
  if (temperature !== 0 && !options.rng) {
    throw new Error("generate needs an rng unless temperature is 0 (greedy decoding)");
  }
  return { maxNewTokens, temperature, topK, eosId, useCache, rng: options.rng };
}

/** Checks that `ids` (named `what` in errors) is non-empty and inside the vocabulary. */
export function checkIds(ids: Int32Array, where: { what: string; vocabSize: number }): void {
  const { what, vocabSize } = where;
  if (ids.length === 0) throw new RangeError(`${what} is empty: it needs at least one token`);
  for (const id of ids) {
    if (id < 0 || id >= vocabSize) {
      throw new RangeError(`${what} has token ${id}, outside the vocabulary [0, ${vocabSize})`);
    }
  }
}
