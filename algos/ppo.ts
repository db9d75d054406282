/**
 * Proximal Policy Optimization (Schulman et al., 2017), after CleanRL's `ppo.py`. Read it top to
 * bottom: the hyperparameters; the math (GAE, the clipped loss); the rollout; the update (epochs of
 * minibatch steps, each an Adam step on the loss's gradient); then the trainer, whose `iterate`
 * strings them together: rollout → processors → advantages → update → report.
 *
 * Beyond CleanRL: a truncated episode's last observation is bootstrapped (reward += γ·V(s_final),
 * as SB3 does) instead of being treated as terminal, and an optional adaptive KL penalty
 * (PPO-penalty, §4 of the paper) can stand beside or replace the target-KL early stop.
 *
 * Speed is fenced off behind one seam, the gradient engine (`_ppo_engine.ts`): for its own MLP
 * policy PPO takes the gradient of {@linkcode ppoLoss} in closed form instead of by autodiff
 * (`_ppo_mlp_engine.ts`), and with `numWorkers` runs this file's rollout, GAE and epochs in Deno
 * Workers (`_ppo_pool.ts`, `_ppo_worker.ts`, `_ppo_shard.ts`). tests/ppo_math_test.ts pins both
 * to {@linkcode ppoGradient}, autodiff through `ppoLoss`: the loss below is the loss that trains.
 */
import * as tf from "@tensorflow/tfjs";
import {
  Adam,
  type AlgoContext,
  type Checkpoint,
  type IterationReport,
  loadVariables,
  type Policy,
  Rng,
  type RngState,
  type Rollout,
  type RolloutProcessor,
  saveVariables,
  type Scalar,
  type Tensor1D,
  type Trainer,
  VectorEnv,
  type VectorEnvState,
} from "@proximal/core";
import { MlpPolicy } from "@proximal/models";
import {
  FlatWeights,
  gatherRows,
  type GradientEngine,
  type Minibatch,
  type PpoGradient,
  type PpoLossOptions,
  type PpoLossValues,
  type StepResult,
  type UpdateResult,
} from "./_ppo_engine.ts";
import { mlpGradient } from "./_ppo_mlp_engine.ts";
import { collectRollout, type PpoRollout, runEpochs } from "./ppo_loops.ts";
import { type PpoWorkerPool, startWorkerPool } from "./_ppo_pool.ts";
import type { ShardState } from "./_ppo_protocol.ts";

export type {
  Minibatch,
  PpoGradient,
  PpoLossOptions,
  PpoLossValues,
  StepResult,
  UpdateResult,
} from "./_ppo_engine.ts";

// ──────────────────────────────── Hyperparameters ────────────────────────────────

/** PPO's hyperparameters. Every field becomes a CLI flag (`learningRate` → `--learning-rate`). */
export type PpoOptions = {
  /** Adam's step size at the start; default 2.5e-4. */
  learningRate: number;
  /** Steps per env copy in each rollout; default 128 (batch = numEnvs × numSteps). */
  numSteps: number;
  /** Anneal the learning rate linearly to 0 over the run; default true. */
  annealLr: boolean;
  /** Discount factor γ; default 0.99. */
  gamma: number;
  /** GAE's λ; default 0.95. */
  gaeLambda: number;
  /** Minibatches per epoch; default 4. */
  numMinibatches: number;
  /** Passes over each rollout; default 4. */
  updateEpochs: number;
  /** Normalise advantages within each minibatch; default true. */
  normAdv: boolean;
  /** The surrogate's clipping range ε; default 0.2. */
  clipCoef: number;
  /** Clip the value loss around the old values (with `clipCoef`); default true. */
  clipVloss: boolean;
  /** Entropy bonus coefficient; default 0.01. */
  entCoef: number;
  /** Value loss coefficient; default 0.5. */
  vfCoef: number;
  /** Global gradient-norm clipping threshold; default 0.5. */
  maxGradNorm: number;
  /** Stop an update's epochs once the approximate KL exceeds this; 0 is off (CleanRL's None); default 0. */
  targetKl: number;
  /** Initial coefficient β of a KL penalty β·KL(old‖new) in the loss; 0 is off; default 0. */
  klPenaltyCoef: number;
  /** With the penalty on, β doubles when KL > 1.5·target and halves when KL < target/1.5; 0 keeps β fixed; default 0.01. */
  klPenaltyTarget: number;
  /** Bootstrap a truncated episode's final observation instead of treating it as terminal; default true. */
  bootstrapTruncated: boolean;
  /** Width of each hidden layer (actor and critic alike); default 64. */
  hiddenSize: number;
  /** Number of hidden layers; default 2. */
  hiddenLayers: number;
  /** Adam's ε; default 1e-5. */
  adamEpsilon: number;
  /**
   * How the update takes the loss's gradient: `"auto"` picks the fastest engine that fits (for
   * PPO's MLP policy the closed form, in the workers with `numWorkers`; autodiff for any other
   * policy); `"autodiff"` always differentiates {@linkcode ppoLoss} through `policy.evaluate` (the
   * reference, slower, without workers), to check the fast path against. Default "auto".
   * (A string, as the plugin's options are; the trainer rejects any other.)
   */
  gradient: string;
  /**
   * Deno Workers that run the rollout and the gradients: the env copies split into `numShards`
   * shards dealt to the workers, each worker stepping its shards' envs and computing their GAE;
   * then at every minibatch the workers share out the shards' actor and critic halves of the
   * gradient, and every worker sums them and steps its own copy of Adam (the same numbers in
   * each). Needs PPO's own MLP policy, no rollout processors and `envSource` in the context (the
   * CLI gives it). 0 runs everything in this thread; default 0.
   */
  numWorkers: number;
  /**
   * Shards of the env copies with workers (0 = one per worker). A run's numbers depend on the seed
   * and the shards, never on the workers: with 1 shard (the default) any number of workers gives
   * the numbers of `numWorkers` 0, the rollout runs in one worker and the update's actor and
   * critic halves in two; more shards also run the rollout in parallel (for envs that are costly
   * to step) but draw other random numbers. Must divide `numEnvs`; default 1.
   */
  numShards: number;
};

