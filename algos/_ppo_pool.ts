/**
 * PPO's worker pool (private): the main-thread side of `numWorkers`, data-parallel. The env
 * copies split into `numShards` shards (`_ppo_shard.ts`), dealt to the workers in turn; each worker
 * builds its shards' envs from the run's {@linkcode EnvSource}, collects their part of every rollout
 * into shared memory; at each minibatch the workers claim the shards' gradient halves (actor,
 * critic) one at a time, so a slowed worker takes fewer. Each worker then sums all the shares in
 * shard order and steps its own copy of Adam with the sum: the same numbers in every worker, so
 * their weights stay equal without this thread in the loop (measured ~10 % more env steps/s than
 * this thread summing and handing out weights each step). This thread starts one round per
 * iteration (the rollout, then the update) and takes back the weights and Adam's state.
 *
 * Why shards rather than one per worker: the shards' sums are the same whichever worker computes
 * them, so a run's numbers depend on `numShards`, never on `numWorkers`.
 *
 * The exchange goes through shared memory: weights, Adam's moments, gradient shares, advantage
 * statistics, each rollout's rows and episodes live in `SharedArrayBuffer`s. A round is
 * a command word, a generation counter the workers wait on and a done counter this thread waits
 * on (`Atomics.waitAsync`); inside the update the workers meet at a barrier (`Atomics.wait`, ~15 µs
 * to wake, against ~250 µs for a message with a 36 KB buffer). Messages carry only the set-up,
 * checkpoint states and errors.
 */
import * as tf from "@tensorflow/tfjs";
import type { EnvSource, RolloutEpisode, Variable } from "@proximal/core";
import { ACTOR_METRICS, CRITIC_METRICS } from "./_ppo_grad.ts";
import {
  EPISODE_FLOATS,
  type ShardRowsMemory,
  type ShardSettings,
  type ShardSpec,
} from "./_ppo_shard.ts";

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

/** Slots of an update's results (float64), written by worker 0. */
export const RESULT = {
  policyLoss: 0,
  valueLoss: 1,
  entropy: 2,
  oldApproxKl: 3,
  approxKl: 4,
  gradNorm: 5,
  clipfracSum: 6,
  updates: 7,
  epochsRun: 8,
  size: 9,
} as const;

/**
 * One shard's shared arrays: the rollout's rows (`ShardRowsMemory`: time-major over the shard's
 * copies, shared so that any worker can compute any shard's part), and these.
 */
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
  /** Floats in the actor's layers, the critic's and the log-std (`PoolConfig.sizes`). */
  sizes: { actorLayers: number; critic: number; logStd: number };
  /** Every shard's rows per minibatch share, in shard order. */
  shareRows: number[];
  memory: PoolMemory;
}

/** What the workers' update loop needs besides the loss arguments. */
export interface UpdateSettings {
  updateEpochs: number;
  numMinibatches: number;
  targetKl: number;
  maxGradNorm: number;
  adamEpsilon: number;
}

/** Messages from the pool to a worker. */
export type WorkerRequest =
  | WorkerInit
  | { type: "getState" }
  | { type: "setState"; states: ShardState[] }
  | { type: "stop" };

/** A shard's checkpoint state (`PpoShard.getState`). */
export type ShardState = ReturnType<import("./_ppo_shard.ts").PpoShard["getState"]>;

/** Messages from a worker. */
export type WorkerReply =
  | { type: "ready" }
  | { type: "state"; states: ShardState[] }
  | { type: "done" }
  | { type: "error"; message: string };

/** A minibatch's gradient, joined from halves or summed from shares ({@linkcode sumShares}). */
export interface PooledGradient {
  /** The gradient, flat in `policy.variables` order. */
  grad: Float32Array;
  /** policyLoss, valueLoss, entropy, oldApproxKl, approxKl, clipfrac (the order `Ppo` reads). */
  metrics: number[];
}

