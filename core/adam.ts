/**
 * Adam with PyTorch's update rule and global gradient-norm clipping, run on one flat `Float32Array`
 * of parameters. One `dataSync` per step reads parameters, gradients and the caller's metrics
 * together; the update itself is a tight loop in JavaScript, which on the WASM backend costs less
 * than the ~10 tensor ops per variable a tensor-side Adam dispatches.
 */
import * as tf from "@tensorflow/tfjs";
import type { Scalar, Variable } from "./tensors.ts";
import type { SavedTensor } from "./trainer.ts";

/** Options of {@linkcode Adam}. */
export interface AdamOptions {
  /** Step size; default 2.5e-4 (CleanRL's PPO). Mutable on the instance, for annealing. */
  learningRate?: number;
  /** First-moment decay; default 0.9. */
  beta1?: number;
  /** Second-moment decay; default 0.999. */
  beta2?: number;
  /** Added to the denominator; default 1e-5 (CleanRL's PPO; PyTorch's default is 1e-8). */
  epsilon?: number;
  /** Rescale gradients whose global L2 norm exceeds this; 0 turns clipping off; default 0.5. */
  maxGradNorm?: number;
}

/** What the loss function given to {@linkcode Adam.step} returns. */
export interface LossWithMetrics {
  /** The scalar to minimise. */
  loss: Scalar;
  /** Scalars to read back along with the gradient (e.g. the loss terms), in a fixed order. */
  metrics?: Scalar[];
}

/** What {@linkcode Adam.step} returns. */
export interface AdamStepResult {
  /** The loss before the step. */
  loss: number;
  /** The metric values, in the order given. */
  metrics: number[];
  /** The global gradient norm before clipping. */
  gradNorm: number;
}

/** The saved state of an {@linkcode Adam}. */
export interface AdamState {
  /** Steps taken. */
  t: number;
  /** First moments, flat. */
  m: SavedTensor;
  /** Second moments, flat. */
  v: SavedTensor;
}

/**
 * Adam over a fixed list of variables.
 *
 * @example Fit y = 2x
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { Adam, setupBackend } from "@proximal/core";
 * await setupBackend("cpu");
 * const w = tf.variable(tf.scalar(0));
 * const adam = new Adam([w], { learningRate: 0.1, maxGradNorm: 0 });
 * for (let i = 0; i < 200; i++) {
 *   adam.step(() => ({ loss: tf.square(tf.sub(tf.mul(w, 3), 6)) as tf.Scalar }));
 * }
 * assert.ok(Math.abs(w.dataSync()[0]! - 2) < 1e-2);
 * ```
 */
export class Adam {
  /** The current step size. */
  learningRate: number;
  readonly #variables: readonly tf.Variable[];
  readonly #beta1: number;
  readonly #beta2: number;
  readonly #epsilon: number;
  readonly #maxGradNorm: number;
  readonly #size: number;
  #m: Float32Array;
  #v: Float32Array;
  #t = 0;

  /**
   * Creates an optimizer for a fixed list of variables, with zeroed moments.
   *
   * @param variables The parameters to train, in a fixed order.
   * @param options See {@linkcode AdamOptions}.
   */
  constructor(variables: readonly Variable[], options: AdamOptions = {}) {
    this.#variables = variables;
    this.learningRate = options.learningRate ?? 2.5e-4;
    this.#beta1 = options.beta1 ?? 0.9;
    this.#beta2 = options.beta2 ?? 0.999;
    this.#epsilon = options.epsilon ?? 1e-5;
    this.#maxGradNorm = options.maxGradNorm ?? 0.5;
    this.#size = variables.reduce((n, v) => n + v.size, 0);
    this.#m = new Float32Array(this.#size);
    this.#v = new Float32Array(this.#size);
  }

  /**
   * Computes the gradient of `lossFn`, clips it, and updates the variables in place.
   *
   * @param lossFn Builds the loss (runs inside `tf.tidy` and a gradient tape).
   * @returns The loss, the metrics and the gradient norm.
   * @example See {@linkcode Adam}
   * ```ts ignore
   * const { loss, gradNorm } = adam.step(() => ({ loss: myLoss() }));
   * ```
   */
  step(lossFn: () => LossWithMetrics): AdamStepResult {
    const vars = this.#variables;
    let nMetrics = 0;
    const flat = tf.tidy(() => {
      let metrics: tf.Scalar[] = [];
      const { value, grads } = tf.variableGrads(() => {
        const out = lossFn();
        // variableGrads disposes everything but the loss; keep the metrics past it.
        metrics = (out.metrics ?? []).map((m) => tf.keep(m));
        return out.loss;
      }, vars as tf.Variable[]);
      nMetrics = metrics.length;
      const parts: tf.Tensor[] = [value.reshape([1])];
      for (const m of metrics) parts.push(m.reshape([1]));
      for (const v of vars) parts.push(v.reshape([-1]));
      for (const v of vars) {
        const g = grads[v.name];
        parts.push(g ? g.reshape([-1]) : tf.zeros([v.size]));
      }
      const flat = tf.concat(parts);
      for (const m of metrics) m.dispose();
      return flat;
    });
    const data = flat.dataSync() as Float32Array;
    flat.dispose();
    const loss = data[0]!;
    const metrics = Array.from(data.subarray(1, 1 + nMetrics));
    const head = 1 + nMetrics, size = this.#size;
    const params = data.subarray(head, head + size);
    const grad = data.subarray(head + size, head + 2 * size);
    const gradNorm = this.update(params, grad, loss);
    let offset = 0;
    for (const variable of vars) {
      const values = params.subarray(offset, offset + variable.size);
      tf.tidy(() => variable.assign(tf.tensor(values, variable.shape, "float32")));
      offset += variable.size;
    }
    return { loss, metrics, gradNorm };
  }

