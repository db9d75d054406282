/**
 * PPO's two loops, shared by the trainer (`ppo.ts`) and its worker shards, one function each so
 * that every worker count runs the same algorithm: {@linkcode collectRollout}, which steps the env
 * copies with the policy, and {@linkcode runEpochs}, the update's epochs of minibatch steps with
 * the target-KL early stop; {@linkcode batchEpochs} runs the epochs over one batch in this thread.
 */
import type { Policy, Rng, Rollout, VectorEnv } from "@proximal/core";
import {
  emptyRows,
  gatherRows,
  type Minibatch,
  type StepResult,
  type UpdateResult,
} from "./_ppo_engine.ts";

/** Options of {@linkcode collectRollout}. */
export interface CollectRolloutOptions {
  /** Steps per env copy. */
  numSteps: number;
  /** Discount factor γ, for bootstrapping truncated episodes. */
  gamma: number;
  /** Credit a truncated episode with γ·V(its final observation). */
  bootstrapTruncated: boolean;
  /** Draws the actions. */
  rng: Rng;
  /** The copies' current observations; overwritten with those after the rollout. */
  observations: Float32Array;
  /**
   * Where the values come from: `"act"` takes `policy.act`'s and values truncated episodes' final
   * observations at their step; `"batched"` acts without the critic (`values: false`) and values
   * every observation of the rollout, the final ones and those after it in one critic call at the
   * end (far fewer tensor launches; a row's value does not depend on its batch).
   */
  values: "act" | "batched";
  /** The index of the first env copy in the run, for the episodes' `envIndex`; default 0. */
  firstEnv?: number;
  /** Arrays to write the rows into (e.g. shared memory); default new ones. */
  into?: Partial<Pick<Rollout, "observations" | "actions" | "logProbs" | "values">>;
}

/** What {@linkcode collectRollout} returns: the rollout and the values after it. */
export interface PpoRollout extends Rollout {
  /** The value of each copy's observation after the rollout, for GAE. */
  lastValues: Float32Array;
}

/**
 * Steps the env copies `numSteps` times with the policy, one batched `act` per step: the
 * rollout's observations, actions, log-probs, values, rewards (truncated episodes bootstrapped)
 * and episode ends, time-major. The trainer and its worker shards both collect with it.
 *
 * @param envs The env copies.
 * @param policy The policy that acts.
 * @param options See {@linkcode CollectRolloutOptions}.
 * @returns The rollout.
 * @example Two steps of CartPole
 * ```ts
 * import assert from "node:assert/strict";
 * import { collectRollout } from "@proximal/algos";
 * import { Rng, setupBackend, VectorEnv } from "@proximal/core";
 * import { CartPole } from "@proximal/envs";
 * import { MlpPolicy } from "@proximal/models";
 * await setupBackend("cpu");
 * const envs = new VectorEnv(() => new CartPole(), { numEnvs: 2, seed: 1 });
 * const policy = new MlpPolicy(envs.observationSpace, envs.actionSpace, { seed: 1 });
 * const rollout = collectRollout(envs, policy, {
 *   numSteps: 2,
 *   gamma: 0.99,
 *   bootstrapTruncated: true,
 *   rng: new Rng(1),
 *   observations: envs.reset().slice(),
 *   values: "batched",
 * });
 * assert.ok(rollout.rewards.length === 4 && rollout.lastValues.length === 2);
 * policy.dispose();
 * ```
 */
