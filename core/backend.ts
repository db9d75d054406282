/**
 * Backend set-up. proximal runs on TensorFlow.js's WASM backend (SIMD, single-threaded here) by
 * default; `cpu` is the plain-JavaScript fallback.
 */
import * as tf from "@tensorflow/tfjs";
// Side-effect import: registers the "wasm" backend with tfjs.
import "@tensorflow/tfjs-backend-wasm";

/** The backends proximal supports. */
export type BackendName = "wasm" | "cpu";

/** The backend names, for flag validation and `--help`. */
export const BACKENDS: readonly BackendName[] = ["wasm", "cpu"];

/**
 * Selects and initialises a tfjs backend. Call once before building models.
 *
 * @param name `wasm` (default) or `cpu`.
 * @returns The name of the active backend.
 * @example Start on WASM
 * ```ts
 * import assert from "node:assert/strict";
 * import { setupBackend } from "@proximal/core";
 * const name = await setupBackend("wasm");
 * assert.ok(name === "wasm");
 * ```
 */
export async function setupBackend(name: BackendName = "wasm"): Promise<BackendName> {
  if (!BACKENDS.includes(name)) {
    throw new RangeError(`Unknown backend "${name}": expected one of ${BACKENDS.join(", ")}`);
  }
  if (tf.getBackend() !== name) {
    const ok = await tf.setBackend(name);
    if (!ok) throw new Error(`Cannot initialise the tfjs "${name}" backend`);
  }
  await tf.ready();
  return name;
}
