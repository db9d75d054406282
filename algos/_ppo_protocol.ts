/**
 * What PPO's worker pool (`_ppo_pool.ts`, the main thread) and its workers (`_ppo_worker.ts`) share
 * (private): the shards, the layout of the shared memory, the messages.
 *
 * The env copies split into `numShards` shards; shard s holds copies [s·N/S, (s+1)·N/S) and a
 * random stream of its own. Weights, Adam's moments, gradient shares, advantage statistics, each
 * rollout's rows and episodes live in `SharedArrayBuffer`s. A round is a command word, a
 * generation counter the workers wait on and a done counter the pool waits on; messages carry only
 * the set-up, checkpoint states and errors.
 */
import type { EnvSource, RngState, RolloutEpisode, VectorEnvState } from "@proximal/core";
import type { UpdateResult } from "./_ppo_engine.ts";
import { ACTOR_METRICS, CRITIC_METRICS, type ParamSizes } from "./_ppo_mlp_engine.ts";

/** What a shard needs to know of the run. */
export interface ShardSpec {
  /** Its index (its place in the sums). */
  index: number;
  /** Its first env copy's index in the run. */
  firstEnv: number;
  /** Its env copies. */
  numEnvs: number;
  /** Its random stream's state. */
  rng: { words: RngState; spareNormal: number | null };
}

/** The run's settings every shard shares. */
export interface ShardSettings {
  /** The run's seed: copy i of the run is reset with seed + i. */
  seed: number;
  /** The env's name, for error messages. */
  envName: string;
  numSteps: number;
  numMinibatches: number;
  gamma: number;
  gaeLambda: number;
  bootstrapTruncated: boolean;
}

/** A shard's checkpoint state: its envs' and its random stream's. */
export interface ShardState {
  envs: VectorEnvState;
  rng: { words: RngState; spareNormal: number | null };
}

/**
 * The shared buffers of a shard's rows: observations, actions (int32 for a discrete space, else
 * float32), their log-probabilities, values, advantages, returns, and the epoch's shuffled order.
 */
export interface ShardRowsMemory {
  observations: SharedArrayBuffer;
  actions: SharedArrayBuffer;
  logProbs: SharedArrayBuffer;
  values: SharedArrayBuffer;
  advantages: SharedArrayBuffer;
  returns: SharedArrayBuffer;
  order: SharedArrayBuffer;
}

/** One shard's shared arrays: its rollout's rows (any worker may compute its shares), and these. */
export interface ShardMemory extends ShardRowsMemory {
  /** Per minibatch: its share's advantage sum and squared deviations. */
  stats: SharedArrayBuffer;
  /**
   * Its share of a gradient, the actor's half then the critic's, in two slots used by alternate
   * steps: a worker one step ahead writes the slot the others are no longer reading.
   */
  grads: [SharedArrayBuffer, SharedArrayBuffer];
  /** Finished episodes, {@linkcode EPISODE_FLOATS} floats each; their count in `info[0]`. */
  episodes: SharedArrayBuffer;
  info: SharedArrayBuffer;
}

/** The shared memory of a pool. */
export interface PoolMemory {
  control: SharedArrayBuffer;
  args: SharedArrayBuffer;
  params: SharedArrayBuffer;
  /** Adam's moments (its step count is in `args`). */
  adamM: SharedArrayBuffer;
  adamV: SharedArrayBuffer;
  results: SharedArrayBuffer;
  /** Each worker's rollout time in the last iteration, ms (float64). */
  rolloutMs: SharedArrayBuffer;
  shards: ShardMemory[];
}

/** Slots of the control words. */
export const CTL = {
  generation: 0,
  done: 1,
  command: 2,
  failed: 3,
  barrier: 4,
  claim: 5,
  size: 6,
} as const;

/** Commands: an iteration (the rollout, then the update's epochs) or stop. */
export const COMMAND = { iterate: 1, stop: 2 } as const;

/** Slots of the loss arguments (float64). */
export const ARGS = {
  clipCoef: 0,
  clipVloss: 1,
  entCoef: 2,
  vfCoef: 3,
  klCoef: 4,
  normAdv: 5,
  learningRate: 6,
  adamT: 7,
  size: 8,
} as const;

/** Floats of {@linkcode PoolMemory.results}: an update's results, written by shard 0's worker. */
export const RESULT_FLOATS = 10;

