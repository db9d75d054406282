/** The interface every training algorithm implements, so the CLI and examples can drive any of them. */
import type { Info } from "./env.ts";
import type { Policy } from "./policy.ts";

/** A finished training episode, reported by the vector env. */
export interface EpisodeRecord {
  /** Which copy of the env it ran in. */
  envIndex: number;
  /** The undiscounted sum of its rewards. */
  return: number;
  /** Its number of steps. */
  length: number;
  /** True when it ended by a time limit rather than a terminal state. */
  truncated: boolean;
  /** The info the env returned with the episode's last step (e.g. a text env's completion). */
  info: Info;
}

/** What one {@linkcode Trainer.iterate} call reports. */
export interface IterationReport {
  /** Progress so far, in the trainer's {@linkcode Trainer.unit} (env steps, tokens, pairs). */
  step: number;
  /** Scalar metrics under CleanRL's names (`losses/value_loss`, `charts/SPS`, …). */
  metrics: Record<string, number>;
  /** Episodes that finished during this iteration. */
  episodes: EpisodeRecord[];
}

/** A float tensor in a checkpoint. */
export interface SavedTensor {
  /** The tensor's shape. */
  shape: number[];
  /** Its values, row-major. */
  data: Float32Array;
}

/**
 * Everything needed to resume training: JSON-serialisable `meta` (step count, RNG and env state)
 * and named float tensors (weights, optimizer moments). Trainers write theirs with
 * `saveTrainerState` and read them back with `readTrainerState`.
 */
export interface Checkpoint {
  /** JSON-serialisable state. */
  meta: Record<string, unknown>;
  /** Named tensors. */
  tensors: Record<string, SavedTensor>;
}

/**
 * A training loop that runs one iteration at a time, so its caller decides when to log, save, stop
 * or evaluate.
 *
 * @example Drive a trainer to its budget
 * ```ts ignore
 * import type { Trainer } from "@proximal/core";
 * declare const trainer: Trainer;
 * while (!trainer.done) {
 *   const { step, metrics } = await trainer.iterate();
 *   console.log(`${step} ${trainer.unit}`, metrics["charts/SPS"]);
 * }
 * ```
 */
export interface Trainer {
  /** The algorithm's plugin name, e.g. `ppo`. */
  readonly algo: string;
  /** Progress so far, counted in {@linkcode Trainer.unit}. */
  readonly step: number;
  /**
   * What {@linkcode Trainer.step} counts, for people reading progress: `env steps` (PPO, over all
   * env copies), `tokens` (SFT: target tokens trained on), `pairs` (DPO and the reward model:
   * preference pairs trained on).
   */
  readonly unit: string;
  /** True once the budget (of steps or epochs) is used up. */
  readonly done: boolean;
  /** The metric names `iterate` may report, in a stable order (for CSV headers). */
  readonly metricNames: readonly string[];
  /**
   * Optional: the fraction of training done, for trainers whose length is not the env-step budget
   * (SFT, DPO and reward models run epochs); progress displays use it instead of the step count.
   */
  readonly progress?: number | undefined;
  /**
   * The policy being trained, when the trainer trains one the CLI can act with (PPO, SFT); absent
   * for trainers of a model that is not an actor-critic policy (DPO's language model needs no value
   * head; a reward model is no policy).
   */
  readonly policy?: Policy | undefined;
  /** Runs one iteration (for PPO: a rollout and an update). */
  iterate(): Promise<IterationReport>;
  /** Captures everything needed to resume. */
  save(): Promise<Checkpoint>;
  /** Resumes from a checkpoint made by `save` of a trainer built with the same options. */
  restore(checkpoint: Checkpoint): Promise<void>;
  /**
   * Optional: an evaluation of its own, for trainers whose env's rewards alone say little (a text
   * env scored by a judge); the CLI runs deterministic episodes with `evaluatePolicy` otherwise.
   */
  finalEvaluation?(options: TrainerEvaluateOptions): Promise<TrainerEvaluation>;
  /** Frees tensors and envs. */
  dispose(): void;
}

/** Options of {@linkcode Trainer.finalEvaluation}. */
export interface TrainerEvaluateOptions {
  /** How many episodes (or prompts, or pairs) to evaluate on, at most. */
  episodes: number;
}

/** What {@linkcode Trainer.finalEvaluation} reports. */
export interface TrainerEvaluation {
  /** Headline figures, e.g. `winRate`, `klPerSequence`. */
  metrics: Record<string, number>;
  /** Lines for a person to read (samples, intervals). */
  summary: string[];
  /** Anything else worth keeping in `eval.json`. */
  details?: Record<string, unknown>;
}
