/**
 * {@linkcode LmPolicy}: a {@linkcode GruLanguageModel} as a {@linkcode Policy}, so PPO trains a
 * language model on a token-level env (one action = one token) through the same interface it
 * trains an MLP on CartPole with.
 */
import * as tf from "@tensorflow/tfjs";
import { kthLargest, MASKED_LOGIT, sampleToken } from "./_sampling.ts";
import { autodiffHead, fusedHead } from "./_policy_head.ts";
import type { GruLanguageModel } from "./language_model.ts";
import type { LmStep, NextToken } from "./language_model_types.ts";
import {
  type ActOptions,
  type ActResult,
  Discrete,
  type Evaluation,
  type Policy,
  type Tensor,
  type Tensor2D,
  type Variable,
} from "@proximal/core";

/** Options of {@linkcode LmPolicy}. */
export interface LmPolicyOptions {
  /**
   * Tokens per observation: the context (prompt + tokens generated so far), left-aligned and
   * padded with `<pad>` = 0. Required.
   */
  contextLength: number;
  /** Divides the logits: the policy is softmax(logits / temperature); > 0; default 1. */
  temperature?: number;
  /** The policy samples only among the k most likely tokens (ties included); 0 = off; default 0. */
  topK?: number;
  /** Keep each row's recurrent state between `act` calls ({@linkcode LmPolicy}); default true. */
  cache?: boolean;
  /**
   * How `evaluate` turns logits into log-probs and entropies: `"fused"`, one op with a
   * hand-derived gradient (~3× faster on tfjs-wasm), or `"autodiff"`, `tf.logSoftmax` and
   * `tf.softmax` differentiated by tfjs (the reference the fused op is tested against). The two
   * agree to float rounding; default "fused".
   */
  head?: "fused" | "autodiff";
}

/** Counts of how {@linkcode LmPolicy.act} obtained each row's state, since creation. */
export interface LmPolicyCacheStats {
  /** Rows whose context was the cached one plus one token: one GRU step. */
  advanced: number;
  /** Rows whose context was exactly the cached one: no GRU step. */
  reused: number;
  /** Rows read from scratch (no cache entry, another context, or the weights changed). */
  recomputed: number;
}

interface CacheEntry {
  /** The context the state was computed for. */
  tokens: Int32Array;
  /** The state after it, layers side by side: `layers × hiddenSize` floats. */
  hidden: Float32Array;
}

/**
 * A language model as an actor-critic policy over next tokens.
 *
 * Observations are `contextLength` floats holding token ids: the context, left-aligned, then
 * `<pad>` (0) up to `contextLength`; a row's length is the position of its first `<pad>` (the
 * model's `maskedTokens` keep `<pad>` out of generated text). Actions are `Discrete(vocabSize)`:
 * the next token. The policy is softmax(logits / temperature) over the top-k tokens; the value is
 * the model's value head, which the model must have.
 *
 * **The act cache.** A rollout calls `act` once per env step and every row's context grows by one
 * token, so re-reading each context from scratch would make a T-token episode cost O(T²) GRU
 * steps. `act` keeps, per row, the context it last saw and the GRU state after it: a row whose
 * context is that one plus one token advances by one GRU step; the same context reuses the state;
 * anything else (an env reset, another env order) is re-read from scratch, batched with the other
 * such rows. Contexts are compared token by token, which costs what hashing them would and cannot
 * collide. The cache is dropped when any variable is reassigned (an optimizer step, a checkpoint
 * restore), detected from the variables' data ids, because its states belong to the old weights.
 * `value` uses the cache but does not update it, and looks a row's entry up among all rows', so
 * that a batch in another order (PPO values the final observations of truncated episodes) also
 * steps from the cached states.
 *
 * `evaluate` runs the GRU over the padded contexts and picks each row's last real position with
 * a mask, so its log-probs and values equal `act`'s up to float rounding.
 *
 * @example Act on two contexts and evaluate the actions
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { Rng, setupBackend } from "@proximal/core";
 * import { GruLanguageModel, LmPolicy } from "@proximal/models";
 * await setupBackend("wasm");
 * const model = new GruLanguageModel(12, { embeddingSize: 8, hiddenSize: 16, seed: 1 });
 * const policy = new LmPolicy(model, { contextLength: 4 });
 * // <bos> 5 and <bos> 7 8, padded with <pad> = 0 to 4 tokens.
 * const observations = Float32Array.from([1, 5, 0, 0, 1, 7, 8, 0]);
 * const { actions, logProbs } = policy.act(observations, { rng: new Rng(0) });
 * const { logProb } = policy.evaluate(
 *   tf.tensor2d(observations, [2, 4]),
 *   tf.tensor1d(actions as Int32Array, "int32"),
 * );
 * const evaluated = logProb.dataSync();
 * assert.ok(Math.abs(evaluated[0]! - logProbs[0]!) < 1e-4);
 * policy.dispose();
 * ```
 */
