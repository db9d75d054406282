/**
 * The workers of PPO's gradient in parts for a language-model policy (private; options
 * `gradientParts` and `numWorkers`, `_lm_gradient_parts.ts`): Deno Workers, each with a replica of
 * the `LmPolicy` (`_lm_gradient_worker.ts`), that compute one part of a minibatch's gradient while
 * the trainer's thread computes another. Also here: the layout of the memory they share.
 *
 * The exchange is shared memory, and the trainer's thread waits for a part with a blocking
 * `Atomics.wait`: PPO's update loop is synchronous, and a gradient step has nothing else to do
 * until its parts are in. Per step the trainer writes the weights once (shared by every worker),
 * each worker's part — its rows and the loss's coefficients — and moves that worker's generation
 * word; the worker loads the weights, takes `ppoGradient` of its rows, writes the gradient and the
 * loss's terms back and sets its done word to the generation. A worker's failure is a flag and its
 * message in shared memory (an event could not reach a thread that waits); a worker that gives no
 * answer within `timeoutMs` — it hangs, or has died — fails the step, saying so.
 */
import * as tf from "@tensorflow/tfjs";
import type { LmPolicy } from "@proximal/models";
import type { Minibatch, PpoGradient, PpoLossOptions, PpoLossValues } from "./_ppo_engine.ts";
import type { WorkerReply } from "./_ppo_protocol.ts";

/** Slots of a worker's control words (int32). */
export const SLOT = { generation: 0, done: 1, command: 2, failed: 3, ready: 4, size: 5 } as const;

/** Commands: a part's gradient, or stop. */
export const COMMAND = { gradient: 1, stop: 2 } as const;

/** Slots of a worker's arguments (float64): the part's rows, the loss's coefficients, the terms. */
export const ARG = {
  rows: 0,
  clipCoef: 1,
  clipVloss: 2,
  entCoef: 3,
  vfCoef: 4,
  klCoef: 5,
  /** The loss's terms of the part, in {@linkcode TERMS} order, written by the worker. */
  terms: 6,
  size: 12,
} as const;

/** The loss's terms, in the order a worker writes them. */
export const TERMS: readonly (keyof PpoLossValues)[] = [
  "policyLoss",
  "valueLoss",
  "entropy",
  "oldApproxKl",
  "approxKl",
  "clipfrac",
];

/** Bytes of a worker's failure message (UTF-8, cut to fit). */
const MESSAGE_BYTES = 2048;

/** One worker's shared memory: control words, arguments, its part's rows, its gradient, a message. */
export interface LmWorkerMemory {
  control: SharedArrayBuffer;
  args: SharedArrayBuffer;
  observations: SharedArrayBuffer;
  /** Token ids (int32). */
  actions: SharedArrayBuffer;
  logProbs: SharedArrayBuffer;
  values: SharedArrayBuffer;
  advantages: SharedArrayBuffer;
  returns: SharedArrayBuffer;
  grad: SharedArrayBuffer;
  message: SharedArrayBuffer;
}

/** What a worker needs to rebuild the policy (sent once). */
export interface LmWorkerInit {
  type: "init";
  /** The trainer's tfjs backend, so that the replica runs the same kernels. */
  backend: string;
  /** The `GruLanguageModel`'s shape (its weights come with every part). */
  model: {
    vocabSize: number;
    embeddingSize: number;
    hiddenSize: number;
    layers: number;
    maskedTokens: number[];
  };
  /** The `LmPolicy`'s options. */
  policy: { contextLength: number; temperature: number; topK: number; head: "fused" | "autodiff" };
  /** The weights, flat in the policy's variable order, shared by every worker. */
  weights: SharedArrayBuffer;
  memory: LmWorkerMemory;
}

/**
 * Typed views of a worker's memory: its part's rows (full capacity), arguments, gradient.
 *
 * @param memory The worker's memory.
 * @param contextLength Floats per observation.
 * @returns The views.
 */
export function workerViews(memory: LmWorkerMemory, contextLength: number): {
  control: Int32Array;
  args: Float64Array;
  rows: Minibatch & { actions: Int32Array };
  grad: Float32Array;
  contextLength: number;
} {
  const f32 = (b: SharedArrayBuffer) => new Float32Array(b);
  return {
    control: new Int32Array(memory.control),
    args: new Float64Array(memory.args),
    rows: {
      observations: f32(memory.observations),
      actions: new Int32Array(memory.actions),
      logProbs: f32(memory.logProbs),
      values: f32(memory.values),
      advantages: f32(memory.advantages),
      returns: f32(memory.returns),
    },
    grad: f32(memory.grad),
    contextLength,
  };
}

/**
 * The first `rows` rows of a worker's part (views, no copy).
 *
 * @param views The worker's views.
 * @param rows The part's rows.
 * @returns The part.
 */
