/**
 * Proximal Policy Optimization (Schulman et al., 2017), after CleanRL's `ppo.py`. Read it top to
 * bottom: the hyperparameters; the math (GAE, the clipped loss, its reference gradient); the
 * trainer, whose `iterate` reads rollout → processors → advantages → update → report. The rollout
 * and the update's epochs are in `ppo_loops.ts`, which the worker shards run too. Beyond CleanRL:
 * truncated episodes are bootstrapped (reward += γ·V(s_final), as SB3 does), and an adaptive KL
 * penalty (PPO-penalty, §4 of the paper) can stand beside or replace the target-KL early stop.
 *
 * Speed is fenced off behind one seam, the gradient engine (`_ppo_engine.ts`): for its own MLP
 * policy PPO takes the gradient of {@linkcode ppoLoss} in closed form (`_ppo_mlp_engine.ts`), and
 * with `numWorkers` runs the rollout, GAE and epochs in Deno Workers (`_ppo_pool.ts`,
 * `_ppo_worker.ts`, `_ppo_shard.ts`). tests/ppo_math_test.ts pins both to {@linkcode ppoGradient},
 * autodiff through `ppoLoss`: the loss below is the loss that trains.
 */
import * as tf from "@tensorflow/tfjs";
import { Adam, type AlgoContext, type Checkpoint, type IterationReport } from "@proximal/core";
import { type Policy, readTrainerState, Rng, type RolloutProcessor } from "@proximal/core";
import { saveTrainerState, type Trainer, type TrainerParts } from "@proximal/core";
import { type TrainingOptions, VectorEnv } from "@proximal/core";
import { MlpPolicy } from "@proximal/models";
import { FlatWeights, type GaeOptions, type GaeResult } from "./_ppo_engine.ts";
import type { Minibatch, PpoGradient, PpoLossInputs, PpoLossOptions } from "./_ppo_engine.ts";
import type { PpoLossTerms, PpoLossValues } from "./_ppo_engine.ts";
import { type StepResult, tapeGradient } from "./_ppo_engine.ts";
import { type PpoWorkerPool, startWorkerPool } from "./_ppo_pool.ts";
import { readShards, shardsMeta } from "./_ppo_checkpoint.ts";
import { gradientInParts, type PartsEngine } from "./_lm_gradient_parts.ts";
import {
  checkPpoOptions,
  type Iteration,
  iterationReport,
  ppoMetricNames,
  runProcessors,
  selectEngine,
} from "./_ppo_trainer.ts";
import { batchEpochs, collectRollout, type PpoRollout } from "./ppo_loops.ts";
import { clippedSurrogate } from "./clipped_surrogate.ts";

export type { GaeOptions, GaeResult, Minibatch, PpoGradient, StepResult } from "./_ppo_engine.ts";
export type { PpoLossInputs, PpoLossOptions, PpoLossTerms, PpoLossValues } from "./_ppo_engine.ts";
export type { UpdateResult } from "./_ppo_engine.ts";

// ──────────────────────────────── Hyperparameters ────────────────────────────────

/**
 * PPO's hyperparameters: from the shared {@linkcode TrainingOptions}, `learningRate` (default
 * 2.5e-4), `maxGradNorm` (0.5) and `adamEpsilon` (1e-5); the rest are PPO's own, with CleanRL's
 * names (`updateEpochs` passes of `numMinibatches` minibatches). Every field becomes a CLI flag
 * (`learningRate` → `--learning-rate`).
 */
