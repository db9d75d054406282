/**
 * Proximal Policy Optimization (Schulman et al., 2017), after CleanRL's `ppo.py`: read it top to
 * bottom — the hyperparameters, the math (GAE and the clipped loss), then the trainer's loop of
 * rollout, advantage estimation and minibatch epochs.
 *
 * Beyond CleanRL: a truncated episode's last observation is bootstrapped (reward += γ·V(s_final),
 * as SB3 does) instead of being treated as terminal, and an optional adaptive KL penalty
 * (PPO-penalty, §4 of the paper) can stand beside or replace the target-KL early stop.
 */
import * as tf from "@tensorflow/tfjs";
import {
  Adam,
  type AdamStepResult,
  type AlgoContext,
  type AlgoPlugin,
  type Checkpoint,
  defineAlgo,
  type IterationReport,
  loadVariables,
  type Policy,
  Rng,
  type RngState,
  type Rollout,
  type RolloutEpisode,
  type RolloutProcessor,
  saveVariables,
  type Scalar,
  type Tensor1D,
  type Trainer,
  VectorEnv,
  type VectorEnvState,
} from "@proximal/core";
import { MlpPolicy } from "@proximal/models";
import { actorHalf, type ActorRows, criticHalf, type CriticRows } from "./_ppo_grad.ts";
import {
  assignFlat,
  joinHalves,
  type PoolConfig,
  type PooledGradient,
  PpoWorkerPool,
  readFlat,
  RESULT,
  type ShardState,
  totalLoss,
} from "./_ppo_pool.ts";

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
 * PPO's loss on one minibatch, exactly as CleanRL computes it.
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
  options: {
    clipCoef: number;
    clipVloss: boolean;
    entCoef: number;
    vfCoef: number;
    klCoef: number;
  },
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
 * The actor's half of {@linkcode ppoLoss}: `loss` = policyLoss − entCoef·entropy (+ β·approxKl),
 * whose gradient with respect to the actor's weights is `ppoLoss`'s (the value loss does not
 * depend on them). PPO's workers compute the two halves apart.
 *
 * @param inputs The actor's minibatch tensors.
 * @param options `clipCoef`, `entCoef` and the KL penalty β (`klCoef`, 0 = off).
 * @returns The half loss and the actor's terms.
 * @example Ratio 1 and zero advantage give zero policy loss
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { ppoPolicyLoss } from "@proximal/algos";
 * import { setupBackend } from "@proximal/core";
 * await setupBackend("cpu");
 * const z = tf.zeros([2]) as tf.Tensor1D;
 * const { policyLoss } = ppoPolicyLoss(
 *   { newLogProb: z, entropy: z, oldLogProb: z, advantages: z },
 *   { clipCoef: 0.2, entCoef: 0.01, klCoef: 0 },
 * );
 * assert.ok(policyLoss.dataSync()[0] === 0);
 * ```
 */
export function ppoPolicyLoss(
  inputs: Pick<PpoLossInputs, "newLogProb" | "entropy" | "oldLogProb" | "advantages">,
  options: { clipCoef: number; entCoef: number; klCoef: number },
): Omit<PpoLossTerms, "valueLoss"> {
  const terms = policyTerms(inputs, options.clipCoef);
  let loss = tf.sub(terms.policyLoss, tf.mul(options.entCoef, terms.entropy));
  if (options.klCoef > 0) loss = tf.add(loss, tf.mul(options.klCoef, terms.approxKl));
  return { loss: loss as tf.Scalar, ...terms };
}

/**
 * The critic's half of {@linkcode ppoLoss}: `loss` = vfCoef·valueLoss, whose gradient with respect
 * to the critic's weights is `ppoLoss`'s.
 *
 * @param inputs The critic's minibatch tensors.
 * @param options `clipCoef`, `clipVloss` and `vfCoef`.
 * @returns The half loss and the value loss.
 * @example A perfect critic has zero value loss
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { ppoValueLoss } from "@proximal/algos";
 * import { setupBackend } from "@proximal/core";
 * await setupBackend("cpu");
 * const v = tf.tensor1d([1, 2]);
 * const { valueLoss } = ppoValueLoss(
 *   { newValue: v, oldValue: v, returns: v },
 *   { clipCoef: 0.2, clipVloss: true, vfCoef: 0.5 },
 * );
 * assert.ok(valueLoss.dataSync()[0] === 0);
 * ```
 */