export function partRows(views: ReturnType<typeof workerViews>, rows: number): Minibatch {
  const r = views.rows, c = views.contextLength;
  return {
    observations: r.observations.subarray(0, rows * c),
    actions: r.actions.subarray(0, rows),
    logProbs: r.logProbs.subarray(0, rows),
    values: r.values.subarray(0, rows),
    advantages: r.advantages.subarray(0, rows),
    returns: r.returns.subarray(0, rows),
  };
}

/**
 * Writes a failure message into a worker's memory (cut to fit).
 *
 * @param memory The worker's memory.
 * @param message The message.
 */
export function writeMessage(memory: LmWorkerMemory, message: string): void {
  const bytes = new TextEncoder().encode(message).subarray(0, MESSAGE_BYTES - 4);
  const view = new Uint8Array(memory.message);
  new DataView(memory.message).setUint32(0, bytes.length);
  view.set(bytes, 4);
}

function readMessage(memory: LmWorkerMemory): string {
  const length = new DataView(memory.message).getUint32(0);
  return new TextDecoder().decode(new Uint8Array(memory.message).slice(4, 4 + length));
}

/** Options of {@linkcode LmGradientPool}. */
export interface LmGradientPoolOptions {
  /** Workers to start. */
  numWorkers: number;
  /** The most rows a part can have. */
  maxRows: number;
  /** How long a step waits for a worker's part before it fails the run; default 120 s. */
  timeoutMs?: number;
  /** The worker's module (tests give one that misbehaves); default `_lm_gradient_worker.ts`. */
  workerUrl?: string;
}

/**
 * Workers with replicas of a language-model policy, each computing one part of a minibatch's
 * gradient per step.
 *
 * @example Internal: see `gradientInParts`
 * ```ts ignore
 * const pool = new LmGradientPool(policy, { numWorkers: 1, maxRows: 256 });
 * pool.setWeights(weights.values);
 * pool.post(0, part, loss);
 * // … this thread's part …
 * const { grad, terms } = pool.collect(0);
 * ```
 */
export class LmGradientPool {
  /** Settles when every worker has built its replica (rejects with the first failure). */
  readonly ready: Promise<void>;
  readonly #workers: Worker[] = [];
  readonly #memory: LmWorkerMemory[] = [];
  readonly #views: ReturnType<typeof workerViews>[] = [];
  readonly #weights: Float32Array;
  readonly #timeoutMs: number;
  readonly #maxRows: number;
  #failure: Error | null = null;
  #terminated = false;

