/**
 * The messages between the page (`page.ts`) and its training worker (`worker.ts`).
 *
 * @module
 */

/** What the page asks of the worker. */
export type FromPage =
  | {
    type: "start";
    /** `cartpole`, or the URL of an env plugin module (relative to `pageUrl`). */
    env: string;
    /** The page's address, to resolve a relative plugin URL against. */
    pageUrl: string;
    /** A PPO preset: `fast` or `cleanrl`. */
    preset: string;
    seed: number;
    totalTimesteps: number;
    /** Stop once the last 20 training episodes average this (the CLI's `--stop-at-return`). */
    stopAtReturn: number;
    evalEpisodes: number;
  }
  | { type: "pause" }
  | { type: "resume" };

/** A display env's state after one step of the current policy. */
export interface Frame {
  observation: number[];
  episodeReturn: number;
}

/** What the worker tells the page. */
export type ToPage =
  | { type: "started"; env: string; backend: string; numEnvs: number; setupMs: number }
  | {
    type: "iteration";
    step: number;
    /** Mean return of the last 20 training episodes (NaN before the first ends). */
    rolling: number;
    /** Returns of the episodes that ended in this iteration. */
    returns: number[];
    trainSeconds: number;
    /** Env steps per second of training (iterations only, not the drawing's steps). */
    sps: number;
    frames: Frame[];
  }
  | { type: "paused"; step: number }
  | {
    type: "evaluation";
    stopReason: string;
    step: number;
    episodes: number;
    mean: number;
    std: number;
    trainSeconds: number;
    evalSeconds: number;
  }
  | { type: "error"; message: string };