export function collectRollout(
  envs: VectorEnv,
  policy: Policy,
  options: CollectRolloutOptions,
): PpoRollout {
  const { numSteps: steps, gamma, rng, observations: current, into = {} } = options;
  const n = envs.numEnvs, rows = steps * n, obsSize = envs.observationSize;
  const discrete = envs.actionSpace.kind === "discrete", actSize = discrete ? 1 : envs.actionSize;
  const rollout: PpoRollout = {
    numEnvs: n,
    numSteps: steps,
    observationSize: obsSize,
    actionSize: actSize,
    observations: into.observations ?? new Float32Array(rows * obsSize),
    actions: into.actions ?? (discrete ? new Int32Array(rows) : new Float32Array(rows * actSize)),
    logProbs: into.logProbs ?? new Float32Array(rows),
    values: into.values ?? new Float32Array(rows),
    rewards: new Float32Array(rows),
    ended: new Uint8Array(rows),
    episodes: [],
    lastValues: new Float32Array(0),
  };
  const { rewards, ended } = rollout, batched = options.values === "batched";
  // Truncated steps whose final observations the batched critic call values at the end.
  const finals: { k: number; observation: Float32Array }[] = [];
  for (let t = 0; t < steps; t++) {
    rollout.observations.set(current, t * n * obsSize);
    const acted = policy.act(current, batched ? { rng, values: false } : { rng });
    rollout.actions.set(acted.actions, t * n * actSize);
    rollout.logProbs.set(acted.logProbs, t * n);
    rollout.values.set(acted.values, t * n);
    const result = envs.step(acted.actions);
    for (let i = 0; i < n; i++) {
      rewards[t * n + i] = result.rewards[i]!;
      ended[t * n + i] = result.terminated[i]! | result.truncated[i]!;
    }
    if (options.bootstrapTruncated) {
      // A time limit is not a terminal state: credit the value the episode would have had.
      const cut: number[] = [];
      for (let i = 0; i < n; i++) if (result.truncated[i]) cut.push(i);
      if (batched) {
        // Copied: an env may reuse its observation's array.
        for (const i of cut) {
          finals.push({ k: t * n + i, observation: result.finalObservations[i]!.slice() });
        }
      } else if (cut.length > 0) {
        const stacked = new Float32Array(cut.length * obsSize);
        cut.forEach((i, j) => stacked.set(result.finalObservations[i]!, j * obsSize));
        const finalValues = policy.value(stacked);
        cut.forEach((i, j) => rewards[t * n + i]! += gamma * finalValues[j]!);
      }
    }
    const firstEnv = options.firstEnv ?? 0;
    for (const e of result.episodes) {
      rollout.episodes.push({ ...e, envIndex: e.envIndex + firstEnv, step: t });
    }
    current.set(result.observations);
  }
  if (!batched) {
    rollout.lastValues = policy.value(current);
    return rollout;
  }
  // One critic call: the truncated episodes' final observations, the rollout's, the next ones.
  const f = finals.length * obsSize, all = new Float32Array(f + (rows + n) * obsSize);
  finals.forEach((final, j) => all.set(final.observation, j * obsSize));
  all.set(rollout.observations.subarray(0, rows * obsSize), f);
  all.set(current, f + rows * obsSize);
  const values = policy.value(all);
  finals.forEach((final, j) => rewards[final.k]! += gamma * values[j]!);
  rollout.values.set(values.subarray(finals.length, finals.length + rows));
  rollout.lastValues = values.subarray(finals.length + rows);
  return rollout;
}

/** What {@linkcode runEpochs} calls: the epoch's start and each minibatch's gradient step. */
export interface EpochSteps {
  /** Starts an epoch (shuffles the rows). */
  startEpoch(): void;
  /** One gradient step on minibatch `j` of the epoch. */
  step(j: number): StepResult;
}

/**
 * PPO's update loop: `updateEpochs` passes over the rollout, each shuffling it and taking one
 * gradient step per minibatch, stopping early once the last step's approximate KL exceeds the
 * target (CleanRL checks once per epoch). The trainer and its workers both run it.
 *
 * @param options `updateEpochs`, `numMinibatches` and `targetKl` (0 = no early stop).
 * @param steps The epoch's start and the minibatch step.
 * @returns The last step's terms, the mean clip fraction, the steps and epochs run.
 * @example Count the steps
 * ```ts
 * import assert from "node:assert/strict";
 * import { runEpochs } from "@proximal/algos";
 * const terms = {
 *   policyLoss: 0,
 *   valueLoss: 0,
 *   entropy: 0,
 *   oldApproxKl: 0,
 *   approxKl: 0,
 *   clipfrac: 0.5,
 * };
 * const update = runEpochs({ updateEpochs: 3, numMinibatches: 2, targetKl: 0 }, {
 *   startEpoch: () => {},
 *   step: () => ({ terms, gradNorm: 1 }),
 * });
 * assert.ok(update.steps === 6 && update.epochs === 3 && update.clipfrac === 0.5);
 * ```
 */
