/**
 * PPO's closed-form gradient engine for its MLP policy (private): the gradient of `ppoLoss` without
 * a gradient tape. The loss's terms and their derivative with respect to the networks' outputs are
 * worked out in plain JavaScript, then a forward and a backward pass through the layers (read from
 * the policy's public `actorVariables`/`criticVariables`) carry it to the weights. On WASM the tape
 * through the loss costs ~250 tensor launches of ~20 µs each per minibatch (331 in all against 62
 * here); these loops cost microseconds. The derivatives follow tfjs's conventions where the loss
 * has kinks (maximum sends the gradient to its first argument on ties; clipByValue passes it at the
 * bounds), so they agree with autodiff through `ppoLoss` up to float rounding
 * (tests/ppo_math_test.ts pins them).
 *
 * The actor's and the critic's halves are separate functions because PPO's workers compute them
 * apart (and sum the shards' shares of them, {@linkcode sumShares}); the one-thread engine
 * {@linkcode mlpGradient} joins the same two, so every worker count gives the same numbers.
 */
import * as tf from "@tensorflow/tfjs";
import type { Variable } from "@proximal/core";
import type { MlpPolicy } from "@proximal/models";
import type { GradientEngine, PpoGradient } from "./_ppo_engine.ts";
import {
  type ActorHead,
  actorHead,
  type ActorRows,
  criticHead,
  type CriticRows,
  type HalfLossOptions,
} from "./_ppo_heads.ts";

export type { ActorRows, CriticRows, HalfLossOptions } from "./_ppo_heads.ts";

/** Floats in the actor's layers, the critic's layers and the log-std (Gaussian only). */
export interface ParamSizes {
  actorLayers: number;
  critic: number;
  logStd: number;
}

/**
 * The closed-form engine for an MLP policy: both halves at the policy's current weights, joined.
 *
 * @param policy The policy (its weights are read at each call).
 * @returns The engine.
 */
export function mlpGradient(policy: MlpPolicy): GradientEngine {
  const sizes = paramSizes(policy);
  return (minibatch, loss) =>
    joinHalves(actorHalf(policy, minibatch, loss), criticHalf(policy, minibatch, loss), sizes);
}

/**
 * The sizes of the policy's parts.
 *
 * @param policy The policy.
 * @returns Floats in its actor's layers, its critic's layers and its log-std.
 */
export function paramSizes(policy: MlpPolicy): ParamSizes {
  const space = policy.actionSpace, logStd = space.kind === "box" ? space.size : 0;
  return {
    actorLayers: sizeOf(policy.actorVariables) - logStd,
    critic: sizeOf(policy.criticVariables),
    logStd,
  };
}

/** Metrics at the head of {@linkcode actorHalf}'s result. */
export const ACTOR_METRICS = 5;
/** Metrics at the head of {@linkcode criticHalf}'s result. */
export const CRITIC_METRICS = 1;

/**
 * The actor's half: `[policyLoss, entropy, oldApproxKl, approxKl, clipfrac, ...gradient]`, the
 * gradient of policyLoss − entCoef·entropy (+ klCoef·approxKl) in `actorVariables` order, at the
 * policy's current weights.
 */
export function actorHalf(
  policy: MlpPolicy,
  rows: ActorRows,
  loss: HalfLossOptions,
): Float32Array {
  const space = policy.actionSpace;
  let head: ActorHead | null = null;
  const grad = layerGradients(policy.actorVariables, {
    observations: rows.observations,
    headGradient: (out) => {
      const logStd = space.kind === "box"
        ? policy.actorVariables[policy.actorVariables.length - 1]!.dataSync()
        : null;
      head = actorHead(space, { rows, out, logStd }, loss);
      return head.dOut;
    },
  });
  const { metrics, dLogStd } = head!;
  const tail = dLogStd?.length ?? 0;
  const result = new Float32Array(ACTOR_METRICS + grad.length + tail);
  result.set(metrics);
  result.set(grad, ACTOR_METRICS);
  if (dLogStd) result.set(dLogStd, ACTOR_METRICS + grad.length);
  return result;
}

/**
 * The critic's half: `[valueLoss, ...gradient]`, the gradient of vfCoef·valueLoss in
 * `criticVariables` order, at the policy's current weights.
 */
export function criticHalf(
  policy: MlpPolicy,
  rows: CriticRows,
  loss: HalfLossOptions,
): Float32Array {
  let valueLoss = 0;
  const grad = layerGradients(policy.criticVariables, {
    observations: rows.observations,
    headGradient: (v) => {
      const head = criticHead(rows, v, loss);
      valueLoss = head.valueLoss;
      return head.dv;
    },
  });
  const result = new Float32Array(CRITIC_METRICS + grad.length);
  result[0] = valueLoss;
  result.set(grad, CRITIC_METRICS);
  return result;
}

/**
 * The two halves joined: the gradient in `policy.variables` order (actor layers, critic layers,
 * log-std) and the loss's terms.
 *
 * @param a {@linkcode actorHalf}'s result.
 * @param c {@linkcode criticHalf}'s result.
 * @param sizes Floats in the actor's layers, the critic's layers and the log-std.
 * @returns The gradient and the terms.
 */
function joinHalves(a: Float32Array, c: Float32Array, sizes: ParamSizes): PpoGradient {
  const { actorLayers: layers, critic, logStd } = sizes;
  const grad = new Float32Array(layers + critic + logStd);
  grad.set(a.subarray(ACTOR_METRICS, ACTOR_METRICS + layers), 0);
  grad.set(c.subarray(CRITIC_METRICS), layers);
  grad.set(a.subarray(ACTOR_METRICS + layers), layers + critic);
  const [policyLoss, entropy, oldApproxKl, approxKl, clipfrac] = a;
  return {
    grad,
    terms: {
      policyLoss: policyLoss!,
      valueLoss: c[0]!,
      entropy: entropy!,
      oldApproxKl: oldApproxKl!,
      approxKl: approxKl!,
      clipfrac: clipfrac!,
    },
  };
}

