/**
 * PPO's worker pool (private): the main-thread side of `numWorkers`. PPO's actor and critic are
 * separate networks, so the gradient of its loss splits exactly into the actor's half (policy
 * loss, entropy bonus, KL penalty: `ppoPolicyLoss`) and the critic's (value loss:
 * `ppoValueLoss`). For each minibatch the actor's half goes to worker 0 while the critic's is
 * computed in the calling thread (`numWorkers` 1) or in worker 1 (`numWorkers` 2); the pool joins
 * the halves in the variables' order and the caller clips and applies Adam.
 *
 * Why this split rather than data-parallel shards of the minibatch: on tfjs-wasm at PPO's
 * minibatch sizes a gradient's cost is mostly per-op overhead (~300 kernel launches whatever the
 * rows), so halving the rows saves ~10 %, while halving the graph halves the launches. And each
 * half is computed by the same ops on the same inputs as in one thread, so the numbers do not
 * change with the worker count.
 *
 * Arrays cross threads as transferred buffers (copied first where the sender keeps them).
 */
import * as tf from "@tensorflow/tfjs";
import type { MlpPolicy, Variable } from "@proximal/core";
import { ACTOR_METRICS, actorHalf, CRITIC_METRICS, criticHalf } from "./_ppo_grad.ts";

/** `ppoLoss`'s options. */
export interface LossOptions {
  clipCoef: number;
  clipVloss: boolean;
  entCoef: number;
  vfCoef: number;
  klCoef: number;
}

/** What a worker needs to build its policy replica (sent once). */
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
}

/** The actor's half: weights in `actorVariables` order, and the minibatch rows it needs. */
export interface ActorRequest {
  type: "actor";
  params: Float32Array;
  observations: Float32Array;
  actions: Int32Array | Float32Array;
  logProbs: Float32Array;
  advantages: Float32Array;
  loss: LossOptions;
}

/** The critic's half: weights in `criticVariables` order, and the rows it needs. */
export interface CriticRequest {
  type: "critic";
  params: Float32Array;
  observations: Float32Array;
  values: Float32Array;
  returns: Float32Array;
  loss: LossOptions;
}

/** Load critic weights (`criticVariables` order) for the `values` requests that follow. */
export interface SetCriticRequest {
  type: "setCritic";
  params: Float32Array;
}

/** The critic's values of a batch of observations (as `policy.value` computes them). */
export interface ValuesRequest {
  type: "values";
  observations: Float32Array;
}

/** Requests from the pool to a worker. */
export type WorkerRequest =
  | WorkerInit
  | ActorRequest
  | CriticRequest
  | SetCriticRequest
  | ValuesRequest;

/** Replies from a worker. */
export type WorkerReply =
  | { type: "ready" }
  /** Actor: `[policyLoss, entropy, oldApproxKl, approxKl, clipfrac, ...grad]`; critic: `[valueLoss, ...grad]`. */
  | { type: "gradient"; data: Float32Array }
  | { type: "values"; data: Float32Array }
  | { type: "done" }
  | { type: "error"; message: string };

/** The minibatch arrays of `ppo.ts`'s update loop. */
export interface MinibatchRows {
  observations: Float32Array;
  actions: Int32Array | Float32Array;
  logProbs: Float32Array;
  values: Float32Array;
  advantages: Float32Array;
  returns: Float32Array;
}

/** What {@linkcode PpoWorkerPool.gradient} returns. */
export interface PooledGradient {
  /** The gradient, flat in `policy.variables` order. */
  grad: Float32Array;
  /** policyLoss, valueLoss, entropy, oldApproxKl, approxKl, clipfrac (the order `Ppo` reads). */
  metrics: number[];
}

/** Observations streamed to a worker's critic during a rollout; see {@linkcode PpoWorkerPool.valueStream}. */
export interface ValueStream {
  /** Queues a batch (copied); `onValues` gets its values, in push order, during `finish`. */
  push(observations: Float32Array, onValues: (values: Float32Array) => void): void;
  /** Waits for every batch's values and hands them out. */
  finish(): Promise<void>;
}

