/**
 * The closed-form derivative of `ppoLoss` with respect to the networks' outputs (private), shared
 * by PPO's two tape-free engines (`_ppo_mlp_engine.ts`, `_ppo_packed_engine.ts`): given the
 * actor's outputs (logits, or a Gaussian's means) and the critic's values on a minibatch's rows,
 * the loss's terms and d(loss)/d(output) of each row, in plain JavaScript. The derivatives follow
 * tfjs's conventions where the loss has kinks (maximum sends the gradient to its first argument
 * on ties; clipByValue passes it at the bounds), so they agree with autodiff through `ppoLoss` up
 * to float rounding.
 */
import type { Space } from "@proximal/core";
import type { Minibatch, PpoLossOptions } from "./_ppo_engine.ts";

const LOG_2PI = Math.log(2 * Math.PI);

/** `ppoLoss`'s options, plus the rows of the whole minibatch when a call sees a share of it. */
export interface HalfLossOptions extends PpoLossOptions {
  /**
   * The rows of the whole minibatch when this call sees only a shard of it: the loss is a mean
   * over the minibatch, so each shard's gradient and metrics are its rows' sum over this count,
   * and the shards' results add up to the minibatch's. Default: the rows of this call.
   */
  minibatchRows?: number;
}

/** The rows the actor's half needs. */
export type ActorRows = Pick<Minibatch, "observations" | "actions" | "logProbs" | "advantages">;

/** The rows the critic's half needs. */
export type CriticRows = Pick<Minibatch, "observations" | "values" | "returns">;

/** What {@linkcode actorHead} returns. */
export interface ActorHead {
  /** d(loss)/d(output), `rows × outputSize`. */
  dOut: Float32Array;
  /** policyLoss, entropy, oldApproxKl, approxKl, clipfrac: each its rows' sum over the minibatch. */
  metrics: [number, number, number, number, number];
  /** d(loss)/d(log-std) of a Gaussian head (null for a categorical one). */
  dLogStd: Float64Array | null;
}

/**
 * The actor's part of the loss at its outputs: policyLoss − entCoef·entropy (+ klCoef·approxKl),
 * its terms and its derivative with respect to the outputs (and a Gaussian's log-std).
 *
 * @param space The action space (`Discrete`: the outputs are logits; `Box`: the means).
 * @param head The rows, the outputs (`rows × outputSize`) and a Gaussian's log-std.
 * @param loss The loss's coefficients.
 * @returns See {@linkcode ActorHead}.
 */
export function actorHead(
  space: Space,
  head: { rows: ActorRows; out: Float32Array; logStd: ArrayLike<number> | null },
  loss: HalfLossOptions,
): ActorHead {
  const { rows, out, logStd } = head;
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
  const k = out.length / rowCount, dOut = new Float32Array(out.length);
  const metrics = () =>
    [pgSum / n, entSum / n, oldKlSum / n, klSum / n, clipped / n] as ActorHead["metrics"];
  if (space.kind === "discrete") {
    const actions = rows.actions as Int32Array, p = new Float64Array(k), logp = new Float64Array(k);
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
    return { dOut, metrics: metrics(), dLogStd: null };
  }
  // Gaussian: log p = Σ −z²/2 − log σ − log(2π)/2 with z = (a − μ)/σ; the entropy is
  // Σ log σ + (1 + log 2π)/2 per row, independent of the state.
  const actions = rows.actions as Float32Array, std = logStd!;
  const dLogStd = new Float64Array(k);
  let rowEntropy = 0;
  for (let j = 0; j < k; j++) rowEntropy += std[j]! + 0.5 + 0.5 * LOG_2PI;
  const z = new Float64Array(k);
  for (let i = 0; i < rowCount; i++) {
    const row = i * k;
    let logProb = 0;
    for (let j = 0; j < k; j++) {
      z[j] = (actions[row + j]! - out[row + j]!) / Math.exp(std[j]!);
      logProb += -0.5 * z[j]! * z[j]! - std[j]! - 0.5 * LOG_2PI;
    }
    entSum += rowEntropy;
    surrogate(i, logProb);
    const g = dLogProb[i]!;
    for (let j = 0; j < k; j++) {
      dOut[row + j] = g * z[j]! / Math.exp(std[j]!);
      dLogStd[j] = dLogStd[j]! + g * (z[j]! * z[j]! - 1);
    }
  }
  // The entropy bonus: −entCoef · mean(entropy), and d entropy / d log σ_j = 1 for each row
  // (a shard's rows carry their share of the mean).
  const entShare = rowCount === n ? entCoef : entCoef * rowCount / n;
  for (let j = 0; j < k; j++) dLogStd[j] = dLogStd[j]! - entShare;
  return { dOut, metrics: metrics(), dLogStd };
}

/**
 * The critic's part of the loss at its values: vfCoef·valueLoss's derivative with respect to each
 * row's value, and valueLoss (its rows' share of the minibatch's).
 *
 * @param rows The rows' old values and value targets.
 * @param v The values, one per row.
 * @param loss The loss's coefficients.
 * @returns The derivative and the value loss.
 */
export function criticHead(
  rows: Pick<CriticRows, "values" | "returns">,
  v: ArrayLike<number>,
  loss: HalfLossOptions,
): { dv: Float32Array; valueLoss: number } {
  const rowCount = rows.values.length, n = loss.minibatchRows ?? rowCount;
  const { clipCoef, clipVloss, vfCoef } = loss;
  let sum = 0;
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
  return { dv, valueLoss: 0.5 * sum / n };
}
