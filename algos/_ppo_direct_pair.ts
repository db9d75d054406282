/**
 * The direct engine on two threads (private; PPO's `gradient: "direct"` with `numWorkers: 1`):
 * each gradient step's actor half on this thread and its critic half in one Worker, at the same
 * time, on one shared memory (`_ppo_direct_pair_memory.ts`).
 *
 * Why the halves and not the rows: the actor's and the critic's passes, heads and weight
 * products depend on nothing of each other, cost about the same on PPO's equal-width networks,
 * and each half is exactly the serial engine's calls (`_ppo_direct_engine.ts`) — so the numbers
 * are those of `numWorkers: 0` bit for bit (tests/ppo_direct_pair_test.ts), with one hand-over
 * and one answer a step. The rows, the loss heads' actor terms, Adam and the rollout stay here.
 *
 * Until the worker is up (it loads no tfjs: tens of milliseconds) this thread computes both
 * halves, so the run never waits for it. `workersIfFaster` times both ways once the worker is up
 * and keeps the faster. A worker that fails, or gives no answer within the time-out, fails the
 * run with an error naming it.
 */
import type { MlpPolicy } from "@proximal/models";
import type { GradientEngine, Minibatch, PpoGradient, PpoLossOptions } from "./_ppo_engine.ts";
import { directShapes } from "./_ppo_direct_engine.ts";
import { actorHead } from "./_ppo_heads.ts";
import {
  ARG,
  COMMAND,
  criticStep,
  CTL,
  failureMessage,
  type PairInit,
  pairMemory,
  type PairViews,
  pairViews,
  waitWhile,
} from "./_ppo_direct_pair_memory.ts";

/** Options of {@linkcode directPair}. */
export interface PairOptions {
  /** Time both ways once the worker is up and keep the faster (alone on one core); default false. */
  workersIfFaster?: boolean;
  /** How long a step waits for the worker's half before failing the run; default 10 s. */
  timeoutMs?: number;
  /** The worker's module (tests give one that fails); default `_ppo_direct_pair_worker.ts`. */
  workerUrl?: string;
  /** The matrix products' kernel; default "wasm". */
  kernel?: "wasm" | "js";
}

/** The pair as PPO's engine: a gradient engine with its worker's life cycle. */
export type PairEngine = GradientEngine & {
  /** Settles once the worker is up; steps before it run on this thread alone. */
  ready: Promise<void>;
  /** 1 if the worker computed the last step's critic half, else 0. */
  workersUsed(): number;
  /** Stops and terminates the worker. */
  dispose(): void;
};

/** The `workersIfFaster` trial: rounds of this many steps each way, taking turns. */
const TRIAL_STEPS = 32, TRIAL_ROUNDS = 3;

/**
 * The direct engine on this thread and one worker, at the weights `weights()` returns.
 *
 * @param policy The policy (its layer shapes and action space).
 * @param weights The current weights, flat in `policy.variables` order.
 * @param options See {@linkcode PairOptions}.
 * @returns The engine.
 */
