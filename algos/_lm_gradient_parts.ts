/**
 * PPO's gradient of a language-model policy in parts (private; PPO options `gradientParts` and
 * `numWorkers`), so that the update of the text env can use a second core.
 *
 * With `minibatchUnit: "env"` a minibatch is whole env copies' rows, copy after copy; part p of P
 * takes copies [⌊p·c/P⌋, ⌊(p+1)·c/P⌋) of its c, so a part's GRU pass reads only its own episodes.
 * PPO's loss is a mean over the minibatch's N rows, so the minibatch's gradient is the sum over
 * the parts of (n_p / N) × the part's mean gradient — each part's rows' sum ÷ N — and likewise
 * each term of the loss. Everything over the whole minibatch (the advantages' normalisation) is
 * done before the split, by `batchEpochs`. The parts are added in part order, then PPO clips and
 * steps Adam as ever: P parts give the numbers of one up to float summation order, and the same
 * numbers bit for bit whichever thread computes a part — with 0 workers this thread computes them
 * one after the other; with W workers (≤ P − 1), worker w computes part w + 1 while this thread
 * computes part 0 (and any parts past W). Workers still starting (each loads tfjs, ~1–1.6 s)
 * leave their parts to this thread, which trains meanwhile.
 *
 * Here too, as the other engine that owns `numWorkers`: PPO's MLP with `gradient: "direct"` and
 * one worker computes each step's critic half in it (`_ppo_direct_pair.ts`).
 */
import type { Policy } from "@proximal/core";
import { LmPolicy, type MlpPolicy } from "@proximal/models";
import type { FlatWeights, Minibatch, PpoGradient, PpoLossValues } from "./_ppo_engine.ts";
import type { SelectedEngine } from "./_ppo_trainer.ts";
import { LmGradientPool, TERMS } from "./_lm_gradient_pool.ts";
import { directPair } from "./_ppo_direct_pair.ts";

/** The options of PPO's that the parts read (`PpoOptions`'). */
export interface PartsOptions {
  /** PPO's `gradient` ("direct" with a worker: the direct engine's pair); default "auto". */
  gradient?: string;
  gradientParts: number;
  numWorkers: number;
  numSteps: number;
  numMinibatches: number;
  minibatchUnit: string;
  workersIfFaster: boolean;
}

/** A gradient engine that may compute its minibatches in parts, some in workers. */
export type PartsEngine = SelectedEngine & {
  /**
   * Whether PPO's `numWorkers` are this engine's (a language-model policy's gradient parts)
   * rather than the MLP's workers, which then do not start.
   */
  ownsWorkers: boolean;
  /** Settles once its workers are up (at once without); steps before it run in this thread. */
  ready: Promise<void>;
  /** Workers that computed a part of the last step. */
  workersUsed(): number;
  /** Terminates the workers. */
  dispose(): void;
};

/**
 * Each part's first and last row + 1: whole env copies of `rowsPerCopy` rows, as evenly as they go.
 *
 * @param rows The minibatch's rows.
 * @param options The rows of one env copy and the parts.
 * @returns `parts + 1` boundaries.
 */
export function partBounds(
  rows: number,
  options: { rowsPerCopy: number; parts: number },
): number[] {
  const { rowsPerCopy, parts } = options, copies = rows / rowsPerCopy;
  return Array.from({ length: parts + 1 }, (_, p) => Math.floor(p * copies / parts) * rowsPerCopy);
}

/**
 * Rows [start, end) of a minibatch, as views.
 *
 * @param minibatch The minibatch.
 * @param range The rows.
 * @returns The part.
 */
export function rowRange(minibatch: Minibatch, range: { start: number; end: number }): Minibatch {
  const { start, end } = range, n = minibatch.logProbs.length;
  const o = minibatch.observations.length / n, a = minibatch.actions.length / n;
  return {
    observations: minibatch.observations.subarray(start * o, end * o),
    actions: minibatch.actions.subarray(start * a, end * a),
    logProbs: minibatch.logProbs.subarray(start, end),
    values: minibatch.values.subarray(start, end),
    advantages: minibatch.advantages.subarray(start, end),
    returns: minibatch.returns.subarray(start, end),
  };
}

/**
 * PPO's gradient engine for its options: `engine` itself with one part, else `engine` over each
 * part, weighted and added in part order, with the parts 1 … W in `numWorkers` workers.
 *
 * @param engine The gradient engine of the whole minibatch (for a language-model policy, autodiff
 * through `ppoLoss`, which the workers take too).
 * @param run The policy, PPO's options, the env copies and the flat weights (sent to the workers).
 * @returns The engine.
 */