/** The rollout part of {@linkcode PpoWorkerPool.iterate}'s result: the shards' parts, in order. */
export interface PooledRollout {
  values: Float32Array;
  returns: Float32Array;
  episodes: RolloutEpisode[];
}

/** The pool's configuration. */
export type PoolConfig = Omit<WorkerInit, "type" | "shards" | "memory" | "shareRows" | "index"> & {
  /** Every shard, in order. */
  shards: ShardSpec[];
};

/**
 * Workers, each with a replica of the MLP policy and some of the shards.
 *
 * @example Internal: see `Ppo` with `numWorkers`
 * ```ts ignore
 * const pool = new PpoWorkerPool(config);
 * const { rollout, results } = await pool.iterate(params, adam, lossArgs);
 * ```
 */
export class PpoWorkerPool {
  /** Settles when every worker has its shards (rejects with the first failure). */
  readonly ready: Promise<void>;
  readonly #config: PoolConfig;
  readonly #workers: Worker[] = [];
  readonly #pending: { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }[][] = [];
  readonly #control: Int32Array;
  readonly #args: Float64Array;
  readonly #params: Float32Array;
  readonly #memory: PoolMemory;
  #failure: Error | null = null;
  readonly #failed: Promise<never>;
  #rejectFailed: (e: Error) => void = () => {};

  /**
   * Starts the workers and hands out the shards.
   *
   * @param config See {@linkcode PoolConfig}.
   */
  constructor(config: PoolConfig) {
    this.#config = config;
    const { actorLayers, critic, logStd } = config.sizes;
    const paramCount = actorLayers + critic + logStd;
    const shareFloats = ACTOR_METRICS + actorLayers + logStd + CRITIC_METRICS + critic;
    const m = config.settings.numMinibatches;
    const f32 = (n: number) => new SharedArrayBuffer(4 * n);
    const f64 = (n: number) => new SharedArrayBuffer(8 * n);
    this.#memory = {
      control: new SharedArrayBuffer(4 * CTL.size),
      args: f64(ARGS.size),
      params: f32(paramCount),
      adamM: f32(paramCount),
      adamV: f32(paramCount),
      results: f64(RESULT.size),
      rolloutMs: f64(config.numWorkers),
      shards: config.shards.map((shard) => {
        const rows = shard.numEnvs * config.settings.numSteps;
        return {
          stats: f64(2 * m),
          grads: [f32(shareFloats), f32(shareFloats)],
          observations: f32(rows * config.observationSize),
          actions: f32(rows * (config.action.kind === "discrete" ? 1 : config.action.size)),
          logProbs: f32(rows),
          values: f32(rows),
          advantages: f32(rows),
          returns: f32(rows),
          order: f32(rows),
          episodes: f64(EPISODE_FLOATS * rows),
          info: f64(1),
        };
      }),
    };
    this.#control = new Int32Array(this.#memory.control);
    this.#args = new Float64Array(this.#memory.args);
    this.#params = new Float32Array(this.#memory.params);
    this.#failed = new Promise((_, reject) => this.#rejectFailed = reject);
    this.#failed.catch(() => {});