/** The pool's configuration. */
export type PoolConfig = Omit<WorkerInit, "type"> & {
  /** 1 or 2. */
  numWorkers: number;
  /**
   * Floats in the actor's layers, the critic's layers and the log-std (0 for `Discrete`):
   * `policy.variables` holds them in that order, `actorVariables` the first and last.
   */
  sizes: { actorLayers: number; critic: number; logStd: number };
};

/**
 * One or two workers, each with a replica of the MLP policy.
 *
 * @example Internal: see `Ppo` with `numWorkers`
 * ```ts ignore
 * const pool = new PpoWorkerPool(config);
 * const { grad, metrics } = await pool.gradient(params, rows, lossOptions);
 * ```
 */
export class PpoWorkerPool {
  /** Settles when every worker has its replica (rejects with the first failure). */
  readonly ready: Promise<void>;
  readonly #config: PoolConfig;
  readonly #workers: Worker[] = [];
  readonly #pending: { resolve: (r: WorkerReply) => void; reject: (e: Error) => void }[][] = [];
  #failure: Error | null = null;

  /**
   * Starts the workers.
   *
   * @param config See {@linkcode PoolConfig}.
   */
  constructor(config: PoolConfig) {
    this.#config = config;
    const url = new URL("./_ppo_worker.ts", import.meta.url).href;
    const init: WorkerInit = {
      type: "init",
      backend: config.backend,
      observationSize: config.observationSize,
      action: config.action,
      hiddenSizes: config.hiddenSizes,
    };
    const inits: Promise<WorkerReply>[] = [];
    for (let w = 0; w < config.numWorkers; w++) {
      const worker = new Worker(url, { type: "module", name: `ppo-worker-${w}` });
      this.#workers.push(worker);
      this.#pending.push([]);
      worker.onmessage = (event: MessageEvent<WorkerReply>) => {
        const waiter = this.#pending[w]!.shift();
        if (!waiter) return;
        const reply = event.data;
        if (reply.type === "error") waiter.reject(new Error(`PPO worker ${w}: ${reply.message}`));
        else waiter.resolve(reply);
      };
      // An uncaught error (e.g. the worker's module fails to load) ends the worker: fail the pool.
      worker.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        this.#fail(new Error(`PPO worker ${w} failed: ${event.message}`));
      };
      worker.onmessageerror = () => this.#fail(new Error(`PPO worker ${w}: unreadable message`));
      inits.push(this.#call(w, init));
    }
    this.ready = Promise.all(inits).then(() => {});
    // Marked handled here; whoever awaits `ready` still sees the rejection.
    this.ready.catch(() => {});
  }

