/**
 * The actor-critic MLP of CleanRL's PPO: separate actor and critic networks with tanh hidden
 * layers and orthogonal initialisation (gain √2 on hidden layers, 0.01 on the actor's output, 1 on
 * the critic's), a categorical head for `Discrete` actions and a diagonal Gaussian with a learned,
 * state-independent log-std for `Box` actions.
 */
import * as tf from "@tensorflow/tfjs";
import { dense, orthogonal, tanh } from "./_ops.ts";
import {
  type ActOptions,
  type ActResult,
  type Evaluation,
  flatSize,
  type Policy,
  Rng,
  type Space,
  type Tensor,
  type Tensor1D,
  type Tensor2D,
  type Variable,
} from "@proximal/core";

/** Options of {@linkcode MlpPolicy}. */
export interface MlpPolicyOptions {
  /** Hidden layer widths, shared by actor and critic; default `[64, 64]`. */
  hiddenSizes?: readonly number[];
  /** Seed of the orthogonal initialisation; default 0. */
  seed?: number;
  /** Initial log-std of a Gaussian policy; default 0. */
  initialLogStd?: number;
}

const LOG_2PI = Math.log(2 * Math.PI);

interface Layer {
  w: tf.Variable<tf.Rank.R2>;
  b: tf.Variable<tf.Rank.R1>;
}

/** A network's weights refolded for sigmoid hidden layers (see `fold`), and what they came from. */
interface Folded {
  sources: object[];
  w: tf.Tensor3D[];
  b: tf.Tensor1D[];
}

/**
 * A batched actor-critic MLP for `Box` observations.
 *
 * @example Act on two CartPole-sized observations
 * ```ts
 * import assert from "node:assert/strict";
 * import { Box, Discrete, Rng, setupBackend } from "@proximal/core";
 * import { MlpPolicy } from "@proximal/models";
 * await setupBackend("cpu");
 * const policy = new MlpPolicy(
 *   new Box({ low: -Infinity, high: Infinity, shape: [4] }),
 *   new Discrete(2),
 *   { seed: 1 },
 * );
 * const { actions, logProbs, values } = policy.act(new Float32Array(8), { rng: new Rng(0) });
 * assert.ok(actions.length === 2 && logProbs.length === 2 && values.length === 2);
 * policy.dispose();
 * ```
 */
export class MlpPolicy implements Policy {
  /** Floats per observation. */
  readonly observationSize: number;
  /** The action space. */
  readonly actionSpace: Space;
  /** Actor layers, then critic layers, then the log-std (Gaussian only). */
  readonly variables: readonly Variable[];
  /** The variables {@linkcode MlpPolicy.evaluateActor} depends on: actor layers, then the log-std. */
  readonly actorVariables: readonly Variable[];
  /** The variables {@linkcode MlpPolicy.evaluateCritic} depends on: the critic layers. */
  readonly criticVariables: readonly Variable[];
  readonly #actor: Layer[];
  readonly #critic: Layer[];
  readonly #logStd: tf.Variable<tf.Rank.R1> | null;
  readonly #actionSize: number;
  #foldedActor: Folded | null = null;
  #foldedCritic: Folded | null = null;