/** CleanRL's defaults for classic control. */
export const ppoDefaults: PpoOptions = {
  learningRate: 2.5e-4,
  numSteps: 128,
  annealLr: true,
  gamma: 0.99,
  gaeLambda: 0.95,
  numMinibatches: 4,
  updateEpochs: 4,
  normAdv: true,
  clipCoef: 0.2,
  clipVloss: true,
  entCoef: 0.01,
  vfCoef: 0.5,
  maxGradNorm: 0.5,
  targetKl: 0,
  klPenaltyCoef: 0,
  klPenaltyTarget: 0.01,
  bootstrapTruncated: true,
  hiddenSize: 64,
  hiddenLayers: 2,
  adamEpsilon: 1e-5,
  gradient: "auto",
  numWorkers: 0,
  numShards: 1,
};

// ──────────────────────────────── The math ────────────────────────────────

/** Options of {@linkcode computeGae}. */
export interface GaeOptions {
  /** Discount factor γ. */
  gamma: number;
  /** GAE's λ. */
  lambda: number;
}

/** What {@linkcode computeGae} returns. */
export interface GaeResult {
  /** `T × N` advantages. */
  advantages: Float32Array;
  /** `T × N` value targets: advantages + values. */
  returns: Float32Array;
}

/**
 * Generalised advantage estimation over a `T × N` rollout (time-major: index `t * N + i`).
 * `ended[t*N+i]` is 1 when step `t` of copy `i` ended its episode, so nothing flows back across it;
 * rewards of truncated steps should already include the bootstrapped final value.
 *
 * @param rollout Rewards, values and episode ends of the rollout, and the values after it.
 * @param options γ and λ.
 * @returns Advantages and returns.
 * @example One env, two steps, no episode end
 * ```ts
 * import assert from "node:assert/strict";
 * import { computeGae } from "@proximal/algos";
 * const { advantages } = computeGae(
 *   {
 *     rewards: Float32Array.from([1, 1]),
 *     values: Float32Array.from([0, 0]),
 *     ended: Uint8Array.from([0, 0]),
 *     lastValues: Float32Array.from([0]),
 *   },
 *   { gamma: 0.5, lambda: 1 },
 * );
 * assert.ok(advantages[0] === 1.5 && advantages[1] === 1);
 * ```
 */
export function computeGae(
  rollout: {
    rewards: Float32Array;
    values: Float32Array;
    ended: Uint8Array;
    lastValues: Float32Array;
  },
  options: GaeOptions,
): GaeResult {
  const { rewards, values, ended, lastValues } = rollout;
  const n = lastValues.length, total = rewards.length, steps = total / n;
  const { gamma, lambda } = options;
  const advantages = new Float32Array(total), returns = new Float32Array(total);
  for (let i = 0; i < n; i++) {
    let lastGae = 0;
    for (let t = steps - 1; t >= 0; t--) {
      const k = t * n + i;
      const nextNonTerminal = 1 - ended[k]!;
      const nextValue = t === steps - 1 ? lastValues[i]! : values[k + n]!;
      const delta = rewards[k]! + gamma * nextValue * nextNonTerminal - values[k]!;
      lastGae = delta + gamma * lambda * nextNonTerminal * lastGae;
      advantages[k] = lastGae;
      returns[k] = lastGae + values[k]!;
    }
  }
  return { advantages, returns };
}

/** The minibatch tensors {@linkcode ppoLoss} needs. */
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

/** What {@linkcode ppoLoss} returns: the total loss and its parts, as scalars. */
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

/**
 * PPO's loss on one minibatch, exactly as CleanRL computes it: the clipped surrogate, minus the
 * entropy bonus, plus the (clipped) value loss, plus the optional KL penalty. Every gradient
 * engine computes this loss's gradient ({@linkcode ppoGradient} by autodiff).
 *
 * @param inputs The minibatch tensors.
 * @param options `clipCoef`, `clipVloss`, `entCoef`, `vfCoef`, and the KL penalty β (`klCoef`, 0 = off).
 * @returns The total loss and its parts.
 * @example Ratio 1 and zero advantage give zero policy loss
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { ppoLoss } from "@proximal/algos";
 * import { setupBackend } from "@proximal/core";
 * await setupBackend("cpu");
 * const z = tf.zeros([2]) as tf.Tensor1D;
 * const { policyLoss } = ppoLoss(
 *   { newLogProb: z, entropy: z, newValue: z, oldLogProb: z, oldValue: z, advantages: z, returns: z },
 *   { clipCoef: 0.2, clipVloss: true, entCoef: 0.01, vfCoef: 0.5, klCoef: 0 },
 * );
 * assert.ok(policyLoss.dataSync()[0] === 0);
 * ```
 */