export class LmPolicy implements Policy {
  /** Floats per observation: `contextLength`. */
  readonly observationSize: number;
  /** `Discrete(vocabSize)`: the next token. */
  readonly actionSpace: Discrete;
  /** The model's variables. */
  readonly variables: readonly Variable[];
  /** The model; the policy owns it and frees it in {@linkcode LmPolicy.dispose}. */
  readonly model: GruLanguageModel;
  /** The sampling temperature. */
  readonly temperature: number;
  /** The top-k truncation (0 = off). */
  readonly topK: number;
  /** How `evaluate` computes log-probs and entropies (see {@linkcode LmPolicyOptions}). */
  readonly head: "fused" | "autodiff";
  readonly #useCache: boolean;
  readonly #head: typeof fusedHead;
  #cache: (CacheEntry | undefined)[] = [];
  /** The variables' data ids when the cache was filled; a change means new weights. */
  #cacheWeights: readonly object[] = [];
  readonly #stats: LmPolicyCacheStats = { advanced: 0, reused: 0, recomputed: 0 };

  /**
   * Wraps a model.
   *
   * @param model A {@linkcode GruLanguageModel} with a value head; the policy takes ownership.
   * @param options See {@linkcode LmPolicyOptions}.
   */
  constructor(model: GruLanguageModel, options: LmPolicyOptions) {
    const { contextLength } = options;
    const temperature = options.temperature ?? 1;
    const topK = options.topK ?? 0;
    if (!model.hasValueHead) {
      throw new Error("LmPolicy needs a model with a value head: build it with valueHead: true");
    }
    if (!Number.isInteger(contextLength) || contextLength < 1) {
      throw new RangeError(
        `LmPolicy's contextLength must be a whole number >= 1, got ${contextLength}`,
      );
    }
    if (!(temperature > 0) || !Number.isFinite(temperature)) {
      throw new RangeError(
        `LmPolicy's temperature must be a finite number > 0, got ${temperature}`,
      );
    }
    if (!Number.isInteger(topK) || topK < 0) {
      throw new RangeError(`LmPolicy's topK must be a whole number >= 0, got ${topK}`);
    }
    this.model = model;
    this.observationSize = contextLength;
    this.actionSpace = new Discrete(model.vocabSize);
    this.variables = model.variables;
    this.temperature = temperature;
    this.topK = topK;
    this.#useCache = options.cache ?? true;
    const head = options.head ?? "fused";
    if (head !== "fused" && head !== "autodiff") {
      throw new RangeError(`LmPolicy's head must be "fused" or "autodiff", got "${head}"`);
    }
    this.head = head;
    this.#head = head === "fused" ? fusedHead : autodiffHead;
  }