/**
 * A minibatch's gradient and terms from its shards' shares (each an actor half then a critic
 * half, as the workers lay them out), added in shard order.
 *
 * @param shares The shares, in shard order.
 * @param sizes Floats in the actor's layers, the critic's layers and the log-std.
 * @returns The gradient in `policy.variables` order and the terms.
 */
export function sumShares(shares: Float32Array[], sizes: ParamSizes): PpoGradient {
  const actorFloats = ACTOR_METRICS + sizes.actorLayers + sizes.logStd;
  let sum: PpoGradient | null = null;
  for (const share of shares) {
    const part = joinHalves(share.subarray(0, actorFloats), share.subarray(actorFloats), sizes);
    if (!sum) {
      sum = part;
      continue;
    }
    for (let i = 0; i < sum.grad.length; i++) sum.grad[i] = sum.grad[i]! + part.grad[i]!;
    const t = sum.terms, p = part.terms;
    t.policyLoss += p.policyLoss;
    t.valueLoss += p.valueLoss;
    t.entropy += p.entropy;
    t.oldApproxKl += p.oldApproxKl;
    t.approxKl += p.approxKl;
    t.clipfrac += p.clipfrac;
  }
  return sum!;
}

/**
 * The derivative of a loss with respect to a network's outputs, given those outputs (both
 * `n × outputSize`, row-major).
 */
type HeadGradient = (outputs: Float32Array) => Float32Array;

/**
 * A network's forward pass to its outputs, `headGradient`, then the backward pass: the gradient of
 * its layers, flat in `w0, b0, w1, b1, …` order (a trailing log-std is not a layer). Hidden layers
 * use the training path's tanh (2·sigmoid(2x) − 1, whose gradient is 1 − y²) and the same
 * explicitly transposed matMuls as `dense`'s gradient, so the numbers are `MlpPolicy.evaluate`'s.
 */
function layerGradients(
  network: readonly Variable[],
  pass: { observations: Float32Array; headGradient: HeadGradient },
): Float32Array {
  const { observations, headGradient } = pass;
  const layers = layersOf(network), inSize = layers[0]!.w.shape[0];
  const n = observations.length / inSize, last = layers.length - 1;
  const grad = new Float32Array(layers.reduce((s, l) => s + l.w.size + l.b.size, 0));
  tf.tidy(() => {
    const hidden: tf.Tensor2D[] = [];
    let h = tf.tensor2d(observations, [n, inSize]);
    layers.forEach((layer, i) => {
      h = tf.add(tf.matMul(h, layer.w), layer.b);
      if (i < last) hidden.push(h = tf.sub(tf.mul(tf.sigmoid(tf.mul(h, 2)), 2), 1));
    });
    const outputs = h.dataSync() as Float32Array;
    const k = outputs.length / n;
    const dOut = headGradient(outputs);
    if (dOut.length !== outputs.length) {
      throw new RangeError(`headGradient returned ${dOut.length} floats for ${outputs.length}`);
    }
    // Offsets of each layer's w and b in the flat gradient.
    const offsets: number[] = [];
    let offset = 0;
    for (const l of layers) {
      offsets.push(offset);
      offset += l.w.size + l.b.size;
    }
    let dz: tf.Tensor2D = tf.tensor2d(dOut, [n, k]);
    // Column sums as ones·dz: tf.sum over axis 0 transposes first on WASM (~10x slower).
    const ones = tf.ones([1, n]) as tf.Tensor2D;
    for (let i = last; i >= 0; i--) {
      const layer = layers[i]!, at = offsets[i]!;
      const input = i === 0
        ? tf.tensor2d(transpose(observations, n, inSize), [inSize, n])
        : tf.transpose(hidden[i - 1]!);
      grad.set(tf.matMul(input, dz).dataSync(), at);
      if (i === last) {
        // The head's bias gradient straight from dOut: one launch fewer.
        const db = new Float32Array(k);
        for (let r = 0; r < n; r++) for (let j = 0; j < k; j++) db[j] = db[j]! + dOut[r * k + j]!;
        grad.set(db, at + layer.w.size);
      } else {
        grad.set(tf.matMul(ones, dz).dataSync(), at + layer.w.size);
      }
      if (i > 0) {
        const y = hidden[i - 1]!;
        dz = tf.mul(tf.matMul(dz, tf.transpose(layer.w)), tf.sub(1, tf.square(y)));
      }
    }
  });
  return grad;
}

/** A row-major `rows × cols` matrix, transposed. */
function transpose(x: Float32Array, rows: number, cols: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < cols; c++) out[c * rows + r] = x[r * cols + c]!;
  }
  return out;
}

/** A network's layers from its variables `w0, b0, w1, b1, …` (a trailing log-std left out). */
function layersOf(variables: readonly Variable[]): { w: tf.Tensor2D; b: tf.Tensor1D }[] {
  const layers: { w: tf.Tensor2D; b: tf.Tensor1D }[] = [];
  for (let i = 0; i + 1 < variables.length; i += 2) {
    layers.push({ w: variables[i] as tf.Tensor2D, b: variables[i + 1] as tf.Tensor1D });
  }
  return layers;
}

/** The number of floats in a list of variables. */
function sizeOf(variables: readonly { size: number }[]): number {
  return variables.reduce((n, v) => n + v.size, 0);
}