export function runEpochs(
  options: { updateEpochs: number; numMinibatches: number; targetKl: number },
  steps: EpochSteps,
): UpdateResult {
  let last: StepResult | null = null, clipfracSum = 0, count = 0, epochs = 0;
  for (let epoch = 0; epoch < options.updateEpochs; epoch++) {
    steps.startEpoch();
    epochs++;
    for (let j = 0; j < options.numMinibatches; j++) {
      last = steps.step(j);
      clipfracSum += last.terms.clipfrac;
      count++;
    }
    // CleanRL checks the target KL once per epoch, on the last minibatch's estimate.
    if (options.targetKl > 0 && last!.terms.approxKl > options.targetKl) break;
  }
  return { last: last!, clipfrac: clipfracSum / count, steps: count, epochs };
}

/** Options of {@linkcode batchEpochs}. */
export interface BatchEpochsOptions {
  /** Passes over the batch. */
  updateEpochs: number;
  /** Minibatches per pass. */
  numMinibatches: number;
  /** Stop once the approximate KL exceeds this; 0 is off. */
  targetKl: number;
  /** Normalise each minibatch's advantages (CleanRL's `norm_adv`). */
  normAdv: boolean;
  /** Shuffles the rows at each epoch's start. */
  rng: Rng;
  /**
   * 0 shuffles the rows; otherwise the batch is time-major over this many env copies, which are
   * shuffled instead, each minibatch taking whole copies' rows. Default 0.
   */
  envs?: number;
  /** One gradient step on a minibatch's rows (reused between steps: copy to keep). */
  step(minibatch: Minibatch): StepResult;
}

/**
 * The update on a batch in this thread: {@linkcode runEpochs} over its rows, shuffled anew each
 * epoch, each minibatch's advantages normalised before its step. (PPO's workers run `runEpochs`
 * over their shards' rows instead, with the same shuffles and normalisation.)
 *
 * @param batch The rollout's rows with their advantages and returns.
 * @param options See {@linkcode BatchEpochsOptions}.
 * @returns What the update's steps reported.
 * @example Two epochs of two minibatches
 * ```ts
 * import assert from "node:assert/strict";
 * import { batchEpochs } from "@proximal/algos";
 * import { Rng } from "@proximal/core";
 * const rows = (n: number) => Float32Array.from({ length: n }, (_, i) => i);
 * const batch = {
 *   observations: rows(8),
 *   actions: Int32Array.from(rows(4)),
 *   logProbs: rows(4),
 *   values: rows(4),
 *   advantages: rows(4),
 *   returns: rows(4),
 * };
 * const terms = { policyLoss: 0, valueLoss: 0, entropy: 0, oldApproxKl: 0, approxKl: 0, clipfrac: 0 };
 * const seen: number[] = [];
 * const update = batchEpochs(batch, {
 *   updateEpochs: 2,
 *   numMinibatches: 2,
 *   targetKl: 0,
 *   normAdv: true,
 *   rng: new Rng(1),
 *   step: (minibatch) => (seen.push(...minibatch.advantages), { terms, gradNorm: 0 }),
 * });
 * assert.ok(update.steps === 4 && seen.every((a) => Math.abs(a) <= 1));
 * ```
 */
export function batchEpochs(batch: Minibatch, options: BatchEpochsOptions): UpdateResult {
  const rows = batch.logProbs.length, mb = rows / options.numMinibatches;
  const order = Int32Array.from({ length: rows }, (_, i) => i), minibatch = emptyRows(batch, mb);
  const n = options.envs ?? 0, copies = Int32Array.from({ length: n }, (_, i) => i);
  // Row t·n + i is step t of copy i: a shuffled copy's rows, one after another.
  const shuffleCopies = () => {
    options.rng.shuffle(copies);
    copies.forEach((copy, j) => {
      for (let t = 0; t < rows / n; t++) order[j * (rows / n) + t] = t * n + copy;
    });
  };
  return runEpochs(options, {
    startEpoch: () => (n > 0 ? shuffleCopies() : options.rng.shuffle(order)),
    step: (j) => {
      gatherRows(batch, order, { start: j * mb, into: minibatch });
      if (options.normAdv) normalize(minibatch.advantages);
      return options.step(minibatch);
    },
  });
}

/** In place: (x − mean) / (std + 1e-8), with torch's unbiased std (CleanRL's `norm_adv`). */
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
