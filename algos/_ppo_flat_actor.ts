/**
 * The rollout's actor for PPO's packed engine (private): an MLP policy's actor run in JavaScript
 * from PPO's flat weights, for sampling a categorical action per env copy. A rollout acts on a few
 * rows at a time (one per env copy), where a tfjs call's fixed cost — an upload, a launch per
 * layer, a read-back, and refolding the weights after every update — outweighs the arithmetic of
 * a narrow network many times over. Its values are the packed engine's forward pass from the same
 * weights (no refolding of the variables); evaluation, deterministic and Gaussian actions go to
 * the policy itself. It samples as `MlpPolicy.act` does (one uniform draw per row,
 * the same inverse-CDF walk), so only the logits' float rounding differs (tanh in float64 here). The
 * direct engine gives it its own forward passes, batched.
 */
import type { ActOptions, ActResult, Policy } from "@proximal/core";
import type { MlpPolicy } from "@proximal/models";
import { packedValues } from "./_ppo_packed_engine.ts";

/** One layer's place in the flat weights. */
interface FlatLayer {
  w: number;
  b: number;
  inSize: number;
  outSize: number;
}

/** Options of {@linkcode flatActor}: the forward passes of the gradient engine it serves. */
export interface FlatActorOptions {
  /** The actor's logits (`n × actions`) from the flat weights; default a row at a time here. */
  logits?: (observations: Float32Array) => Float32Array;
  /** The critic's values from the flat weights; default the packed engine's forward pass. */
  values?: (observations: Float32Array) => Float32Array;
}

/**
 * A policy that acts like `policy` but samples categorical actions from `weights()` in JavaScript.
 *
 * @param policy The MLP policy (its actor's shapes; it serves everything but sampling).
 * @param weights The current weights, flat in `policy.variables` order.
 * @param engine The forward passes of the engine it serves.
 * @returns The policy.
 */
export function flatActor(
  policy: MlpPolicy,
  weights: () => Float32Array,
  engine: FlatActorOptions = {},
): Policy {
  const layers: FlatLayer[] = [];
  let offset = 0;
  const actor = policy.actorVariables;
  for (let i = 0; i + 1 < actor.length; i += 2) {
    const [inSize, outSize] = actor[i]!.shape as [number, number];
    layers.push({ w: offset, b: offset + inSize * outSize, inSize, outSize });
    offset += inSize * outSize + outSize;
  }
  const width = Math.max(...layers.map((l) => l.outSize), layers[0]!.inSize);
  const h = new Float64Array(width), next = new Float64Array(width);
  const logits = (params: Float32Array) => {
    for (let l = 0; l < layers.length; l++) {
      const { w, b, inSize, outSize } = layers[l]!, hidden = l < layers.length - 1;
      for (let c = 0; c < outSize; c++) next[c] = params[b + c]!;
      for (let r = 0; r < inSize; r++) {
        const x = h[r]!, row = w + r * outSize;
        for (let c = 0; c < outSize; c++) next[c] = next[c]! + x * params[row + c]!;
      }
      for (let c = 0; c < outSize; c++) h[c] = hidden ? Math.tanh(next[c]!) : next[c]!;
    }
  };
  const act = (observations: Float32Array, options: ActOptions = {}): ActResult => {
    if (
      options.values !== false || options.deterministic || policy.actionSpace.kind !== "discrete"
    ) {
      return policy.act(observations, options);
    }
    const rng = options.rng;
    if (!rng) throw new Error("The flat actor needs an rng unless deterministic");
    const params = weights(), inSize = layers[0]!.inSize, n = observations.length / inSize;
    const k = layers[layers.length - 1]!.outSize;
    const actions = new Int32Array(n), logProbs = new Float32Array(n);
    const values = new Float32Array(n).fill(NaN);
    const batch = engine.logits?.(observations) ?? null;
    for (let i = 0; i < n; i++) {
      if (batch) {
        for (let j = 0; j < k; j++) h[j] = batch[i * k + j]!;
      } else {
        for (let c = 0; c < inSize; c++) h[c] = observations[i * inSize + c]!;
        logits(params);
      }
      // h[0..k) are the logits: MlpPolicy.act's categorical draw.
      let max = -Infinity;
      for (let j = 0; j < k; j++) max = Math.max(max, h[j]!);
      let sum = 0;
      for (let j = 0; j < k; j++) sum += Math.exp(h[j]! - max);
      let u = rng.uniform() * sum, a = k - 1;
      for (let j = 0; j < k; j++) {
        u -= Math.exp(h[j]! - max);
        if (u < 0) {
          a = j;
          break;
        }
      }
      actions[i] = a;
      logProbs[i] = h[a]! - (max + Math.log(sum));
    }
    return { actions, logProbs, values };
  };
  return {
    observationSize: policy.observationSize,
    actionSpace: policy.actionSpace,
    variables: policy.variables,
    act,
    value: engine.values ?? packedValues(policy, weights),
    evaluate: (observations, actions) => policy.evaluate(observations, actions),
    dispose: () => {},
  };
}
