// A plain Float32Array actor-critic MLP (tanh hidden layers), forward and backward by hand, no
// framework: the benchmark's yardstick for what the same arithmetic costs without tfjs. It is not
// used for training.

/** One dense layer's parameters and gradients, row-major [in, out]. */
interface Layer {
  inSize: number;
  outSize: number;
  w: Float32Array;
  b: Float32Array;
  gw: Float32Array;
  gb: Float32Array;
}

/** An MLP `sizes[0] → … → sizes.at(-1)` with tanh between layers. */
export class ReferenceMlp {
  readonly layers: Layer[];
  #acts: Float32Array[] = [];

  constructor(sizes: number[], seed = 1) {
    let s = seed >>> 0;
    const rand = () => ((s = (Math.imul(s, 1664525) + 1013904223) >>> 0) / 2 ** 32 - 0.5) * 0.2;
    this.layers = sizes.slice(1).map((outSize, i) => {
      const inSize = sizes[i]!;
      return {
        inSize,
        outSize,
        w: Float32Array.from({ length: inSize * outSize }, rand),
        b: new Float32Array(outSize),
        gw: new Float32Array(inSize * outSize),
        gb: new Float32Array(outSize),
      };
    });
  }

  /** Forward pass over `batch` rows; keeps the activations for `backward`. */
  forward(x: Float32Array, batch: number): Float32Array {
    this.#acts = [x];
    let h = x;
    this.layers.forEach((layer, li) => {
      const { inSize, outSize, w, b } = layer;
      const out = new Float32Array(batch * outSize);
      for (let r = 0; r < batch; r++) {
        const o = r * outSize, hi = r * inSize;
        for (let j = 0; j < outSize; j++) out[o + j] = b[j]!;
        for (let k = 0; k < inSize; k++) {
          const a = h[hi + k]!, wk = k * outSize;
          for (let j = 0; j < outSize; j++) out[o + j]! += a * w[wk + j]!;
        }
      }
      if (li < this.layers.length - 1) {
        for (let i = 0; i < out.length; i++) out[i] = Math.tanh(out[i]!);
      }
      this.#acts.push(out);
      h = out;
    });
    return h;
  }

  /** Backward pass from the output gradient; fills `gw`/`gb` of every layer. */
  backward(gradOut: Float32Array, batch: number): void {
    let g = gradOut;
    for (let li = this.layers.length - 1; li >= 0; li--) {
      const { inSize, outSize, w, gw, gb } = this.layers[li]!;
      const input = this.#acts[li]!;
      gw.fill(0);
      gb.fill(0);
      const gIn = new Float32Array(batch * inSize);
      for (let r = 0; r < batch; r++) {
        const o = r * outSize, hi = r * inSize;
        for (let j = 0; j < outSize; j++) gb[j]! += g[o + j]!;
        for (let k = 0; k < inSize; k++) {
          const a = input[hi + k]!, wk = k * outSize;
          let acc = 0;
          for (let j = 0; j < outSize; j++) {
            const gj = g[o + j]!;
            gw[wk + j]! += a * gj;
            acc += w[wk + j]! * gj;
          }
          gIn[hi + k] = acc;
        }
      }
      if (li > 0) {
        // Through the tanh that produced this layer's input: d/dx tanh = 1 − y².
        for (let i = 0; i < gIn.length; i++) gIn[i] = gIn[i]! * (1 - input[i]! * input[i]!);
      }
      g = gIn;
    }
  }
}