  /**
   * How `act` obtained its rows' states so far.
   *
   * @example Count cache hits
   * ```ts
   * import assert from "node:assert/strict";
   * import { Rng, setupBackend } from "@proximal/core";
   * import { GruLanguageModel, LmPolicy } from "@proximal/models";
   * await setupBackend("wasm");
   * const policy = new LmPolicy(
   *   new GruLanguageModel(12, { embeddingSize: 4, hiddenSize: 8 }),
   *   { contextLength: 3 },
   * );
   * const rng = new Rng(0);
   * const { actions } = policy.act(Float32Array.from([1, 0, 0]), { rng });
   * policy.act(Float32Array.from([1, actions[0]!, 0]), { rng });
   * assert.deepEqual(policy.cacheStats, { advanced: 1, reused: 0, recomputed: 1 });
   * policy.dispose();
   * ```
   */
  get cacheStats(): LmPolicyCacheStats {
    return { ...this.#stats };
  }

  /**
   * Samples (or picks, when `deterministic`) the next token of every row.
   *
   * @param observations `n × contextLength` token ids, each row left-aligned and `<pad>`-padded.
   * @param options `rng` (required unless `deterministic`) and `deterministic` (argmax).
   * @returns The tokens, their log-probabilities under the policy and the values.
   * @example See {@linkcode LmPolicy}
   * ```ts ignore
   * const { actions, logProbs, values } = policy.act(observations, { rng });
   * ```
   */
  act(observations: Float32Array, options: ActOptions = {}): ActResult {
    const deterministic = options.deterministic ?? false;
    if (!deterministic && !options.rng) {
      throw new Error("LmPolicy.act needs an rng unless deterministic");
    }
    const { probs, values } = this.#forward(observations, true);
    const n = values.length, V = this.model.vocabSize;
    const actions = new Int32Array(n), logProbs = new Float32Array(n);
    const sampling = { topK: this.topK, rng: deterministic ? undefined : options.rng };
    for (let i = 0; i < n; i++) {
      const { token, logProb } = sampleToken(probs.subarray(i * V, (i + 1) * V), sampling);
      actions[i] = token;
      logProbs[i] = logProb;
    }
    return { actions, logProbs, values };
  }

  /**
   * Value estimates of a batch of contexts (uses the act cache without changing it).
   *
   * @param observations `n × contextLength` token ids.
   * @returns `n` values.
   * @example Values of two contexts
   * ```ts
   * import assert from "node:assert/strict";
   * import { setupBackend } from "@proximal/core";
   * import { GruLanguageModel, LmPolicy } from "@proximal/models";
   * await setupBackend("wasm");
   * const policy = new LmPolicy(
   *   new GruLanguageModel(12, { embeddingSize: 4, hiddenSize: 8 }),
   *   { contextLength: 3 },
   * );
   * const values = policy.value(Float32Array.from([1, 4, 0, 1, 5, 6]));
   * assert.equal(values.length, 2);
   * policy.dispose();
   * ```
   */
  value(observations: Float32Array): Float32Array {
    return this.#forward(observations, false).values;
  }

  /**
   * Log-probabilities, entropies and values of given next tokens, on the gradient tape: the GRU
   * reads the padded contexts (up to the longest real one) and each row's last real position is
   * picked with a mask; the log-probs and entropies come from the `head` option's op.
   *
   * @param observations `[n, contextLength]` token ids.
   * @param actions `[n]` next tokens, token ids (a RangeError names the first that is not).
   * @returns See {@linkcode Evaluation}.
   * @example See {@linkcode LmPolicy}
   * ```ts ignore
   * const { logProb, entropy, value } = policy.evaluate(observations, actions);
   * ```
   */
  evaluate(observations: Tensor2D, actions: Tensor): Evaluation {
    if (observations.rank !== 2 || observations.shape[1] !== this.observationSize) {
      throw new RangeError(
        `LmPolicy.evaluate needs observations of shape [n, ${this.observationSize}], got [${
          observations.shape.join(", ")
        }]`,
      );
    }
    const contexts = this.#parse(observations.dataSync() as Float32Array);
    const V = this.model.vocabSize;
    const raw = actions.dataSync();
    const bad = raw.findIndex((a) => !Number.isInteger(a) || a < 0 || a >= V);
    if (raw.length !== contexts.length || bad >= 0) {
      throw new RangeError(
        `LmPolicy.evaluate needs ${contexts.length} actions, token ids in [0, ${V}): got ` +
          (bad >= 0 ? `${raw[bad]} at row ${bad}` : `${raw.length} actions`),
      );
    }
    const ids = Int32Array.from(raw);
    return tf.tidy(() => {
      const { logits, value } = this.#readContexts(contexts);
      let scaled = this.temperature === 1 ? logits : tf.div(logits, this.temperature);
      if (this.topK > 0 && this.topK < V) {
        // Exclude what act's top-k excludes; the thresholds are constants, off the tape.
        const data = scaled.dataSync() as Float32Array;
        const bias = new Float32Array(data.length);
        for (let i = 0; i < contexts.length; i++) {
          const row = data.subarray(i * V, (i + 1) * V);
          const threshold = kthLargest(row, this.topK);
          for (let j = 0; j < V; j++) if (row[j]! < threshold) bias[i * V + j] = MASKED_LOGIT;
        }
        scaled = tf.add(scaled, tf.tensor2d(bias, [contexts.length, V]));
      }
      const { logProb, entropy } = this.#head(scaled as tf.Tensor2D, ids);
      return { logProb, entropy, value: value! };
    });
  }

  /**
   * Forgets every row's cached state (the next `act` reads all contexts from scratch).
   *
   * @example Start over
   * ```ts
   * import assert from "node:assert/strict";
   * import { Rng, setupBackend } from "@proximal/core";
   * import { GruLanguageModel, LmPolicy } from "@proximal/models";
   * await setupBackend("wasm");
   * const policy = new LmPolicy(
   *   new GruLanguageModel(12, { embeddingSize: 4, hiddenSize: 8 }),
   *   { contextLength: 3 },
   * );
   * policy.act(Float32Array.from([1, 0, 0]), { rng: new Rng(0) });
   * policy.resetCache();
   * policy.act(Float32Array.from([1, 0, 0]), { rng: new Rng(0) });
   * assert.equal(policy.cacheStats.recomputed, 2);
   * policy.dispose();
   * ```
   */
  resetCache(): void {
    this.#cache = [];
  }

  /** Frees the model's variables. */
  dispose(): void {
    this.#cache = [];
    this.model.dispose();
  }

  // ── Internals.

  /** Each row's real tokens (before its first `<pad>`), validated. */
  #parse(observations: Float32Array): Int32Array[] {
    const C = this.observationSize, V = this.model.vocabSize;
    const n = observations.length / C;
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(
        `Expected a batch of observations of ${C} tokens each, got ${observations.length} floats`,
      );
    }
    return Array.from({ length: n }, (_, i) => {
      const row = observations.subarray(i * C, (i + 1) * C);
      let length = C;
      for (let t = 0; t < C; t++) {
        const id = row[t]!;
        if (!Number.isInteger(id) || id < 0 || id >= V) {
          throw new RangeError(
            `Observation row ${i} has ${id} at position ${t}, not a token id in [0, ${V})`,
          );
        }
        if (id === 0 && length === C) length = t;
        if (id !== 0 && length < C) {
          throw new RangeError(
            `Observation row ${i} is not left-aligned: token ${id} at position ${t} follows ` +
              `<pad> at position ${length}`,
          );
        }
      }
      if (length === 0) {
        throw new RangeError(
          `Observation row ${i} is all <pad>: a context needs at least one token`,
        );
      }
      return Int32Array.from(row.subarray(0, length));
    });
  }

  /**
   * Reads whole contexts from the zero state, batched: a context that is a prefix of another (a
   * rollout's rows of one episode are) is read in the longer one's pass, at its own length, so
   * the GRU runs over each episode once rather than once per token.
   */
  #readContexts(contexts: readonly Int32Array[]): LmStep {
    const { sequences, rows } = sharePrefixes(contexts);
    const T = Math.max(...sequences.map((c) => c.length));
    const padded = new Int32Array(sequences.length * T);
    sequences.forEach((c, b) => padded.set(c, b * T));
    return this.model.nextTokenLogits(tf.tensor2d(padded, [sequences.length, T], "int32"), {
      lengths: Int32Array.from(contexts, (c) => c.length),
      rows,
    });
  }

  /**
   * The next-token probabilities (for `act`) and values of a batch, using and (for `act`) updating
   * the cache; one read-back.
   */
  #forward(
    observations: Float32Array,
    forAct: boolean,
  ): { probs: Float32Array; values: Float32Array } {
    const contexts = this.#parse(observations);
    const n = contexts.length, model = this.model;
    const V = model.vocabSize, H = model.hiddenSize, L = model.layers;
    const weights = this.variables.map((v) => v.dataId);
    if (weights.some((id, i) => id !== this.#cacheWeights[i])) this.#cache = [];

    const advanced: number[] = [], reused: number[] = [], fresh: number[] = [];
    // The cache entry each row starts from: its own row's; for `value`, else any entry it extends
    // by at most one token (a batch in another order: the final observations of truncated episodes).
    const sources: (CacheEntry | undefined)[] = new Array(n);
    contexts.forEach((tokens, i) => {
      const own = this.#useCache ? this.#cache[i] : undefined;
      const entry = own && extendsBy(tokens, own) <= 1
        ? own
        : this.#useCache && !forAct
        ? this.#cache.find((e) => e !== undefined && extendsBy(tokens, e) <= 1)
        : undefined;
      sources[i] = entry;
      const extra = entry ? extendsBy(tokens, entry) : -1;
      if (extra === 0) reused.push(i);
      else if (extra === 1) advanced.push(i);
      else fresh.push(i);
    });
    const storeStates = forAct && this.#useCache;
    const cachedState = (rows: number[]) => ({
      hidden: Array.from({ length: L }, (_, l) => {
        const data = new Float32Array(rows.length * H);
        rows.forEach((i, j) => data.set(sources[i]!.hidden.subarray(l * H, (l + 1) * H), j * H));
        return tf.tensor2d(data, [rows.length, H]);
      }),
    });
    const out = tf.tidy(() => {
      // Per group: [probs (act only) | value | states (when cached)], rows in group order.
      const pack = (next: NextToken, hidden: readonly tf.Tensor2D[]) => {
        const k = next.logits.shape[0];
        const columns: tf.Tensor[] = [];
        if (forAct) {
          const scaled = this.temperature === 1
            ? next.logits
            : tf.div(next.logits, this.temperature);
          columns.push(tf.softmax(scaled));
        }
        columns.push(tf.reshape(next.value!, [k, 1]));
        if (storeStates) columns.push(...hidden);
        return tf.concat(columns, 1);
      };
      const parts: tf.Tensor[] = [];
      if (advanced.length > 0) {
        const last = Int32Array.from(advanced, (i) => contexts[i]!.at(-1)!);
        const step = model.stepLogits(last, cachedState(advanced));
        parts.push(pack(step, step.state.hidden));
      }
      if (fresh.length > 0) {
        const step = this.#readContexts(fresh.map((i) => contexts[i]!));
        parts.push(pack(step, step.state.hidden));
      }
      if (reused.length > 0) {
        const state = cachedState(reused);
        parts.push(pack(model.readout(state), state.hidden));
      }
      return parts.length === 1 ? parts[0]! : tf.concat(parts, 0);
    });
    const data = out.dataSync() as Float32Array;
    out.dispose();

    const probsWidth = forAct ? V : 0;
    const width = probsWidth + 1 + (storeStates ? L * H : 0);
    const probs = new Float32Array(forAct ? n * V : 0), values = new Float32Array(n);
    const cache: (CacheEntry | undefined)[] = storeStates ? new Array(n) : [];
    [...advanced, ...fresh, ...reused].forEach((i, j) => {
      const row = data.subarray(j * width, (j + 1) * width);
      if (forAct) probs.set(row.subarray(0, V), i * V);
      values[i] = row[probsWidth]!;
      if (storeStates) cache[i] = { tokens: contexts[i]!, hidden: row.slice(probsWidth + 1) };
    });
    if (forAct) {
      this.#stats.advanced += advanced.length;
      this.#stats.reused += reused.length;
      this.#stats.recomputed += fresh.length;
    }
    if (storeStates) {
      this.#cache = cache;
      this.#cacheWeights = weights;
    }
    return { probs, values };
  }
}

/** How many tokens `tokens` adds to the entry's context (Infinity unless it begins with it). */
function extendsBy(tokens: Int32Array, entry: CacheEntry): number {
  return startsWith(tokens, entry.tokens) ? tokens.length - entry.tokens.length : Infinity;
}

/** Whether `tokens` begins with `prefix`. */
function startsWith(tokens: Int32Array, prefix: Int32Array): boolean {
  if (prefix.length > tokens.length) return false;
  for (let i = 0; i < prefix.length; i++) if (tokens[i] !== prefix[i]) return false;
  return true;
}

/**
 * The fewest sequences that hold every context as a prefix (longest first, each context joining
 * the first sequence it begins), and the sequence each context reads from.
 */
function sharePrefixes(
  contexts: readonly Int32Array[],
): { sequences: Int32Array[]; rows: Int32Array } {
  const order = contexts.map((_, i) => i).sort((a, b) => contexts[b]!.length - contexts[a]!.length);
  const sequences: Int32Array[] = [], rows = new Int32Array(contexts.length);
  // Candidates by first two tokens (prompt starts), so a context is compared with few sequences.
  const byStart = new Map<string, number[]>();
  for (const i of order) {
    const c = contexts[i]!, key = `${c[0]},${c[1] ?? -1},${c[2] ?? -1}`;
    const candidates = byStart.get(key) ?? [];
    let found = candidates.find((s) => startsWith(sequences[s]!, c));
    if (found === undefined) {
      found = sequences.push(c) - 1;
      candidates.push(found);
      byStart.set(key, candidates);
    }
    rows[i] = found;
  }
  return { sequences, rows };
}
