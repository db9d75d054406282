// GruLanguageModel's initial weights, drawn from its seed with Rng (so independent of the
// backend): embedding N(0, 1) as PyTorch's nn.Embedding; each GRU layer as Keras's GRU —
// Glorot-uniform input weights, an orthogonal recurrent matrix per gate, zero biases; the output
// projection Glorot-uniform with zero bias; the value head orthogonal with gain 1.
import * as tf from "@tensorflow/tfjs";
import { Rng } from "@proximal/core";
import { orthogonal } from "./_ops.ts";

/** One GRU layer's variables. */
export interface GruLayer {
  wx: tf.Variable<tf.Rank.R2>;
  wh: tf.Variable<tf.Rank.R2>;
  bx: tf.Variable<tf.Rank.R1>;
  bh: tf.Variable<tf.Rank.R1>;
}

/** The model's variables, as GruLanguageModel keeps them. */
export interface LmWeights {
  embedding: tf.Variable<tf.Rank.R2>;
  gru: GruLayer[];
  wOut: tf.Variable<tf.Rank.R2>;
  bOut: tf.Variable<tf.Rank.R1>;
  wValue: tf.Variable<tf.Rank.R2> | null;
  bValue: tf.Variable<tf.Rank.R1> | null;
}

/** Creates the variables, named `<prefix>/<name>`, in the order of the draws from `seed`. */
export function initialWeights(
  vocabSize: number,
  o: {
    embeddingSize: number;
    hiddenSize: number;
    layers: number;
    valueHead: boolean;
    seed: number;
    prefix: string;
  },
): LmWeights {
  const V = vocabSize, E = o.embeddingSize, H = o.hiddenSize;
  const rng = new Rng(o.seed);
  const normal = () => rng.normal();
  const glorot = (rows: number, cols: number) => {
    const limit = Math.sqrt(6 / (rows + cols));
    return Float32Array.from({ length: rows * cols }, () => rng.range(-limit, limit));
  };
  const variable = <R extends tf.Rank>(values: tf.Tensor<R>, name: string) => {
    const v = tf.variable(values, true, `${o.prefix}/${name}`) as tf.Variable<R>;
    values.dispose(); // the variable keeps the data
    return v;
  };

  const embedding = variable(
    tf.tensor2d(Float32Array.from({ length: V * E }, normal), [V, E]),
    "embedding",
  );
  const gru = Array.from({ length: o.layers }, (_, l) => {
    const inSize = l === 0 ? E : H;
    // One orthogonal H × H block per gate, side by side: [r | z | n].
    const blocks = [0, 1, 2].map(() => orthogonal(H, H, { gain: 1, normal }));
    const wh = new Float32Array(H * 3 * H);
    for (let i = 0; i < H; i++) {
      blocks.forEach((block, g) => wh.set(block.subarray(i * H, (i + 1) * H), i * 3 * H + g * H));
    }
    return {
      wx: variable(tf.tensor2d(glorot(inSize, 3 * H), [inSize, 3 * H]), `gru${l}/wx`),
      wh: variable(tf.tensor2d(wh, [H, 3 * H]), `gru${l}/wh`),
      bx: variable(tf.zeros([3 * H]) as tf.Tensor1D, `gru${l}/bx`),
      bh: variable(tf.zeros([3 * H]) as tf.Tensor1D, `gru${l}/bh`),
    };
  });
  const wOut = variable(tf.tensor2d(glorot(H, V), [H, V]), "out/w");
  const bOut = variable(tf.zeros([V]) as tf.Tensor1D, "out/b");
  const wValue = o.valueHead
    ? variable(tf.tensor2d(orthogonal(H, 1, { gain: 1, normal }), [H, 1]), "value/w")
    : null;
  const bValue = o.valueHead ? variable(tf.zeros([1]) as tf.Tensor1D, "value/b") : null;
  return { embedding, gru, wOut, bOut, wValue, bValue };
}
