// What GRPO and RLOO share (private): sample G completions of each of a batch of prompts with
// the language model's batched, state-cached generation; score them with a reward source; read
// the reference's per-token log-probs in one pass; then take gradient steps on a loss of whole
// sequences, the first of which also gives the old policy's log-probs (its forward pass runs the
// weights that sampled, so a separate pass would compute the same numbers again) (`completionLogProbs`: one GRU pass over each sequence, the
// output layer over its completion tokens only — prompts and padding are masked out of the loss). The algorithms differ only in their advantages and
// in where the KL goes, which they pass in.
import * as tf from "@tensorflow/tfjs";
import {
  Adam,
  type Checkpoint,
  type IterationReport,
  readTrainerState,
  type RewardSource,
  Rng,
  saveTrainerState,
  type TrainerParts,
} from "@proximal/core";
import { completionLogProbs, type GruLanguageModel } from "@proximal/models";
import { FlatWeights, tapeGradient } from "./_ppo_engine.ts";
import type { Scalar, Tensor1D, Tensor2D } from "@proximal/core";

/** The prompts and how to turn ids into text for the reward source. */
export interface GroupTask {
  /** Prompts as token ids (starting with `<bos>`); each batch draws from them. */
  prompts: readonly Int32Array[];
  /** Ids → text, for the reward source. */
  decode: (ids: Int32Array) => string;
  /** Tokens per completion at most. */
  maxNewTokens: number;
  /** The end-of-sequence id (dropped from the text the reward source reads); default 2. */
  eosId?: number;
}

/** A batch of groups: `prompts × groupSize` completions, with their log-probs and scores. */
export interface GroupBatch {
  /** Rows (completions), `groupSize` consecutive rows per prompt. */
  rows: number;
  /** The reward source's score of each row. */
  scores: Float32Array;
  /** Σ over each row's completion tokens of log π_old − log π_ref (filled by the first step). */
  sequenceKl: Float32Array;
  /** Completion tokens per row (with `<eos>` when generated). */
  lengths: Int32Array;
  /** `[rows, T]` inputs, targets and the mask of completion positions, batch-major. */
  tokens: Int32Array;
  targets: Int32Array;
  mask: Float32Array;
  /** `[rows, T]` log π_old (filled by the first gradient step) and log π_ref of each target. */
  oldLogProbs: Float32Array;
  refLogProbs: Float32Array;
  /** T. */
  width: number;
}

/** The loss a group algorithm takes a gradient of, on one batch's tensors. */
export type GroupLoss = (
  inputs: {
    newLogProb: Tensor2D;
    oldLogProb: Tensor2D;
    refLogProb: Tensor2D;
    advantages: Tensor1D;
    mask: Tensor2D;
  },
) => { loss: Scalar; metrics: Record<string, Scalar> };

/**
 * Samples a batch of groups: `promptsPerBatch` prompts drawn with `rng`, `groupSize` completions
 * each, scored by `reward`, with the reference's log-prob of every completion token; the old
 * policy's log-probs and `sequenceKl` are zeros until {@linkcode GroupLoop.update}'s first step.
 */
