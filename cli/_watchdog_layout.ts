// The shared memory between the main thread and the watchdog's thread: what is running and since
// when, and which signals arrived.

/** Slots of the shared buffer: int32 slots first, then float64 slots, then two UTF-8 strings. */
export const SLOTS = {
  ints: 8,
  /** Signals received so far. */
  signals: 0,
  /** The first signal's number (2 SIGINT, 15 SIGTERM), 0 before one. */
  firstSignal: 1,
  /** 1 while an env call runs. */
  inEnvCall: 2,
  /** The env copy being called. */
  copy: 3,
  /** Bytes of the env's name and of the call's name, and of the phase. */
  nameLength: 4,
  callLength: 5,
  phaseLength: 6,
  floatsAt: 64,
  floats: 4,
  /** When the env call started (ms since the epoch), and the vector step it was called at. */
  callStart: 0,
  step: 1,
  /** When the phase started. */
  phaseStart: 2,
  nameAt: 128,
  callAt: 256,
  phaseAt: 384,
  textBytes: 128,
  bytes: 512,
} as const;

/** What the main thread hands the watchdog's thread. */
export interface WatchdogInit {
  buffer: SharedArrayBuffer;
  /** Seconds an env call may take (0 = no limit). */
  envCallTimeout: number;
  /** The run directory, named when the process is ended. */
  outDir: string;
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
 * What the main thread is doing, for a message: `env "cartpole" copy 3 was in step() at vector
 * step 1,024 for 2.5 s`, else the phase (`ppo iterate() for 0.4 s`).
 */
export function describeCall(
  ints: Int32Array,
  floats: Float64Array,
  buffer: SharedArrayBuffer,
): string {
  const now = Date.now();
  if (Atomics.load(ints, SLOTS.inEnvCall) === 1) {
    const name = readText(buffer, SLOTS.nameAt, ints[SLOTS.nameLength]!);
    const call = readText(buffer, SLOTS.callAt, ints[SLOTS.callLength]!);
    const seconds = ((now - floats[SLOTS.callStart]!) / 1000).toFixed(1);
    return `env "${name}" copy ${ints[SLOTS.copy]} was in ${call} at vector step ${
      floats[SLOTS.step]!.toLocaleString("en-US")
    } for ${seconds} s`;
  }
  const phase = readText(buffer, SLOTS.phaseAt, ints[SLOTS.phaseLength]!) || "the run";
  const seconds = ((now - floats[SLOTS.phaseStart]!) / 1000).toFixed(1);
  return `${phase} was running for ${seconds} s`;
}