export function ppoValueLoss(
  inputs: Pick<PpoLossInputs, "newValue" | "oldValue" | "returns">,
  options: { clipCoef: number; clipVloss: boolean; vfCoef: number },
): { loss: Scalar; valueLoss: Scalar } {
  const valueLoss = valueTerm(inputs, options);
  return { loss: tf.mul(options.vfCoef, valueLoss) as tf.Scalar, valueLoss };
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
  "losses/kl_coef",
  "losses/epochs",
] as const;

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
  #iteration = 0;
  #step = 0;
  #klCoef: number;
  #observations: Float32Array;
  #startTime = 0;
  #startStep = 0;
  /** With `numWorkers` > 0: the pool. */
  readonly #workers: PpoWorkerPool | null;
  /**
   * With an {@linkcode MlpPolicy}: the sizes of its parts, and the weights (flat) that Adam
   * updates and the policy (or the workers) load; the gradient then skips the tape (`_ppo_grad.ts`).
   */
  readonly #sizes: PoolConfig["sizes"] | null;
  #params: Float32Array = new Float32Array(0);

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
    if (o.numMinibatches < 1 || this.#batchSize % o.numMinibatches !== 0) {
      throw new RangeError(
        `PPO's batch of ${this.#batchSize} (numEnvs ${numEnvs} × numSteps ${o.numSteps}) does not split into ${o.numMinibatches} equal minibatches`,
      );
    }
    this.#numIterations = Math.max(1, Math.floor(totalTimesteps / this.#batchSize));
    this.#rng = new Rng(seed);
    this.envs = new VectorEnv(context.makeEnv, {
      numEnvs,
      seed,
      name: context.envName ?? "env",
    });
    this.policy = context.policy ??
      new MlpPolicy(this.envs.observationSpace, this.envs.actionSpace, {
        hiddenSizes: new Array(o.hiddenLayers).fill(o.hiddenSize),
        seed,
      });
    this.#adam = new Adam(this.policy.variables, {
      learningRate: o.learningRate,
      epsilon: o.adamEpsilon,
      maxGradNorm: o.maxGradNorm,
    });
    this.#klCoef = o.klPenaltyCoef;
    this.#processors = context.processors ?? [];
    this.metricNames = [...METRIC_NAMES, ...this.#processors.flatMap((p) => p.metricNames ?? [])];
    this.#observations = this.envs.reset().slice();
    this.#sizes = null;
    if (this.policy instanceof MlpPolicy) {
      const policy = this.policy, space = policy.actionSpace;
      const logStd = space.kind === "box" ? space.size : 0;
      this.#sizes = {
        actorLayers: sizeOf(policy.actorVariables) - logStd,
        critic: sizeOf(policy.criticVariables),
        logStd,
      };
      this.#params = readFlat(policy.variables);
    }
    if (o.numWorkers === 0 && o.numShards > 1) {
      throw new RangeError(
        `PPO option numShards ${o.numShards} needs numWorkers >= 1 (shards are the workers' split of the envs)`,
      );
    }
    this.#workers = o.numWorkers > 0 ? this.#startWorkers(context) : null;
  }

  /** The shards in force: `numShards`, or one per worker (1 without workers). */
  get #numShards(): number {
    const o = this.options;
    return o.numShards > 0 ? o.numShards : Math.max(1, o.numWorkers);
  }

  /** Checks that the workers can serve this run, then starts them (they load tfjs meanwhile). */
  #startWorkers(context: PpoContext): PpoWorkerPool {
    const o = this.options, shards = this.#numShards, n = context.numEnvs;
    const refuse = (why: string): never => {
      throw new Error(`PPO with numWorkers ${o.numWorkers} ${why}`);
    };
    if (context.policy) {
      refuse("needs its own MLP policy (the workers rebuild it), not a custom one");
    }
    if (this.#processors.length > 0) {
      refuse("cannot run rollout processors (they need the whole rollout in this thread)");
    }
    if (!context.envSource) {
      refuse(
        "builds its envs in the workers and needs context.envSource (a module reference to the env plugin and its options; the CLI sets it)",
      );
    }
    if (n % shards !== 0) refuse(`cannot split numEnvs ${n} into ${shards} equal shards`);
    if ((n / shards * o.numSteps) % o.numMinibatches !== 0) {
      refuse(
        `cannot split each shard's ${
          n / shards * o.numSteps
        } rows into ${o.numMinibatches} equal minibatch shares`,
      );
    }
    const policy = this.policy as MlpPolicy, space = policy.actionSpace;
    // One shard draws from the run's own stream (the numbers of numWorkers 0); several from forks.
    const rngs = shards === 1
      ? [this.#rng]
      : Array.from({ length: shards }, () => this.#rng.fork());
    return new PpoWorkerPool({
      numWorkers: o.numWorkers,
      backend: tf.getBackend(),
      observationSize: policy.observationSize,
      action: space.kind === "discrete"
        ? { kind: "discrete", size: space.n }
        : { kind: "box", size: space.size },
      hiddenSizes: new Array(o.hiddenLayers).fill(o.hiddenSize),
      envSource: context.envSource!,
      settings: {
        seed: context.seed,
        envName: context.envName ?? "env",
        numSteps: o.numSteps,
        numMinibatches: o.numMinibatches,
        gamma: o.gamma,
        gaeLambda: o.gaeLambda,
        bootstrapTruncated: o.bootstrapTruncated,
      },
      update: {
        updateEpochs: o.updateEpochs,
        numMinibatches: o.numMinibatches,
        targetKl: o.targetKl,
        maxGradNorm: o.maxGradNorm,
        adamEpsilon: o.adamEpsilon,
      },
      shards: rngs.map((rng, index) => ({
        index,
        firstEnv: index * n / shards,
        numEnvs: n / shards,
        rng: rng.getState(),
      })),
      sizes: this.#sizes!,
    });
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
   * One PPO iteration: rollout, GAE, then the minibatch epochs.
   *
   * @returns The step count, the metrics and the episodes that finished.
   * @example See {@linkcode Ppo}
   * ```ts ignore
   * const { metrics } = await ppo.iterate();
   * ```
   */
  async iterate(): Promise<IterationReport> {
    const o = this.options, envs = this.envs, policy = this.policy;
    const n = envs.numEnvs, steps = o.numSteps, obsSize = envs.observationSize;
    const actSize = envs.actionSpace.kind === "discrete" ? 1 : envs.actionSize;
    if (this.#startTime === 0) {
      this.#startTime = performance.now();
      this.#startStep = this.#step;
    }
    this.#iteration++;

    // Linear annealing: the first iteration runs at the full rate, the last near zero.
    const lr = o.annealLr
      ? (1 - (this.#iteration - 1) / this.#numIterations) * o.learningRate
      : o.learningRate;
    this.#adam.learningRate = lr;
    if (this.#workers) return await this.#iterateWithWorkers(lr);

    // ── Rollout: one batched policy call per vector step.
    const rolloutStart = performance.now();
    const obsBuf = new Float32Array(steps * n * obsSize);
    const actBuf = envs.actionSpace.kind === "discrete"
      ? new Int32Array(steps * n)
      : new Float32Array(steps * n * actSize);
    const logProbBuf = new Float32Array(steps * n);
    const valueBuf = new Float32Array(steps * n);
    const rewardBuf = new Float32Array(steps * n);
    const endedBuf = new Uint8Array(steps * n);
    const episodes: RolloutEpisode[] = [];
    // With an MLP policy, acting runs the actor alone and the critic values every observation of
    // the rollout in one call afterwards (a row's value does not depend on its batch).
    const critic = policy instanceof MlpPolicy ? batchedValues(policy) : null;
    for (let t = 0; t < steps; t++) {
      obsBuf.set(this.#observations, t * n * obsSize);
      const { actions, logProbs, values } = critic
        ? (policy as MlpPolicy).act(this.#observations, { rng: this.#rng, values: false })
        : policy.act(this.#observations, { rng: this.#rng });
      actBuf.set(actions, t * n * actSize);
      logProbBuf.set(logProbs, t * n);
      valueBuf.set(values, t * n);
      const result = envs.step(actions);
      this.#step += n;
      for (let i = 0; i < n; i++) {
        rewardBuf[t * n + i] = result.rewards[i]!;
        endedBuf[t * n + i] = result.terminated[i]! | result.truncated[i]!;
      }
      if (o.bootstrapTruncated) {
        // A time limit is not a terminal state: credit the value the episode would have had.
        const cut: number[] = [];
        for (let i = 0; i < n; i++) if (result.truncated[i]) cut.push(i);
        if (cut.length > 0) {
          const finals = new Float32Array(cut.length * obsSize);
          cut.forEach((i, j) => finals.set(result.finalObservations[i]!, j * obsSize));
          const bootstrap = (finalValues: Float32Array) =>
            cut.forEach((i, j) => rewardBuf[t * n + i]! += o.gamma * finalValues[j]!);
          if (critic) critic.push(finals, bootstrap);
          else bootstrap(policy.value(finals));
        }
      }
      for (const e of result.episodes) episodes.push({ ...e, step: t });
      this.#observations.set(result.observations);
    }
    let lastValues: Float32Array | null = null;
    if (critic) {
      critic.push(obsBuf, (v) => valueBuf.set(v));
      critic.push(this.#observations, (v) => lastValues = v);
      await critic.finish();
    }

    // ── Processors: task-specific reward shaping (RLHF's scores and KL penalty) happens here.
    const processorMetrics: Record<string, number> = {};
    if (this.#processors.length > 0) {
      const rollout: Rollout = {
        numEnvs: n,
        numSteps: steps,
        observationSize: obsSize,
        actionSize: actSize,
        observations: obsBuf,
        actions: actBuf,
        logProbs: logProbBuf,
        values: valueBuf,
        rewards: rewardBuf,
        ended: endedBuf,
        episodes,
      };
      for (const processor of this.#processors) {
        Object.assign(processorMetrics, await processor.process(rollout));
      }
      const bad = rewardBuf.findIndex((r) => !Number.isFinite(r));
      if (bad >= 0) {
        throw new Error(
          `Rollout processors ${
            this.#processors.map((p) => p.name).join(", ")
          } left a non-finite reward (${rewardBuf[bad]}) at step ${Math.floor(bad / n)} of env ${
            bad % n
          }`,
        );
      }
    }

    // ── Advantages: GAE(γ, λ), bootstrapped from the value of the observation after the rollout.
    lastValues ??= policy.value(this.#observations);
    const { advantages, returns } = computeGae(
      { rewards: rewardBuf, values: valueBuf, ended: endedBuf, lastValues },
      { gamma: o.gamma, lambda: o.gaeLambda },
    );

    // ── Update: epochs of shuffled minibatches.
    const updateStart = performance.now();
    const batch = this.#batchSize, mb = batch / o.numMinibatches;
    const order = Int32Array.from({ length: batch }, (_, i) => i);
    const mbObs = new Float32Array(mb * obsSize);
    const mbAct = actSize === 1 && envs.actionSpace.kind === "discrete"
      ? new Int32Array(mb)
      : new Float32Array(mb * actSize);
    const mbLogProb = new Float32Array(mb), mbValue = new Float32Array(mb);
    const mbAdv = new Float32Array(mb), mbRet = new Float32Array(mb);
    let last = {
      policyLoss: 0,
      valueLoss: 0,
      entropy: 0,
      oldApproxKl: 0,
      approxKl: 0,
      gradNorm: 0,
    };
    let clipfracSum = 0, updates = 0, epochsRun = 0;
    for (let epoch = 0; epoch < o.updateEpochs; epoch++) {
      this.#rng.shuffle(order);
      epochsRun++;
      for (let start = 0; start < batch; start += mb) {
        for (let j = 0; j < mb; j++) {
          const k = order[start + j]!;
          mbObs.set(obsBuf.subarray(k * obsSize, (k + 1) * obsSize), j * obsSize);
          mbAct.set(actBuf.subarray(k * actSize, (k + 1) * actSize), j * actSize);
          mbLogProb[j] = logProbBuf[k]!;
          mbValue[j] = valueBuf[k]!;
          mbAdv[j] = advantages[k]!;
          mbRet[j] = returns[k]!;
        }
        if (o.normAdv) normalize(mbAdv);
        const rows = {
          observations: mbObs,
          actions: mbAct,
          logProbs: mbLogProb,
          values: mbValue,
          advantages: mbAdv,
          returns: mbRet,
        };
        const result = this.#sizes ? this.#localStep(rows) : this.#adam.step(() => {
          const obs = tf.tensor2d(mbObs, [mb, obsSize]);
          const act = actSize === 1 && envs.actionSpace.kind === "discrete"
            ? tf.tensor1d(mbAct as Int32Array, "int32")
            : tf.tensor2d(mbAct as Float32Array, [mb, actSize]);
          const { logProb, entropy, value } = policy.evaluate(obs, act);
          const terms = ppoLoss({
            newLogProb: logProb,
            entropy,
            newValue: value,
            oldLogProb: tf.tensor1d(mbLogProb),
            oldValue: tf.tensor1d(mbValue),
            advantages: tf.tensor1d(mbAdv),
            returns: tf.tensor1d(mbRet),
          }, { ...o, klCoef: this.#klCoef });
          return {
            loss: terms.loss,
            metrics: [
              terms.policyLoss,
              terms.valueLoss,
              terms.entropy,
              terms.oldApproxKl,
              terms.approxKl,
              terms.clipfrac,
            ],
          };
        });
        const [policyLoss, valueLoss, entropy, oldApproxKl, approxKl, clipfrac] = result
          .metrics as [number, number, number, number, number, number];
        last = { policyLoss, valueLoss, entropy, oldApproxKl, approxKl, gradNorm: result.gradNorm };
        clipfracSum += clipfrac;
        updates++;
      }
      // CleanRL checks the target KL once per epoch, on the last minibatch's estimate.
      if (o.targetKl > 0 && last.approxKl > o.targetKl) break;
    }
    return this.#report({
      lr,
      rolloutStart,
      updateStart,
      last,
      clipfracSum,
      updates,
      epochsRun,
      values: valueBuf,
      returns,
      episodes,
      processorMetrics,
    });
  }

  /**
   * One iteration with workers: the shards' rollouts, then the epochs, run by the workers — each
   * minibatch's gradient is the sum of the shards' shares, and each worker steps its own copy of
   * Adam with it (see `_ppo_pool.ts`); this thread takes the weights and Adam's state afterwards.
   */
  async #iterateWithWorkers(lr: number): Promise<IterationReport> {
    const o = this.options, pool = this.#workers!;
    const rolloutStart = performance.now();
    const saved = this.#adam.getState();
    const adam = { t: saved.t, m: saved.m.data, v: saved.v.data };
    const { rollout: { values, returns, episodes }, rolloutMs, results: r } = await pool.iterate(
      this.#params,
      adam,
      { ...this.#lossOptions(), normAdv: o.normAdv, learningRate: lr },
    );
    this.#step += this.#batchSize;
    // One round runs both phases; the slowest worker's rollout marks the boundary.
    const updateStart = rolloutStart + rolloutMs;
    this.#adam.setState({
      t: adam.t,
      m: { shape: saved.m.shape, data: adam.m },
      v: { shape: saved.v.shape, data: adam.v },
    });
    assignFlat(this.policy.variables, this.#params);
    return this.#report({
      lr,
      rolloutStart,
      updateStart,
      last: {
        policyLoss: r[RESULT.policyLoss]!,
        valueLoss: r[RESULT.valueLoss]!,
        entropy: r[RESULT.entropy]!,
        oldApproxKl: r[RESULT.oldApproxKl]!,
        approxKl: r[RESULT.approxKl]!,
        gradNorm: r[RESULT.gradNorm]!,
      },
      clipfracSum: r[RESULT.clipfracSum]!,
      updates: r[RESULT.updates]!,
      epochsRun: r[RESULT.epochsRun]!,
      values,
      returns,
      episodes,
      processorMetrics: {},
    });
  }

  /** The KL penalty's adaptation, then the iteration's metrics under CleanRL's names. */
  #report(r: {
    lr: number;
    rolloutStart: number;
    updateStart: number;
    last: {
      policyLoss: number;
      valueLoss: number;
      entropy: number;
      oldApproxKl: number;
      approxKl: number;
      gradNorm: number;
    };
    clipfracSum: number;
    updates: number;
    epochsRun: number;
    values: Float32Array;
    returns: Float32Array;
    episodes: RolloutEpisode[];
    processorMetrics: Record<string, number>;
  }): IterationReport {
    const o = this.options, { last, episodes } = r;
    if (this.#klCoef > 0 && o.klPenaltyTarget > 0) {
      if (last.approxKl > 1.5 * o.klPenaltyTarget) this.#klCoef *= 2;
      else if (last.approxKl < o.klPenaltyTarget / 1.5) this.#klCoef /= 2;
    }

    const now = performance.now();
    const seconds = (now - this.#startTime) / 1000;
    const metrics: Record<string, number> = {
      "charts/learning_rate": r.lr,
      "charts/SPS": seconds > 0 ? Math.round((this.#step - this.#startStep) / seconds) : 0,
      "perf/rollout_ms": r.updateStart - r.rolloutStart,
      "perf/update_ms": now - r.updateStart,
      "losses/value_loss": last.valueLoss,
      "losses/policy_loss": last.policyLoss,
      "losses/entropy": last.entropy,
      "losses/old_approx_kl": last.oldApproxKl,
      "losses/approx_kl": last.approxKl,
      "losses/clipfrac": r.clipfracSum / r.updates,
      "losses/explained_variance": explainedVariance(r.values, r.returns),
      "losses/grad_norm": last.gradNorm,
      "losses/kl_coef": this.#klCoef,
      "losses/epochs": r.epochsRun,
    };
    Object.assign(metrics, r.processorMetrics);
    if (episodes.length > 0) {
      metrics["charts/episodic_return"] = episodes.reduce((a, e) => a + e.return, 0) /
        episodes.length;
      metrics["charts/episodic_length"] = episodes.reduce((a, e) => a + e.length, 0) /
        episodes.length;
    }
    return { step: this.#step, metrics, episodes };
  }

  /**
   * One gradient step in this thread with an MLP policy: the same two halves the workers compute,
   * then Adam on the flat weights, which the policy loads for the next minibatch.
   */
  #localStep(rows: MinibatchRows): AdamStepResult {
    const policy = this.policy as MlpPolicy, loss = this.#lossOptions();
    const pooled = joinHalves(
      actorHalf(policy, rows, loss),
      criticHalf(policy, rows, loss),
      this.#sizes!,
    );
    const result = this.#apply(pooled);
    assignFlat(policy.variables, this.#params);
    return result;
  }

  #lossOptions() {
    const o = this.options;
    return {
      clipCoef: o.clipCoef,
      clipVloss: o.clipVloss,
      entCoef: o.entCoef,
      vfCoef: o.vfCoef,
      klCoef: this.#klCoef,
    };
  }

  /** Adam on the flat weights with a joined gradient. */
  #apply({ grad, metrics }: PooledGradient): AdamStepResult {
    const total = totalLoss(metrics, this.#lossOptions());
    const gradNorm = this.#adam.update(this.#params, grad, total);
    return { loss: total, metrics, gradNorm };
  }

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
    if (this.#sizes) this.#params = readFlat(vars);
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

/** A minibatch: what the actor's and the critic's halves of the gradient read. */
type MinibatchRows = ActorRows & CriticRows;

/** Observations queued for the critic; see {@linkcode batchedValues}. */
interface ValueStream {
  /** Queues a batch (copied); `onValues` gets its values, in push order, during `finish`. */
  push(observations: Float32Array, onValues: (values: Float32Array) => void): void;
  /** Computes every batch's values and hands them out. */
  finish(): Promise<void>;
}

/**
 * Every pushed batch's values from one call of the critic in `finish`, which costs far fewer
 * tensor launches than one call per step.
 */
function batchedValues(policy: MlpPolicy): ValueStream {
  const batches: { observations: Float32Array; onValues: (v: Float32Array) => void }[] = [];
  return {
    push: (observations, onValues) =>
      batches.push({ observations: observations.slice(), onValues }),
    finish: () => {
      const all = new Float32Array(batches.reduce((s, b) => s + b.observations.length, 0));
      let offset = 0;
      for (const b of batches) {
        all.set(b.observations, offset);
        offset += b.observations.length;
      }
      const values = all.length > 0 ? policy.value(all) : new Float32Array(0);
      offset = 0;
      for (const b of batches) {
        const rows = b.observations.length / policy.observationSize;
        b.onValues(values.subarray(offset, offset + rows));
        offset += rows;
      }
      return Promise.resolve();
    },
  };
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

/** The number of floats in a list of variables. */
function sizeOf(variables: readonly { size: number }[]): number {
  return variables.reduce((n, v) => n + v.size, 0);
}

// ──────────────────────────────── The plugin ────────────────────────────────

/**
 * The PPO algorithm plugin: `deno task train --algo ppo`.
 *
 * @example Create a trainer through the plugin
 * ```ts
 * import { ppo } from "@proximal/algos";
 * import { setupBackend } from "@proximal/core";
 * import { CartPole } from "@proximal/envs";
 * await setupBackend("wasm");
 * const trainer = await ppo.create(ppo.defaults, {
 *   makeEnv: () => new CartPole(),
 *   numEnvs: 4,
 *   seed: 1,
 *   totalTimesteps: 512,
 * });
 * await trainer.iterate();
 * trainer.dispose();
 * ```
 */
export const ppo: AlgoPlugin<PpoOptions> = defineAlgo<PpoOptions>({
  kind: "algo",
  name: "ppo",
  description: "Proximal Policy Optimization (clipped surrogate, GAE), CleanRL's defaults",
  defaults: ppoDefaults,
  help: {
    learningRate: "Adam step size at the start",
    numSteps: "steps per env copy per rollout",
    annealLr: "anneal the learning rate linearly to 0",
    gamma: "discount factor",
    gaeLambda: "GAE lambda",
    numMinibatches: "minibatches per epoch",
    updateEpochs: "epochs per rollout",
    normAdv: "normalise advantages per minibatch",
    clipCoef: "surrogate clipping range",
    clipVloss: "clip the value loss",
    entCoef: "entropy bonus coefficient",
    vfCoef: "value loss coefficient",
    maxGradNorm: "global gradient-norm clip",
    targetKl: "early-stop epochs above this approx KL (0 = off)",
    klPenaltyCoef: "initial KL penalty coefficient (0 = off)",
    klPenaltyTarget: "KL the adaptive penalty steers to (0 = fixed coefficient)",
    bootstrapTruncated: "bootstrap truncated episodes' final values",
    hiddenSize: "hidden layer width",
    hiddenLayers: "number of hidden layers",
    adamEpsilon: "Adam epsilon",
    numWorkers: "Deno Workers for data-parallel rollouts and gradients (0 = this thread)",
    numShards:
      "env shards dealt to the workers; results depend on it, not on numWorkers (1 = the numbers of no workers; 0 = one per worker)",
  },
  presets: {
    cleanrl: {
      description: "CleanRL's ppo.py defaults for classic control (the plain defaults)",
      options: {},
      numEnvs: 4,
    },
    fast: {
      description:
        "tuned for wall time to solve CartPole-v1 on 2 cores (bench/sweep.ts; README: Fast preset)",
      // SB3 rl-zoo's CartPole-v1 settings (γ 0.98, no entropy bonus) with larger, fewer gradient
      // steps, which tfjs-wasm runs at a lower cost per sample: the sweep's fastest to a 20-episode
      // training mean of 475 whose 100-episode evaluations all reached 475 (seeds 1-3).
      options: {
        numSteps: 32,
        numMinibatches: 4,
        updateEpochs: 2,
        learningRate: 4e-3,
        gamma: 0.98,
        gaeLambda: 0.95,
        entCoef: 0,
      },
      numEnvs: 32,
    },
  },
  create: (options, context) => new Ppo(context, options),
});

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
}

function isCount(x: unknown): x is number {
  return typeof x === "number" && Number.isInteger(x) && x >= 0;
}
