/**
 * The shared memory of the direct engine's pair (private; `_ppo_direct_pair.ts`) and what both of
 * its threads run on it: the critic's half of a gradient step and the worker's loop. Imports no
 * tfjs, so the worker starts in tens of milliseconds.
 *
 * One shared `WebAssembly.Memory` holds everything a step needs: the control words, the flat
 * weights and the worker's gradient, then the direct engine's layout (`DirectMlp`, from `base`)
 * with each row's old value and return after it (the critic's head reads them).
 */
import { DirectMlp, type DirectShapes } from "./_ppo_direct_engine.ts";
import { criticHead } from "./_ppo_heads.ts";

/** The control words (Int32 at byte 0). */
export const CTL = {
  /** Bumped by the main thread to hand the worker a step. */
  generation: 0,
  /** The generation the worker last finished. */
  done: 1,
  /** {@linkcode COMMAND}. */
  command: 2,
  /** The step's rows. */
  rows: 3,
  /** 1 once the worker failed (its message at {@linkcode MESSAGE}). */
  failed: 4,
  /** 1 once the worker is up. */
  ready: 5,
  /** The message's length in bytes. */
  messageLength: 6,
  size: 16,
} as const;

/** What the worker does at a new generation. */
export const COMMAND = { step: 1, stop: 2 } as const;

/** The step's float64 arguments and result (at byte 64). */
export const ARG = { clipCoef: 0, clipVloss: 1, vfCoef: 2, valueLoss: 3, size: 8 } as const;

/** The worker's error message (UTF-8) at byte 128, at most this many bytes. */
export const MESSAGE = { at: 128, bytes: 1024 } as const;

/** The flat weights start here; then the gradient; the engine's layout after. */
const WEIGHTS_AT = MESSAGE.at + MESSAGE.bytes;

/**
 * A shared memory for a pair whose flat weights have `total` floats: its first pages hold the
 * control words, the weights and the gradient (the engine's layout grows it after them).
 *
 * @param total The flat weights' length.
 * @returns The memory.
 */
export function pairMemory(total: number): WebAssembly.Memory {
  const pages = Math.ceil((WEIGHTS_AT + 8 * total + 16) / 65536);
  return new WebAssembly.Memory({ initial: pages, maximum: 65536, shared: true });
}

/** What the worker is built from (its `init` message). */
export interface PairInit {
  type: "init";
  memory: WebAssembly.Memory;
  shapes: DirectShapes;
  /** The flat weights' length. */
  total: number;
  kernel: "wasm" | "js";
}

/** The memory's views and the engine on it, as one thread sees them. */
export interface PairViews {
  mlp: DirectMlp;
  control: Int32Array;
  args: Float64Array;
  /** The flat weights the worker loads the critic from. */
  weights: Float32Array;
  /** The gradient the critic's backward pass writes (its flat offsets). */
  grad: Float32Array;
}

/**
 * One thread's views of a pair's memory.
 *
 * @param init The memory, the layer shapes, the weights' length and the kernel.
 * @returns The views and the engine.
 */
export function pairViews(init: Omit<PairInit, "type">): PairViews {
  const { memory, total } = init, buffer = memory.buffer as ArrayBuffer;
  const base = Math.ceil((WEIGHTS_AT + 8 * total) / 16) * 16;
  const mlp = new DirectMlp(init.shapes, { kernel: init.kernel, memory, base, extraPerRow: 2 });
  return {
    mlp,
    control: new Int32Array(buffer, 0, CTL.size),
    args: new Float64Array(buffer, 64, ARG.size),
    weights: new Float32Array(buffer, WEIGHTS_AT, total),
    grad: new Float32Array(buffer, WEIGHTS_AT + 4 * total, total),
  };
}

/**
 * The critic's half of a step on rows the main thread loaded (input, old values, returns) at the
 * weights in the memory: its forward pass, its head, its backward pass into the shared gradient.
 * The same calls as the serial engine's, so the same numbers in either thread.
 *
 * @param views The thread's views.
 * @param options The rows, and `keep` in the worker (the main thread lays the memory out).
 * @returns The value loss.
 */