export function ppoLoss(
  inputs: PpoLossInputs,
  options: PpoLossOptions,
): PpoLossTerms {
  const { entCoef, vfCoef, klCoef } = options;
  const terms = policyTerms(inputs, options.clipCoef);
  const valueLoss = valueTerm(inputs, options);
  let loss = tf.add(
    tf.sub(terms.policyLoss, tf.mul(entCoef, terms.entropy)),
    tf.mul(vfCoef, valueLoss),
  );
  if (klCoef > 0) loss = tf.add(loss, tf.mul(klCoef, terms.approxKl));
  return { loss: loss as tf.Scalar, ...terms, valueLoss };
}

/**
 * {@linkcode ppoLoss}'s `loss` from its terms as plain numbers — its scalar form, for the engines
 * that compute the terms without tensors (the total feeds Adam's divergence check).
 *
 * @param terms The loss's terms.
 * @param options The loss's coefficients.
 * @returns policyLoss − entCoef·entropy + vfCoef·valueLoss (+ klCoef·approxKl).
 * @example The total of hand-picked terms
 * ```ts
 * import assert from "node:assert/strict";
 * import { ppoLossValue } from "@proximal/algos";
 * const terms = {
 *   policyLoss: -0.2,
 *   valueLoss: 0.845,
 *   entropy: 0.7,
 *   oldApproxKl: 0,
 *   approxKl: 0.1,
 *   clipfrac: 1,
 * };
 * const options = { clipCoef: 0.2, clipVloss: true, entCoef: 0.01, vfCoef: 0.5, klCoef: 0 };
 * assert.ok(Math.abs(ppoLossValue(terms, options) - 0.2155) < 1e-12);
 * ```
 */
export function ppoLossValue(terms: PpoLossValues, options: PpoLossOptions): number {
  const { policyLoss, valueLoss, entropy, approxKl } = terms;
  const loss = policyLoss - options.entCoef * entropy + options.vfCoef * valueLoss;
  return options.klCoef > 0 ? loss + options.klCoef * approxKl : loss;
}

/** The actor's terms: the clipped surrogate, the mean entropy, the KL estimates, the clip fraction. */
function policyTerms(
  inputs: Pick<PpoLossInputs, "newLogProb" | "entropy" | "oldLogProb" | "advantages">,
  clipCoef: number,
): Omit<PpoLossTerms, "loss" | "valueLoss"> {
  const { newLogProb, entropy, oldLogProb, advantages } = inputs;
  const logRatio = tf.sub(newLogProb, oldLogProb);
  const ratio = tf.exp(logRatio);
  const oldApproxKl = tf.mean(tf.neg(logRatio)) as tf.Scalar;
  const approxKl = tf.mean(tf.sub(tf.sub(ratio, 1), logRatio)) as tf.Scalar;
  const clipfrac = tf.mean(
    tf.cast(tf.greater(tf.abs(tf.sub(ratio, 1)), clipCoef), "float32"),
  ) as tf.Scalar;

  // The clipped surrogate: the pessimistic of the unclipped and clipped objectives.
  const pg1 = tf.mul(tf.neg(advantages), ratio);
  const pg2 = tf.mul(tf.neg(advantages), tf.clipByValue(ratio, 1 - clipCoef, 1 + clipCoef));
  const policyLoss = tf.mean(tf.maximum(pg1, pg2)) as tf.Scalar;
  const meanEntropy = tf.mean(entropy) as tf.Scalar;
  return { policyLoss, entropy: meanEntropy, oldApproxKl, approxKl, clipfrac };
}

/** The critic's term: the (optionally clipped) value loss, with its ½. */
function valueTerm(
  inputs: Pick<PpoLossInputs, "newValue" | "oldValue" | "returns">,
  options: { clipCoef: number; clipVloss: boolean },
): Scalar {
  const { newValue, oldValue, returns } = inputs;
  const { clipCoef, clipVloss } = options;
  const vUnclipped = tf.square(tf.sub(newValue, returns));
  return clipVloss
    ? tf.mul(
      0.5,
      tf.mean(tf.maximum(
        vUnclipped,
        tf.square(
          tf.sub(
            tf.add(oldValue, tf.clipByValue(tf.sub(newValue, oldValue), -clipCoef, clipCoef)),
            returns,
          ),
        ),
      )),
    ) as tf.Scalar
    : tf.mul(0.5, tf.mean(vUnclipped)) as tf.Scalar;
}

// ──────────────────────────────── The update ────────────────────────────────