export function directPair(
  policy: MlpPolicy,
  weights: () => Float32Array,
  options: PairOptions = {},
): PairEngine {
  const shapes = directShapes(policy), space = policy.actionSpace;
  const total = policy.variables.reduce((s, v) => s + v.size, 0);
  const memory = pairMemory(total);
  const init: PairInit = { type: "init", memory, shapes, total, kernel: options.kernel ?? "wasm" };
  const views = pairViews(init), { mlp, control } = views, criticNet = mlp.nets[1];
  const criticAt = criticNet[0]!.w, timeoutMs = options.timeoutMs ?? 10_000;
  const cores = navigator.hardwareConcurrency ?? 1;
  let worker: Worker | null = null, failure: Error | null = null, used = 0;
  const fail = (error: Error) => {
    failure ??= error;
    worker?.terminate();
    worker = null;
    return failure;
  };
  let ready = Promise.resolve();
  if (!(options.workersIfFaster && cores < 2)) {
    const url = options.workerUrl ?? new URL("./_ppo_direct_pair_worker.ts", import.meta.url).href;
    const w = worker = new Worker(url, { type: "module", name: "ppo-direct-pair-worker" });
    ready = new Promise<void>((resolve, reject) => {
      w.onmessage = () => resolve();
      // An uncaught error (its module fails to load, or it dies) ends the worker.
      w.onerror = (event: ErrorEvent) => {
        event.preventDefault();
        reject(fail(new Error(`PPO's direct-engine worker failed: ${event.message}`)));
      };
    });
    ready.catch(() => {});
    w.postMessage(init);
  }
  // `workersIfFaster`: each way's seconds over the trial's steps, then the verdict.
  const trial = { steps: 0, pair: 0, alone: 0 };

  const step = (minibatch: Minibatch, loss: PpoLossOptions): PpoGradient => {
    if (failure) throw failure;
    const params = weights(), n = minibatch.logProbs.length;
    if (params.length !== total) {
      throw new RangeError(
        `Direct PPO engine: expected ${total} flat weights for the policy, got ${params.length}`,
      );
    }
    const rows = mlp.layout(n), at = mlp.extra >> 2, heap = mlp.heap;
    views.weights.set(params);
    mlp.loadInput(minibatch.observations, n);
    heap.set(minibatch.values, at);
    heap.set(minibatch.returns, at + rows);
    views.args[ARG.clipCoef] = loss.clipCoef;
    views.args[ARG.clipVloss] = loss.clipVloss ? 1 : 0;
    views.args[ARG.vfCoef] = loss.vfCoef;
    const up = worker !== null && Atomics.load(control, CTL.ready) === 1;
    const timing = up && options.workersIfFaster && trial.steps < 2 * TRIAL_STEPS * TRIAL_ROUNDS;
    const inWorker = up && !(timing && Math.floor(trial.steps / TRIAL_STEPS) % 2 === 1);
    const t0 = timing ? performance.now() : 0;
    let generation = 0;
    if (inWorker) {
      Atomics.store(control, CTL.rows, n);
      Atomics.store(control, CTL.command, COMMAND.step);
      generation = Atomics.add(control, CTL.generation, 1) + 1;
      Atomics.notify(control, CTL.generation);
    }
    const grad = new Float32Array(total);
    const actor = actorSide(views, { params, minibatch, loss, space, grad });
    const valueLoss = inWorker ? collect(generation) : criticStep(views, { n, keep: false });
    grad.set(views.grad.subarray(criticAt, mlp.logStdAt), criticAt);
    if (actor.dLogStd) grad.set(actor.dLogStd, mlp.logStdAt);
    used = inWorker ? 1 : 0;
    if (timing) judge(inWorker, performance.now() - t0);
    const [policyLoss, entropy, oldApproxKl, approxKl, clipfrac] = actor.metrics;
    return { grad, terms: { policyLoss, valueLoss, entropy, oldApproxKl, approxKl, clipfrac } };
  };

  /** Waits for the worker's half of `generation`: its value loss (its gradient is in memory). */
  const collect = (generation: number): number => {
    const answered = waitWhile(control, { slot: CTL.done, value: generation - 1, timeoutMs });
    if (!answered) {
      throw fail(
        new Error(
          `PPO's direct-engine worker gave no answer within ${timeoutMs} ms (it died or was starved of CPU)`,
        ),
      );
    }
    if (Atomics.load(control, CTL.failed)) {
      throw fail(new Error(`PPO's direct-engine worker failed: ${failureMessage(views, memory)}`));
    }
    return views.args[ARG.valueLoss]!;
  };

  /** Adds a trial step's time; after the trial, this thread alone keeps the run if faster. */
  const judge = (inWorker: boolean, ms: number) => {
    trial[inWorker ? "pair" : "alone"] += ms;
    if (++trial.steps === 2 * TRIAL_STEPS * TRIAL_ROUNDS && trial.alone < trial.pair) stop();
  };

  const stop = () => {
    if (!worker) return;
    Atomics.store(control, CTL.command, COMMAND.stop);
    Atomics.add(control, CTL.generation, 1);
    Atomics.notify(control, CTL.generation);
    worker.terminate();
    worker = null;
  };

  return Object.assign(step, { ready, workersUsed: () => used, dispose: stop });
}

/**
 * The actor's half of a step on this thread: its weights, forward pass, head (the actor's terms
 * of the loss) and backward pass into `grad`.
 */
function actorSide(
  views: PairViews,
  step: {
    params: Float32Array;
    minibatch: Minibatch;
    loss: PpoLossOptions;
    space: MlpPolicy["actionSpace"];
    grad: Float32Array;
  },
): ReturnType<typeof actorHead> {
  const { mlp } = views, { params, minibatch, loss, space } = step, actorNet = mlp.nets[0];
  const n = minibatch.logProbs.length;
  mlp.loadWeights(params, actorNet);
  mlp.forward(actorNet, n);
  const actor = actorHead(space, {
    rows: minibatch,
    out: mlp.outputs(actorNet, n),
    logStd: space.kind === "box" ? params.subarray(mlp.logStdAt) : null,
  }, loss);
  mlp.backward(actorNet, actor.dOut, step.grad, n);
  return actor;
}
