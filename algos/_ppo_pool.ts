/**
 * PPO's worker pool (private): the main-thread side of `numWorkers`, data-parallel. The env
 * copies split into `numShards` shards (`_ppo_protocol.ts`), dealt to the workers in turn; each
 * worker builds its shards' envs from the run's {@linkcode EnvSource} and runs, for its shards,
 * the algorithm of `ppo.ts` — `collectRollout`, `computeGae`, `runEpochs` — with the closed-form
 * gradient (`_ppo_worker.ts`, `_ppo_shard.ts`). At each minibatch the workers claim the shards'
 * gradient halves (actor, critic) one at a time, so a slowed worker takes fewer; each worker then
 * sums all the shares in shard order and steps its own copy of Adam with the sum: the same numbers
 * in every worker, so their weights stay equal without this thread in the loop (measured ~10 %
 * more env steps/s than this thread summing and handing out weights each step). This thread starts
 * one round per iteration (the rollout, then the update) and takes back the weights and Adam's
 * state.
 *
 * Why shards rather than one per worker: the shards' sums are the same whichever worker computes
 * them, so a run's numbers depend on `numShards`, never on `numWorkers`.
 *
 * The exchange goes through shared memory (`_ppo_protocol.ts`): a round is a command word, a
 * generation counter the workers wait on and a done counter this thread waits on
 * (`Atomics.waitAsync`); inside the update the workers meet at a barrier (`Atomics.wait`, ~15 µs to
 * wake, against ~250 µs for a message with a 36 KB buffer).
 */
import * as tf from "@tensorflow/tfjs";
import type { Adam, EnvSource, Policy, Rng, RolloutProcessor, VectorEnv } from "@proximal/core";
import { MlpPolicy } from "@proximal/models";
import type { FlatWeights, PpoLossOptions } from "./_ppo_engine.ts";
import type { Iteration } from "./_ppo_trainer.ts";
import { paramSizes } from "./_ppo_mlp_engine.ts";
import {
  ARGS,
  COMMAND,
  CTL,
  EPISODE_FLOATS,
  type PoolMemory,
  readEpisodes,
  readUpdate,
  RESULT_FLOATS,
  type ShardSpec,
  type ShardState,
  shareFloats,
  type WorkerInit,
  type WorkerReply,
  type WorkerRequest,
} from "./_ppo_protocol.ts";

/** The options of PPO's that the workers read (`PpoOptions`'). */
export interface WorkerOptions {
  numWorkers: number;
  numSteps: number;
  numMinibatches: number;
  updateEpochs: number;
  gamma: number;
  gaeLambda: number;
  bootstrapTruncated: boolean;
  targetKl: number;
  maxGradNorm: number;
  adamEpsilon: number;
  hiddenSize: number;
  hiddenLayers: number;
  gradient: string;
  workersIfFaster: boolean;
}

/**
 * Checks that workers can serve this run, then starts them (they load tfjs meanwhile).
 *
 * @param policy The trainer's policy (its own MLP policy: the workers rebuild it).
 * @param run The options, the shards, the trainer's context and its random stream (one shard
 * draws from it, as the one-thread trainer does; several from forks of it).
 * @returns The pool.
 */
export function startWorkerPool(
  policy: Policy,
  run: {
    options: WorkerOptions;
    numShards: number;
    context: {
      numEnvs: number;
      seed: number;
      envName?: string;
      envSource?: EnvSource;
      policy?: Policy;
      processors?: readonly RolloutProcessor[];
      envCallRecord?: SharedArrayBuffer;
    };
    rng: Rng;
  },
): PpoWorkerPool | null {
  const { options: o, numShards: shards, context } = run, n = context.numEnvs;
  const refuse = (why: string): never => {
    throw new Error(`PPO with numWorkers ${o.numWorkers} ${why}`);
  };
  if (o.workersIfFaster) {
    if (shards > 1) refuse("and workersIfFaster needs one shard (several draw other numbers)");
    // Where the workers cannot serve the run or have no core of their own, this thread trains.
    const serves = context.policy === undefined && policy instanceof MlpPolicy &&
      (context.processors ?? []).length === 0 && o.gradient === "auto" &&
      context.envSource !== undefined;
    if (!serves || (navigator.hardwareConcurrency ?? 1) < 2) return null;
  }
  if (context.policy || !(policy instanceof MlpPolicy)) {
    refuse("needs its own MLP policy (the workers rebuild it), not a custom one");
  }
  if ((context.processors ?? []).length > 0) {
    refuse("cannot run rollout processors (they need the whole rollout in this thread)");
  }
  if (o.gradient !== "auto") {
    refuse(`computes the closed-form gradient: gradient "${o.gradient}" needs numWorkers 0`);
  }
  const envSource = context.envSource ?? refuse(
    "builds its envs in the workers and needs context.envSource (a module reference to the env plugin and its options; the CLI sets it)",
  );
  if (n % shards !== 0) refuse(`cannot split numEnvs ${n} into ${shards} equal shards`);
  if ((n / shards * o.numSteps) % o.numMinibatches !== 0) {
    refuse(
      `cannot split each shard's ${
        n / shards * o.numSteps
      } rows into ${o.numMinibatches} equal minibatch shares`,
    );
  }
  const mlp = policy as MlpPolicy, space = mlp.actionSpace;
  const rngs = shards === 1 ? [run.rng] : Array.from({ length: shards }, () => run.rng.fork());
  return new PpoWorkerPool({
    numWorkers: o.numWorkers,
    backend: tf.getBackend(),
    observationSize: mlp.observationSize,
    action: space.kind === "discrete"
      ? { kind: "discrete", size: space.n }
      : { kind: "box", size: space.size },
    hiddenSizes: new Array(o.hiddenLayers).fill(o.hiddenSize),
    envSource,
    envCallRecord: context.envCallRecord,
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
    sizes: paramSizes(mlp),
    workersIfFaster: o.workersIfFaster,
  });
}