export function gradientInParts(
  engine: SelectedEngine,
  run: { policy: Policy; options: PartsOptions; numEnvs: number; weights: FlatWeights },
): PartsEngine {
  const { policy, options: o, numEnvs } = run, parts = o.gradientParts;
  const lm = policy instanceof LmPolicy ? policy : null;
  const refuse = (why: string): never => {
    throw new RangeError(`PPO option gradientParts ${parts} ${why}`);
  };
  if (parts === 1) {
    if (lm && o.numWorkers > 0) {
      throw new RangeError(
        `PPO with numWorkers ${o.numWorkers} and a language-model policy computes parts of each minibatch's gradient in the workers: it needs gradientParts >= ${
          o.numWorkers + 1
        }`,
      );
    }
    if (o.gradient === "direct" && o.numWorkers > 0) return pairEngine(engine, run);
    const none = { ownsWorkers: false, ready: Promise.resolve(), workersUsed: () => 0 };
    return Object.assign(engine, { ...none, dispose: () => {} });
  }
  if (!lm) refuse("splits a language-model policy's minibatches (an LmPolicy)");
  if (o.minibatchUnit !== "env") refuse('needs minibatchUnit "env" (parts are whole env copies)');
  const copies = numEnvs / o.numMinibatches;
  if (copies < parts) {
    refuse(`cannot split minibatches of ${copies} env copies into ${parts} parts`);
  }
  if (o.numWorkers > parts - 1) {
    refuse(`gives work to at most ${parts - 1} workers, not numWorkers ${o.numWorkers}`);
  }
  // `workersIfFaster`: no second core, no workers (the numbers are the same).
  const cores = navigator.hardwareConcurrency ?? 1;
  const workers = o.workersIfFaster && cores < 2 ? 0 : o.numWorkers;
  const rowsPerCopy = o.numSteps;
  const pool = workers > 0
    ? new LmGradientPool(lm!, {
      numWorkers: workers,
      maxRows: Math.ceil(copies / parts) * rowsPerCopy,
    })
    : null;
  let used = 0;
  const step = (minibatch: Minibatch, loss: Parameters<SelectedEngine>[1]): PpoGradient => {
    const bounds = partBounds(minibatch.logProbs.length, { rowsPerCopy, parts });
    const part = (p: number) => rowRange(minibatch, { start: bounds[p]!, end: bounds[p + 1]! });
    // Part p (1 ≤ p ≤ W) goes to worker p − 1 if it is up; this thread computes the rest.
    const inWorker = Array.from(
      { length: parts },
      (_, p) => p >= 1 && p <= workers && pool!.isUp(p - 1),
    );
    used = inWorker.filter(Boolean).length;
    if (used > 0) pool!.setWeights(run.weights.values);
    inWorker.forEach((w, p) => w && pool!.post(p - 1, part(p), loss));
    const out = inWorker.map((w, p) => w ? null : engine(part(p), loss));
    const n = minibatch.logProbs.length;
    const grad = new Float32Array(run.weights.values.length);
    const terms: PpoLossValues = {
      policyLoss: 0,
      valueLoss: 0,
      entropy: 0,
      oldApproxKl: 0,
      approxKl: 0,
      clipfrac: 0,
    };
    for (let p = 0; p < parts; p++) {
      const share = out[p] ?? pool!.collect(p - 1), weight = (bounds[p + 1]! - bounds[p]!) / n;
      const g = share.grad;
      for (let i = 0; i < grad.length; i++) grad[i] = grad[i]! + g[i]! * weight;
      for (const name of TERMS) terms[name] += share.terms[name] * weight;
    }
    return { grad, terms };
  };
  return Object.assign(step, {
    readsFlatWeights: engine.readsFlatWeights,
    actor: engine.actor,
    ownsWorkers: true,
    ready: pool?.ready ?? Promise.resolve(),
    workersUsed: () => used,
    dispose: () => pool?.terminate(),
  });
}

/** The direct engine's pair for PPO's MLP with one worker, acting as `engine` does. */
function pairEngine(
  engine: SelectedEngine,
  run: { policy: Policy; options: PartsOptions & { numShards?: number }; weights: FlatWeights },
): PartsEngine {
  const { policy, options: o, weights } = run;
  if (o.numWorkers > 1 || (o.numShards ?? 1) > 1) {
    throw new RangeError(
      `PPO with gradient "direct" splits each step between this thread and one worker: numWorkers ${o.numWorkers} and numShards ${o.numShards} must be at most 1`,
    );
  }
  const pair = directPair(policy as MlpPolicy, () => weights.values, {
    workersIfFaster: o.workersIfFaster,
  });
  return Object.assign(pair, { readsFlatWeights: true, actor: engine.actor, ownsWorkers: true });
}
