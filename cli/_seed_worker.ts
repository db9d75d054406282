// A worker thread of `--seeds` (see _seeds.ts): it loads the CLI once and runs the seeds it is
// given one at a time, each exactly as `main` runs a single seed, posting the run's progress and
// how it ended; the run's lines go to `<its dir>/output.log`. Its runs' watchdog threads are
// started by the main thread (a Worker started from a Worker takes ~0.5–1 s here).
/// <reference lib="deno.worker" />
import { main } from "./main.ts";
import { type SeedJob, type SeedMessage, type ToSeedWorker, writeOutput } from "./_seeds.ts";
import { startWatchdogThreadsWith } from "./_watchdog.ts";

/** The watchdog thread being started for this worker's run, settled by the main thread's answer. */
let watchdogStarted: { resolve: () => void; reject: (e: Error) => void } | undefined;

startWatchdogThreadsWith((init) => {
  const ready = new Promise<void>((resolve, reject) => (watchdogStarted = { resolve, reject }));
  ready.catch(() => {});
  postMessage({ type: "watchdog-start", init } satisfies SeedMessage);
  return { ready, stop: () => postMessage({ type: "watchdog-stop" } satisfies SeedMessage) };
});

self.onmessage = (event: MessageEvent<ToSeedWorker>) => {
  const message = event.data;
  if (message.type === "job") runSeed(message.job);
  else if (message.type === "watchdog-ready") watchdogStarted?.resolve();
  else watchdogStarted?.reject(new Error(message.message));
};

async function runSeed(job: SeedJob): Promise<void> {
  const { seed, outDir, args } = job;
  const start = performance.now(), lines: string[] = [];
  let step: number | undefined;
  const seconds = () => (performance.now() - start) / 1000;
  let message: SeedMessage;
  try {
    await main(args, {
      log: (line) => lines.push(line),
      onProgress: (progress) => {
        step = progress.step;
        postMessage({ type: "progress", seed, progress } satisfies SeedMessage);
      },
    });
    const interrupted = Deno.exitCode === 130 || Deno.exitCode === 143;
    message = { type: "done", seed, seconds: seconds(), step, interrupted };
  } catch (e) {
    message = { type: "failed", seed, seconds: seconds(), step, message: (e as Error).message };
  }
  // This worker's exit code is its own (the process's is the main thread's): reset for the next.
  Deno.exitCode = 0;
  await writeOutput(outDir, lines);
  postMessage(message);
}
