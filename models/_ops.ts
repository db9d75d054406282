// Layers with hand-written gradients for the WASM backend, where tfjs's own gradients take slow
// paths: the gradient of matMul uses transposed-operand matMuls (~10x slower here than an explicit
// transpose followed by a plain matMul), and tanh runs scalar (sigmoid is vectorised).
import * as tf from "@tensorflow/tfjs";

type Save = (tensors: tf.Tensor[]) => void;
type CustomGradientFunc = Parameters<typeof tf.customGrad>[0];

/**
 * The weight and bias gradients of y = x·W + b, xᵀ·∂y and the column sums of ∂y, computed as
 * (∂yᵀ·x)ᵀ and ∂yᵀ·1. A WASM matmul first packs its right operand (XNNPACK), and a large ∂y is a
 * new tensor at every step: at [463, 2111] packing it costs ~8 ms, more than its transpose (~3 ms),
 * while x and a column of ones pack cheaply.
 *
 * @param x `[N, I]` the layer's input.
 * @param dy `[N, O]` the gradient of its output.
 * @returns `[I, O]` and `[O]`.
 */
export function weightGradients(x: tf.Tensor2D, dy: tf.Tensor2D): [tf.Tensor2D, tf.Tensor1D] {
  const [n, o] = dy.shape;
  const dyT = tf.transpose(dy);
  return [
    tf.transpose(tf.matMul(dyT, x)),
    tf.reshape(tf.matMul(dyT, tf.ones([n, 1])), [o]),
  ];
}

type Dense = (x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D) => tf.Tensor2D;
type WeightGradients = (x: tf.Tensor2D, dy: tf.Tensor2D) => [tf.Tensor2D, tf.Tensor1D];

/** y = x·W + b whose input gradient transposes W explicitly, with the given weight gradients. */
function denseWith(weightGrads: WeightGradients): Dense {
  return tf.customGrad(
    ((x: tf.Tensor2D, w: tf.Tensor2D, b: tf.Tensor1D, save: Save) => {
      save([x, w]);
      return {
        value: tf.add(tf.matMul(x, w), b),
        gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
          const [xs, ws] = saved as [tf.Tensor2D, tf.Tensor2D];
          return [tf.matMul(dy, tf.transpose(ws)), ...weightGrads(xs, dy)];
        },
      };
    }) as unknown as CustomGradientFunc,
  ) as unknown as Dense;
}

/** y = x·W + b, with a gradient that transposes explicitly. */
export const dense: Dense = denseWith((xs, dy) => [
  tf.matMul(tf.transpose(xs), dy),
  // Column sums as ones·dy: tf.sum over axis 0 transposes first on WASM (~10x slower).
  tf.reshape(tf.matMul(tf.ones([1, dy.shape[0]]), dy), [dy.shape[1]]),
]);

/**
 * y = x·W + b for many rows (the language model's layers): {@linkcode dense} with the weight and
 * bias gradients of {@linkcode weightGradients}, which pack the small operand rather than ∂y.
 * (The MLP policy keeps `dense`, whose small batches gain nothing, and so its numbers.)
 */
export const denseWide: Dense = denseWith(weightGradients);

/** tanh(x) = 2·sigmoid(2x) − 1, with the gradient (1 − y²) from the saved output. */
export const tanh: (x: tf.Tensor2D) => tf.Tensor2D = tf.customGrad(
  ((x: tf.Tensor2D, save: Save) => {
    const y = tf.sub(tf.mul(tf.sigmoid(tf.mul(x, 2)), 2), 1);
    save([y]);
    return {
      value: y,
      gradFunc: (dy: tf.Tensor2D, saved: tf.Tensor[]) => {
        const ys = saved[0]!;
        return [tf.mul(dy, tf.sub(1, tf.square(ys)))];
      },
    };
  }) as unknown as CustomGradientFunc,
) as unknown as (x: tf.Tensor2D) => tf.Tensor2D;

/**
 * An orthogonal matrix (rows × cols) times `gain`, as torch.nn.init.orthogonal_ makes it: QR of a
 * Gaussian matrix with the signs of R's diagonal folded into Q. Drawn from `normal` so that it is
 * reproducible and independent of the backend.
 */
export function orthogonal(
  rows: number,
  cols: number,
  options: { gain: number; normal: () => number },
): Float32Array {
  const tall = Math.max(rows, cols), wide = Math.min(rows, cols);
  // Columns of a tall × wide Gaussian matrix, orthonormalised by modified Gram–Schmidt.
  const q: Float64Array[] = [];
  for (let j = 0; j < wide; j++) {
    const col = new Float64Array(tall);
    for (let i = 0; i < tall; i++) col[i] = options.normal();
    for (const prev of q) {
      let dot = 0;
      for (let i = 0; i < tall; i++) dot += prev[i]! * col[i]!;
      for (let i = 0; i < tall; i++) col[i] = col[i]! - dot * prev[i]!;
    }
    let norm = 0;
    for (let i = 0; i < tall; i++) norm += col[i]! * col[i]!;
    norm = Math.sqrt(norm);
    for (let i = 0; i < tall; i++) col[i] = col[i]! / norm;
    q.push(col);
  }
  // Gram–Schmidt gives R a positive diagonal already, which is the sign convention torch applies.
  const out = new Float32Array(rows * cols);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) {
      // When rows < cols torch orthogonalises the transpose.
      out[r * cols + c] = options.gain * (rows >= cols ? q[c]![r]! : q[r]![c]!);
    }
  }
  return out;
}
