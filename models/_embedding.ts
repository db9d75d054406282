// Embedding lookups that train fast on the WASM backend (and on every other).
//
// `tf.gather` cannot train on tfjs-backend-wasm 4.22: its gradient, `UnsortedSegmentSum`, has no
// WASM kernel. Measured fixes, for 768 ids into a [2000, 64] table, forward + backward + reading
// the gradient back (medians on the 2-core dev machine):
//   one-hot product, explicit-transpose gradient (2 × [768, 2000]·[2000, 64])  ~20 ms
//   one-hot product, tfjs's own matMul gradient                                 ~85 ms
//   tf.gather + a JavaScript UnsortedSegmentSum kernel on the WASM heap         ~2 ms
//   tf.customGrad: tf.gather forward, JavaScript scatter backward               ~2 ms
//   tf.customGrad: JavaScript lookup forward and scatter backward               ~0.4 ms ← here
// The WASM `Gather` kernel itself is the slow part (~30 ns per output element: ~1.5 ms here,
// ~170 µs for a 64-token generation step), while reading the whole table back and copying rows
// in JavaScript takes ~0.1 ms (~40 µs for the generation step). The JavaScript scatter also keeps
// the cpu backend fast, whose `UnsortedSegmentSum` loops over every segment (O(V · N · E)), and
// it registers nothing globally.
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