/**
 * The gradient of {@linkcode ppoLoss} on a minibatch by autodiff through `policy.evaluate`: the
 * reference gradient engine, for any policy (the RLHF language model trains with it), and what
 * tests/ppo_math_test.ts pins the fast engines to.
 *
 * @param policy The policy, at the weights to differentiate at.
 * @param minibatch The minibatch's rows.
 * @param options The loss's coefficients.
 * @returns The gradient, flat in `policy.variables` order, and the loss's terms.
 * @example The gradient has one entry per weight
 * ```ts
 * import assert from "node:assert/strict";
 * import { ppoGradient } from "@proximal/algos";
 * import { Box, Discrete, setupBackend } from "@proximal/core";
 * import { MlpPolicy } from "@proximal/models";
 * await setupBackend("cpu");
 * const policy = new MlpPolicy(new Box({ low: -1, high: 1, shape: [3] }), new Discrete(2));
 * const rows = Float32Array.from([0.5, -0.5]);
 * const { grad, terms } = ppoGradient(policy, {
 *   observations: new Float32Array(6),
 *   actions: Int32Array.from([0, 1]),
 *   logProbs: Float32Array.from([Math.log(0.5), Math.log(0.5)]),
 *   values: new Float32Array(2),
 *   advantages: rows,
 *   returns: rows,
 * }, { clipCoef: 0.2, clipVloss: true, entCoef: 0.01, vfCoef: 0.5, klCoef: 0 });
 * assert.equal(grad.length, policy.variables.reduce((n, v) => n + v.size, 0));
 * assert.ok(Math.abs(terms.approxKl) < 1e-6);
 * policy.dispose();
 * ```
 */
export function ppoGradient(
  policy: Policy,
  minibatch: Minibatch,
  options: PpoLossOptions,
): PpoGradient {
  const n = minibatch.logProbs.length, vars = policy.variables as tf.Variable[];
  const flat = tf.tidy(() => {
    let terms: tf.Scalar[] = [];
    const { grads } = tf.variableGrads(() => {
      const observations = tf.tensor2d(minibatch.observations, [n, policy.observationSize]);
      const actions = minibatch.actions instanceof Int32Array
        ? tf.tensor1d(minibatch.actions, "int32")
        : tf.tensor2d(minibatch.actions, [n, minibatch.actions.length / n]);
      const { logProb, entropy, value } = policy.evaluate(observations, actions);
      const loss = ppoLoss({
        newLogProb: logProb,
        entropy,
        newValue: value,
        oldLogProb: tf.tensor1d(minibatch.logProbs),
        oldValue: tf.tensor1d(minibatch.values),
        advantages: tf.tensor1d(minibatch.advantages),
        returns: tf.tensor1d(minibatch.returns),
      }, options);
      // variableGrads disposes everything but the loss; keep the terms past it.
      terms = [
        loss.policyLoss,
        loss.valueLoss,
        loss.entropy,
        loss.oldApproxKl,
        loss.approxKl,
        loss.clipfrac,
      ].map((t) => tf.keep(t));
      return loss.loss;
    }, vars);
    const parts = [
      ...terms.map((t) => t.reshape([1])),
      ...vars.map((v) => grads[v.name]?.reshape([-1]) ?? tf.zeros([v.size])),
    ];
    const out = tf.concat(parts);
    tf.dispose(terms);
    return out;
  });
  const data = flat.dataSync() as Float32Array;
  flat.dispose();
  const [policyLoss, valueLoss, entropy, oldApproxKl, approxKl, clipfrac] = data;
  return {
    grad: data.subarray(6),
    terms: {
      policyLoss: policyLoss!,
      valueLoss: valueLoss!,
      entropy: entropy!,
      oldApproxKl: oldApproxKl!,
      approxKl: approxKl!,
      clipfrac: clipfrac!,
    },
  };
}

// ──────────────────────────────── The trainer ────────────────────────────────

/** What {@linkcode Ppo} needs besides its hyperparameters. */
export interface PpoContext extends AlgoContext {
  /**
   * Rewrite each rollout's rewards before GAE, in order (e.g. RLHF's sequence score and per-token
   * KL penalty); their metrics join PPO's. Default none.
   */
  processors?: readonly RolloutProcessor[];
  /** A policy to train instead of the default {@linkcode MlpPolicy}. */
  policy?: Policy;
}

const METRIC_NAMES = [
  "charts/learning_rate",
  "charts/SPS",
  "perf/rollout_ms",
  "perf/update_ms",
  "charts/episodic_return",
  "charts/episodic_length",
  "losses/value_loss",
  "losses/policy_loss",
  "losses/entropy",
  "losses/old_approx_kl",
  "losses/approx_kl",
  "losses/clipfrac",
  "losses/explained_variance",
  "losses/grad_norm",
  "losses/kl_penalty_coef",
  "losses/epochs",
] as const;

/** One iteration's parts, as {@linkcode Ppo}'s report reads them. */
interface Iteration {
  lr: number;
  rolloutStart: number;
  updateStart: number;
  values: Float32Array;
  returns: Float32Array;
  episodes: Rollout["episodes"];
  update: UpdateResult;
  processorMetrics: Record<string, number>;
}

