/**
 * The PPO trainer's bookkeeping (private): the checks of its options and set-up, the rollout
 * processors' loop, and the iteration's metrics under CleanRL's names.
 */
import {
  checkOptions,
  flag,
  type IterationReport,
  nonNegative,
  note,
  oneOf,
  type OptionRule,
  positive,
  type Rollout,
  type RolloutProcessor,
  trainingRules,
  unitInterval,
  wholeAtLeast,
} from "@proximal/core";
import type { UpdateResult } from "./_ppo_engine.ts";

/** The metrics of an iteration, PPO's own (the processors' follow). */
export const METRIC_NAMES: readonly string[] = [
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
];

/** The range of every option of `PpoOptions`. */
const PPO_RULES: Readonly<Record<string, OptionRule>> = {
  learningRate: trainingRules.learningRate,
  numSteps: wholeAtLeast(1),
  annealLr: flag,
  gamma: unitInterval,
  gaeLambda: unitInterval,
  numMinibatches: wholeAtLeast(1),
  updateEpochs: wholeAtLeast(1),
  minibatchUnit: oneOf(["step", "env"]),
  normAdv: flag,
  clipCoef: positive,
  clipVloss: flag,
  entCoef: nonNegative,
  vfCoef: nonNegative,
  maxGradNorm: trainingRules.maxGradNorm,
  targetKl: note(nonNegative, "0 = off"),
  klPenaltyCoef: note(nonNegative, "0 = off"),
  klPenaltyTarget: nonNegative,
  bootstrapTruncated: flag,
  hiddenSize: wholeAtLeast(1),
  hiddenLayers: wholeAtLeast(0),
  adamEpsilon: trainingRules.adamEpsilon,
  gradient: oneOf(["auto", "autodiff"]),
  numWorkers: wholeAtLeast(0),
  numShards: note(wholeAtLeast(0), "0 = one per worker"),
};

/**
 * Refuses an option outside its range, naming it, a batch that does not split into equal
 * minibatches, and shards without workers.
 *
 * @param o The options in force.
 * @param numEnvs The env copies.
 */
export function checkPpoOptions(
  o: Readonly<Record<string, unknown>> & {
    numSteps: number;
    numMinibatches: number;
    minibatchUnit: string;
    numWorkers: number;
    numShards: number;
  },
  numEnvs: number,
): void {
  checkOptions("PPO", o, PPO_RULES);
  const batch = numEnvs * o.numSteps;
  if (batch % o.numMinibatches !== 0) {
    throw new RangeError(
      `PPO's batch of ${batch} (numEnvs ${numEnvs} × numSteps ${o.numSteps}) does not split into ${o.numMinibatches} equal minibatches`,
    );
  }
  if (o.minibatchUnit === "env" && (numEnvs % o.numMinibatches !== 0 || o.numWorkers > 0)) {
    throw new RangeError(
      `PPO's minibatchUnit "env" needs numMinibatches (${o.numMinibatches}) to divide numEnvs (${numEnvs}) and no workers (numWorkers ${o.numWorkers})`,
    );
  }
  if (o.numWorkers === 0 && o.numShards > 1) {
    throw new RangeError(
      `PPO option numShards ${o.numShards} needs numWorkers >= 1 (shards are the workers' split of the envs)`,
    );
  }
}

/**
 * Runs the processors over a rollout in order and gathers their metrics, refusing a non-finite
 * reward they leave, naming them and where it is.
 *
 * @param processors The processors.
 * @param rollout The rollout (its rewards rewritten in place).
 * @returns Their metrics.
 */
export async function runProcessors(
  processors: readonly RolloutProcessor[],
  rollout: Rollout,
): Promise<Record<string, number>> {
  const metrics: Record<string, number> = {};
  if (processors.length === 0) return metrics;
  for (const processor of processors) Object.assign(metrics, await processor.process(rollout));
  const { rewards, numEnvs: n } = rollout, bad = rewards.findIndex((r) => !Number.isFinite(r));
  if (bad >= 0) {
    throw new Error(
      `Rollout processors ${processors.map((p) => p.name).join(", ")} left a non-finite reward (${
        rewards[bad]
      }) at step ${Math.floor(bad / n)} of env ${bad % n}`,
    );
  }
  return metrics;
}

/** One iteration as {@linkcode iterationReport} reads it. */
export interface Iteration {
  /** The learning rate of the iteration. */
  lr: number;
  /** When the rollout and the update started (`performance.now()`). */
  rolloutStart: number;
  updateStart: number;
  /** The rollout's values, its returns and finished episodes. */
  values: Float32Array;
  returns: Float32Array;
  episodes: Rollout["episodes"];
  update: UpdateResult;
  processorMetrics: Record<string, number>;
}

/**
 * The iteration's report: its metrics under CleanRL's names, then the processors'.
 *
 * @param it The iteration.
 * @param run The trainer's step count, its β, and when and at which step it started timing.
 * @returns The report.
 */
export function iterationReport(
  it: Iteration,
  run: { step: number; klPenaltyCoef: number; startTime: number; startStep: number },
): IterationReport {
  const { terms, gradNorm } = it.update.last, episodes = it.episodes;
  const now = performance.now(), seconds = (now - run.startTime) / 1000;
  const metrics: Record<string, number> = {
    "charts/learning_rate": it.lr,
    "charts/SPS": seconds > 0 ? Math.round((run.step - run.startStep) / seconds) : 0,
    "perf/rollout_ms": it.updateStart - it.rolloutStart,
    "perf/update_ms": now - it.updateStart,
    "losses/value_loss": terms.valueLoss,
    "losses/policy_loss": terms.policyLoss,
    "losses/entropy": terms.entropy,
    "losses/old_approx_kl": terms.oldApproxKl,
    "losses/approx_kl": terms.approxKl,
    "losses/clipfrac": it.update.clipfrac,
    "losses/explained_variance": explainedVariance(it.values, it.returns),
    "losses/grad_norm": gradNorm,
    "losses/kl_penalty_coef": run.klPenaltyCoef,
    "losses/epochs": it.update.epochs,
    ...it.processorMetrics,
  };
  if (episodes.length > 0) {
    metrics["charts/episodic_return"] = episodes.reduce((a, e) => a + e.return, 0) /
      episodes.length;
    metrics["charts/episodic_length"] = episodes.reduce((a, e) => a + e.length, 0) /
      episodes.length;
  }
  return { step: run.step, metrics, episodes };
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
