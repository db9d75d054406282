// Stoppable at any time. A synchronous env call blocks the main thread's event loop, so a signal
// listener there never runs while an env hangs: a small Worker owns the SIGINT/SIGTERM listeners
// instead and watches shared memory where this thread records the current env call (through
// VectorEnv.callRecorder) and phase. A first signal asks the run to stop at the next iteration
// boundary (with a checkpoint); a second one, a first one during a hung env call, or an env call
// longer than --env-call-timeout ends the process at once, naming what was running.
import {
  createEnvCallRecord,
  type EnvCallRecorder,
  SharedEnvCallRecorder,
  VectorEnv,
} from "@proximal/core";
import { SLOTS, type WatchdogInit, writeText } from "./_watchdog_layout.ts";

/** PPO workers whose env calls are recorded (a worker past this runs unrecorded). */
const MAX_WORKERS = 16;

/** The signal that asked a run to stop. */
export type StopSignal = "SIGINT" | "SIGTERM";

/** A watchdog's thread, once asked to start: ready when it listens; `stop` ends it. */
export interface WatchdogThread {
  ready: Promise<void>;
  stop(): void;
}

/** Starts a watchdog's thread from this thread. */
export function startWatchdogThread(init: WatchdogInit): WatchdogThread {
  const worker = new Worker(new URL("./_watchdog_worker.ts", import.meta.url), {
    type: "module",
  });
  const ready = new Promise<void>((resolve, reject) => {
    worker.onmessage = () => resolve();
    worker.onerror = (e) => {
      e.preventDefault();
      reject(new Error(`Cannot start the watchdog: ${e.message}`));
    };
  });
  // Rejected before anyone awaits it, the promise would end the process as unhandled.
  ready.catch(() => {});
  worker.postMessage(init);
  return { ready, stop: () => worker.terminate() };
}

/**
 * How this thread's watchdogs start their threads: here, or — in a `--seeds` worker, where a
 * nested Worker takes ~0.5–1 s to start instead of ~20 ms — by the main thread on request.
 */
let threadStarter: (init: WatchdogInit) => WatchdogThread = startWatchdogThread;

/** Has this thread's watchdogs started by `starter` (a `--seeds` worker asks the main thread). */
export function startWatchdogThreadsWith(starter: (init: WatchdogInit) => WatchdogThread): void {
  threadStarter = starter;
}

/** The main thread's side of the watchdog; also the env call recorder. */
export class Watchdog implements EnvCallRecorder {
  readonly #thread: WatchdogThread;
  readonly #buffer: SharedArrayBuffer;
  readonly #ints: Int32Array;
  readonly #floats: Float64Array;
  readonly #recorder: SharedEnvCallRecorder;
  /**
   * The env call record the watchdog reads: slot 0 is this thread's, slot `1 + w` PPO worker
   * `w`'s (pass it as the trainer context's `envCallRecord`).
   */
  readonly envCallRecord: SharedArrayBuffer;

  private constructor(thread: WatchdogThread, init: WatchdogInit) {
    this.#thread = thread;
    this.ready = thread.ready;
    this.#buffer = init.buffer;
    this.#ints = new Int32Array(init.buffer, 0, SLOTS.ints);
    this.#floats = new Float64Array(init.buffer, SLOTS.floatsAt, SLOTS.floats);
    this.envCallRecord = init.calls;
    this.#recorder = new SharedEnvCallRecorder(init.calls);
  }

  /**
   * Resolves once the watchdog's thread listens for signals. Until then (the run is still being
   * built, with nothing to save) a signal has its default action.
   */
  readonly ready: Promise<void>;

  /**
   * Starts the watchdog's thread and records this thread's env calls until {@link stop}. The
   * thread starts beside the run's set-up instead of before it: await {@link ready} before
   * training.
   */
  static start(options: { envCallTimeout: number; outDir: string }): Watchdog {
    const buffer = new SharedArrayBuffer(SLOTS.bytes);
    const calls = createEnvCallRecord(1 + MAX_WORKERS);
    const init: WatchdogInit = { buffer, calls, ...options };
    const watchdog = new Watchdog(threadStarter(init), init);
    VectorEnv.callRecorder = watchdog;
    return watchdog;
  }

  /** The first signal received, once one has been: the run should stop at its next boundary. */
  get stopSignal(): StopSignal | undefined {
    const signal = Atomics.load(this.#ints, SLOTS.firstSignal);
    return signal === 2 ? "SIGINT" : signal === 15 ? "SIGTERM" : undefined;
  }

  /** Records what the run is doing between env calls (`ppo iterate()`, `saving a checkpoint`). */
  phase(what: string): void {
    this.#floats[SLOTS.phaseStart] = Date.now();
    writeText(this.#buffer, what, { at: SLOTS.phaseAt, lengthSlot: SLOTS.phaseLength });
  }

  /** An env call starts (VectorEnv's recorder). */
  enter(env: string, copy: number, call: string, step: number): void {
    this.#recorder.enter(env, copy, call, step);
  }

  /** The env call returned or threw. */
  exit(): void {
    this.#recorder.exit();
  }

  /** Stops recording and ends the watchdog's thread (signals get their default action again). */
  stop(): void {
    if (VectorEnv.callRecorder === this) VectorEnv.callRecorder = undefined;
    this.#thread.stop();
  }
}
