/**
 * The seam between PPO's algorithm (`ppo.ts`) and its speed work (private): the one interface
 * every gradient engine implements, {@linkcode GradientEngine}, and the data the algorithm passes
 * (the public types are re-exported by `ppo.ts`).
 *
 * An engine returns the gradient of `ppoLoss` on a minibatch at the policy's current weights.
 * `ppo.ts`'s `ppoGradient` is the reference (autodiff through `ppoLoss`, any policy); the
 * closed-form MLP engine (`_ppo_mlp_engine.ts`) computes the same numbers without a gradient tape,
 * and PPO's workers sum its shards' shares of them (`_ppo_worker.ts`). tests/ppo_math_test.ts pins
 * both to the reference. Also here: the flat weights that the engines and Adam share, the copying
 * of a minibatch's rows, and the one read-back of an autodiff gradient under `ppoGradient`.
 */
import * as tf from "@tensorflow/tfjs";
import type { Scalar, Tensor1D, Variable } from "@proximal/core";

/** The rows of one minibatch (or of a worker's share of it): what a gradient step reads. */
export interface Minibatch {
  /** `n × observationSize` observations. */
  observations: Float32Array;
  /** `n` action indices (`Discrete`) or `n × actionSize` floats (`Box`). */
  actions: Int32Array | Float32Array;
  /** `n` log-probs recorded in the rollout. */
  logProbs: Float32Array;
  /** `n` values recorded in the rollout. */
  values: Float32Array;
  /** `n` advantages (already normalised if wanted). */
  advantages: Float32Array;
  /** `n` value targets. */
  returns: Float32Array;
}

/** Options of `computeGae`. */
export interface GaeOptions {
  /** Discount factor γ. */
  gamma: number;
  /** GAE's λ. */
  lambda: number;
}

/** What `computeGae` returns. */
export interface GaeResult {
  /** `T × N` advantages. */
  advantages: Float32Array;
  /** `T × N` value targets: advantages + values. */
  returns: Float32Array;
}

/** The minibatch tensors `ppoLoss` needs. */
export interface PpoLossInputs {
  /** `[n]` log-probs of the actions under the current policy. */
  newLogProb: Tensor1D;
  /** `[n]` entropies under the current policy. */
  entropy: Tensor1D;
  /** `[n]` values under the current policy. */
  newValue: Tensor1D;
  /** `[n]` log-probs recorded in the rollout. */
  oldLogProb: Tensor1D;
  /** `[n]` values recorded in the rollout. */
  oldValue: Tensor1D;
  /** `[n]` advantages (already normalised if wanted). */
  advantages: Tensor1D;
  /** `[n]` value targets. */
  returns: Tensor1D;
}

/** What `ppoLoss` returns: the total loss and its parts, as scalars. */
export interface PpoLossTerms {
  /** pg + vfCoef·v − entCoef·entropy (+ β·approxKl). */
  loss: Scalar;
  /** The clipped surrogate loss. */
  policyLoss: Scalar;
  /** The (optionally clipped) value loss, with its ½. */
  valueLoss: Scalar;
  /** The mean entropy. */
  entropy: Scalar;
  /** mean(−log r), the naive KL estimate. */
  oldApproxKl: Scalar;
  /** mean((r − 1) − log r), the low-variance KL estimate. */
  approxKl: Scalar;
  /** The fraction of samples whose ratio left [1 − ε, 1 + ε]. */
  clipfrac: Scalar;
}

/** The coefficients of `ppoLoss`. */
export interface PpoLossOptions {
  /** The surrogate's clipping range ε (and the value clip's, with `clipVloss`). */
  clipCoef: number;
  /** Clip the value loss around the old values. */
  clipVloss: boolean;
  /** Entropy bonus coefficient. */
  entCoef: number;
  /** Value loss coefficient. */
  vfCoef: number;
  /** The KL penalty's β; 0 leaves the penalty out. */
  klCoef: number;
}

/** `ppoLoss`'s terms as plain numbers (the total is `ppoLossValue` of them). */
export interface PpoLossValues {
  /** The clipped surrogate loss. */
  policyLoss: number;
  /** The (optionally clipped) value loss, with its ½. */
  valueLoss: number;
  /** The mean entropy. */
  entropy: number;
  /** mean(−log r), the naive KL estimate. */
  oldApproxKl: number;
  /** mean((r − 1) − log r), the low-variance KL estimate. */
  approxKl: number;
  /** The fraction of samples whose ratio left [1 − ε, 1 + ε]. */
  clipfrac: number;
}

/** What a {@linkcode GradientEngine} returns. */
export interface PpoGradient {
  /** d(loss)/d(weights), flat in `policy.variables` order. */
  grad: Float32Array;
  /** The loss's terms at the weights the gradient was taken at. */
  terms: PpoLossValues;
}

/**
 * A gradient engine: the gradient of `ppoLoss` on a minibatch at the policy's current weights.
 * PPO's update takes one Adam step with it per minibatch.
 */
export type GradientEngine = (minibatch: Minibatch, loss: PpoLossOptions) => PpoGradient;

/** What one gradient step of the update reports. */
export interface StepResult {
  /** The loss's terms before the step. */
  terms: PpoLossValues;
  /** The global gradient norm before clipping. */
  gradNorm: number;
}

/** What an update's epochs report (`runEpochs` in `ppo.ts`). */
export interface UpdateResult {
  /** The last step's terms and gradient norm (CleanRL logs the last minibatch's). */
  last: StepResult;
  /** The mean clip fraction over the update's steps. */
  clipfrac: number;
  /** Gradient steps taken. */
  steps: number;
  /** Epochs run: fewer than `updateEpochs` when the target KL stopped the update. */
  epochs: number;
}