export async function sampleGroups(
  models: { policy: GruLanguageModel; reference: GruLanguageModel },
  options: {
    task: GroupTask;
    reward: RewardSource;
    promptsPerBatch: number;
    groupSize: number;
    temperature: number;
    rng: Rng;
  },
): Promise<GroupBatch> {
  const { task, groupSize, rng } = options, eosId = task.eosId ?? 2;
  const chosen = Array.from(
    { length: options.promptsPerBatch },
    () => task.prompts[rng.int(task.prompts.length)]!,
  );
  const prompts = chosen.flatMap((p) => new Array<Int32Array>(groupSize).fill(p));
  const { completions } = models.policy.generate(prompts, {
    maxNewTokens: task.maxNewTokens,
    temperature: options.temperature,
    rng,
    eosId,
  });
  const scores = await options.reward.score(prompts.map((p, i) => {
    const c = completions[i]!, text = c.at(-1) === eosId ? c.subarray(0, -1) : c;
    return { prompt: task.decode(p), completion: task.decode(text) };
  }));
  const bad = scores.findIndex((s) => !Number.isFinite(s));
  if (bad >= 0) {
    throw new Error(`Reward source ${options.reward.name} returned ${scores[bad]} for row ${bad}`);
  }
  const rows = prompts.length;
  const width = Math.max(...prompts.map((p, i) => p.length + completions[i]!.length)) - 1;
  const tokens = new Int32Array(rows * width), targets = new Int32Array(rows * width);
  const mask = new Float32Array(rows * width);
  prompts.forEach((p, r) => {
    const sequence = [...p, ...completions[r]!];
    for (let t = 0; t < sequence.length - 1; t++) {
      tokens[r * width + t] = sequence[t]!;
      targets[r * width + t] = sequence[t + 1]!;
      if (t + 1 >= p.length) mask[r * width + t] = 1;
    }
  });
  const lp = tf.tidy(() => batchLogProbs(models.reference, { tokens, targets, mask, rows, width }));
  const refLogProbs = lp.dataSync() as Float32Array;
  lp.dispose();
  const lengths = Int32Array.from(completions, (c) => c.length);
  return {
    rows,
    scores,
    sequenceKl: new Float32Array(rows),
    lengths,
    tokens,
    targets,
    mask,
    oldLogProbs: new Float32Array(rows * width),
    refLogProbs,
    width,
  };
}

/**
 * `[rows, width]` log π(target) at the batch's completion positions (where `mask` is 1), 0
 * elsewhere, on the gradient tape: {@linkcode completionLogProbs} at those positions only (the
 * losses mask every other position out), placed into the grid by an op whose gradient gathers
 * them back. Equals `tokenLogProbs(tokens, targets) · mask` up to float rounding.
 */
export function batchLogProbs(
  model: GruLanguageModel,
  batch: Pick<GroupBatch, "tokens" | "targets" | "mask" | "rows" | "width">,
): Tensor2D {
  const { rows, width, mask } = batch;
  const flat: number[] = [];
  for (let k = 0; k < rows * width; k++) if (mask[k]) flat.push(k);
  const at = Int32Array.from(flat);
  const picked = completionLogProbs(model, tf.tensor2d(batch.tokens, [rows, width], "int32"), {
    rows: Int32Array.from(at, (k) => Math.floor(k / width)),
    // Position t predicts the target after t + 1 tokens.
    lengths: Int32Array.from(at, (k) => (k % width) + 1),
    targets: Int32Array.from(at, (k) => batch.targets[k]!),
  });
  return placeAt(picked, at, [rows, width]);
}

/** `values` [N] written at flat indices `at` of a zero [R, C] grid; the gradient gathers them. */
function placeAt(values: Tensor1D, at: Int32Array, shape: [number, number]): Tensor2D {
  const op = tf.customGrad(
    ((v: Tensor1D) => {
      const data = v.dataSync(), grid = new Float32Array(shape[0] * shape[1]);
      at.forEach((k, i) => grid[k] = data[i]!);
      return {
        value: tf.tensor2d(grid, shape),
        gradFunc: (dy: Tensor2D) => tf.gather(tf.reshape(dy, [-1]), tf.tensor1d(at, "int32")),
      };
    }) as unknown as Parameters<typeof tf.customGrad>[0],
  ) as unknown as (v: Tensor1D) => Tensor2D;
  return op(values);
}

/** The loop both algorithms run: sample, advantages, `numIterations` gradient steps. */
export class GroupLoop {
  readonly model: GruLanguageModel;
  readonly reference: GruLanguageModel;
  readonly adam: Adam;
  readonly rng: Rng;
  readonly parts: TrainerParts;
  readonly #weights: FlatWeights;
  step = 0;
  iteration = 0;
  #startTime = 0;
  #startStep = 0;

