// Small tensor helpers of GruLanguageModel: a tf.tidy for its interface-typed results, the
// read-back of token ids for the JavaScript embedding, the one read-back of next-token
// probabilities per generated token, and freeing a step.
import * as tf from "@tensorflow/tfjs";
import type { LmStep } from "./language_model_types.ts";

/** `tf.tidy` for results typed as interfaces (tfjs's typing wants an index signature). */
export function tidy<T>(fn: () => T): T {
  return tf.tidy(fn as () => tf.TensorContainer) as T;
}

/** The ids of `tokens` [B, T] in time-major order, checked against the vocabulary [0, V). */
export function timeMajorIds(tokens: tf.Tensor2D, vocabSize: number): Int32Array {
  const [B, T] = tokens.shape, V = vocabSize;
  const data = tokens.dataSync();
  const ids = new Int32Array(T * B);
  for (let b = 0; b < B; b++) {
    for (let t = 0; t < T; t++) {
      const id = data[b * T + t]!;
      if (!Number.isInteger(id) || id < 0 || id >= V) {
        throw new RangeError(
          `Token ${id} at row ${b}, position ${t} is not an id in the vocabulary [0, ${V})`,
        );
      }
      ids[t * B + b] = id;
    }
  }
  return ids;
}

/** softmax(logits / temperature), read back. */
export function readProbs(logits: tf.Tensor2D, temperature: number): Float32Array {
  const probs = tf.tidy(() => tf.softmax(temperature === 1 ? logits : tf.div(logits, temperature)));
  const data = probs.dataSync() as Float32Array;
  probs.dispose();
  return data;
}

/** Frees a step's logits, value and state. */
export function disposeStep(step: LmStep): void {
  tf.dispose([step.logits, ...(step.value ? [step.value] : []), ...step.state.hidden]);
}