export type PpoOptions = Pick<TrainingOptions, "learningRate" | "maxGradNorm" | "adamEpsilon"> & {
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
  /** Minibatches of shuffled env steps ("step", CleanRL's) or of whole env copies ("env", TRL's
   * sequences; numMinibatches must divide numEnvs; no workers); default "step". */
  minibatchUnit: string;
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
  /**
   * How the update takes the loss's gradient: `"auto"`, the closed form for PPO's MLP policy (in
   * the workers with `numWorkers`; else autodiff); `"packed"`, the closed form from Adam's flat
   * weights in fewer tensor launches, acting from them in JavaScript (MLP only, no workers);
   * `"direct"`, the same without tfjs (a WebAssembly SIMD kernel and JavaScript: for narrow
   * networks); or `"autodiff"`, through {@linkcode ppoLoss} (the reference: slower, no workers).
   * Default "auto".
   */
  gradient: string;
  /**
   * Deno Workers that run the rollout and the gradients, data-parallel over `numShards` shards of
   * the env copies (README: Workers). Needs PPO's own MLP policy, no rollout processors and
   * `envSource`; a language-model policy's compute gradient parts (`gradientParts`); with gradient
   * "direct", 1 computes each step's critic half (same numbers). 0 runs everything here; default 0.
   */
  numWorkers: number;
  /**
   * Shards of the env copies with workers (0 = one per worker). A run's numbers depend on the seed
   * and the shards, never on the workers: 1 shard gives the numbers of `numWorkers` 0; more also
   * run the rollout in parallel but draw other random numbers. Must divide `numEnvs`; default 1.
   */
  numShards: number;
  /**
   * Keep the workers only where they pay: with one shard, start them only on a machine of 2 or
   * more cores and where they can serve the run; once they are up, time three of their iterations
   * and three of this thread's, and the faster side keeps the run (if this thread, the workers
   * end). The numbers are the same either way. Default false.
   */
  workersIfFaster: boolean;
  /** Gradient parts per minibatch (whole env copies, summed; a language-model policy, minibatchUnit
   * "env"): 1's numbers up to float rounding, the same whatever numWorkers; default 1. */
  gradientParts: number;
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
  minibatchUnit: "step",
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
  workersIfFaster: false,
  gradientParts: 1,
};

// ──────────────────────────────── The math ────────────────────────────────

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
 * const [rewards, values, ended] = [Float32Array.of(1, 1), new Float32Array(2), new Uint8Array(2)];
 * const rollout = { rewards, values, ended, lastValues: Float32Array.of(0) };
 * const { advantages } = computeGae(rollout, { gamma: 0.5, lambda: 1 });
 * assert.ok(advantages[0] === 1.5 && advantages[1] === 1);
 * ```
 */
export function computeGae(
  rollout: Pick<PpoRollout, "rewards" | "values" | "ended" | "lastValues">,
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
 * const z = tf.zeros([2]) as tf.Tensor1D, zs = { newLogProb: z, entropy: z, newValue: z };
 * const inputs = { ...zs, oldLogProb: z, oldValue: z, advantages: z, returns: z };
 * const options = { clipCoef: 0.2, clipVloss: true, entCoef: 0.01, vfCoef: 0.5, klCoef: 0 };
 * assert.ok(ppoLoss(inputs, options).policyLoss.dataSync()[0] === 0);
 * ```
 */
export function ppoLoss(inputs: PpoLossInputs, options: PpoLossOptions): PpoLossTerms {
  const { newLogProb, entropy, newValue, oldLogProb, oldValue, advantages, returns } = inputs;
  const { clipCoef, entCoef, vfCoef, klCoef } = options;
  const logRatio = tf.sub(newLogProb, oldLogProb);
  const ratio = tf.exp(logRatio);
  const oldApproxKl = tf.mean(tf.neg(logRatio)) as tf.Scalar;
  const approxKl = tf.mean(tf.sub(tf.sub(ratio, 1), logRatio)) as tf.Scalar;
  const clipfrac = tf.mean(
    tf.cast(tf.greater(tf.abs(tf.sub(ratio, 1)), clipCoef), "float32"),
  ) as tf.Scalar;
  // The clipped surrogate: the pessimistic of the unclipped and clipped objectives.
  const policyLoss = tf.mean(clippedSurrogate(ratio, advantages, clipCoef)) as tf.Scalar;
  const meanEntropy = tf.mean(entropy) as tf.Scalar;
  // The value loss with its ½, clipped (with clipVloss) like the surrogate around the old values.
  const vUnclipped = tf.square(tf.sub(newValue, returns));
  const valueLoss = options.clipVloss
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
  let loss = tf.add(tf.sub(policyLoss, tf.mul(entCoef, meanEntropy)), tf.mul(vfCoef, valueLoss));
  if (klCoef > 0) loss = tf.add(loss, tf.mul(klCoef, approxKl));
  return {
    loss: loss as tf.Scalar,
    policyLoss,
    valueLoss,
    entropy: meanEntropy,
    oldApproxKl,
    approxKl,
    clipfrac,
  };
}

