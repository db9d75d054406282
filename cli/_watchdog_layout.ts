// The shared memory between the main thread and the watchdog's thread: which signals arrived and
// the main thread's phase; the env calls in progress are in a separate record (core's
// env_call_record.ts) that PPO's workers write too.
// The light entry point: the watchdog thread starts without loading tfjs (~0.3 s).
import { longestEnvCall } from "@proximal/core/env-call-record";

/** Slots of the shared buffer: int32 slots first, then float64 slots, then the phase's text. */
export const SLOTS = {
  ints: 8,
  /** Signals received so far. */
  signals: 0,
  /** The first signal's number (2 SIGINT, 15 SIGTERM), 0 before one. */
  firstSignal: 1,
  /** Bytes of the phase's text. */
  phaseLength: 2,
  floatsAt: 64,
  floats: 1,
  /** When the phase started (ms since the epoch). */
  phaseStart: 0,
  phaseAt: 384,
  textBytes: 128,
  bytes: 512,
} as const;

/** What the main thread hands the watchdog's thread. */
export interface WatchdogInit {
  buffer: SharedArrayBuffer;
  /** The env call record (core's `createEnvCallRecord`): slot 0 the main thread's. */
  calls: SharedArrayBuffer;
  /** Seconds an env call may take (0 = no limit). */
  envCallTimeout: number;
  /** The run directory, named when the process is ended. */
  outDir: string;
  /**
   * Other threads listen for SIGINT and SIGTERM too (`--seeds`): ending the process at once must
   * not rely on the signal's default action.
   */
  othersListen?: boolean;
}

/** Writes `text` (truncated to fit) at `at` and its length in the slot `lengthSlot`. */
export function writeText(
  buffer: SharedArrayBuffer,
  text: string,
  slots: { at: number; lengthSlot: number },
): void {
  const bytes = new TextEncoder().encode(text).subarray(0, SLOTS.textBytes);
  new Uint8Array(buffer, slots.at, SLOTS.textBytes).set(bytes);
  Atomics.store(new Int32Array(buffer, 0, SLOTS.ints), slots.lengthSlot, bytes.length);
}

function readText(buffer: SharedArrayBuffer, at: number, length: number): string {
  // TextDecoder refuses views of shared memory: copy first.
  return new TextDecoder().decode(new Uint8Array(buffer, at, length).slice());
}

/**
 * What the run is doing, for a message: the env call in progress that started first (`env
 * "cartpole" copy 3 was in step() at vector step 1,024 for 2.5 s`), else the main thread's phase
 * (`ppo iterate() was running for 0.4 s`).
 */
export function describeCall(
  ints: Int32Array,
  floats: Float64Array,
  buffers: { buffer: SharedArrayBuffer; calls: SharedArrayBuffer },
): string {
  const now = Date.now();
  const call = longestEnvCall(buffers.calls);
  if (call) {
    const seconds = ((now - call.startedAt) / 1000).toFixed(1);
    return `env "${call.env}" copy ${call.copy} was in ${call.call} at vector step ${
      call.step.toLocaleString("en-US")
    } for ${seconds} s`;
  }
  const phase = readText(buffers.buffer, SLOTS.phaseAt, ints[SLOTS.phaseLength]!) || "the run";
  const seconds = ((now - floats[SLOTS.phaseStart]!) / 1000).toFixed(1);
  return `${phase} was running for ${seconds} s`;
}