/**
 * The PPO trainer: each {@linkcode Ppo.iterate} collects `numEnvs × numSteps` steps and runs
 * `updateEpochs × numMinibatches` gradient steps on them.
 *
 * @example Train CartPole for two iterations
 * ```ts
 * import assert from "node:assert/strict";
 * import { Ppo } from "@proximal/algos";
 * import { setupBackend } from "@proximal/core";
 * import { CartPole } from "@proximal/envs";
 * await setupBackend("wasm");
 * const ppo = new Ppo(
 *   { makeEnv: () => new CartPole(), numEnvs: 4, seed: 1, totalTimesteps: 1024 },
 *   { numSteps: 128 },
 * );
 * while (!ppo.done) await ppo.iterate();
 * assert.ok(ppo.step === 1024);
 * ppo.dispose();
 * ```
 */
export class Ppo implements Trainer {
  /** The plugin name. */
  readonly algo = "ppo";
  /** What {@linkcode Ppo.step} counts. */
  readonly unit = "env steps";
  /** The metric names {@linkcode Ppo.iterate} reports, PPO's then the processors'. */
  readonly metricNames: readonly string[];
  /** The hyperparameters in force. */
  readonly options: Readonly<PpoOptions>;
  /** The policy being trained. */
  readonly policy: Policy;
  /** The env copies. */
  readonly envs: VectorEnv;
  readonly #adam: Adam;
  readonly #processors: readonly RolloutProcessor[];
  readonly #rng: Rng;
  readonly #numIterations: number;
  readonly #batchSize: number;
  /** The loss's gradient on a minibatch (see the option `gradient`). */
  readonly #gradient: GradientEngine;
  /** With `numWorkers` > 0: the workers, which run whole iterations. */
  readonly #workers: PpoWorkerPool | null;
  /** The weights, flat, that Adam updates in place; the policy loads them after each step. */
  readonly #weights: FlatWeights;
  #iteration = 0;
  #step = 0;
  #klCoef: number;
  #observations: Float32Array;
  #startTime = 0;
  #startStep = 0;