/**
 * {@linkcode ppoLoss}'s `loss` from its terms as plain numbers — its scalar form, for the engines
 * that compute the terms without tensors (the total feeds Adam's divergence check).
 *
 * @param terms The loss's terms.
 * @param options The loss's coefficients.
 * @returns policyLoss − entCoef·entropy + vfCoef·valueLoss (+ klCoef·approxKl).
 * @example −0.2 − 0.01·0.7 + 0.5·0.845 = 0.2155
 * ```ts
 * import assert from "node:assert/strict";
 * import { ppoLossValue } from "@proximal/algos";
 * const terms = { policyLoss: -0.2, valueLoss: 0.845, entropy: 0.7, approxKl: 0.1 };
 * const options = { clipCoef: 0.2, clipVloss: true, entCoef: 0.01, vfCoef: 0.5, klCoef: 0 };
 * const total = ppoLossValue({ ...terms, oldApproxKl: 0, clipfrac: 1 }, options);
 * assert.ok(Math.abs(total - 0.2155) < 1e-12);
 * ```
 */
export function ppoLossValue(terms: PpoLossValues, options: PpoLossOptions): number {
  const { policyLoss, valueLoss, entropy, approxKl } = terms;
  const loss = policyLoss - options.entCoef * entropy + options.vfCoef * valueLoss;
  return options.klCoef > 0 ? loss + options.klCoef * approxKl : loss;
}

/**
 * The gradient of {@linkcode ppoLoss} on a minibatch by autodiff through `policy.evaluate`: the
 * reference gradient engine, for any policy (the RLHF language model trains with it), and what
 * tests/ppo_math_test.ts pins the fast engines to.
 *
 * @param policy The policy, at the weights to differentiate at.
 * @param minibatch The minibatch's rows.
 * @param options The loss's coefficients.
 * @returns The gradient, flat in `policy.variables` order, and the loss's terms.
 * @example See tests/ppo_math_test.ts
 * ```ts ignore
 * const { grad, terms } = ppoGradient(policy, minibatch, { ...lossOptions, klCoef: 0 });
 * ```
 */