  /**
   * One Adam step on flat arrays, for gradients computed elsewhere (e.g. summed from PPO's
   * workers): clips `grad` by its global norm, updates the moments and writes the new parameters
   * into `params`. The variables are not touched; {@linkcode Adam.step} uses this after its own
   * read-back and then assigns them.
   *
   * @param params The parameters, flat in the variables' order; updated in place.
   * @param grad The gradient, flat in the same order (not modified).
   * @param loss The loss the gradient came from, only for the divergence error; default 0.
   * @returns The global gradient norm before clipping.
   * @throws If the gradient norm or the loss is not finite.
   * @example Apply a gradient computed elsewhere
   * ```ts
   * import assert from "node:assert/strict";
   * import * as tf from "@tensorflow/tfjs";
   * import { Adam, setupBackend } from "@proximal/core";
   * await setupBackend("cpu");
   * const adam = new Adam([tf.variable(tf.zeros([2]))], { learningRate: 0.1 });
   * const params = new Float32Array(2);
   * const norm = adam.update(params, Float32Array.from([3, 4]));
   * assert.ok(norm === 5 && params[0]! < 0 && params[1]! < 0);
   * ```
   */
  update(params: Float32Array, grad: Float32Array, loss = 0): number {
    const size = this.#size;
    if (params.length !== size || grad.length !== size) {
      throw new RangeError(
        `Adam.update needs ${size} parameters and gradients, got ${params.length} and ${grad.length}`,
      );
    }
    let sq = 0;
    for (let i = 0; i < size; i++) sq += grad[i]! * grad[i]!;
    const gradNorm = Math.sqrt(sq);
    if (!Number.isFinite(gradNorm) || !Number.isFinite(loss)) {
      throw new Error(
        `Training diverged: the loss is ${loss} and the gradient norm ${gradNorm} at Adam step ${
          this.#t + 1
        } (try a smaller learning rate)`,
      );
    }
    // torch.nn.utils.clip_grad_norm_: scale by max_norm / (norm + 1e-6) when that is below 1.
    const clip = this.#maxGradNorm > 0 ? this.#maxGradNorm / (gradNorm + 1e-6) : 1;
    const scale = clip < 1 ? clip : 1;

    this.#t++;
    const b1 = this.#beta1, b2 = this.#beta2, eps = this.#epsilon;
    const stepSize = this.learningRate / (1 - b1 ** this.#t);
    const sqrtBc2 = Math.sqrt(1 - b2 ** this.#t);
    const m = this.#m, v = this.#v;
    for (let i = 0; i < size; i++) {
      const g = grad[i]! * scale;
      const mi = (m[i] = b1 * m[i]! + (1 - b1) * g);
      const vi = (v[i] = b2 * v[i]! + (1 - b2) * g * g);
      params[i] = params[i]! - stepSize * mi / (Math.sqrt(vi) / sqrtBc2 + eps);
    }
    return gradNorm;
  }

  /**
   * The moments and step count, for checkpoints.
   *
   * @returns A copy of the state.
   * @example Save
   * ```ts ignore
   * const state = adam.getState();
   * ```
   */
  getState(): AdamState {
    return {
      t: this.#t,
      m: { shape: [this.#size], data: this.#m.slice() },
      v: { shape: [this.#size], data: this.#v.slice() },
    };
  }

  /**
   * Restores a state from {@linkcode Adam.getState}.
   *
   * @param state The saved state.
   * @example Restore
   * ```ts ignore
   * adam.setState(saved);
   * ```
   */
  setState(state: AdamState): void {
    if (
      !Number.isInteger(state.t) || state.t < 0 || state.m.data.length !== this.#size ||
      state.v.data.length !== this.#size
    ) {
      throw new Error(
        `Cannot restore Adam: the saved moments hold ${state.m.data.length} values, the model has ${this.#size} parameters`,
      );
    }
    this.#t = state.t;
    this.#m = state.m.data.slice();
    this.#v = state.v.data.slice();
  }
}