  /**
   * The gradient of PPO's loss on a minibatch, from its two halves computed at the same time:
   * the actor's in worker 0, the critic's in this thread (one worker) or in worker 1 (two).
   *
   * @param params The current weights, flat in `policy.variables` order.
   * @param rows The minibatch (advantages already normalised).
   * @param loss `ppoLoss`'s options.
   * @param mainPolicy The calling thread's policy, which computes the critic's half with one
   * worker (its critic variables are set to `params`).
   * @returns The gradient in `policy.variables` order and the loss terms.
   */
  async gradient(
    params: Float32Array,
    rows: MinibatchRows,
    loss: LossOptions,
    mainPolicy: MlpPolicy,
  ): Promise<PooledGradient> {
    await this.ready;
    const { actorLayers: layers, critic, logStd } = this.#config.sizes;
    // policy.variables is [actor layers | critic layers | log-std]; the actor owns both ends.
    const actorParams = new Float32Array(layers + logStd);
    actorParams.set(params.subarray(0, layers));
    actorParams.set(params.subarray(layers + critic), layers);
    const criticParams = this.#criticParams(params);
    const actorRequest: ActorRequest = {
      type: "actor",
      params: actorParams,
      observations: rows.observations.slice(),
      actions: rows.actions.slice(),
      logProbs: rows.logProbs.slice(),
      advantages: rows.advantages.slice(),
      loss,
    };
    const criticRequest: CriticRequest = {
      type: "critic",
      params: criticParams,
      observations: this.#workers.length === 1 ? rows.observations : rows.observations.slice(),
      values: rows.values.slice(),
      returns: rows.returns.slice(),
      loss,
    };
    const buffers = (...arrays: { buffer: ArrayBufferLike }[]) =>
      arrays.map((a) => a.buffer as ArrayBuffer);
    const actorReply = this.#call(
      0,
      actorRequest,
      buffers(
        actorRequest.params,
        actorRequest.observations,
        actorRequest.actions,
        actorRequest.logProbs,
        actorRequest.advantages,
      ),
    );
    // With one worker this thread computes the critic's half meanwhile, on its own replica.
    const c: WorkerReply = this.#workers.length === 1
      ? { type: "gradient", data: criticGradient(mainPolicy, criticRequest) }
      : await this.#call(
        1,
        criticRequest,
        buffers(
          criticRequest.params,
          criticRequest.observations,
          criticRequest.values,
          criticRequest.returns,
        ),
      );
    const a = await actorReply;
    if (a.type !== "gradient" || c.type !== "gradient") throw new Error("PPO worker: no gradient");
    return joinHalves(a.data, c.data, this.#config.sizes);
  }

  /**
   * Starts streaming a rollout's observations to the worker that computes the critic's half
   * (worker 0 with one worker, 1 with two): it computes their values while the caller acts and
   * steps the envs, so the rollout's critic runs in parallel.
   *
   * @param params The current weights, flat in `policy.variables` order.
   * @returns The stream.
   */
  valueStream(params: Float32Array): ValueStream {
    const w = this.#workers.length - 1;
    const ready = this.ready.then(() => {
      const p = this.#criticParams(params);
      return this.#call(w, { type: "setCritic", params: p }, [p.buffer as ArrayBuffer]);
    });
    const batches: { reply: Promise<WorkerReply>; onValues: (v: Float32Array) => void }[] = [];
    return {
      push: (observations, onValues) => {
        const copy = observations.slice();
        const reply = ready.then(() =>
          this.#call(w, { type: "values", observations: copy }, [copy.buffer as ArrayBuffer])
        );
        // Handled here; finish() awaits it and sees a rejection.
        reply.catch(() => {});
        batches.push({ reply, onValues });
      },
      finish: async () => {
        await ready;
        for (const { reply, onValues } of batches) {
          const r = await reply;
          if (r.type !== "values") throw new Error(`PPO worker ${w}: no values`);
          onValues(r.data);
        }
      },
    };
  }

  /** Terminates every worker; calls still waiting reject. */
  terminate(): void {
    for (const worker of this.#workers) worker.terminate();
    this.#fail(new Error("PPO's workers were terminated (the trainer was disposed)"));
  }

  /** The critic's layers, the middle of `policy.variables`. */
  #criticParams(params: Float32Array): Float32Array {
    const { actorLayers, critic } = this.#config.sizes;
    return params.slice(actorLayers, actorLayers + critic);
  }

  #call(w: number, request: WorkerRequest, transfer: Transferable[] = []): Promise<WorkerReply> {
    if (this.#failure) return Promise.reject(this.#failure);
    return new Promise((resolve, reject) => {
      this.#pending[w]!.push({ resolve, reject });
      this.#workers[w]!.postMessage(request, transfer);
    });
  }

  #fail(error: Error): void {
    this.#failure ??= error;
    for (const queue of this.#pending) {
      for (const waiter of queue.splice(0)) waiter.reject(this.#failure);
    }
  }
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
 * The actor's half: `[policyLoss, entropy, oldApproxKl, approxKl, clipfrac, ...gradient of
 * actorVariables]`, after loading `r.params` into the actor's variables.
 *
 * @param policy The replica.
 * @param r The request.
 * @returns The metrics and the gradient, flat.
 */
export function actorGradient(policy: MlpPolicy, r: ActorRequest): Float32Array {
  assignFlat(policy.actorVariables, r.params);
  return actorHalf(policy, r, r.loss);
}

/**
 * The critic's half: `[valueLoss, ...gradient of criticVariables]`, after loading `r.params` into
 * the critic's variables.
 *
 * @param policy The replica.
 * @param r The request.
 * @returns The metric and the gradient, flat.
 */
export function criticGradient(policy: MlpPolicy, r: CriticRequest): Float32Array {
  assignFlat(policy.criticVariables, r.params);
  return criticHalf(policy, r, r.loss);
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