  /**
   * Builds and initialises the networks.
   *
   * @param observationSpace A `Box` space (a `Discrete` one is fed as its index).
   * @param actionSpace The action space: `Discrete` or `Box`.
   * @param options See {@linkcode MlpPolicyOptions}.
   */
  constructor(observationSpace: Space, actionSpace: Space, options: MlpPolicyOptions = {}) {
    const hidden = options.hiddenSizes ?? [64, 64];
    if (!hidden.every((h) => Number.isInteger(h) && h >= 1)) {
      throw new RangeError(`Hidden sizes must be whole numbers >= 1, got [${hidden.join(", ")}]`);
    }
    this.observationSize = flatSize(observationSpace);
    this.actionSpace = actionSpace;
    this.#actionSize = actionSpace.kind === "discrete" ? actionSpace.n : actionSpace.size;
    const rng = new Rng(options.seed ?? 0);
    const normal = () => rng.normal();
    const build = (outSize: number, outGain: number, prefix: string): Layer[] => {
      const sizes = [this.observationSize, ...hidden, outSize];
      return sizes.slice(1).map((out, i) => {
        const inp = sizes[i]!;
        const gain = i === sizes.length - 2 ? outGain : Math.SQRT2;
        return {
          w: tf.variable(
            tf.tensor2d(orthogonal(inp, out, { gain, normal }), [inp, out]),
            true,
            `${prefix}/w${i}`,
          ),
          b: tf.variable(tf.zeros([out]), true, `${prefix}/b${i}`),
        };
      });
    };
    const suffix = `_${nextId++}`;
    // tidy frees the initial-value tensors; variables outlive it.
    let actor: Layer[] = [], critic: Layer[] = [], logStd: tf.Variable<tf.Rank.R1> | null = null;
    tf.tidy(() => {
      actor = build(this.#actionSize, 0.01, `actor${suffix}`);
      critic = build(1, 1, `critic${suffix}`);
      if (actionSpace.kind === "box") {
        logStd = tf.variable(
          tf.fill([actionSpace.size], options.initialLogStd ?? 0),
          true,
          `logstd${suffix}`,
        ) as tf.Variable<tf.Rank.R1>;
      }
    });
    this.#actor = actor;
    this.#critic = critic;
    this.#logStd = logStd;
    this.actorVariables = [
      ...this.#actor.flatMap((l) => [l.w, l.b]),
      ...(this.#logStd ? [this.#logStd] : []),
    ];
    this.criticVariables = this.#critic.flatMap((l) => [l.w, l.b]);
    this.variables = [
      ...this.#actor.flatMap((l) => [l.w, l.b]),
      ...this.criticVariables,
      ...(this.#logStd ? [this.#logStd] : []),
    ];
  }

  /**
   * Samples actions (or picks the most likely) for a flat batch of observations.
   *
   * @param observations `n × observationSize` floats.
   * @param options See {@linkcode ActOptions} (`values: false` skips the critic).
   * @returns Actions, their log-probs and the values.
   * @example See {@linkcode MlpPolicy}
   * ```ts ignore
   * const { actions } = policy.act(observations, { rng });
   * ```
   */
  act(observations: Float32Array, options: ActOptions = {}): ActResult {
    const n = this.#batchSize(observations);
    const k = this.#actionSize, withValues = options.values ?? true;
    const stride = withValues ? k + 1 : k;
    // One read-back per call: the actor's outputs and the value side by side.
    const out = tf.tidy(() => {
      const x = tf.tensor3d(observations, [1, n, this.observationSize]);
      if (!withValues) return forward(this.#folded("actor"), x);
      const parts = [forward(this.#folded("actor"), x), forward(this.#folded("critic"), x)];
      return tf.concat(parts, 2);
    });
    const data = out.dataSync() as Float32Array;
    out.dispose();
    const deterministic = options.deterministic ?? false;
    const rng = options.rng;
    if (!deterministic && !rng) throw new Error("MlpPolicy.act needs an rng unless deterministic");
    const logProbs = new Float32Array(n), values = new Float32Array(n);
    if (this.actionSpace.kind === "discrete") {
      const actions = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const row = i * stride;
        let max = -Infinity;
        for (let j = 0; j < k; j++) max = Math.max(max, data[row + j]!);
        let sum = 0;
        for (let j = 0; j < k; j++) sum += Math.exp(data[row + j]! - max);
        const logZ = max + Math.log(sum);
        let a = 0;
        if (deterministic) {
          for (let j = 1; j < k; j++) if (data[row + j]! > data[row + a]!) a = j;
        } else {
          let u = rng!.uniform() * sum;
          a = k - 1;
          for (let j = 0; j < k; j++) {
            u -= Math.exp(data[row + j]! - max);
            if (u < 0) {
              a = j;
              break;
            }
          }
        }
        actions[i] = a;
        logProbs[i] = data[row + a]! - logZ;
        values[i] = withValues ? data[row + k]! : NaN;
      }
      return { actions, logProbs, values };
    }
    const logStd = this.#logStd!.dataSync() as Float32Array;
    const actions = new Float32Array(n * k);
    for (let i = 0; i < n; i++) {
      const row = i * stride;
      let lp = 0;
      for (let j = 0; j < k; j++) {
        const z = deterministic ? 0 : rng!.normal();
        actions[i * k + j] = data[row + j]! + Math.exp(logStd[j]!) * z;
        lp += -0.5 * z * z - logStd[j]! - 0.5 * LOG_2PI;
      }
      logProbs[i] = lp;
      values[i] = withValues ? data[row + k]! : NaN;
    }
    return { actions, logProbs, values };
  }

  /**
   * Value estimates for a flat batch of observations.
   *
   * @param observations `n × observationSize` floats.
   * @returns `n` values.
   * @example Value of a batch
   * ```ts ignore
   * const values = policy.value(observations);
   * ```
   */
  value(observations: Float32Array): Float32Array {
    const n = this.#batchSize(observations);
    const out = tf.tidy(() =>
      forward(this.#folded("critic"), tf.tensor3d(observations, [1, n, this.observationSize]))
    );
    const data = out.dataSync() as Float32Array;
    out.dispose();
    return data;
  }

  /**
   * Log-probs, entropies and values on the gradient tape, for the update.
   *
   * @param observations `[n, observationSize]`.
   * @param actions `[n]` int32 indices (`Discrete`) or `[n, actionSize]` floats (`Box`).
   * @returns See {@linkcode Evaluation}.
   * @example Inside a loss
   * ```ts ignore
   * const { logProb, entropy, value } = policy.evaluate(obs, actions);
   * ```
   */
  evaluate(observations: Tensor2D, actions: Tensor): Evaluation {
    return tf.tidy(() => ({
      ...this.evaluateActor(observations, actions),
      value: this.evaluateCritic(observations),
    }));
  }

  /**
   * The actor's half of {@linkcode MlpPolicy.evaluate}: log-probs and entropies, on the gradient
   * tape, without running the critic (actor and critic share no weights, so their gradients can
   * be computed apart, e.g. in two workers).
   *
   * @param observations `[n, observationSize]`.
   * @param actions `[n]` int32 indices (`Discrete`) or `[n, actionSize]` floats (`Box`).
   * @returns `[n]` log-probs and entropies.
   * @example Inside an actor-only loss
   * ```ts ignore
   * const { logProb, entropy } = policy.evaluateActor(obs, actions);
   * ```
   */
  evaluateActor(observations: Tensor2D, actions: Tensor): Omit<Evaluation, "value"> {
    return tf.tidy(() => {
      const out = forwardTrain(this.#actor, observations);
      if (this.actionSpace.kind === "discrete") {
        const logits = out;
        const logp = tf.logSoftmax(logits);
        // oneHot·logSoftmax rather than gather: gather's gradient has no WASM kernel in tfjs 4.22.
        const oneHot = tf.oneHot(actions.toInt().reshape([-1]) as tf.Tensor1D, this.#actionSize);
        const logProb = tf.sum(tf.mul(oneHot, logp), 1) as tf.Tensor1D;
        const entropy = tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), 1)) as tf.Tensor1D;
        return { logProb, entropy };
      }
      const logStd = this.#logStd!;
      const z = tf.div(tf.sub(actions, out), tf.exp(logStd));
      const logProb = tf.sum(
        tf.sub(tf.sub(tf.mul(tf.square(z), -0.5), logStd), 0.5 * LOG_2PI),
        1,
      ) as tf.Tensor1D;
      const entropyPerRow = tf.sum(tf.add(logStd, 0.5 + 0.5 * LOG_2PI));
      const entropy = tf.mul(tf.onesLike(logProb), entropyPerRow) as tf.Tensor1D;
      return { logProb, entropy };
    });
  }

  /**
   * The critic's half of {@linkcode MlpPolicy.evaluate}: values on the gradient tape.
   *
   * @param observations `[n, observationSize]`.
   * @returns `[n]` values.
   * @example Inside a value-only loss
   * ```ts ignore
   * const value = policy.evaluateCritic(obs);
   * ```
   */
  evaluateCritic(observations: Tensor2D): Tensor1D {
    return tf.tidy(() => forwardTrain(this.#critic, observations).reshape([-1]) as tf.Tensor1D);
  }

  /** Frees the variables. */
  dispose(): void {
    for (const v of this.variables) v.dispose();
    for (const f of [this.#foldedActor, this.#foldedCritic]) if (f) tf.dispose([...f.w, ...f.b]);
    this.#foldedActor = this.#foldedCritic = null;
  }

  /**
   * The network's folded weights, refolded when a variable was assigned since (an assignment
   * gives the variable new data): once per rollout in PPO, not per call.
   */
  #folded(network: "actor" | "critic"): Folded {
    const layers = network === "actor" ? this.#actor : this.#critic;
    const cached = network === "actor" ? this.#foldedActor : this.#foldedCritic;
    const sources = layers.flatMap((l) => [l.w.dataId, l.b.dataId]);
    if (cached && cached.sources.every((id, i) => id === sources[i])) return cached;
    if (cached) tf.dispose([...cached.w, ...cached.b]);
    const folded = { sources, ...fold(layers) };
    if (network === "actor") this.#foldedActor = folded;
    else this.#foldedCritic = folded;
    return folded;
  }

  #batchSize(observations: Float32Array): number {
    const n = observations.length / this.observationSize;
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(
        `Expected a batch of observations of ${this.observationSize} floats each, got ${observations.length} floats`,
      );
    }
    return n;
  }
}

let nextId = 0;

/**
 * The weights of an MLP with tanh hidden layers rewritten for sigmoid ones, the same function:
 * tanh(z) = 2·σ(2z) − 1, so with s = σ(2z) a hidden layer's output is 2s − 1, and the next layer's
 * (2s − 1)·W + b = s·(2W) + (b − 1ᵀW). Each layer's weights take the factor 2 of its input (after
 * the first) and of its own sigmoid (before the last); its bias the shift −1ᵀW and the same factor.
 * On WASM tfjs's tanh runs scalar, ~4× slower than its vectorised sigmoid, and a folded layer is a
 * single fused matMul + bias + sigmoid.
 */
function fold(layers: Layer[]): { w: tf.Tensor3D[]; b: tf.Tensor1D[] } {
  const last = layers.length - 1;
  const w: tf.Tensor3D[] = [], b: tf.Tensor1D[] = [];
  // A tidy per tensor: a tidy that returns a container sends tfjs's walkTensorContainer, which
  // every tidy calls, back to unoptimised code. Kept: the caller may be inside a tidy.
  layers.forEach((layer, i) => {
    const out = i < last ? 2 : 1, scale = (i > 0 ? 2 : 1) * out;
    w.push(tf.keep(tf.tidy(() => tf.reshape(tf.mul(layer.w, scale), [1, ...layer.w.shape]))));
    b.push(
      tf.keep(tf.tidy(() => tf.mul(i > 0 ? tf.sub(layer.b, tf.sum(layer.w, 0)) : layer.b, out))),
    );
  });
  return { w, b };
}

// Inference path: one fused matMul + bias (+ sigmoid) kernel per layer, on the folded weights, run
// directly on 3-D tensors: tf.fused.matMul's reshapes and custom-gradient wrapper cost as much
// again and sent V8 into a de-optimisation loop.
function forward(folded: { w: tf.Tensor3D[]; b: tf.Tensor1D[] }, x: tf.Tensor3D): tf.Tensor3D {
  const last = folded.w.length - 1;
  let h = x;
  folded.w.forEach((w, i) => {
    h = tf.engine().runKernel(tf._FusedMatMul, { a: h, b: w, bias: folded.b[i]! }, {
      transposeA: false,
      transposeB: false,
      activation: i < last ? "sigmoid" : "linear",
      leakyreluAlpha: 0,
    }) as tf.Tensor3D;
  });
  return h;
}

// Training path: the same function through ops whose gradients are fast on WASM.
function forwardTrain(layers: Layer[], x: tf.Tensor2D): tf.Tensor2D {
  let h = x;
  layers.forEach((layer, i) => {
    h = dense(h, layer.w, layer.b);
    if (i < layers.length - 1) h = tanh(h);
  });
  return h;
}