  /**
   * Starts the workers (each loads tfjs and builds its replica meanwhile).
   *
   * @param policy The trainer's policy.
   * @param options See {@linkcode LmGradientPoolOptions}.
   */
  constructor(policy: LmPolicy, options: LmGradientPoolOptions) {
    const { numWorkers, maxRows } = options, C = policy.observationSize;
    const params = policy.variables.reduce((n, v) => n + v.size, 0);
    this.#timeoutMs = options.timeoutMs ?? 120_000;
    this.#maxRows = maxRows;
    const shared = (bytes: number) => new SharedArrayBuffer(bytes);
    const weights = shared(4 * params);
    this.#weights = new Float32Array(weights);
    const m = policy.model;
    const url = options.workerUrl ?? new URL("./_lm_gradient_worker.ts", import.meta.url).href;
    const started: Promise<void>[] = [];
    for (let w = 0; w < numWorkers; w++) {
      const memory: LmWorkerMemory = {
        control: shared(4 * SLOT.size),
        args: shared(8 * ARG.size),
        observations: shared(4 * maxRows * C),
        actions: shared(4 * maxRows),
        logProbs: shared(4 * maxRows),
        values: shared(4 * maxRows),
        advantages: shared(4 * maxRows),
        returns: shared(4 * maxRows),
        grad: shared(4 * params),
        message: shared(MESSAGE_BYTES),
      };
      this.#memory.push(memory);
      this.#views.push(workerViews(memory, C));
      const worker = new Worker(url, { type: "module", name: `ppo-lm-gradient-worker-${w}` });
      this.#workers.push(worker);
      started.push(
        new Promise<void>((resolve, reject) => {
          worker.onmessage = (event: MessageEvent<WorkerReply>) => {
            const reply = event.data;
            if (reply.type === "ready") resolve();
            else if (reply.type === "error") {
              reject(this.#fail(new Error(`PPO's gradient worker ${w}: ${reply.message}`)));
            }
          };
          // An uncaught error (e.g. its module fails to load) ends the worker.
          worker.onerror = (event: ErrorEvent) => {
            event.preventDefault();
            reject(this.#fail(new Error(`PPO's gradient worker ${w} failed: ${event.message}`)));
          };
        }),
      );
      const init: LmWorkerInit = {
        type: "init",
        backend: tf.getBackend(),
        model: {
          vocabSize: m.vocabSize,
          embeddingSize: m.embeddingSize,
          hiddenSize: m.hiddenSize,
          layers: m.layers,
          maskedTokens: [...m.maskedTokens],
        },
        policy: {
          contextLength: C,
          temperature: policy.temperature,
          topK: policy.topK,
          head: policy.head,
        },
        weights,
        memory,
      };
      worker.postMessage(init);
    }
    this.ready = Promise.all(started).then(() => {});
    // Marked handled here; whoever awaits `ready` still sees the rejection.
    this.ready.catch(() => {});
  }

  /**
   * Whether worker `w` has its replica and can take parts; throws if it failed to build it.
   *
   * @param w The worker.
   * @returns True once it is up.
   */
  isUp(w: number): boolean {
    this.#check();
    const c = this.#views[w]!.control;
    if (Atomics.load(c, SLOT.failed)) this.#failed(w);
    return Atomics.load(c, SLOT.ready) === 1;
  }

  /**
   * Writes the weights every worker's next part is taken at.
   *
   * @param values The weights, flat in the policy's variable order.
   */
  setWeights(values: Float32Array): void {
    this.#weights.set(values);
  }

  /**
   * Hands worker `w` a part: its rows and the loss's coefficients (the weights are those of the
   * last {@linkcode setWeights}).
   *
   * @param w The worker (up: {@linkcode isUp}).
   * @param part The part's rows.
   * @param loss The loss's coefficients.
   */
  post(w: number, part: Minibatch, loss: PpoLossOptions): void {
    this.#check();
    const views = this.#views[w]!, rows = part.logProbs.length, r = views.rows;
    if (rows > this.#maxRows) {
      throw new RangeError(`A gradient part of ${rows} rows exceeds the workers' ${this.#maxRows}`);
    }
    r.observations.set(part.observations);
    r.actions.set(part.actions);
    r.logProbs.set(part.logProbs);
    r.values.set(part.values);
    r.advantages.set(part.advantages);
    r.returns.set(part.returns);
    const a = views.args;
    a[ARG.rows] = rows;
    a[ARG.clipCoef] = loss.clipCoef;
    a[ARG.clipVloss] = loss.clipVloss ? 1 : 0;
    a[ARG.entCoef] = loss.entCoef;
    a[ARG.vfCoef] = loss.vfCoef;
    a[ARG.klCoef] = loss.klCoef;
    const c = views.control;
    Atomics.store(c, SLOT.command, COMMAND.gradient);
    Atomics.add(c, SLOT.generation, 1);
    Atomics.notify(c, SLOT.generation);
  }

  /**
   * Waits (blocking) for worker `w`'s part; fails the run if the worker failed or gave no answer
   * within the time-out.
   *
   * @param w The worker.
   * @returns Its part's gradient (a view of shared memory: read it before the next
   * {@linkcode post}) and the loss's terms.
   */
  collect(w: number): PpoGradient {
    const views = this.#views[w]!, c = views.control;
    const generation = Atomics.load(c, SLOT.generation);
    const deadline = performance.now() + this.#timeoutMs;
    for (
      let done = Atomics.load(c, SLOT.done);
      done !== generation;
      done = Atomics.load(c, SLOT.done)
    ) {
      const left = deadline - performance.now();
      if (left <= 0) {
        throw this.#fail(
          new Error(
            `PPO's gradient worker ${w} gave no gradient within ${
              this.#timeoutMs / 1000
            } s: it hangs or has died`,
          ),
        );
      }
      Atomics.wait(c, SLOT.done, done, left);
    }
    if (Atomics.load(c, SLOT.failed)) this.#failed(w);
    const a = views.args, terms = {} as PpoLossValues;
    TERMS.forEach((name, i) => terms[name] = a[ARG.terms + i]!);
    return { grad: views.grad, terms };
  }

  /** Stops and terminates the workers; later calls fail. */
  terminate(): void {
    if (this.#terminated) return;
    this.#terminated = true;
    // Wake the workers out of their waits first, so that none is ended while it waits.
    for (const { control: c } of this.#views) {
      Atomics.store(c, SLOT.command, COMMAND.stop);
      Atomics.add(c, SLOT.generation, 1);
      Atomics.notify(c, SLOT.generation);
    }
    for (const worker of this.#workers) worker.terminate();
    this.#fail(new Error("PPO's gradient workers were terminated (the trainer was disposed)"));
  }

  #check(): void {
    if (this.#failure) throw this.#failure;
  }

  #failed(w: number): never {
    throw this.#fail(new Error(`PPO's gradient worker ${w}: ${readMessage(this.#memory[w]!)}`));
  }

  #fail(error: Error): Error {
    this.#failure ??= error;
    return this.#failure;
  }
}
