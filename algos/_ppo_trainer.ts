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
import type { Policy } from "@proximal/core";
import { MlpPolicy } from "@proximal/models";
import type { FlatWeights, GradientEngine, PpoGradient, UpdateResult } from "./_ppo_engine.ts";
import { mlpGradient } from "./_ppo_mlp_engine.ts";
import { packedGradient } from "./_ppo_packed_engine.ts";
import { flatActor } from "./_ppo_flat_actor.ts";
import { directForward, directGradient } from "./_ppo_direct_engine.ts";

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

/**
 * PPO's metric names: its own, `perf/workers` when it has workers, then the processors'.
 *
 * @param numWorkers The run's workers.
 * @param processors The rollout processors.
 * @returns The names, in report order.
 */
export function ppoMetricNames(
  numWorkers: number,
  processors: readonly RolloutProcessor[],
): string[] {
  const workers = numWorkers > 0 ? ["perf/workers"] : [];
  return [...METRIC_NAMES, ...workers, ...processors.flatMap((p) => p.metricNames ?? [])];
}

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
  gradient: oneOf(["auto", "packed", "direct", "autodiff"]),
  numWorkers: wholeAtLeast(0),
  numShards: note(wholeAtLeast(0), "0 = one per worker"),
  workersIfFaster: flag,
  gradientParts: wholeAtLeast(1),
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
    gradientParts: number;
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
  // A language-model policy's workers compute gradient parts (`gradientParts` > 1).
  const workers = o.gradientParts === 1 ? o.numWorkers : 0;
  if (o.minibatchUnit === "env" && (numEnvs % o.numMinibatches !== 0 || workers > 0)) {
    throw new RangeError(
      `PPO's minibatchUnit "env" needs numMinibatches (${o.numMinibatches}) to divide numEnvs (${numEnvs}) and no workers (numWorkers ${o.numWorkers}) unless gradientParts > 1`,
    );
  }
  if (o.numWorkers === 0 && o.numShards > 1) {
    throw new RangeError(
      `PPO option numShards ${o.numShards} needs numWorkers >= 1 (shards are the workers' split of the envs)`,
    );
  }
}

/**
 * A gradient engine; whether it reads the flat weights (then the policy loads them once per
 * update); and the policy the rollout acts with, if not the trained one.
 */
export type SelectedEngine = GradientEngine & { readsFlatWeights: boolean; actor: Policy | null };

/**
 * The gradient engine of PPO's option `gradient` for a policy: `"auto"` the closed form for an
 * MLP (autodiff otherwise), `"packed"` the packed closed form with the rollout acting in
 * JavaScript from the same flat weights (MLP only), `"autodiff"` the reference.
 *
 * @param policy The policy.
 * @param gradient The option's value.
 * @param engines The flat weights the packed engine reads, and the reference (`ppoGradient`).
 * @returns The engine.
 */
export function selectEngine(
  policy: Policy,
  gradient: string,
  engines: {
    weights: FlatWeights;
    ppoGradient: (policy: Policy, ...rest: Parameters<GradientEngine>) => PpoGradient;
  },
): SelectedEngine {
  const mlp = policy instanceof MlpPolicy ? policy : null;
  if (gradient === "packed" || gradient === "direct") {
    if (!mlp) {
      throw new Error(
        `PPO option gradient "${gradient}" needs PPO's own MLP policy, not a custom one: use "auto" or "autodiff"`,
      );
    }
    const { weights } = engines;
    const flat = () => weights.values;
    if (gradient === "direct") {
      const actor = flatActor(mlp, flat, {
        logits: directForward(mlp, flat, { network: "actor" }),
        values: directForward(mlp, flat, { network: "critic" }),
      });
      return Object.assign(directGradient(mlp, flat), { readsFlatWeights: true, actor });
    }
    const actor = flatActor(mlp, flat);
    return Object.assign(packedGradient(mlp, flat), { readsFlatWeights: true, actor });
  }
  const reference: GradientEngine = (minibatch, loss) =>
    engines.ppoGradient(policy, minibatch, loss);
  const engine = mlp && gradient === "auto" ? mlpGradient(mlp) : reference;
  return Object.assign(engine, { readsFlatWeights: false, actor: null });
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
 * @param run The trainer's step count, its β, when and at which step it started timing, and with
 * workers how many ran the iteration (`perf/workers`: 0 while the trainer's thread trains before
 * handing over).
 * @returns The report.
 */
export function iterationReport(
  it: Iteration,
  run: {
    step: number;
    klPenaltyCoef: number;
    startTime: number;
    startStep: number;
    workers?: number;
  },
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
  if (run.workers !== undefined) metrics["perf/workers"] = run.workers;
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
