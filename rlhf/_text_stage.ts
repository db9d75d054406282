// What every text stage's trainer adds to the library's: checkpoints that carry the tokenizer, and
// an evaluation of the tuned model against the one it started from.
import {
  type AlgoContext,
  type Checkpoint,
  type IterationReport,
  MetaReader,
  type Trainer,
  type TrainerEvaluation,
} from "@proximal/core";
import type { GruLanguageModel } from "@proximal/models";
import {
  type SentimentTask as Task,
  sentimentTask,
  type SentimentTaskOptions,
} from "@proximal/envs";
import {
  classifierWinRate,
  describeEvaluation,
  evaluateCompletions,
  heldOutJudge,
  judgeWinRate,
  lmMeta,
} from "./text_eval.ts";
import { checkPairsFingerprint, type PairSplit } from "./_pairs.ts";

/** The task the env's options (the run's `--prompt-words`, `--min-count`, …) define. */
export function taskOf(context: AlgoContext): Task {
  return sentimentTask(context.envOptions as Partial<SentimentTaskOptions> | undefined);
}

/**
 * A stage's trainer: the library's trainer, whose checkpoints also carry the tokenizer and the
 * model's shape, and an evaluation of the tuned model against the one it started from (which is
 * why it exposes no `policy`: nothing runs the model as an env policy).
 */
export class TextStage implements Trainer {
  readonly unit: string;
  readonly #inner: Trainer;
  readonly #task: Task;
  readonly #model: () => GruLanguageModel;
  readonly #prefix: string;
  readonly #reference: GruLanguageModel | undefined;
  readonly #seed: number;
  readonly #epochs: (() => number) | undefined;
  readonly #pairs: { split: PairSplit; file: string } | undefined;

  constructor(
    inner: Trainer,
    options: {
      task: Task;
      model: () => GruLanguageModel;
      prefix: string;
      reference?: GruLanguageModel;
      seed: number;
      /** What `step` counts. */
      unit: string;
      /** The fraction of epochs done, for trainers that run epochs. */
      epochs?: () => number;
      /** The pairs a stage trains on (and their file), checked again on resume. */
      pairs?: { split: PairSplit; file: string };
    },
  ) {
    this.#pairs = options.pairs;
    this.unit = options.unit;
    this.#epochs = options.epochs;
    this.#inner = inner;
    this.#task = options.task;
    this.#model = options.model;
    this.#prefix = options.prefix;
    this.#reference = options.reference;
    this.#seed = options.seed;
  }
  get algo(): string {
    return this.#inner.algo;
  }
  get step(): number {
    return this.#inner.step;
  }
  get done(): boolean {
    return this.#inner.done;
  }
  get metricNames(): readonly string[] {
    return this.#inner.metricNames;
  }
  get progress(): number | undefined {
    return this.#epochs ? this.#epochs() : undefined;
  }
  iterate(): Promise<IterationReport> {
    return this.#inner.iterate();
  }
  async save(): Promise<Checkpoint> {
    const checkpoint = await this.#inner.save();
    checkpoint.meta.lm = lmMeta(this.#model(), this.#task.tokenizer, this.#prefix);
    if (this.#pairs) checkpoint.meta.pairsFingerprint = this.#pairs.split.fingerprint;
    return checkpoint;
  }
  restore(checkpoint: Checkpoint): Promise<void> {
    if (this.#pairs) {
      const meta = new MetaReader(checkpoint.meta, { owner: `the ${this.algo} stage` });
      checkPairsFingerprint(meta, this.#pairs.split, this.#pairs.file);
    }
    return this.#inner.restore(checkpoint);
  }
  finalEvaluation(options: { episodes: number }): Promise<TrainerEvaluation> {
    const prompts = this.#task.evalPrompts.slice(0, options.episodes).map((p) => p.prompt);
    const model = this.#model();
    const { classifier, heldOutAccuracy } = heldOutJudge(this.#task);
    const evaluation = { task: this.#task, prompts, seed: this.#seed + 7, classifier };
    const tuned = evaluateCompletions(model, this.#reference ?? model, evaluation);
    const metrics: Record<string, number> = {
      prompts: prompts.length,
      classifierHeldOutAccuracy: heldOutAccuracy,
      meanJudgeScore: tuned.meanJudgeScore,
      distinct2: tuned.distinct2,
      unknownTokenRate: tuned.unknownTokenRate,
      meanLength: tuned.meanLength,
    };
    const summary: string[] = [];
    const details: Record<string, unknown> = { samples: tuned.samples };
    if (this.#reference) {
      const before = evaluateCompletions(this.#reference, this.#reference, evaluation);
      const win = judgeWinRate(tuned, before, this.#seed);
      const held = classifierWinRate(tuned, before, { seed: this.#seed });
      Object.assign(metrics, {
        winRateOverReference: win.rate,
        winRateLow: win.interval[0],
        winRateHigh: win.interval[1],
        classifierWinRateOverReference: held.rate,
        classifierWinRateLow: held.interval[0],
        classifierWinRateHigh: held.interval[1],
        klToReferencePerSequence: tuned.klToReferencePerSequence,
        referenceDistinct2: before.distinct2,
        referenceUnknownTokenRate: before.unknownTokenRate,
        referenceMeanLength: before.meanLength,
      });
      details.referenceSamples = before.samples;
      summary.push(
        `${prompts.length} held-out prompts`,
        describeEvaluation("reference", before),
        describeEvaluation("tuned", tuned, win),
        `held-out classifier (${(heldOutAccuracy * 100).toFixed(1)} % on held-out sentences): ` +
          `win-rate ${(held.rate * 100).toFixed(1)} % [${(held.interval[0] * 100).toFixed(1)}, ${
            (held.interval[1] * 100).toFixed(1)
          }]`,
        "before → after:",
        ...before.samples.map((s, i) => `  ${s}  →  ${tuned.samples[i]}`),
      );
    } else {
      summary.push(
        `${prompts.length} held-out prompts`,
        describeEvaluation("model", tuned),
        ...tuned.samples.map((s) => `  ${s}`),
      );
    }
    return Promise.resolve({ metrics, summary, details });
  }
  dispose(): void {
    this.#inner.dispose();
    this.#reference?.dispose();
  }
}
