/**
 * The page's trainer, in a Web Worker so that training never blocks the page: the library's own
 * `Ppo` (through its plugin, with the CLI's presets), `cartpole` or an env plugin loaded by URL
 * with core's `resolvePlugin` (the loader behind `deno task train --env`), and `evaluatePolicy`
 * for the final 100 episodes. It posts a message per iteration and a few frames of a display env
 * acted on by the current policy; the page draws them (`page.ts`).
 *
 * @module
 */
/// <reference lib="webworker" />
import { ppo } from "@proximal/algos";
import {
  createRegistry,
  type Env,
  evaluatePolicy,
  type Policy,
  resolveOptions,
  resolvePlugin,
  Rng,
  setupBackend,
  type Trainer,
} from "@proximal/core";
import { cartpole } from "@proximal/envs";
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import type { FromPage, ToPage } from "./protocol.ts";

/** Training episodes the rolling mean is taken over: the CLI's `--stop-at-return` window. */
const RETURN_WINDOW = 20;
/** Display-env steps run after each iteration (about 1 % of the fast preset's 1,024 steps). */
const FRAMES_PER_ITERATION = 12;

const scope = self as unknown as DedicatedWorkerGlobalScope;
const post = (message: ToPage) => scope.postMessage(message);

// The WASM binaries sit beside the bundle (copied by build.ts), never on a CDN.
setWasmPaths(new URL("./", scope.location.href).href);
const backendReady = setupBackend("wasm");

let paused = false;
let resumeWaiter: (() => void) | null = null;
let running = false;

scope.onmessage = (event: MessageEvent<FromPage>) => {
  const message = event.data;
  if (message.type === "start" && !running) {
    running = true;
    paused = false;
    train(message).catch((error: unknown) => {
      post({ type: "error", message: error instanceof Error ? error.message : String(error) });
    }).finally(() => running = false);
  } else if (message.type === "pause") {
    paused = true;
  } else if (message.type === "resume") {
    paused = false;
    resumeWaiter?.();
    resumeWaiter = null;
  }
};

async function train(run: Extract<FromPage, { type: "start" }>): Promise<void> {
  const t0 = performance.now();
  const backend = await backendReady;
  const simd = backend === "wasm" && await tf.env().getAsync("WASM_HAS_SIMD_SUPPORT") === true;
  const envRef = run.env === "cartpole" ? "cartpole" : new URL(run.env, run.pageUrl).href;
  const envPlugin = await resolvePlugin(createRegistry([cartpole]), "env", envRef);
  const envOptions = resolveOptions(envPlugin, {});
  const makeEnv = (): Env => envPlugin.create(envOptions) as Env;
  const preset = ppo.presets?.[run.preset];
  if (!preset) throw new Error(`Unknown preset "${run.preset}": choose ${presetNames()}`);
  // No nested workers here: the page's own worker is the thread that trains.
  const options = resolveOptions(ppo, { ...preset.options, numWorkers: 0 });
  const trainer: Trainer = await ppo.create(options, {
    makeEnv,
    numEnvs: preset.numEnvs ?? 4,
    seed: run.seed,
    totalTimesteps: run.totalTimesteps,
    envName: envPlugin.name,
    envOptions,
  });
  post({
    type: "started",
    env: envPlugin.name,
    backend: simd ? `${backend} SIMD` : backend,
    numEnvs: preset.numEnvs ?? 4,
    setupMs: performance.now() - t0,
  });
  const display = new Display(makeEnv, run.seed);
  const recent: number[] = [];
  let trainMs = 0;
  let stopReason = "step budget reached";
  try {
    while (!trainer.done) {
      if (paused) {
        post({ type: "paused", step: trainer.step });
        await new Promise<void>((resolve) => resumeWaiter = resolve);
      }
      const start = performance.now();
      const report = await trainer.iterate();
      trainMs += performance.now() - start;
      for (const e of report.episodes) {
        recent.push(e.return);
        if (recent.length > RETURN_WINDOW) recent.shift();
      }
      const rolling = recent.length > 0 ? recent.reduce((a, b) => a + b, 0) / recent.length : NaN;
      post({
        type: "iteration",
        step: report.step,
        rolling,
        returns: report.episodes.map((e) => e.return),
        trainSeconds: trainMs / 1000,
        sps: report.step / (trainMs / 1000),
        frames: display.run(trainer.policy!, FRAMES_PER_ITERATION),
      });
      if (recent.length >= RETURN_WINDOW && rolling >= run.stopAtReturn) {
        stopReason = `mean return of the last ${RETURN_WINDOW} episodes reached ${
          rolling.toFixed(1)
        }`;
        break;
      }
      // Let a pause message in between iterations.
      await new Promise((resolve) => setTimeout(resolve, 0));
    }
    const evalStart = performance.now();
    const result = evaluatePolicy(makeEnv, trainer.policy!, {
      episodes: run.evalEpisodes,
      name: envPlugin.name,
    });
    post({
      type: "evaluation",
      stopReason,
      step: trainer.step,
      episodes: run.evalEpisodes,
      mean: result.mean,
      std: result.std,
      trainSeconds: trainMs / 1000,
      evalSeconds: (performance.now() - evalStart) / 1000,
    });
  } finally {
    display.close();
    trainer.dispose();
  }
}

function presetNames(): string {
  return Object.keys(ppo.presets ?? {}).join(", ");
}

/** One env copy that the current policy acts on between iterations, for the page's drawing. */
class Display {
  readonly #env: Env;
  readonly #rng: Rng;
  #observation: Float32Array;
  #return = 0;
  constructor(makeEnv: () => Env, seed: number) {
    this.#env = makeEnv();
    this.#rng = new Rng(seed + 7_919);
    this.#observation = this.#env.reset({ seed: seed + 7_919 }).observation as Float32Array;
  }

  /** Steps the env `count` times with the policy's deterministic action; returns the frames. */
  run(policy: Policy, count: number): { observation: number[]; episodeReturn: number }[] {
    const frames = [];
    for (let i = 0; i < count; i++) {
      const { actions } = policy.act(this.#observation, { rng: this.#rng, deterministic: true });
      const action = policy.actionSpace.kind === "discrete" ? actions[0]! : actions;
      const result = this.#env.step(action as never);
      this.#return += result.reward;
      frames.push({
        observation: [...result.observation as Float32Array],
        episodeReturn: this.#return,
      });
      if (result.terminated || result.truncated) {
        this.#observation = this.#env.reset().observation as Float32Array;
        this.#return = 0;
      } else {
        this.#observation = result.observation as Float32Array;
      }
    }
    return frames;
  }

  close(): void {
    this.#env.close?.();
  }
}