/** The pool's configuration. */
export type PoolConfig = Omit<WorkerInit, "type" | "shards" | "memory" | "shareRows" | "index"> & {
  /** Every shard, in order. */
  shards: ShardSpec[];
  /** Give the run back to the trainer's thread if the workers prove slower (PPO's option). */
  workersIfFaster: boolean;
};

/**
 * Workers, each with a replica of the MLP policy and some of the shards.
 *
 * @example Internal: see `Ppo` with `numWorkers`
 * ```ts ignore
 * const pool = new PpoWorkerPool(config);
 * const iteration = await pool.iterate(weights, { adam, loss, normAdv, lr });
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
  /** Set once every worker is up (or one has failed): `ready` has settled. */
  #settled = false;
  /** Whether the workers run the iterations yet (see {@linkcode PpoWorkerPool.takesOver}). */
  #handedOver: boolean;
  /** Set once the workers gave the run back and ended (`workersIfFaster`). */
  #stopped = false;
  /**
   * `workersIfFaster`'s trial, once the workers are up: their iterations, then this thread's
   * again (both after start-up, when neither competes with tfjs loading), timed (ms).
   */
  readonly #trial: {
    workers: number[];
    here: number[];
    side: "here" | "workers" | null;
    warm: boolean;
  } = { workers: [], here: [], side: null, warm: false };
  #rejectFailed: (e: Error) => void = () => {};

  /**
   * Starts the workers and hands out the shards.
   *
   * @param config See {@linkcode PoolConfig}.
   */
  constructor(config: PoolConfig) {
    this.#config = config;
    this.#handedOver = config.shards.length > 1;
    const { actorLayers, critic, logStd } = config.sizes;
    const paramCount = actorLayers + critic + logStd, share = shareFloats(config.sizes);
    const m = config.settings.numMinibatches;
    const f32 = (n: number) => new SharedArrayBuffer(4 * n);
    const f64 = (n: number) => new SharedArrayBuffer(8 * n);
    this.#memory = {
      control: new SharedArrayBuffer(4 * CTL.size),
      args: f64(ARGS.size),
      params: f32(paramCount),
      adamM: f32(paramCount),
      adamV: f32(paramCount),
      results: f64(RESULT_FLOATS),
      rolloutMs: f64(config.numWorkers),
      shards: config.shards.map((shard) => {
        const rows = shard.numEnvs * config.settings.numSteps;
        return {
          stats: f64(2 * m),
          grads: [f32(share), f32(share)],
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
        envCallRecord: config.envCallRecord,
      };
      inits.push(this.#call(w, init));
    }
    this.ready = Promise.all(inits).then(() => {});
    // Marked handled here; whoever awaits `ready` still sees the rejection.
    this.ready.then(() => this.#settled = true, () => this.#settled = true);
  }

  /** Whether the workers run the run: with several shards from the start, with one once handed over. */
  get handedOver(): boolean {
    return this.#handedOver;
  }

  /**
   * Who runs the next iteration. Several shards draw other random numbers than the trainer's
   * thread, so they start in the workers; one shard is that thread's own run, which it trains while
   * the workers start (~1 s: each loads tfjs) and then hands over with its envs and random stream —
   * the same numbers as waiting for the workers. With `workersIfFaster` the workers then run
   * three timed iterations (after one to warm up) and hand the run back for as many, and
   * the faster side keeps it; if that is this thread, the workers end.
   *
   * @param envs The trainer's envs; if one cannot give its state (no `getState`), the workers
   * start the run from its seed instead, as with several shards.
   * @param rng The trainer's random stream.
   * @returns `"workers"`, `"here"`, or `"back"` when the run has just come back to the trainer's
   * thread (its envs and random stream restored: it should re-read its observations).
   */
  async takesOver(envs: VectorEnv, rng: Rng): Promise<"workers" | "here" | "back"> {
    const trial = this.#trial;
    if (this.#stopped) return "here";
    if (this.#handedOver) {
      if (trial.side !== "workers" || trial.workers.length < TRIAL) return "workers";
      await this.#giveBack(envs, rng);
      trial.side = "here";
      return "back";
    }
    if (trial.side === "here") {
      if (trial.here.length < TRIAL) return "here";
      trial.side = null;
      if (median(trial.workers) >= median(trial.here)) {
        this.terminate();
        this.#stopped = true;
        return "here";
      }
    }
    const state = envs.getState();
    const movable = state.envs.every((env) => env !== null)
      ? { envs: state, rng: rng.getState() }
      : null;
    // `ready` settles on a message: let the event loop deliver it between iterations.
    if (movable && !this.#settled) await new Promise((r) => setTimeout(r, 0));
    if (movable && !this.#settled) return "here";
    if (movable) await this.setStates([movable]);
    this.#handedOver = true;
    // The trial starts with the first hand-over (one shard only: several cannot come back).
    if (this.#config.workersIfFaster && trial.workers.length === 0) trial.side = "workers";
    return "workers";
  }

  /** Whether the workers gave the run back for good and ended (`workersIfFaster`). */
  get stopped(): boolean {
    return this.#stopped;
  }

  /**
   * Times the iteration that ends now for `workersIfFaster`'s trial (the workers' first is their
   * warm-up).
   *
   * @param rolloutStart When it started (`performance.now()`).
   */
  timed(rolloutStart: number): void {
    const trial = this.#trial, ms = performance.now() - rolloutStart;
    if (trial.side === "here" && !this.#handedOver) trial.here.push(ms);
    if (trial.side === "workers" && this.#handedOver) {
      if (trial.warm) trial.workers.push(ms);
      trial.warm = true;
    }
  }

  /** The run's envs and random stream back to the trainer's thread. */
  async #giveBack(envs: VectorEnv, rng: Rng): Promise<void> {
    const [state] = await this.getStates();
    envs.setState(state!.envs);
    rng.setState(state!.rng);
    this.#handedOver = false;
  }

  /** The run goes back to the trainer's thread (after it restored a one-shard checkpoint). */
  release(): void {
    this.#handedOver = false;
  }

  /**
   * One iteration in a single round: every worker collects its shards' part of the rollout with
   * the given weights and computes their GAE, then the workers run the update's epochs — at each
   * step they claim and write the shards' shares of the minibatch's gradient, and every worker
   * adds the shares in shard order and steps its own copy of Adam (the same numbers in each, so no
   * thread waits for another to hand out weights). The update's first barrier waits for every
   * shard's rollout, so this thread is needed only at the iteration's ends.
   *
   * @param weights The trainer's weights: sent to the workers, and loaded back after the update.
   * @param update The optimizer (its state goes to the workers and comes back), the loss's
   * coefficients, advantage normalisation and the learning rate.
   * @returns The iteration: the shards' rollout (values, returns, episodes, in shard order), the
   * update's results, and when the rollout and the update started.
   */
  async iterate(
    weights: FlatWeights,
    update: { adam: Adam; loss: PpoLossOptions; normAdv: boolean; lr: number },
  ): Promise<Iteration> {
    const rolloutStart = performance.now();
    await this.ready;
    const { adam, loss } = update, saved = adam.getState(), params = weights.values;
    this.#params.set(params);
    const adamM = new Float32Array(this.#memory.adamM),
      adamV = new Float32Array(this.#memory.adamV);
    adamM.set(saved.m.data);
    adamV.set(saved.v.data);
    const a = this.#args;
    a[ARGS.clipCoef] = loss.clipCoef;
    a[ARGS.clipVloss] = loss.clipVloss ? 1 : 0;
    a[ARGS.entCoef] = loss.entCoef;
    a[ARGS.vfCoef] = loss.vfCoef;
    a[ARGS.klCoef] = loss.klCoef;
    a[ARGS.normAdv] = update.normAdv ? 1 : 0;
    a[ARGS.learningRate] = update.lr;
    a[ARGS.adamT] = saved.t;
    Atomics.store(this.#control, CTL.barrier, 0);
    Atomics.store(this.#control, CTL.claim, 0);
    await this.#round(COMMAND.iterate);
    params.set(this.#params);
    weights.load();
    adam.setState({
      t: a[ARGS.adamT]!,
      m: { shape: saved.m.shape, data: adamM.slice() },
      v: { shape: saved.v.shape, data: adamV.slice() },
    });
    return {
      lr: update.lr,
      rolloutStart,
      // One round runs both phases; the slowest worker's rollout marks the boundary.
      updateStart: rolloutStart + Math.max(...new Float64Array(this.#memory.rolloutMs)),
      ...this.#rolloutParts(),
      update: readUpdate(new Float64Array(this.#memory.results)),
      processorMetrics: {},
    };
  }

  /** The shards' values, returns and finished episodes, joined in shard order. */
  #rolloutParts(): Pick<Iteration, "values" | "returns" | "episodes"> {
    const shards = this.#memory.shards;
    const total = shards.reduce((n, m) => n + m.values.byteLength / 4, 0);
    const values = new Float32Array(total), returns = new Float32Array(total);
    let offset = 0;
    for (const m of shards) {
      values.set(new Float32Array(m.values), offset);
      returns.set(new Float32Array(m.returns), offset);
      offset += m.values.byteLength / 4;
    }
    return { values, returns, episodes: shards.flatMap((m) => readEpisodes(m)) };
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

/** Timed iterations on each side in `workersIfFaster`'s trial. */
const TRIAL = 3;

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b), mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