  /**
   * Builds the env copies, the policy and the optimizer.
   *
   * @param context The env factory, copy count, seed and step budget.
   * @param options Hyperparameters; missing ones take {@linkcode ppoDefaults}.
   */
  constructor(context: PpoContext, options: Partial<PpoOptions> = {}) {
    const o = { ...ppoDefaults, ...options };
    checkOptions(o);
    this.options = o;
    const { numEnvs, seed, totalTimesteps } = context;
    this.#batchSize = numEnvs * o.numSteps;
    if (this.#batchSize % o.numMinibatches !== 0) {
      throw new RangeError(
        `PPO's batch of ${this.#batchSize} (numEnvs ${numEnvs} × numSteps ${o.numSteps}) does not split into ${o.numMinibatches} equal minibatches`,
      );
    }
    if (o.numWorkers === 0 && o.numShards > 1) {
      throw new RangeError(
        `PPO option numShards ${o.numShards} needs numWorkers >= 1 (shards are the workers' split of the envs)`,
      );
    }
    this.#numIterations = Math.max(1, Math.floor(totalTimesteps / this.#batchSize));
    this.#rng = new Rng(seed);
    this.envs = new VectorEnv(context.makeEnv, { numEnvs, seed, name: context.envName ?? "env" });
    const policy = this.policy = context.policy ??
      new MlpPolicy(this.envs.observationSpace, this.envs.actionSpace, {
        hiddenSizes: new Array(o.hiddenLayers).fill(o.hiddenSize),
        seed,
      });
    this.#adam = new Adam(policy.variables, {
      learningRate: o.learningRate,
      epsilon: o.adamEpsilon,
      maxGradNorm: o.maxGradNorm,
    });
    this.#klCoef = o.klPenaltyCoef;
    this.#processors = context.processors ?? [];
    this.metricNames = [...METRIC_NAMES, ...this.#processors.flatMap((p) => p.metricNames ?? [])];
    this.#observations = this.envs.reset().slice();
    this.#gradient = policy instanceof MlpPolicy && o.gradient === "auto"
      ? mlpGradient(policy)
      : (minibatch, loss) => ppoGradient(policy, minibatch, loss);
    this.#weights = new FlatWeights(policy.variables);
    this.#workers = o.numWorkers > 0
      ? startWorkerPool(policy, { options: o, numShards: this.#numShards, context, rng: this.#rng })
      : null;
  }

  /** Env steps taken so far. */
  get step(): number {
    return this.#step;
  }

  /** True once the step budget is used up. */
  get done(): boolean {
    return this.#iteration >= this.#numIterations;
  }

  /**
   * One PPO iteration: the rollout, the processors' reward shaping, GAE, then the update's epochs
   * (with workers, the workers run all but the processors, which they refuse).
   *
   * @returns The step count, the metrics and the episodes that finished.
   * @example See {@linkcode Ppo}
   * ```ts ignore
   * const { metrics } = await ppo.iterate();
   * ```
   */
  async iterate(): Promise<IterationReport> {
    const lr = this.#startIteration();
    if (this.#workers) return this.#report(await this.#iterateInWorkers(lr));
    const rolloutStart = performance.now();
    const rollout = this.#rollout();
    const processorMetrics = await this.#process(rollout);
    const { advantages, returns } = computeGae(rollout, {
      gamma: this.options.gamma,
      lambda: this.options.gaeLambda,
    });
    const updateStart = performance.now();
    const update = this.#update({ ...rollout, advantages, returns });
    const { values, episodes } = rollout;
    return this.#report({
      lr,
      rolloutStart,
      updateStart,
      values,
      returns,
      episodes,
      update,
      processorMetrics,
    });
  }

  /** Counts the iteration and anneals the learning rate: the first runs at the full rate. */
  #startIteration(): number {
    const o = this.options;
    if (this.#startTime === 0) {
      this.#startTime = performance.now();
      this.#startStep = this.#step;
    }
    this.#iteration++;
    const lr = o.annealLr
      ? (1 - (this.#iteration - 1) / this.#numIterations) * o.learningRate
      : o.learningRate;
    this.#adam.learningRate = lr;
    return lr;
  }

  /** The rollout, one batched policy call per vector step (an MLP's critic batched at the end). */
  #rollout(): PpoRollout {
    const o = this.options;
    const rollout = collectRollout(this.envs, this.policy, {
      numSteps: o.numSteps,
      gamma: o.gamma,
      bootstrapTruncated: o.bootstrapTruncated,
      rng: this.#rng,
      observations: this.#observations,
      values: this.policy instanceof MlpPolicy ? "batched" : "act",
    });
    this.#step += this.#batchSize;
    return rollout;
  }

  /** Task-specific reward shaping (RLHF's scores and KL leash): the processors, in order. */
  async #process(rollout: Rollout): Promise<Record<string, number>> {
    const metrics: Record<string, number> = {};
    if (this.#processors.length === 0) return metrics;
    for (const processor of this.#processors) {
      Object.assign(metrics, await processor.process(rollout));
    }
    const { rewards, numEnvs: n } = rollout, bad = rewards.findIndex((r) => !Number.isFinite(r));
    if (bad >= 0) {
      throw new Error(
        `Rollout processors ${
          this.#processors.map((p) => p.name).join(", ")
        } left a non-finite reward (${rewards[bad]}) at step ${Math.floor(bad / n)} of env ${
          bad % n
        }`,
      );
    }
    return metrics;
  }

  /** The update: epochs of shuffled minibatches, each one gradient step. */
  #update(batch: Minibatch): UpdateResult {
    const o = this.options, rows = this.#batchSize, mb = rows / o.numMinibatches;
    const order = Int32Array.from({ length: rows }, (_, i) => i);
    const observationSize = this.envs.observationSize;
    const actionSize = batch.actions.length / rows;
    const minibatch: Minibatch = {
      observations: new Float32Array(mb * observationSize),
      actions: batch.actions instanceof Int32Array
        ? new Int32Array(mb)
        : new Float32Array(mb * actionSize),
      logProbs: new Float32Array(mb),
      values: new Float32Array(mb),
      advantages: new Float32Array(mb),
      returns: new Float32Array(mb),
    };
    return runEpochs(o, {
      startEpoch: () => this.#rng.shuffle(order),
      step: (j) => {
        gatherRows(batch, order, { start: j * mb, into: minibatch, observationSize, actionSize });
        if (o.normAdv) normalize(minibatch.advantages);
        return this.#gradientStep(minibatch);
      },
    });
  }

  /** One Adam step on the loss's gradient; the policy then loads the new weights. */
  #gradientStep(minibatch: Minibatch): StepResult {
    const loss = this.#lossOptions();
    const { grad, terms } = this.#gradient(minibatch, loss);
    const gradNorm = this.#adam.update(this.#weights.values, grad, ppoLossValue(terms, loss));
    this.#weights.load();
    return { terms, gradNorm };
  }

  /** The KL penalty's adaptation, then the iteration's metrics under CleanRL's names. */
  #report(r: Iteration): IterationReport {
    const o = this.options, { terms, gradNorm } = r.update.last, episodes = r.episodes;
    if (this.#klCoef > 0 && o.klPenaltyTarget > 0) {
      if (terms.approxKl > 1.5 * o.klPenaltyTarget) this.#klCoef *= 2;
      else if (terms.approxKl < o.klPenaltyTarget / 1.5) this.#klCoef /= 2;
    }
    const now = performance.now(), seconds = (now - this.#startTime) / 1000;
    const metrics: Record<string, number> = {
      "charts/learning_rate": r.lr,
      "charts/SPS": seconds > 0 ? Math.round((this.#step - this.#startStep) / seconds) : 0,
      "perf/rollout_ms": r.updateStart - r.rolloutStart,
      "perf/update_ms": now - r.updateStart,
      "losses/value_loss": terms.valueLoss,
      "losses/policy_loss": terms.policyLoss,
      "losses/entropy": terms.entropy,
      "losses/old_approx_kl": terms.oldApproxKl,
      "losses/approx_kl": terms.approxKl,
      "losses/clipfrac": r.update.clipfrac,
      "losses/explained_variance": explainedVariance(r.values, r.returns),
      "losses/grad_norm": gradNorm,
      "losses/kl_penalty_coef": this.#klCoef,
      "losses/epochs": r.update.epochs,
      ...r.processorMetrics,
    };
    if (episodes.length > 0) {
      metrics["charts/episodic_return"] = episodes.reduce((a, e) => a + e.return, 0) /
        episodes.length;
      metrics["charts/episodic_length"] = episodes.reduce((a, e) => a + e.length, 0) /
        episodes.length;
    }
    return { step: this.#step, metrics, episodes };
  }

  /**
   * One iteration in the workers: the shards' rollouts, then the epochs — each minibatch's
   * gradient the sum of the shards' shares, each worker stepping its own copy of Adam with it (see
   * `_ppo_pool.ts`); this thread takes the weights and Adam's state afterwards.
   */
  async #iterateInWorkers(lr: number): Promise<Iteration> {
    const rolloutStart = performance.now();
    const saved = this.#adam.getState();
    const adam = { t: saved.t, m: saved.m.data, v: saved.v.data };
    const { rollout, rolloutMs, update } = await this.#workers!.iterate(
      this.#weights.values,
      adam,
      { ...this.#lossOptions(), normAdv: this.options.normAdv, learningRate: lr },
    );
    this.#step += this.#batchSize;
    this.#adam.setState({
      t: adam.t,
      m: { shape: saved.m.shape, data: adam.m },
      v: { shape: saved.v.shape, data: adam.v },
    });
    this.#weights.load();
    // One round runs both phases; the slowest worker's rollout marks the boundary.
    const updateStart = rolloutStart + rolloutMs;
    return { lr, rolloutStart, updateStart, ...rollout, update, processorMetrics: {} };
  }

  #lossOptions(): PpoLossOptions {
    const o = this.options;
    return {
      clipCoef: o.clipCoef,
      clipVloss: o.clipVloss,
      entCoef: o.entCoef,
      vfCoef: o.vfCoef,
      klCoef: this.#klCoef,
    };
  }

  /** The shards in force: `numShards`, or one per worker (1 without workers). */
  get #numShards(): number {
    const o = this.options;
    return o.numShards > 0 ? o.numShards : Math.max(1, o.numWorkers);
  }

  // ──────────────── Plumbing: checkpoints and disposal ────────────────

  /**
   * Captures weights, optimizer moments, RNG and env state, the step count and the options.
   *
   * @returns A checkpoint that {@linkcode Ppo.restore} resumes from exactly.
   * @example Save
   * ```ts ignore
   * const checkpoint = await ppo.save();
   * ```
   */
  async save(): Promise<Checkpoint> {
    const tensors = saveVariables(this.policy.variables, "policy");
    const adam = this.#adam.getState();
    tensors["adam/m"] = adam.m;
    tensors["adam/v"] = adam.v;
    // With workers the envs and random streams live in the shards. One shard's state is the
    // one-thread trainer's, so such checkpoints resume with or without workers.
    const shards = this.#workers ? await this.#workers.getStates() : null;
    const numShards = this.#numShards;
    return {
      meta: {
        algo: this.algo,
        options: { ...this.options },
        numEnvs: this.envs.numEnvs,
        step: this.#step,
        iteration: this.#iteration,
        adamT: adam.t,
        klCoef: this.#klCoef,
        numShards,
        rng: shards?.length === 1 ? shards[0]!.rng : this.#rng.getState(),
        envs: shards ? mergeEnvStates(shards.map((s) => s.envs)) : this.envs.getState(),
        ...(shards && shards.length > 1 ? { shards } : {}),
      },
      tensors,
    };
  }

  /**
   * Restores a checkpoint from {@linkcode Ppo.save}.
   *
   * @param checkpoint The checkpoint.
   * @example Resume
   * ```ts ignore
   * await ppo.restore(checkpoint);
   * ```
   */
  restore(checkpoint: Checkpoint): Promise<void> {
    // A promise that rejects (rather than a synchronous throw) on a bad checkpoint.
    return this.#restore(checkpoint);
  }

  async #restore(checkpoint: Checkpoint): Promise<void> {
    const { meta, tensors } = checkpoint;
    if (meta.algo !== this.algo) {
      throw new Error(`Cannot resume PPO from a checkpoint of algo "${String(meta.algo)}"`);
    }
    const vars = this.policy.variables;
    vars.forEach((v, i) => {
      const saved = tensors[`policy/${i}`];
      if (!saved || saved.shape.join("x") !== v.shape.join("x")) {
        throw new Error(
          `Cannot resume PPO: policy tensor ${i} has shape [${
            saved?.shape ?? "missing"
          }], the model needs [${v.shape}] (were hiddenSize/hiddenLayers changed?)`,
        );
      }
    });
    if (tensors[`policy/${vars.length}`]) {
      throw new Error("Cannot resume PPO: the checkpoint's policy has more tensors than the model");
    }
    const m = tensors["adam/m"], v = tensors["adam/v"];
    if (!m || !v) throw new Error("Cannot resume PPO: the checkpoint has no optimizer state");
    const step = meta.step, iteration = meta.iteration, adamT = meta.adamT;
    if (!isCount(step) || !isCount(iteration) || !isCount(adamT)) {
      throw new Error(
        "Cannot resume PPO: the checkpoint's step, iteration or adamT is not a count",
      );
    }
    const saved = meta.numShards === undefined ? 1 : meta.numShards, shards = this.#numShards;
    if (saved !== shards) {
      throw new Error(
        `Cannot resume PPO: the checkpoint was written with numShards ${saved} and this run has ${shards} (a run's numbers depend on its shards: resume with --num-workers >= 1 --num-shards ${saved})`,
      );
    }
    const shardStates = shards === 1
      ? [{ envs: meta.envs as VectorEnvState, rng: meta.rng as ShardState["rng"] }]
      : meta.shards as ShardState[] | undefined;
    if (!Array.isArray(shardStates) || shardStates.length !== shards) {
      throw new Error(`Cannot resume PPO: the checkpoint has no state for its ${shards} shards`);
    }
    this.#adam.setState({ t: adamT, m, v });
    loadVariables(vars, tensors, "policy");
    this.#rng.setState(meta.rng as { words: RngState; spareNormal: number | null });
    this.#observations = this.envs.setState(meta.envs as VectorEnvState).slice();
    if (this.#workers) await this.#workers.setStates(shardStates);
    this.#step = step;
    this.#iteration = iteration;
    this.#klCoef = typeof meta.klCoef === "number" ? meta.klCoef : this.options.klPenaltyCoef;
    this.#startTime = 0;
  }

  /** Frees the policy's variables, closes the envs and terminates the workers. */
  dispose(): void {
    this.#workers?.terminate();
    this.policy.dispose();
    this.envs.close();
  }
}