export function criticStep(views: PairViews, options: { n: number; keep: boolean }): number {
  const { mlp, args } = views, { n } = options, critic = mlp.nets[1];
  const rows = mlp.layout(n, { keep: options.keep }), at = mlp.extra >> 2;
  mlp.loadWeights(views.weights, critic);
  mlp.forward(critic, n);
  const values = mlp.heap.subarray(at, at + n),
    returns = mlp.heap.subarray(at + rows, at + rows + n);
  const head = criticHead({ values, returns }, mlp.outputs(critic, n), {
    clipCoef: args[ARG.clipCoef]!,
    clipVloss: args[ARG.clipVloss] === 1,
    vfCoef: args[ARG.vfCoef]!,
    entCoef: 0,
    klCoef: 0,
  });
  mlp.backward(critic, head.dv, views.grad, n);
  return head.valueLoss;
}

/** The worker's global scope (the workspace's types are the main thread's). */
const scope = self as unknown as { postMessage(message: unknown): void; close(): void };

/**
 * How long a waiting thread spins before it sleeps (`Atomics.wait`, ~15 µs to wake): longer than
 * a partner's half of a step or the main thread's Adam step between two, far shorter than a
 * scheduler's time slice (on a busy machine the partner may need this thread's core).
 */
const SPIN_MS = 0.05;

/**
 * Waits until `control[slot]` differs from `value`: a bounded spin (a partner answers in well
 * under a microsecond while both run), then `Atomics.wait`, so that a thread whose partner was
 * descheduled or is between iterations does not burn a core.
 *
 * @param control The control words.
 * @param wait The slot, the value it holds now, and the most milliseconds to wait (default no limit).
 * @returns False if the time ran out.
 */
export function waitWhile(
  control: Int32Array,
  wait: { slot: number; value: number; timeoutMs?: number },
): boolean {
  const { slot, value } = wait, spinEnd = performance.now() + SPIN_MS;
  for (let i = 1;; i++) {
    if (Atomics.load(control, slot) !== value) return true;
    if ((i & 63) === 0 && performance.now() > spinEnd) break;
    Atomics.pause?.();
  }
  const deadline = performance.now() + (wait.timeoutMs ?? Infinity);
  while (Atomics.load(control, slot) === value) {
    const left = deadline - performance.now();
    if (left <= 0) return false;
    Atomics.wait(control, slot, value, Math.min(left, 1000));
  }
  return true;
}

/**
 * The worker's side: builds its views, says it is up, then computes the critic's half of each
 * step it is handed until told to stop. A failure is written to the memory (the main thread,
 * blocked in a step, cannot read a message) before the step counts as done.
 *
 * @param init The worker's `init` message.
 * @param step The critic's half ({@linkcode criticStep}; tests give one that fails).
 */
export function servePair(init: PairInit, step: typeof criticStep = criticStep): void {
  const views = pairViews(init), c = views.control;
  let seen = Atomics.load(c, CTL.generation);
  Atomics.store(c, CTL.ready, 1);
  scope.postMessage({ type: "ready" });
  for (;;) {
    waitWhile(c, { slot: CTL.generation, value: seen });
    seen = Atomics.load(c, CTL.generation);
    if (Atomics.load(c, CTL.command) === COMMAND.stop) break;
    try {
      views.args[ARG.valueLoss] = step(views, { n: Atomics.load(c, CTL.rows), keep: true });
    } catch (error) {
      const text = error instanceof Error ? error.message : String(error);
      const bytes = new TextEncoder().encode(text).slice(0, MESSAGE.bytes);
      new Uint8Array(init.memory.buffer, MESSAGE.at, MESSAGE.bytes).set(bytes);
      Atomics.store(c, CTL.messageLength, bytes.length);
      Atomics.store(c, CTL.failed, 1);
    }
    Atomics.store(c, CTL.done, seen);
    Atomics.notify(c, CTL.done);
  }
  scope.close();
}

/**
 * The worker's error message from the memory.
 *
 * @param views The views.
 * @param memory The pair's memory.
 * @returns The message.
 */
export function failureMessage(views: PairViews, memory: WebAssembly.Memory): string {
  const length = Atomics.load(views.control, CTL.messageLength);
  return new TextDecoder().decode(new Uint8Array(memory.buffer, MESSAGE.at, length).slice());
}
