/**
 * PPO's gradient without a gradient tape (private): the loss of `ppo.ts`'s `ppoPolicyLoss` and
 * `ppoValueLoss`, and its derivative with respect to the networks' outputs, in closed form in plain
 * JavaScript; `MlpPolicy.actorGradient`/`criticGradient` propagate it through the layers. On WASM
 * the tape through the loss costs ~250 tensor launches of ~20 µs each per minibatch; these loops
 * cost microseconds. The derivatives follow tfjs's conventions where the loss has kinks (maximum
 * sends the gradient to its first argument on ties; clipByValue passes it at the bounds), so they
 * agree with autodiff through `ppoLoss` up to float rounding (tests/ppo_math_test.ts).
 *
 * The actor's and the critic's halves are separate functions because PPO's workers compute them
 * apart; the one-thread trainer calls the same two, so every worker count gives the same numbers.
 */
import type { MlpPolicy } from "@proximal/models";

const LOG_2PI = Math.log(2 * Math.PI);

/** The loss options both halves read (`ppoLoss`'s). */
export interface HalfLossOptions {
  clipCoef: number;
  clipVloss: boolean;
  entCoef: number;
  vfCoef: number;
  klCoef: number;
  /**
   * The rows of the whole minibatch when this call sees only a shard of it: the loss is a mean
   * over the minibatch, so each shard's gradient and metrics are its rows' sum over this count,
   * and the shards' results add up to the minibatch's. Default: the rows of this call.
   */
  minibatchRows?: number;
}

/** The rows the actor's half needs. */
export interface ActorRows {
  observations: Float32Array;
  actions: Int32Array | Float32Array;
  logProbs: Float32Array;
  advantages: Float32Array;
}