// ──────────────────────────────── Helpers ────────────────────────────────

/** In place: (x − mean) / (std + 1e-8), with torch's unbiased std. */
function normalize(x: Float32Array): void {
  const n = x.length;
  let mean = 0;
  for (let i = 0; i < n; i++) mean += x[i]!;
  mean /= n;
  let sq = 0;
  for (let i = 0; i < n; i++) sq += (x[i]! - mean) ** 2;
  const std = Math.sqrt(sq / Math.max(1, n - 1));
  for (let i = 0; i < n; i++) x[i] = (x[i]! - mean) / (std + 1e-8);
}

/** 1 − Var(returns − values) / Var(returns); NaN when the returns do not vary (as CleanRL). */
function explainedVariance(values: Float32Array, returns: Float32Array): number {
  const n = values.length;
  let mr = 0, md = 0;
  for (let i = 0; i < n; i++) {
    mr += returns[i]!;
    md += returns[i]! - values[i]!;
  }
  mr /= n;
  md /= n;
  let vr = 0, vd = 0;
  for (let i = 0; i < n; i++) {
    vr += (returns[i]! - mr) ** 2;
    vd += (returns[i]! - values[i]! - md) ** 2;
  }
  return vr === 0 ? NaN : 1 - vd / vr;
}

/** The shards' env states as one vector env's (copies in shard order). */
function mergeEnvStates(states: VectorEnvState[]): VectorEnvState {
  return {
    envs: states.flatMap((s) => s.envs),
    observations: states.flatMap((s) => s.observations),
    returns: states.flatMap((s) => s.returns),
    lengths: states.flatMap((s) => s.lengths),
  };
}

