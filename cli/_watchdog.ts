// Stoppable at any time. A synchronous env call blocks the main thread's event loop, so a signal
// listener there never runs while an env hangs: a small Worker owns the SIGINT/SIGTERM listeners
// instead and watches shared memory where this thread records the current env call (through
// VectorEnv.callRecorder) and phase. A first signal asks the run to stop at the next iteration
// boundary (with a checkpoint); a second one, a first one during a hung env call, or an env call
// longer than --env-call-timeout ends the process at once, naming what was running.
import { type EnvCallRecorder, VectorEnv } from "@proximal/core";
import { SLOTS, type WatchdogInit, writeText } from "./_watchdog_layout.ts";

/** The signal that asked a run to stop. */
export type StopSignal = "SIGINT" | "SIGTERM";

/** The main thread's side of the watchdog; also the env call recorder. */
export class Watchdog implements EnvCallRecorder {
  readonly #worker: Worker;
  readonly #buffer: SharedArrayBuffer;
  readonly #ints: Int32Array;
  readonly #floats: Float64Array;
  #name = "";
  #call = "";

  private constructor(worker: Worker, buffer: SharedArrayBuffer) {
    this.#worker = worker;
    this.#buffer = buffer;
    this.#ints = new Int32Array(buffer, 0, SLOTS.ints);
    this.#floats = new Float64Array(buffer, SLOTS.floatsAt, SLOTS.floats);
  }

  /** Starts the watchdog's thread and records this thread's env calls until {@link stop}. */
  static async start(options: { envCallTimeout: number; outDir: string }): Promise<Watchdog> {
    const buffer = new SharedArrayBuffer(SLOTS.bytes);
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
    const init: WatchdogInit = { buffer, ...options };
    worker.postMessage(init);
    await ready;
    const watchdog = new Watchdog(worker, buffer);
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
    if (env !== this.#name) {
      this.#name = env;
      writeText(this.#buffer, env, { at: SLOTS.nameAt, lengthSlot: SLOTS.nameLength });
    }
    if (call !== this.#call) {
      this.#call = call;
      writeText(this.#buffer, call, { at: SLOTS.callAt, lengthSlot: SLOTS.callLength });
    }
    this.#ints[SLOTS.copy] = copy;
    this.#floats[SLOTS.step] = step;
    this.#floats[SLOTS.callStart] = Date.now();
    Atomics.store(this.#ints, SLOTS.inEnvCall, 1);
  }

  /** The env call returned or threw. */
  exit(): void {
    Atomics.store(this.#ints, SLOTS.inEnvCall, 0);
  }

  /** Stops recording and ends the watchdog's thread (signals get their default action again). */
  stop(): void {
    if (VectorEnv.callRecorder === this) VectorEnv.callRecorder = undefined;
    this.#worker.terminate();
  }
}