/** The rows the critic's half needs. */
export interface CriticRows {
  observations: Float32Array;
  values: Float32Array;
  returns: Float32Array;
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
  const rowCount = rows.logProbs.length, n = loss.minibatchRows ?? rowCount;
  const { clipCoef, entCoef, klCoef } = loss;
  const lo = 1 - clipCoef, hi = 1 + clipCoef;
  let pgSum = 0, entSum = 0, oldKlSum = 0, klSum = 0, clipped = 0;
  // d(loss)/d(log-prob) of each row, from the surrogate and the KL penalty.
  const dLogProb = new Float64Array(rowCount);
  const surrogate = (i: number, logProb: number) => {
    const logRatio = logProb - rows.logProbs[i]!, ratio = Math.exp(logRatio);
    const adv = rows.advantages[i]!;
    const pg1 = -adv * ratio, pg2 = -adv * Math.min(Math.max(ratio, lo), hi);
    pgSum += Math.max(pg1, pg2);
    oldKlSum += -logRatio;
    klSum += ratio - 1 - logRatio;
    if (Math.abs(ratio - 1) > clipCoef) clipped++;
    // The unclipped branch (ties included), or the clipped one inside the clip range.
    const d = pg1 >= pg2 || (ratio >= lo && ratio <= hi) ? -adv * ratio : 0;
    dLogProb[i] = (d + (klCoef > 0 ? klCoef * (ratio - 1) : 0)) / n;
  };
  const space = policy.actionSpace;
  const logStdGrad: { value: Float64Array | null } = { value: null };
  const grad = policy.actorGradient(rows.observations, (out) => {
    const k = out.length / rowCount, dOut = new Float32Array(out.length);
    if (space.kind === "discrete") {
      const actions = rows.actions as Int32Array,
        p = new Float64Array(k),
        logp = new Float64Array(k);
      for (let i = 0; i < rowCount; i++) {
        const row = i * k;
        let max = -Infinity;
        for (let j = 0; j < k; j++) max = Math.max(max, out[row + j]!);
        let sum = 0;
        for (let j = 0; j < k; j++) sum += Math.exp(out[row + j]! - max);
        const logZ = max + Math.log(sum);
        let entropy = 0;
        for (let j = 0; j < k; j++) {
          logp[j] = out[row + j]! - logZ;
          p[j] = Math.exp(logp[j]!);
          entropy -= p[j]! * logp[j]!;
        }
        entSum += entropy;
        const a = actions[i]!;
        surrogate(i, logp[a]!);
        // d log p_a / dz_j = [j = a] − p_j;  d entropy / dz_j = −p_j (log p_j + entropy).
        const g = dLogProb[i]!, gEnt = -entCoef / n;
        for (let j = 0; j < k; j++) {
          dOut[row + j] = g * ((j === a ? 1 : 0) - p[j]!) - gEnt * p[j]! * (logp[j]! + entropy);
        }
      }
      return dOut;
    }
    // Gaussian: log p = Σ −z²/2 − log σ − log(2π)/2 with z = (a − μ)/σ; the entropy is
    // Σ log σ + (1 + log 2π)/2 per row, independent of the state.
    const actions = rows.actions as Float32Array;
    const logStd = policy.actorVariables[policy.actorVariables.length - 1]!.dataSync();
    const dLogStd = logStdGrad.value = new Float64Array(k);
    let rowEntropy = 0;
    for (let j = 0; j < k; j++) rowEntropy += logStd[j]! + 0.5 + 0.5 * LOG_2PI;
    const z = new Float64Array(k);
    for (let i = 0; i < rowCount; i++) {
      const row = i * k;
      let logProb = 0;
      for (let j = 0; j < k; j++) {
        z[j] = (actions[row + j]! - out[row + j]!) / Math.exp(logStd[j]!);
        logProb += -0.5 * z[j]! * z[j]! - logStd[j]! - 0.5 * LOG_2PI;
      }
      entSum += rowEntropy;
      surrogate(i, logProb);
      const g = dLogProb[i]!;
      for (let j = 0; j < k; j++) {
        dOut[row + j] = g * z[j]! / Math.exp(logStd[j]!);
        dLogStd[j] = dLogStd[j]! + g * (z[j]! * z[j]! - 1);
      }
    }
    // The entropy bonus: −entCoef · mean(entropy), and d entropy / d log σ_j = 1 for each row
    // (a shard's rows carry their share of the mean).
    const entShare = rowCount === n ? entCoef : entCoef * rowCount / n;
    for (let j = 0; j < k; j++) dLogStd[j] = dLogStd[j]! - entShare;
    return dOut;
  });
  const tail = logStdGrad.value?.length ?? 0;
  const result = new Float32Array(ACTOR_METRICS + grad.length + tail);
  result.set([pgSum / n, entSum / n, oldKlSum / n, klSum / n, clipped / n]);
  result.set(grad, ACTOR_METRICS);
  if (logStdGrad.value) result.set(logStdGrad.value, ACTOR_METRICS + grad.length);
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
  const rowCount = rows.values.length, n = loss.minibatchRows ?? rowCount;
  const { clipCoef, clipVloss, vfCoef } = loss;
  let sum = 0;
  const grad = policy.criticGradient(rows.observations, (v) => {
    const dv = new Float32Array(rowCount);
    for (let i = 0; i < rowCount; i++) {
      const value = v[i]!, ret = rows.returns[i]!, old = rows.values[i]!;
      const unclipped = (value - ret) ** 2;
      if (!clipVloss) {
        sum += unclipped;
        dv[i] = vfCoef * (value - ret) / n;
        continue;
      }
      const delta = value - old;
      const clippedValue = old + Math.min(Math.max(delta, -clipCoef), clipCoef);
      const clipped = (clippedValue - ret) ** 2;
      sum += Math.max(unclipped, clipped);
      // ½·d(x²) = x; the clipped branch passes the gradient only inside the clip range.
      dv[i] = unclipped >= clipped
        ? vfCoef * (value - ret) / n
        : delta >= -clipCoef && delta <= clipCoef
        ? vfCoef * (clippedValue - ret) / n
        : 0;
    }
    return dv;
  });
  const result = new Float32Array(CRITIC_METRICS + grad.length);
  result[0] = 0.5 * sum / n;
  result.set(grad, CRITIC_METRICS);
  return result;
}