/** Rejects hyperparameters outside their meaningful range, naming the option. */
function checkOptions(o: PpoOptions): void {
  const rules: [keyof PpoOptions, (v: number) => boolean, string][] = [
    ["learningRate", (v) => v > 0, "> 0"],
    ["numSteps", (v) => Number.isInteger(v) && v >= 1, "a whole number >= 1"],
    ["gamma", (v) => v >= 0 && v <= 1, "in [0, 1]"],
    ["gaeLambda", (v) => v >= 0 && v <= 1, "in [0, 1]"],
    ["numMinibatches", (v) => Number.isInteger(v) && v >= 1, "a whole number >= 1"],
    ["updateEpochs", (v) => Number.isInteger(v) && v >= 1, "a whole number >= 1"],
    ["clipCoef", (v) => v > 0, "> 0"],
    ["entCoef", (v) => v >= 0, ">= 0"],
    ["vfCoef", (v) => v >= 0, ">= 0"],
    ["maxGradNorm", (v) => v >= 0, ">= 0 (0 = off)"],
    ["targetKl", (v) => v >= 0, ">= 0 (0 = off)"],
    ["klPenaltyCoef", (v) => v >= 0, ">= 0 (0 = off)"],
    ["klPenaltyTarget", (v) => v >= 0, ">= 0"],
    ["hiddenSize", (v) => Number.isInteger(v) && v >= 1, "a whole number >= 1"],
    ["hiddenLayers", (v) => Number.isInteger(v) && v >= 0, "a whole number >= 0"],
    ["adamEpsilon", (v) => v > 0, "> 0"],
    ["numWorkers", (v) => Number.isInteger(v) && v >= 0, "a whole number >= 0"],
    ["numShards", (v) => Number.isInteger(v) && v >= 0, "a whole number >= 0 (0 = one per worker)"],
  ];
  for (const [key, ok, expected] of rules) {
    const value = o[key];
    if (typeof value !== "number" || !Number.isFinite(value) || !ok(value)) {
      throw new RangeError(`PPO option ${key} must be ${expected}, got ${value}`);
    }
  }
  if (o.gradient !== "auto" && o.gradient !== "autodiff") {
    throw new RangeError(`PPO option gradient must be "auto" or "autodiff", got "${o.gradient}"`);
  }
}

function isCount(x: unknown): x is number {
  return typeof x === "number" && Number.isInteger(x) && x >= 0;
}
