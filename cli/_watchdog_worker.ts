// The watchdog's thread (see _watchdog.ts): it owns the SIGINT and SIGTERM listeners, because a
// synchronous env call blocks the main thread's event loop and with it any listener there. It reads
// what the main thread is doing from shared memory and can end the process on its own.
/// <reference lib="deno.worker" />
import { longestEnvCall } from "@proximal/core/env-call-record";
import { describeCall, SLOTS, type WatchdogInit } from "./_watchdog_layout.ts";

/** An env call longer than this after a first signal counts as hung: the process ends at once. */
const HUNG_MS = 1000;
const POLL_MS = 100;

type Signal = "SIGINT" | "SIGTERM";

self.onmessage = (event: MessageEvent<WatchdogInit>) => {
  const { buffer, calls, envCallTimeout, outDir, othersListen } = event.data;
  const ints = new Int32Array(buffer, 0, SLOTS.ints);
  const floats = new Float64Array(buffer, SLOTS.floatsAt, SLOTS.floats);
  let first: Signal | undefined;
  const listeners = new Map<Signal, () => void>();
  const checkpoint = () => {
    try {
      Deno.statSync(`${outDir}/latest.ckpt`);
      return `the last checkpoint is ${outDir}/latest.ckpt`;
    } catch {
      return `no checkpoint was written yet in ${outDir}`;
    }
  };

  let ended = false;
  const end = (message: string, how: Signal | "timeout"): void => {
    if (ended) return;
    ended = true;
    console.error(`\nerror: ${message}; ${checkpoint()}`);
    for (const [signal, listener] of listeners) Deno.removeSignalListener(signal, listener);
    if (how !== "timeout") {
      // Under --seeds other threads listen too (--seeds itself, the other seeds' watchdogs): the
      // signal would not end the process, so it ends with the status a shell gives one it ended.
      if (othersListen) return exitProcess(how === "SIGINT" ? 130 : 143);
      // With no listener left the signal's default action applies: the process ends as if the
      // listener had never been there (exit status 130 or 143).
      Deno.kill(Deno.pid, how);
      return;
    }
    exitProcess(1);
  };

  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    const listener = () => {
      const count = Atomics.add(ints, SLOTS.signals, 1) + 1;
      if (count === 1) {
        first = signal;
        Atomics.store(ints, SLOTS.firstSignal, signal === "SIGINT" ? 2 : 15);
        console.error(
          `\n${signal}: stopping after this iteration with a checkpoint (${
            signal === "SIGINT" ? "Ctrl-C" : "SIGTERM"
          } again stops at once)`,
        );
        return;
      }
      end(
        `Stopped at once by a second ${signal} while ${
          describeCall(ints, floats, { buffer, calls })
        }`,
        signal,
      );
    };
    listeners.set(signal, listener);
    Deno.addSignalListener(signal, listener);
  }

  setInterval(() => {
    const call = longestEnvCall(calls);
    if (!call) return;
    const ms = Date.now() - call.startedAt;
    if (first !== undefined && ms > HUNG_MS) {
      end(
        `Stopped at once after ${first}: ${
          describeCall(ints, floats, { buffer, calls })
        }, so the iteration cannot end`,
        first,
      );
    } else if (envCallTimeout > 0 && ms > envCallTimeout * 1000) {
      end(
        `Stopped: ${
          describeCall(ints, floats, { buffer, calls })
        }, longer than --env-call-timeout ${envCallTimeout}`,
        "timeout",
      );
    }
  }, POLL_MS);
  postMessage("ready");
};

/** Ends the whole process with `code` (Deno.exit in a worker ends only the worker). */
function exitProcess(code: number): void {
  try {
    const libc = Deno.dlopen("libc.so.6", { _exit: { parameters: ["i32"], result: "void" } });
    libc.symbols._exit(code);
  } catch {
    Deno.kill(Deno.pid, "SIGKILL");
  }
}
