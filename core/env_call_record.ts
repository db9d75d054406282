/**
 * Shared memory that says which env call each thread is in, so that a watchdog on another thread
 * can name a hung call (a synchronous env call blocks its thread's event loop). The record has
 * one slot per writing thread — slot 0 for the main thread, slot `1 + w` for worker `w` — so
 * threads never write the same bytes; a reader picks the longest-running call.
 *
 * Also a light entry point of its own, `@proximal/core/env-call-record`: a watchdog thread reads
 * the record without loading TensorFlow.js.
 *
 * @module
 */
import type { EnvCallRecorder } from "./vector_env.ts";

export type { EnvCallRecorder };

/** Bytes per slot: int32 fields, two float64 fields, then the env's and the call's names. */
const SLOT_BYTES = 256;
const INTS = { inCall: 0, copy: 1, nameLength: 2, callLength: 3 } as const;
const FLOATS_AT = 16, START = 0, STEP = 1;
const NAME_AT = 32, NAME_BYTES = 160, CALL_AT = 192, CALL_BYTES = 64;

/** A call in progress, as {@linkcode longestEnvCall} reads it. */
export interface EnvCallInfo {
  /** The env's name. */
  env: string;
  /** The copy's index in the run (a worker's shard offset added). */
  copy: number;
  /** `reset()` or `step()`. */
  call: string;
  /** The vector env's step count. */
  step: number;
  /** When the call started (ms since the epoch). */
  startedAt: number;
}

/**
 * Creates an empty record with `slots` slots (one per writing thread).
 *
 * @example A record for the main thread and two workers
 * ```ts
 * import assert from "node:assert/strict";
 * import { createEnvCallRecord, longestEnvCall } from "@proximal/core";
 * const record = createEnvCallRecord(3);
 * assert.equal(longestEnvCall(record), undefined);
 * ```
 */
export function createEnvCallRecord(slots: number): SharedArrayBuffer {
  if (!Number.isInteger(slots) || slots < 1) {
    throw new Error(
      `Cannot create an env call record: slots must be a positive integer, got ${slots}`,
    );
  }
  return new SharedArrayBuffer(slots * SLOT_BYTES);
}

/**
 * Writes one thread's env calls into its slot of a record; set it as
 * {@linkcode VectorEnv.callRecorder}. A slot past the record's end records nothing.
 *
 * @example A worker records its calls in slot 2, its copies being copies 4… of the run
 * ```ts
 * import assert from "node:assert/strict";
 * import { createEnvCallRecord, longestEnvCall, SharedEnvCallRecorder } from "@proximal/core";
 * const record = createEnvCallRecord(3);
 * const recorder = new SharedEnvCallRecorder(record, { slot: 2, copyOffset: 4 });
 * recorder.enter("cartpole", 1, "step()", 10);
 * assert.equal(longestEnvCall(record)?.copy, 5);
 * recorder.exit();
 * assert.equal(longestEnvCall(record), undefined);
 * ```
 */
export class SharedEnvCallRecorder implements EnvCallRecorder {
  /** Added to the copy index a vector env reports (a shard's first copy in the run); default 0. */
  copyOffset: number;
  readonly #buffer: SharedArrayBuffer;
  readonly #at: number;
  readonly #ints: Int32Array | null;
  readonly #floats: Float64Array | null;
  #name = "";
  #call = "";

  /**
   * Writes into one slot of `record`.
   *
   * @param record A record from {@linkcode createEnvCallRecord}.
   * @param options `slot`: this thread's slot (default 0); `copyOffset` (default 0).
   */
  constructor(record: SharedArrayBuffer, options: { slot?: number; copyOffset?: number } = {}) {
    this.#buffer = record;
    this.#at = (options.slot ?? 0) * SLOT_BYTES;
    this.copyOffset = options.copyOffset ?? 0;
    const fits = this.#at + SLOT_BYTES <= record.byteLength;
    this.#ints = fits ? new Int32Array(record, this.#at, 4) : null;
    this.#floats = fits ? new Float64Array(record, this.#at + FLOATS_AT, 2) : null;
  }

  /** A call starts. */
  enter(env: string, copy: number, call: string, step: number): void {
    const ints = this.#ints, floats = this.#floats;
    if (!ints || !floats) return;
    if (env !== this.#name) {
      this.#name = env;
      this.#write(env, NAME_AT, NAME_BYTES, INTS.nameLength);
    }
    if (call !== this.#call) {
      this.#call = call;
      this.#write(call, CALL_AT, CALL_BYTES, INTS.callLength);
    }
    ints[INTS.copy] = copy + this.copyOffset;
    floats[STEP] = step;
    floats[START] = Date.now();
    // Stored last, with a fence: a reader that sees the flag sees the fields above.
    Atomics.store(ints, INTS.inCall, 1);
  }

  /** The call returned or threw. */
  exit(): void {
    if (this.#ints) Atomics.store(this.#ints, INTS.inCall, 0);
  }

  #write(text: string, at: number, size: number, lengthSlot: number): void {
    const bytes = new TextEncoder().encode(text).subarray(0, size);
    new Uint8Array(this.#buffer, this.#at + at, size).set(bytes);
    Atomics.store(this.#ints!, lengthSlot, bytes.length);
  }
}

/**
 * The call in progress that started first, across the record's slots; `undefined` when no
 * thread is in an env call.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { createEnvCallRecord, longestEnvCall, SharedEnvCallRecorder } from "@proximal/core";
 * const record = createEnvCallRecord(1);
 * new SharedEnvCallRecorder(record).enter("pendulum", 0, "reset()", 0);
 * assert.equal(longestEnvCall(record)?.call, "reset()");
 * ```
 */
export function longestEnvCall(record: SharedArrayBuffer): EnvCallInfo | undefined {
  let longest: EnvCallInfo | undefined;
  for (let at = 0; at + SLOT_BYTES <= record.byteLength; at += SLOT_BYTES) {
    const ints = new Int32Array(record, at, 4);
    if (Atomics.load(ints, INTS.inCall) !== 1) continue;
    const floats = new Float64Array(record, at + FLOATS_AT, 2);
    const startedAt = floats[START]!;
    if (longest && longest.startedAt <= startedAt) continue;
    longest = {
      env: readText(record, at + NAME_AT, ints[INTS.nameLength]!),
      copy: ints[INTS.copy]!,
      call: readText(record, at + CALL_AT, ints[INTS.callLength]!),
      step: floats[STEP]!,
      startedAt,
    };
  }
  return longest;
}

function readText(buffer: SharedArrayBuffer, at: number, length: number): string {
  // TextDecoder refuses views of shared memory: copy first.
  return new TextDecoder().decode(new Uint8Array(buffer, at, length).slice());
}