    const url = new URL("./_ppo_worker.ts", import.meta.url).href;
    const inits: Promise<WorkerReply>[] = [];
    for (let w = 0; w < config.numWorkers; w++) {
      const worker = new Worker(url, { type: "module", name: `ppo-worker-${w}` });
      this.#workers.push(worker);
      this.#pending.push([]);
      worker.onmessage = (event: MessageEvent<WorkerReply>) => {
        const reply = event.data;
        if (reply.type === "error") {
          this.#fail(new Error(`PPO worker ${w}: ${reply.message}`));
          return;
        }
        this.#pending[w]!.shift()?.resolve(reply);
      };
      // An uncaught error (e.g. the worker's module fails to load) ends the worker: fail the pool.
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        this.#fail(new Error(`PPO worker ${w} failed: ${event.message}`));
      };
      worker.onmessageerror = () => this.#fail(new Error(`PPO worker ${w}: unreadable message`));
      const init: WorkerInit = {
        type: "init",
        backend: config.backend,
        observationSize: config.observationSize,
        action: config.action,
        hiddenSizes: config.hiddenSizes,
        envSource: config.envSource,
        settings: config.settings,
        numWorkers: config.numWorkers,
        index: w,
        update: config.update,
        sizes: config.sizes,
        // Shard s goes to worker s mod numWorkers.
        shards: config.shards.filter((s) => s.index % config.numWorkers === w),
        shareRows: config.shards.map((s) => s.numEnvs * config.settings.numSteps / m),
        memory: this.#memory,
      };
      inits.push(this.#call(w, init));
    }
    this.ready = Promise.all(inits).then(() => {});
    // Marked handled here; whoever awaits `ready` still sees the rejection.
    this.ready.catch(() => {});
  }

  /**
   * One iteration in a single round: every worker collects its shards' part of the rollout with
   * the given weights and computes their GAE, then the workers run the update's epochs — at each
   * step they claim and write the shards' shares of the minibatch's gradient, and every worker
   * adds the shares in shard order and steps its own copy of Adam (the same numbers in each, so no
   * thread waits for another to hand out weights). The update's first barrier waits for every
   * shard's rollout, so this thread is needed only at the iteration's ends.
   *
   * @param params The weights before the iteration (updated in place).
   * @param adam The optimizer's state before the update (updated in place).
   * @param loss The loss arguments, the learning rate and advantage normalisation.
   * @returns The shards' rollout (values, returns, episodes, in shard order), the slowest worker's
   * rollout time in ms, and the update's results ({@linkcode RESULT}): the last step's metrics and
   * gradient norm, the clip fractions' sum, the steps and epochs run.
   */
  async iterate(
    params: Float32Array,
    adam: { t: number; m: Float32Array; v: Float32Array },
    loss: LossArgs & { learningRate: number },
  ): Promise<{ rollout: PooledRollout; rolloutMs: number; results: Float64Array }> {
    await this.ready;
    this.#params.set(params);
    new Float32Array(this.#memory.adamM).set(adam.m);
    new Float32Array(this.#memory.adamV).set(adam.v);
    const a = this.#args;
    a[ARGS.clipCoef] = loss.clipCoef;
    a[ARGS.clipVloss] = loss.clipVloss ? 1 : 0;
    a[ARGS.entCoef] = loss.entCoef;
    a[ARGS.vfCoef] = loss.vfCoef;
    a[ARGS.klCoef] = loss.klCoef;
    a[ARGS.normAdv] = loss.normAdv ? 1 : 0;
    a[ARGS.learningRate] = loss.learningRate;
    a[ARGS.adamT] = adam.t;
    Atomics.store(this.#control, CTL.barrier, 0);
    Atomics.store(this.#control, CTL.claim, 0);
    await this.#round(COMMAND.iterate);
    params.set(this.#params);
    adam.m.set(new Float32Array(this.#memory.adamM));
    adam.v.set(new Float32Array(this.#memory.adamV));
    adam.t = a[ARGS.adamT]!;
    return {
      rollout: this.#rolloutParts(),
      rolloutMs: Math.max(...new Float64Array(this.#memory.rolloutMs)),
      results: new Float64Array(this.#memory.results).slice(),
    };
  }

  /** The shards' values, returns and finished episodes, joined in shard order. */
  #rolloutParts(): PooledRollout {
    const parts = this.#memory.shards.map((m) => ({
      values: new Float32Array(m.values),
      returns: new Float32Array(m.returns),
    }));
    const total = parts.reduce((n, p) => n + p.values.length, 0);
    const values = new Float32Array(total), returns = new Float32Array(total);
    const episodes: RolloutEpisode[] = [];
    let offset = 0;
    this.#memory.shards.forEach((m, s) => {
      values.set(parts[s]!.values, offset);
      returns.set(parts[s]!.returns, offset);
      offset += parts[s]!.values.length;
      const data = new Float64Array(m.episodes), count = new Float64Array(m.info)[0]!;
      for (let e = 0; e < count; e++) {
        const at = e * EPISODE_FLOATS;
        episodes.push({
          envIndex: data[at]!,
          return: data[at + 1]!,
          length: data[at + 2]!,
          truncated: data[at + 3] === 1,
          step: data[at + 4]!,
          // The env's final info stays in the worker.
          info: {},
        });
      }
    });
    return { values, returns, episodes };
  }

  /** Every shard's env and random-stream state, in shard order. */
  async getStates(): Promise<ShardState[]> {
    await this.ready;
    const replies = await Promise.all(
      this.#workers.map((_, w) => this.#call(w, { type: "getState" })),
    );
    const states: ShardState[] = [];
    for (const shard of this.#config.shards) {
      const w = shard.index % this.#workers.length;
      const reply = replies[w]!;
      if (reply.type !== "state") throw new Error(`PPO worker ${w}: no state`);
      states.push(reply.states[Math.floor(shard.index / this.#workers.length)]!);
    }
    return states;
  }

  /** Restores every shard's state (in shard order). */
  async setStates(states: ShardState[]): Promise<void> {
    await this.ready;
    const n = this.#workers.length;
    await Promise.all(
      this.#workers.map((_, w) =>
        this.#call(w, { type: "setState", states: states.filter((_, s) => s % n === w) })
      ),
    );
  }

  /** Terminates every worker; calls still waiting reject. */
  terminate(): void {
    // Wake the workers out of their waits first, so that none is ended while it waits.
    const c = this.#control;
    c[CTL.command] = COMMAND.stop;
    Atomics.add(c, CTL.generation, 1);
    Atomics.notify(c, CTL.generation);
    for (const worker of this.#workers) worker.terminate();
    this.#fail(new Error("PPO's workers were terminated (the trainer was disposed)"));
  }

  /** One round: every worker runs the command on its shards; resolves when all are done. */
  async #round(command: number): Promise<void> {
    if (this.#failure) throw this.#failure;
    const c = this.#control;
    c[CTL.command] = command;
    Atomics.store(c, CTL.done, 0);
    Atomics.add(c, CTL.generation, 1);
    Atomics.notify(c, CTL.generation);
    let done: number;
    while ((done = Atomics.load(c, CTL.done)) < this.#workers.length) {
      // With a time-out, so that no wait outlives a pool whose workers failed.
      const wait = Atomics.waitAsync(c, CTL.done, done, 1000);
      if (wait.async) await Promise.race([wait.value, this.#failed]);
    }
    // A worker that failed still counts itself done; its message names the error.
    if (Atomics.load(c, CTL.failed)) await this.#failed;
  }

  #call(w: number, request: WorkerRequest): Promise<WorkerReply> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#pending[w]!.push({ resolve, reject });
      this.#workers[w]!.postMessage(request);
    });
  }

  #fail(error: Error): void {
    if (!this.#failure) {
      this.#failure = error;
      this.#rejectFailed(error);
    }
    for (const queue of this.#pending) {
      for (const waiter of queue.splice(0)) waiter.reject(this.#failure);
    }
  }
}

/**
 * Each minibatch's advantage mean and deviation (torch's unbiased one) from its shares' sums and
 * squared deviations, in shard order: Chan et al.'s pairwise update moves each share's squared
 * deviations about its own mean to the minibatch's mean. With one share it is the two-pass
 * formula of the one-thread trainer, to the bit.
 *
 * @param stats Each shard's `[sum, squared deviations]` per minibatch.
 * @param shareRows Each shard's rows per minibatch share.
 * @returns `[mean, std]` per minibatch.
 */
export function minibatchNorms(stats: Float64Array[], shareRows: number[]): Float64Array {
  const m = stats[0]!.length / 2, rows = shareRows.reduce((a, b) => a + b, 0);
  const norms = new Float64Array(2 * m);
  for (let j = 0; j < m; j++) {
    let sum = 0;
    for (const st of stats) sum += st[2 * j]!;
    const mean = sum / rows;
    let sq = 0;
    stats.forEach((st, s) => {
      sq += st[2 * j + 1]! + shareRows[s]! * (st[2 * j]! / shareRows[s]! - mean) ** 2;
    });
    norms[2 * j] = mean;
    norms[2 * j + 1] = Math.sqrt(sq / Math.max(1, rows - 1));
  }
  return norms;
}

/**
 * The gradient and metrics of a minibatch from its shares (each an actor half then a critic half),
 * added in shard order.
 *
 * @param shares The shares, in shard order.
 * @param sizes Floats in the actor's layers, the critic's layers and the log-std.
 * @returns The gradient in `policy.variables` order and the metrics.
 */
export function sumShares(shares: Float32Array[], sizes: PoolConfig["sizes"]): PooledGradient {
  const actorFloats = ACTOR_METRICS + sizes.actorLayers + sizes.logStd;
  let sum: PooledGradient | null = null;
  for (const share of shares) {
    const part = joinHalves(share.subarray(0, actorFloats), share.subarray(actorFloats), sizes);
    if (!sum) {
      sum = part;
      continue;
    }
    for (let i = 0; i < sum.grad.length; i++) sum.grad[i] = sum.grad[i]! + part.grad[i]!;
    sum.metrics = sum.metrics.map((x, i) => x + part.metrics[i]!);
  }
  return sum!;
}

/**
 * PPO's total loss from the metrics of {@linkcode joinHalves} (only for Adam's divergence check:
 * the halves each computed their part of it).
 *
 * @param metrics policyLoss, valueLoss, entropy, oldApproxKl, approxKl, clipfrac.
 * @param loss The loss arguments.
 * @returns policyLoss − entCoef·entropy + vfCoef·valueLoss (+ klCoef·approxKl).
 */
export function totalLoss(metrics: number[], loss: Omit<LossArgs, "normAdv">): number {
  const [policyLoss, valueLoss, entropy, , approxKl] = metrics as [number, ...number[]];
  return policyLoss - loss.entCoef * entropy! + loss.vfCoef * valueLoss! +
    (loss.klCoef > 0 ? loss.klCoef * approxKl! : 0);
}

/** The loss arguments of an update. */
export interface LossArgs {
  clipCoef: number;
  clipVloss: boolean;
  entCoef: number;
  vfCoef: number;
  klCoef: number;
  normAdv: boolean;
}

/**
 * The variables' values, flat in their order (one read-back).
 *
 * @param variables The variables.
 * @returns A new array.
 */
export function readFlat(variables: readonly Variable[]): Float32Array {
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
 * The two halves joined: the gradient in `policy.variables` order (actor layers, critic layers,
 * log-std) and the metrics in the order `Ppo` reads them.
 *
 * @param a {@linkcode actorHalf}'s result.
 * @param c {@linkcode criticHalf}'s result.
 * @param sizes Floats in the actor's layers, the critic's layers and the log-std.
 * @returns The gradient and the metrics.
 */
export function joinHalves(
  a: Float32Array,
  c: Float32Array,
  sizes: PoolConfig["sizes"],
): PooledGradient {
  const { actorLayers: layers, critic, logStd } = sizes;
  const grad = new Float32Array(layers + critic + logStd);
  grad.set(a.subarray(ACTOR_METRICS, ACTOR_METRICS + layers), 0);
  grad.set(c.subarray(CRITIC_METRICS), layers);
  grad.set(a.subarray(ACTOR_METRICS + layers), layers + critic);
  const [policyLoss, entropy, oldApproxKl, approxKl, clipfrac] = a;
  return {
    grad,
    metrics: [policyLoss!, c[0]!, entropy!, oldApproxKl!, approxKl!, clipfrac!],
  };
}