export function ppoGradient(
  policy: Policy,
  minibatch: Minibatch,
  options: PpoLossOptions,
): PpoGradient {
  const { observations, actions, logProbs, values, advantages, returns } = minibatch;
  const n = logProbs.length;
  const { grad, metrics } = tapeGradient(policy.variables, () => {
    const { logProb, entropy, value } = policy.evaluate(
      tf.tensor2d(observations, [n, policy.observationSize]),
      actions instanceof Int32Array
        ? tf.tensor1d(actions, "int32")
        : tf.tensor2d(actions, [n, actions.length / n]),
    );
    const { loss, ...terms } = ppoLoss({
      newLogProb: logProb,
      entropy,
      newValue: value,
      oldLogProb: tf.tensor1d(logProbs),
      oldValue: tf.tensor1d(values),
      advantages: tf.tensor1d(advantages),
      returns: tf.tensor1d(returns),
    }, options);
    return { loss, metrics: terms };
  });
  return { grad, terms: metrics };
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
  readonly #rng: Rng;
  readonly #processors: readonly RolloutProcessor[];
  readonly #numIterations: number;
  /** The loss's gradient on a minibatch (see the option `gradient`). */
  readonly #gradient: PartsEngine;
  /** The weights, flat, that Adam updates in place; the policy loads them after each step. */
  readonly #weights: FlatWeights;
  /** With `numWorkers` > 0: the workers, which run whole iterations (null once stopped). */
  #workers: PpoWorkerPool | null;
  /** The shards in force: `numShards`, or one per worker (1 without workers). */
  readonly #numShards: number;
  /** What a checkpoint holds besides PPO's counters and the envs. */
  readonly #parts: TrainerParts;
  #observations: Float32Array;
  #iteration = 0;
  #step = 0;
  #klCoef: number;
  #startTime = 0;
  #startStep = 0;

  /**
   * Builds the env copies, the policy and the optimizer.
   *
   * @param context The env factory, copy count, seed and step budget.
   * @param options Hyperparameters; missing ones take {@linkcode ppoDefaults}.
   */
  constructor(context: PpoContext, options: Partial<PpoOptions> = {}) {
    const o = this.options = { ...ppoDefaults, ...options };
    const { numEnvs, seed } = context;
    checkPpoOptions(o, numEnvs);
    this.#numIterations = Math.max(1, Math.floor(context.totalTimesteps / (numEnvs * o.numSteps)));
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
    this.metricNames = ppoMetricNames(o.numWorkers, this.#processors);
    this.#observations = this.envs.reset().slice();
    const weights = this.#weights = new FlatWeights(policy.variables);
    const engine = selectEngine(policy, o.gradient, { weights, ppoGradient });
    this.#gradient = gradientInParts(engine, { policy, options: o, numEnvs, weights });
    this.#parts = { variables: { policy: policy.variables }, adam: this.#adam, rng: this.#rng };
    this.#numShards = o.numShards > 0 ? o.numShards : Math.max(1, o.numWorkers);
    this.#workers = o.numWorkers > 0 && !this.#gradient.ownsWorkers
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

  /** Settles once the workers are up (at once without); iterations before it run in this thread. */
  get ready(): Promise<void> {
    return this.#workers?.ready ?? this.#gradient.ready;
  }

  /**
   * One PPO iteration: the rollout, the processors' reward shaping, GAE, then the update's epochs
   * (with workers, the workers run all of it once up — `PpoWorkerPool.takesOver` — and refuse
   * processors).
   *
   * @returns The step count, the metrics and the episodes that finished.
   * @example See {@linkcode Ppo}
   * ```ts ignore
   * const { metrics } = await ppo.iterate();
   * ```
   */
  async iterate(): Promise<IterationReport> {
    const lr = this.#startIteration(), o = this.options;
    const turn = await this.#workers?.takesOver(this.envs, this.#rng);
    if (turn === "workers") {
      const { normAdv } = o, loss = this.#lossOptions(), adam = this.#adam;
      const iteration = await this.#workers!.iterate(this.#weights, { adam, loss, normAdv, lr });
      this.#step += iteration.values.length;
      return this.#report(iteration);
    }
    // The workers gave the run back (`workersIfFaster`): its envs are here again.
    if (turn === "back") this.#observations = Float32Array.from(this.envs.getState().observations);
    if (this.#workers?.stopped) this.#workers = null;
    const rolloutStart = performance.now();
    const rollout = this.#rollout();
    const processorMetrics = await runProcessors(this.#processors, rollout);
    const gae = computeGae(rollout, { gamma: o.gamma, lambda: o.gaeLambda });
    const updateStart = performance.now();
    const step = (mb: Minibatch) => this.#gradientStep(mb);
    const envs = o.minibatchUnit === "env" ? rollout.numEnvs : 0;
    const update = batchEpochs({ ...rollout, ...gae }, { ...o, rng: this.#rng, step, envs });
    if (this.#gradient.readsFlatWeights) this.#weights.load();
    const times = { lr, rolloutStart, updateStart };
    return this.#report({ ...rollout, ...gae, ...times, update, processorMetrics });
  }

  /** Counts the iteration; the learning rate anneals linearly from its full value to near 0. */
  #startIteration(): number {
    const o = this.options;
    if (this.#startTime === 0) {
      this.#startTime = performance.now();
      this.#startStep = this.#step;
    }
    const done = this.#iteration++ / this.#numIterations;
    return this.#adam.learningRate = o.annealLr ? (1 - done) * o.learningRate : o.learningRate;
  }

  /** The rollout; an MLP acts without its critic, which values the whole rollout at the end. */
  #rollout(): PpoRollout {
    const o = this.options;
    const rollout = collectRollout(this.envs, this.#gradient.actor ?? this.policy, {
      numSteps: o.numSteps,
      gamma: o.gamma,
      bootstrapTruncated: o.bootstrapTruncated,
      rng: this.#rng,
      observations: this.#observations,
      values: this.policy instanceof MlpPolicy ? "batched" : "act",
    });
    this.#step += rollout.rewards.length;
    return rollout;
  }

  /** One Adam step; the policy loads the new weights now (or, `packed`, after the update). */
  #gradientStep(minibatch: Minibatch): StepResult {
    const loss = this.#lossOptions();
    const { grad, terms } = this.#gradient(minibatch, loss);
    const gradNorm = this.#adam.update(this.#weights.values, grad, ppoLossValue(terms, loss));
    if (!this.#gradient.readsFlatWeights) this.#weights.load();
    return { terms, gradNorm };
  }

  /** The KL penalty's adaptation (PPO-penalty), then the iteration's metrics. */
  #report(iteration: Iteration): IterationReport {
    this.#workers?.timed(iteration.rolloutStart);
    const { approxKl } = iteration.update.last.terms, target = this.options.klPenaltyTarget;
    if (this.#klCoef > 0 && target > 0) {
      if (approxKl > 1.5 * target) this.#klCoef *= 2;
      else if (approxKl < target / 1.5) this.#klCoef /= 2;
    }
    return iterationReport(iteration, {
      step: this.#step,
      klPenaltyCoef: this.#klCoef,
      startTime: this.#startTime,
      startStep: this.#startStep,
      ...this.options.numWorkers > 0 && {
        workers: this.#workers?.handedOver ? this.options.numWorkers : this.#gradient.workersUsed(),
      },
    });
  }

  // ──────────────── Plumbing: workers, checkpoints, disposal ────────────────

  #lossOptions(): PpoLossOptions {
    const { clipCoef, clipVloss, entCoef, vfCoef } = this.options;
    return { clipCoef, clipVloss, entCoef, vfCoef, klCoef: this.#klCoef };
  }

  /**
   * Captures the weights, Adam, the random stream and the envs (the shards' with workers), and
   * the counters.
   *
   * @returns A checkpoint that {@linkcode Ppo.restore} resumes from exactly.
   * @example Save
   * ```ts ignore
   * const checkpoint = await ppo.save();
   * ```
   */
  async save(): Promise<Checkpoint> {
    const shards = this.#workers?.handedOver ? await this.#workers.getStates() : null;
    // One shard draws from the run's stream, which then lives in its worker.
    if (shards?.length === 1) this.#rng.setState(shards[0]!.rng);
    return saveTrainerState(this.algo, this.#parts, {
      step: this.#step,
      iteration: this.#iteration,
      klPenaltyCoef: this.#klCoef,
      ...shardsMeta(shards, { envs: this.envs.getState(), numShards: this.#numShards }),
    });
  }

  /**
   * Restores a checkpoint from {@linkcode Ppo.save}; nothing changes if it is refused.
   *
   * @param checkpoint The checkpoint.
   * @example Resume
   * ```ts ignore
   * await ppo.restore(checkpoint);
   * ```
   */
  async restore(checkpoint: Checkpoint): Promise<void> {
    const state = readTrainerState(checkpoint, this.#parts, {
      algo: this.algo,
      owner: "PPO",
      hint: "were hiddenSize/hiddenLayers changed?",
    });
    const { meta } = state, { envs, shards } = readShards(meta, this.envs, this.#numShards);
    const step = meta.count("step"), iteration = meta.count("iteration");
    // Checkpoints before the metric's rename call β klCoef.
    const klCoef = meta.optionalNumber("klPenaltyCoef") ?? meta.optionalNumber("klCoef");
    state.apply();
    this.#observations = this.envs.setState(envs).slice();
    // One shard's run goes back to this thread, which hands it over again.
    if (this.#workers && this.#numShards > 1) await this.#workers.setStates(shards);
    else this.#workers?.release();
    this.#step = step;
    this.#iteration = iteration;
    this.#klCoef = klCoef ?? this.options.klPenaltyCoef;
    this.#startTime = 0;
  }

  /** Frees the policy's variables, closes the envs and terminates the workers. */
  dispose(): void {
    this.#workers?.terminate();
    this.#gradient.dispose();
    this.policy.dispose();
    this.envs.close();
  }
}