/**
 * The variables' values, flat in their order (one read-back).
 *
 * @param variables The variables.
 * @returns A new array.
 */
function readFlat(variables: readonly Variable[]): Float32Array {
  const flat = tf.tidy(() => tf.concat(variables.map((v) => v.reshape([-1]))));
  const data = flat.dataSync() as Float32Array;
  flat.dispose();
  return data.slice();
}

/**
 * Loads flat values into the variables, in their order.
 *
 * @param variables The variables.
 * @param params Their values, flat.
 */
export function assignFlat(variables: readonly Variable[], params: Float32Array): void {
  let offset = 0;
  for (const variable of variables) {
    const values = params.subarray(offset, offset + variable.size);
    tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, "float32")));
    offset += variable.size;
  }
}

/**
 * Copies rows `order[start]`, `order[start + 1]`, … of `from` into `into`, one per row of `into`:
 * only the fields `into` has (a worker's actor half needs no values, its critic half no actions).
 *
 * @param from All the rows (a rollout's, time-major).
 * @param order The rows' order this epoch.
 * @param options Where in `order` to start, and the rows to fill.
 */
export function gatherRows(
  from: Minibatch,
  order: Int32Array,
  options: { start: number; into: Partial<Minibatch> },
): void {
  const { start, into } = options, rows = from.logProbs.length;
  const o = from.observations.length / rows, a = from.actions.length / rows;
  const count = (into.logProbs ?? into.values)!.length;
  for (let r = 0; r < count; r++) {
    const k = order[start + r]!;
    into.observations?.set(from.observations.subarray(k * o, (k + 1) * o), r * o);
    into.actions?.set(from.actions.subarray(k * a, (k + 1) * a), r * a);
    if (into.logProbs) into.logProbs[r] = from.logProbs[k]!;
    if (into.values) into.values[r] = from.values[k]!;
    if (into.advantages) into.advantages[r] = from.advantages[k]!;
    if (into.returns) into.returns[r] = from.returns[k]!;
  }
}

/**
 * Empty rows shaped like `like`'s, for {@linkcode gatherRows} to fill.
 *
 * @param like Rows whose observation and action sizes and action type to copy.
 * @param rows How many rows.
 * @returns The rows, zeroed.
 */
export function emptyRows(like: Minibatch, rows: number): Minibatch {
  const per = (a: { length: number }) => rows * a.length / like.logProbs.length;
  return {
    observations: new Float32Array(per(like.observations)),
    actions: like.actions instanceof Int32Array
      ? new Int32Array(per(like.actions))
      : new Float32Array(per(like.actions)),
    logProbs: new Float32Array(rows),
    values: new Float32Array(rows),
    advantages: new Float32Array(rows),
    returns: new Float32Array(rows),
  };
}

/**
 * A policy's weights, flat, for Adam to update in place: read back once, and again only when
 * something else assigned the variables (a checkpoint's restore, a caller), which gives them new
 * data.
 */
export class FlatWeights {
  readonly #variables: readonly Variable[];
  #values: Float32Array = new Float32Array(0);
  #sources: object[] = [];

  /** @param variables The policy's variables. */
  constructor(variables: readonly Variable[]) {
    this.#variables = variables;
  }

  /** The weights, flat in the variables' order (updated in place by Adam, then {@linkcode load}). */
  get values(): Float32Array {
    const vars = this.#variables;
    if (vars.some((v, i) => v.dataId !== this.#sources[i])) {
      this.#values = readFlat(vars);
      this.#sources = vars.map((v) => v.dataId);
    }
    return this.#values;
  }

  /** Loads the flat weights into the variables. */
  load(): void {
    assignFlat(this.#variables, this.#values);
    this.#sources = this.#variables.map((v) => v.dataId);
  }
}

/**
 * The gradient of a loss by autodiff at the variables' current values, flat in their order, with
 * named scalars computed beside the loss, in one read-back: the machinery under `ppoGradient`.
 *
 * @param variables The variables to differentiate with respect to.
 * @param lossFn Builds the loss and the scalars (inside a tidy and the gradient tape).
 * @returns The gradient (zeros for a variable the loss does not reach) and the scalars' values.
 */
export function tapeGradient<K extends string>(
  variables: readonly Variable[],
  lossFn: () => { loss: Scalar; metrics: Record<K, Scalar> },
): { grad: Float32Array; metrics: Record<K, number> } {
  let names: K[] = [];
  const flat = tf.tidy(() => {
    let metrics: Scalar[] = [];
    const { grads } = tf.variableGrads(() => {
      const out = lossFn();
      names = Object.keys(out.metrics) as K[];
      // variableGrads disposes everything but the loss; keep the metrics past it.
      metrics = names.map((name) => tf.keep(out.metrics[name]));
      return out.loss;
    }, variables as tf.Variable[]);
    const parts = [
      ...metrics.map((m) => m.reshape([1])),
      ...variables.map((v) => grads[v.name]?.reshape([-1]) ?? tf.zeros([v.size])),
    ];
    const out = tf.concat(parts);
    tf.dispose(metrics);
    return out;
  });
  const data = flat.dataSync() as Float32Array;
  flat.dispose();
  const values = Object.fromEntries(names.map((name, i) => [name, data[i]!]));
  return { grad: data.subarray(names.length), metrics: values as Record<K, number> };
}