/**
 * Writes an update's results into the shared results.
 *
 * @param update The update's results.
 * @param into The shared results.
 */
export function writeUpdate(update: UpdateResult, into: Float64Array): void {
  const { terms: t, gradNorm } = update.last;
  into.set([t.policyLoss, t.valueLoss, t.entropy, t.oldApproxKl, t.approxKl, t.clipfrac, gradNorm]);
  into.set([update.clipfrac, update.steps, update.epochs], 7);
}

/**
 * Reads the update's results that {@linkcode writeUpdate} wrote.
 *
 * @param from The shared results.
 * @returns The update's results.
 */
export function readUpdate(from: Float64Array): UpdateResult {
  const at = (i: number) => from[i]!;
  return {
    last: {
      terms: {
        policyLoss: at(0),
        valueLoss: at(1),
        entropy: at(2),
        oldApproxKl: at(3),
        approxKl: at(4),
        clipfrac: at(5),
      },
      gradNorm: at(6),
    },
    clipfrac: at(7),
    steps: at(8),
    epochs: at(9),
  };
}

/** Floats per finished episode in a shard's episodes. */
export const EPISODE_FLOATS = 5;

/**
 * Writes a shard's finished episodes into its shared memory.
 *
 * @param episodes The episodes.
 * @param memory The shard's memory.
 */
export function writeEpisodes(episodes: RolloutEpisode[], memory: ShardMemory): void {
  const data = new Float64Array(memory.episodes);
  episodes.forEach((e, k) => {
    data.set([e.envIndex, e.return, e.length, e.truncated ? 1 : 0, e.step], k * EPISODE_FLOATS);
  });
  new Float64Array(memory.info)[0] = episodes.length;
}

/**
 * Reads a shard's finished episodes (the env's final info stays in the worker).
 *
 * @param memory The shard's memory.
 * @returns The episodes.
 */
export function readEpisodes(memory: ShardMemory): RolloutEpisode[] {
  const data = new Float64Array(memory.episodes), count = new Float64Array(memory.info)[0]!;
  return Array.from({ length: count }, (_, e) => {
    const at = e * EPISODE_FLOATS;
    return {
      envIndex: data[at]!,
      return: data[at + 1]!,
      length: data[at + 2]!,
      truncated: data[at + 3] === 1,
      step: data[at + 4]!,
      info: {},
    };
  });
}

/**
 * Floats in one shard's share of a gradient: the actor's half, then the critic's.
 *
 * @param sizes The policy's parts.
 * @returns The floats.
 */
export function shareFloats(sizes: ParamSizes): number {
  return ACTOR_METRICS + sizes.actorLayers + sizes.logStd + CRITIC_METRICS + sizes.critic;
}

/** What the workers' update loop needs besides the loss arguments. */
export interface UpdateSettings {
  updateEpochs: number;
  numMinibatches: number;
  targetKl: number;
  maxGradNorm: number;
  adamEpsilon: number;
}

/** What a worker needs to build its shards (sent once). */
export interface WorkerInit {
  type: "init";
  /** The main thread's tfjs backend, so that replicas run the same kernels. */
  backend: string;
  /** Floats per observation. */
  observationSize: number;
  /** The action space: `Discrete(size)` or a `Box` of `size` floats. */
  action: { kind: "discrete" | "box"; size: number };
  /** The MLP's hidden widths. */
  hiddenSizes: number[];
  /** Where the worker loads the env plugin from. */
  envSource: EnvSource;
  settings: ShardSettings;
  /** The worker's shards. */
  shards: ShardSpec[];
  /** The pool's workers (for the update's barrier). */
  numWorkers: number;
  /** This worker's index. */
  index: number;
  /** The update's settings. */
  update: UpdateSettings;
  /** Floats in the policy's parts. */
  sizes: ParamSizes;
  /** Every shard's rows per minibatch share, in shard order. */
  shareRows: number[];
  memory: PoolMemory;
  /** The context's env call record: the worker records its env calls in slot `1 + index`. */
  envCallRecord?: SharedArrayBuffer | undefined;
}

/** Messages from the pool to a worker. */
export type WorkerRequest =
  | WorkerInit
  | { type: "getState" }
  | { type: "setState"; states: ShardState[] }
  | { type: "stop" };

/** Messages from a worker. */
export type WorkerReply =
  | { type: "ready" }
  | { type: "state"; states: ShardState[] }
  | { type: "done" }
  | { type: "error"; message: string };
