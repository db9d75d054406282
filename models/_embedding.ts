// Embedding lookups that train fast on the WASM backend (and on every other).
//
// `tf.gather` cannot train on tfjs-backend-wasm 4.22: its gradient, `UnsortedSegmentSum`, has no
// WASM kernel. Of the fixes measured (the figures are in the README), a `tf.customGrad` with a
// JavaScript lookup forward and a JavaScript scatter backward is the fastest: the WASM `Gather`
// kernel itself is slower than reading the table back and copying rows. The scatter also keeps the
// cpu backend fast, whose `UnsortedSegmentSum` loops over every segment, and it registers nothing
// globally.
import * as tf from "@tensorflow/tfjs";

type CustomGradientFunc = Parameters<typeof tf.customGrad>[0];

/**
 * Rows `ids` of `table` [V, E] → [ids.length, E]; the gradient adds each output row's gradient
 * into its table row. The ids must lie in [0, V) (the caller checks them).
 */
export function embed(table: tf.Tensor2D, ids: Int32Array): tf.Tensor2D {
  const [rows, width] = table.shape;
  const lookup = tf.customGrad(
    ((t: tf.Tensor2D) => {
      const values = t.dataSync() as Float32Array;
      const out = new Float32Array(ids.length * width);
      for (let i = 0; i < ids.length; i++) {
        const row = ids[i]! * width;
        out.set(values.subarray(row, row + width), i * width);
      }
      return {
        value: tf.tensor2d(out, [ids.length, width]),
        gradFunc: (dy: tf.Tensor2D) => {
          const dOut = dy.dataSync() as Float32Array;
          const grad = new Float32Array(rows * width);
          for (let i = 0; i < ids.length; i++) {
            const row = ids[i]! * width, src = i * width;
            for (let j = 0; j < width; j++) grad[row + j]! += dOut[src + j]!;
          }
          return [tf.tensor2d(grad, [rows, width])];
        },
      };
    }) as unknown as CustomGradientFunc,
  ) as unknown as (t: tf.Tensor2D) => tf.Tensor2D;
  return lookup(table);
}