  constructor(
    models: { policy: GruLanguageModel; reference: GruLanguageModel },
    options: { learningRate: number; maxGradNorm: number; adamEpsilon: number; seed: number },
  ) {
    this.model = models.policy;
    this.reference = models.reference;
    this.adam = new Adam(this.model.variables, {
      learningRate: options.learningRate,
      epsilon: options.adamEpsilon,
      maxGradNorm: options.maxGradNorm,
    });
    this.rng = new Rng(options.seed);
    this.parts = { variables: { policy: this.model.variables }, adam: this.adam, rng: this.rng };
    this.#weights = new FlatWeights(this.model.variables);
  }

  /**
   * One iteration: `batch` (already sampled), then `numIterations` Adam steps on `loss`. The first
   * step's forward pass fills the batch's old log-probs and `sequenceKl`, after which
   * `advantages` is called once. Reports the last step's loss terms with the timing.
   */
  update(
    batch: GroupBatch,
    options: {
      advantages: (batch: GroupBatch) => Float32Array;
      numIterations: number;
      loss: GroupLoss;
      sampleMs: number;
    },
  ): { metrics: Record<string, number>; gradNorm: number; updateMs: number } {
    if (this.#startTime === 0) {
      this.#startTime = performance.now() - options.sampleMs;
      this.#startStep = this.step;
    }
    const start = performance.now();
    const { rows, width } = batch;
    let metrics: Record<string, number> = {}, gradNorm = 0;
    let advantages: Float32Array | undefined;
    for (let i = 0; i < options.numIterations; i++) {
      const out = tapeGradient(this.model.variables, () => {
        const newLogProb = batchLogProbs(this.model, batch);
        if (advantages === undefined) {
          readOldLogProbs(batch, newLogProb.dataSync() as Float32Array);
          advantages = options.advantages(batch);
        }
        return options.loss({
          newLogProb,
          oldLogProb: tf.tensor2d(batch.oldLogProbs, [rows, width]),
          refLogProb: tf.tensor2d(batch.refLogProbs, [rows, width]),
          advantages: tf.tensor1d(advantages),
          mask: tf.tensor2d(batch.mask, [rows, width]),
        });
      });
      gradNorm = this.adam.update(this.#weights.values, out.grad, out.metrics.loss ?? 0);
      this.#weights.load();
      metrics = out.metrics;
    }
    this.step += batch.lengths.reduce((a, n) => a + n, 0);
    this.iteration++;
    return { metrics, gradNorm, updateMs: performance.now() - start };
  }

  /** Generated tokens per second since the first iteration. */
  get tokensPerSecond(): number {
    const seconds = (performance.now() - this.#startTime) / 1000;
    return seconds > 0 ? (this.step - this.#startStep) / seconds : 0;
  }

  save(algo: string): Checkpoint {
    return saveTrainerState(algo, this.parts, { step: this.step, iteration: this.iteration });
  }

  restore(checkpoint: Checkpoint, where: { algo: string; owner: string }): void {
    const state = readTrainerState(checkpoint, this.parts, where);
    const step = state.meta.count("step"), iteration = state.meta.count("iteration");
    state.apply();
    this.step = step;
    this.iteration = iteration;
    this.#startTime = 0;
  }

  dispose(): void {
    this.model.dispose();
    this.reference.dispose();
  }
}

/** Fills `batch.oldLogProbs` with `logProbs` and `sequenceKl` with Σ (old − ref) per row. */
function readOldLogProbs(batch: GroupBatch, logProbs: Float32Array): void {
  const { oldLogProbs, refLogProbs, mask, sequenceKl, width } = batch;
  oldLogProbs.set(logProbs);
  sequenceKl.fill(0);
  for (let k = 0; k < oldLogProbs.length; k++) {
    if (mask[k]) sequenceKl[Math.floor(k / width)]! += oldLogProbs[k]! - refLogProbs[k]!;
  }
}

/** Builds an {@linkcode IterationReport} from a group iteration's metrics. */
export function groupReport(
  loop: GroupLoop,
  metrics: Record<string, number>,
): IterationReport {
  return { step: loop.step, metrics, episodes: [] };
}

/** The mean of an array (0 when empty), for the trainers' metrics. */
export function mean(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]!;
  return x.length > 0 ? s / x.length : 0;
}
