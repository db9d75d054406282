// Early stopping for the reward model trainer: a fixed share of the training pairs held back, the
// lowest validation loss so far with its epoch and a copy of its weights, and whether patience has
// run out; saved in the trainer's checkpoints so a resumed run stops where an uninterrupted one
// would.
import * as tf from "@tensorflow/tfjs";
import { type MetaReader, Rng, type SavedTensor, type Variable } from "@proximal/core";

/** What early stopping is asked to do. */
export interface EarlyStoppingOptions {
  /** The share of the pairs held back; 0 turns early stopping off. */
  fraction: number;
  /** Epochs without a lower validation loss before stopping. */
  patience: number;
  /** Seed of the draw of the held-back pairs. */
  seed: number;
}

/** The lowest validation loss so far, its epoch and weights, and whether training has stopped. */
export class EarlyStopping {
  readonly #options: EarlyStoppingOptions;
  #bestLoss = Infinity;
  #bestEpoch = 0;
  #bestWeights: tf.Tensor[] | null = null;
  #stopped = false;

  constructor(options: EarlyStoppingOptions) {
    this.#options = options;
  }

  /** The epoch of the lowest validation loss so far; 0 before the first. */
  get bestEpoch(): number {
    return this.#bestEpoch;
  }

  /** True once `patience` epochs have passed without a lower validation loss. */
  get stopped(): boolean {
    return this.#stopped;
  }

  /** The pairs to fit and the ones to validate on: the same fixed draw on every call. */
  split<T>(pairs: readonly T[]): { fit: readonly T[]; validation?: readonly T[] } {
    const { fraction, seed } = this.#options;
    if (fraction === 0 || !Array.isArray(pairs)) return { fit: pairs };
    const n = pairs.length, held = Math.round(n * fraction);
    if (held < 1 || held >= n) {
      throw new RangeError(
        `Cannot train the reward model: validationFraction ${fraction} of ${n} pairs leaves ${held} to validate on and ${
          n - held
        } to train on (each needs at least one)`,
      );
    }
    // Its own generator, so the draw neither depends on nor moves the epochs' shuffles.
    const order = new Rng(seed).shuffle(Int32Array.from({ length: n }, (_, i) => i));
    const isHeld = new Uint8Array(n);
    for (const i of order.subarray(0, held)) isHeld[i] = 1;
    return {
      fit: pairs.filter((_, i) => !isHeld[i]),
      validation: pairs.filter((_, i) => isHeld[i]),
    };
  }

  /** Records an epoch's validation loss: keeps a copy of the weights of a new best. */
  record(epoch: number, loss: number, variables: readonly Variable[]): void {
    if (loss < this.#bestLoss) {
      this.#bestLoss = loss;
      this.#bestEpoch = epoch;
      tf.dispose(this.#bestWeights ?? []);
      this.#bestWeights = variables.map((v) => tf.clone(v));
    } else if (epoch - this.#bestEpoch >= this.#options.patience) {
      this.#stopped = true;
    }
  }

  /** Assigns the best epoch's weights, if that is not `epoch`. */
  restoreBest(epoch: number, variables: readonly Variable[]): void {
    const best = this.#bestWeights;
    if (best && this.#bestEpoch !== epoch) variables.forEach((v, i) => v.assign(best[i]!));
  }

  /** The state for a checkpoint's meta, and the best weights as tensors `best/<i>`. */
  save(): { meta: Record<string, unknown>; tensors: Record<string, SavedTensor> } {
    const tensors: Record<string, SavedTensor> = {};
    this.#bestWeights?.forEach((t, i) => {
      tensors[`best/${i}`] = { shape: [...t.shape], data: Float32Array.from(t.dataSync()) };
    });
    return {
      meta: {
        // JSON has no Infinity: null until a first validation loss.
        bestLoss: Number.isFinite(this.#bestLoss) ? this.#bestLoss : null,
        bestEpoch: this.#bestEpoch,
        stopped: this.#stopped,
      },
      tensors,
    };
  }

  /**
   * Reads a saved state, checking it and the best weights against `variables`, and returns the
   * function that applies it (after the trainer's other checks).
   */
  read(
    meta: MetaReader,
    options: { tensor: (name: string) => SavedTensor; variables: readonly Variable[] },
  ): () => void {
    const bestEpoch = meta.count("bestEpoch"), stopped = meta.boolean("stopped");
    const bestLoss = meta.optionalNumber("bestLoss") ?? Infinity;
    const best = bestEpoch > 0
      ? options.variables.map((v, i) => {
        const saved = options.tensor(`best/${i}`);
        if (saved.shape.join("x") !== v.shape.join("x")) {
          meta.fail(`the best epoch's tensor ${i} has shape [${saved.shape}], not [${v.shape}]`);
        }
        return saved;
      })
      : null;
    return () => {
      tf.dispose(this.#bestWeights ?? []);
      this.#bestWeights = best && best.map((s) => tf.tensor(s.data, s.shape, "float32"));
      this.#bestLoss = bestLoss;
      this.#bestEpoch = bestEpoch;
      this.#stopped = stopped;
    };
  }

  /** Frees the best weights. */
  dispose(): void {
    tf.dispose(this.#bestWeights ?? []);
    this.#bestWeights = null;
  }
}
