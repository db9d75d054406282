/**
 * Direct Preference Optimization (Rafailov et al., 2023), after TRL's `DPOTrainer`: read it top to
 * bottom — the hyperparameters, then the math (per-sequence log-probs and the preference loss with
 * TRL's metrics). The trainer's loop (batches of prompt/chosen/rejected, a frozen reference model)
 * comes below them once the language-model policy exists.
 *
 * DPO fits the policy π to preference pairs (prompt x, chosen y_c, rejected y_r) without a reward
 * model or sampling: its implicit reward is r(x, y) = β·(log π(y|x) − log π_ref(y|x)), and the
 * loss is a logistic (or IPO / hinge) loss on the difference of the two rewards.
 */
import * as tf from "@tensorflow/tfjs";
import type { Scalar, Tensor, Tensor1D, Tensor2D } from "@proximal/core";

// ──────────────────────────────── Hyperparameters ────────────────────────────────

/** The preference losses {@linkcode dpoLoss} implements, under TRL's `loss_type` names. */
export type DpoLossType = "sigmoid" | "ipo" | "hinge";

/** The loss types, for flag validation and `--help`. */
export const DPO_LOSS_TYPES: readonly DpoLossType[] = ["sigmoid", "ipo", "hinge"];

/** DPO's hyperparameters. Every field becomes a CLI flag (`lossType` → `--loss-type`). */
export type DpoOptions = {
  /**
   * β: the strength of the implicit KL leash to the reference model (higher stays closer); for IPO
   * it is the regulariser τ. Default 0.1 (TRL).
   */
  beta: number;
  /** The loss on the reward margin: `sigmoid` (DPO), `ipo` (Azar et al., 2023) or `hinge` (SLiC); default `sigmoid`. */
  lossType: DpoLossType;
  /**
   * ε, the assumed probability that a preference label is flipped (conservative DPO, Mitchell
   * 2023; TRL's `label_smoothing`), in [0, 0.5]; only for `sigmoid`; default 0.
   */
  labelSmoothing: number;
};

/** TRL's defaults (`DPOConfig`). */
export const dpoDefaults: DpoOptions = {
  beta: 0.1,
  lossType: "sigmoid",
  labelSmoothing: 0,
};

// ──────────────────────────────── The math ────────────────────────────────

/** Options of {@linkcode sequenceLogProbs}. */
export interface SequenceLogProbsOptions {
  /**
   * `[B, T]` 1 where a token counts (the completion), 0 elsewhere (prompt, padding); any numeric
   * dtype. Default: every token counts.
   */
  mask?: Tensor2D;
  /**
   * Divide each sum by the number of counted tokens (TRL feeds IPO these length-averaged
   * log-probs); default false.
   */
  average?: boolean;
}

/**
 * The summed log-probability of each sequence's target tokens under `logits`:
 * Σ_t mask[b,t] · log softmax(logits[b,t])[targets[b,t]], the `logps` DPO compares.
 *
 * `logits[b, t]` must already be the distribution over `targets[b, t]`: for a causal LM, drop the
 * last position of the logits and the first of the tokens before calling (TRL's shift). The
 * target's log-prob is picked out as oneHot · logSoftmax rather than with `gather`, whose gradient
 * (UnsortedSegmentSum) has no kernel on tfjs 4.22's WASM backend. A target id outside
 * [0, V) — TRL's label pad −100, say — picks nothing and adds 0.
 *
 * @param logits `[B, T, V]` float logits.
 * @param targets `[B, T]` int32 token ids.
 * @param options The mask and whether to average; see {@linkcode SequenceLogProbsOptions}.
 * @returns `[B]` summed (or averaged) log-probs.
 * @throws If the shapes disagree or `targets` is not int32.
 * @example A uniform model over 3 tokens gives each token −ln 3
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { sequenceLogProbs } from "@proximal/algos";
 * import { setupBackend } from "@proximal/core";
 * await setupBackend("wasm");
 * const logps = sequenceLogProbs(tf.zeros([1, 2, 3]), tf.tensor2d([[0, 2]], [1, 2], "int32"), {
 *   mask: tf.tensor2d([[1, 1]]),
 * });
 * assert.ok(Math.abs(logps.dataSync()[0]! + 2 * Math.log(3)) < 1e-5);
 * ```
 */
export function sequenceLogProbs(
  logits: Tensor,
  targets: Tensor2D,
  options: SequenceLogProbsOptions = {},
): Tensor1D {
  const { mask, average = false } = options;
  if (logits.rank !== 3) {
    throw new RangeError(
      `Cannot compute sequence log-probs: logits must be [B, T, V], got shape [${logits.shape}]`,
    );
  }
  const [b, t, v] = logits.shape as [number, number, number];
  if (targets.rank !== 2 || targets.shape[0] !== b || targets.shape[1] !== t) {
    throw new RangeError(
      `Cannot compute sequence log-probs: targets must be [${b}, ${t}] to match the logits, got shape [${targets.shape}]`,
    );
  }
  if (targets.dtype !== "int32") {
    throw new TypeError(
      `Cannot compute sequence log-probs: targets must be int32 token ids, got ${targets.dtype}`,
    );
  }
  if (mask && (mask.rank !== 2 || mask.shape[0] !== b || mask.shape[1] !== t)) {
    throw new RangeError(
      `Cannot compute sequence log-probs: the mask must be [${b}, ${t}] like the targets, got shape [${mask.shape}]`,
    );
  }
  return tf.tidy(() => {
    const logp = tf.logSoftmax(logits); // [B, T, V], max-shifted, its own stable gradient
    const picked = tf.oneHot(tf.reshape(targets, [-1]), v).reshape([b, t, v]);
    let tokenLogp: tf.Tensor2D = tf.sum(tf.mul(picked, logp), 2); // [B, T]
    if (!mask) {
      const summed = tf.sum(tokenLogp, 1) as tf.Tensor1D;
      return average ? tf.div(summed, t) as tf.Tensor1D : summed;
    }
    const m = tf.cast(mask, "float32");
    tokenLogp = tf.mul(tokenLogp, m);
    const summed = tf.sum(tokenLogp, 1) as tf.Tensor1D;
    // An all-masked row averages to 0, not NaN.
    return average ? tf.div(summed, tf.maximum(tf.sum(m, 1), 1)) as tf.Tensor1D : summed;
  });
}

/** The per-sequence log-probs {@linkcode dpoLoss} compares, each `[n]` for n preference pairs. */
export interface DpoLossInputs {
  /** log π(y_c | x): the policy's summed log-probs of the chosen completions (trainable). */
  policyChosenLogps: Tensor1D;
  /** log π(y_r | x): the policy's summed log-probs of the rejected completions (trainable). */
  policyRejectedLogps: Tensor1D;
  /** log π_ref(y_c | x): the frozen reference model's, for the chosen completions. */
  referenceChosenLogps: Tensor1D;
  /** log π_ref(y_r | x): the frozen reference model's, for the rejected completions. */
  referenceRejectedLogps: Tensor1D;
}

/** The options {@linkcode dpoLoss} reads; missing ones take {@linkcode dpoDefaults}. */
export type DpoLossOptions = Pick<DpoOptions, "beta" | "lossType" | "labelSmoothing">;

/** TRL's DPO metric names, in the order a trainer reports them. */
export const DPO_METRIC_NAMES = [
  "rewards/chosen",
  "rewards/rejected",
  "rewards/accuracies",
  "rewards/margins",
  "logps/chosen",
  "logps/rejected",
] as const;

/** One of {@linkcode DPO_METRIC_NAMES}. */
export type DpoMetricName = typeof DPO_METRIC_NAMES[number];

/** What {@linkcode dpoLoss} returns. */
export interface DpoLossTerms {
  /** The mean loss over the pairs; its gradient flows to the policy log-probs. */
  loss: Scalar;
  /** `[n]` the implicit rewards β·(log π(y_c) − log π_ref(y_c)). */
  chosenRewards: Tensor1D;
  /** `[n]` the implicit rewards β·(log π(y_r) − log π_ref(y_r)). */
  rejectedRewards: Tensor1D;
  /**
   * TRL's metrics, as scalars: `rewards/chosen` and `rewards/rejected` (the rewards' means),
   * `rewards/accuracies` (the fraction of pairs whose chosen reward is strictly higher),
   * `rewards/margins` (mean chosen − rejected reward), `logps/chosen` and `logps/rejected` (the
   * means of the policy's log-probs).
   */
  metrics: Record<DpoMetricName, Scalar>;
}

/**
 * The DPO loss on a batch of preference pairs, with TRL's definitions (`DPOTrainer.dpo_loss`).
 * With h = (log π(y_c) − log π(y_r)) − (log π_ref(y_c) − log π_ref(y_r)), per pair:
 *
 * - `sigmoid`: −log σ(β·h)·(1 − ε) − log σ(−β·h)·ε (DPO, eq. 7; ε > 0 is conservative DPO);
 * - `ipo`: (h − 1/(2β))² (IPO, eq. 17 of Azar et al., with τ = β); TRL feeds it length-averaged
 *   log-probs ({@linkcode sequenceLogProbs} with `average: true`);
 * - `hinge`: max(0, 1 − β·h) (SLiC's calibration loss).
 *
 * The loss is their mean. −log σ(x) is computed as softplus(−x), finite for any x.
 *
 * @param inputs The four `[n]` log-prob tensors.
 * @param options β, the loss type and ε; missing ones take {@linkcode dpoDefaults}.
 * @returns The loss, the implicit rewards and TRL's metrics.
 * @throws If an option is out of range or the inputs' shapes disagree.
 * @example The policy equal to the reference gives log 2
 * ```ts
 * import assert from "node:assert/strict";
 * import * as tf from "@tensorflow/tfjs";
 * import { dpoLoss } from "@proximal/algos";
 * import { setupBackend } from "@proximal/core";
 * await setupBackend("wasm");
 * const logps = tf.tensor1d([-5, -7]);
 * const { loss, metrics } = dpoLoss({
 *   policyChosenLogps: logps,
 *   policyRejectedLogps: logps,
 *   referenceChosenLogps: logps,
 *   referenceRejectedLogps: logps,
 * });
 * assert.ok(Math.abs(loss.dataSync()[0]! - Math.LN2) < 1e-6);
 * assert.ok(metrics["rewards/accuracies"].dataSync()[0] === 0);
 * ```
 */
export function dpoLoss(
  inputs: DpoLossInputs,
  options: Partial<DpoLossOptions> = {},
): DpoLossTerms {
  const { beta, lossType, labelSmoothing } = {
    beta: options.beta ?? dpoDefaults.beta,
    lossType: options.lossType ?? dpoDefaults.lossType,
    labelSmoothing: options.labelSmoothing ?? dpoDefaults.labelSmoothing,
  };
  checkLossOptions(beta, lossType, labelSmoothing);
  const { policyChosenLogps, policyRejectedLogps, referenceChosenLogps, referenceRejectedLogps } =
    inputs;
  checkPairs(inputs);

  // h: how much more the policy prefers y_c over y_r than the reference does.
  const piLogratios = tf.sub(policyChosenLogps, policyRejectedLogps);
  const refLogratios = tf.sub(referenceChosenLogps, referenceRejectedLogps);
  const h = tf.sub(piLogratios, refLogratios);

  let losses: tf.Tensor;
  if (lossType === "sigmoid") {
    // −log σ(βh)·(1 − ε) − log σ(−βh)·ε, with −log σ(x) = softplus(−x): finite for any x, and
    // softplus's gradient σ gives ∂/∂h = −β·[(1 − ε)·σ(−βh) − ε·σ(βh)]. (Not tf.logSigmoid: its
    // custom gradient reads its input, which the tape has disposed when that is an intermediate.)
    const betaH = tf.mul(h, beta);
    losses = tf.softplus(tf.neg(betaH));
    if (labelSmoothing > 0) {
      losses = tf.add(
        tf.mul(losses, 1 - labelSmoothing),
        tf.mul(tf.softplus(betaH), labelSmoothing),
      );
    }
  } else if (lossType === "ipo") {
    // (h − 1/(2β))²: regress the log-ratio margin onto 1/(2τ) instead of pushing it to infinity.
    losses = tf.square(tf.sub(h, 1 / (2 * beta)));
  } else {
    // max(0, 1 − βh): zero loss (and gradient) once the margin βh reaches 1.
    losses = tf.relu(tf.sub(1, tf.mul(h, beta)));
  }
  const loss = tf.mean(losses) as tf.Scalar;

  // The implicit rewards r = β·(log π − log π_ref) and TRL's metrics on them.
  const chosenRewards = tf.mul(
    tf.sub(policyChosenLogps, referenceChosenLogps),
    beta,
  ) as tf.Tensor1D;
  const rejectedRewards = tf.mul(
    tf.sub(policyRejectedLogps, referenceRejectedLogps),
    beta,
  ) as tf.Tensor1D;
  const metrics: Record<DpoMetricName, Scalar> = {
    "rewards/chosen": tf.mean(chosenRewards),
    "rewards/rejected": tf.mean(rejectedRewards),
    "rewards/accuracies": tf.mean(tf.cast(tf.greater(chosenRewards, rejectedRewards), "float32")),
    "rewards/margins": tf.mean(tf.sub(chosenRewards, rejectedRewards)),
    "logps/chosen": tf.mean(policyChosenLogps),
    "logps/rejected": tf.mean(policyRejectedLogps),
  };
  return { loss, chosenRewards, rejectedRewards, metrics };
}

// ──────────────────────────────── Helpers ────────────────────────────────

/** Rejects loss options outside their meaningful range, naming the option. */
function checkLossOptions(beta: number, lossType: DpoLossType, labelSmoothing: number): void {
  if (typeof beta !== "number" || !Number.isFinite(beta) || beta <= 0) {
    throw new RangeError(`DPO option beta must be > 0, got ${beta}`);
  }
  if (!DPO_LOSS_TYPES.includes(lossType)) {
    throw new RangeError(
      `DPO option lossType must be one of ${DPO_LOSS_TYPES.join(", ")}, got "${lossType}"`,
    );
  }
  if (
    typeof labelSmoothing !== "number" || !Number.isFinite(labelSmoothing) ||
    labelSmoothing < 0 || labelSmoothing > 0.5
  ) {
    throw new RangeError(`DPO option labelSmoothing must be in [0, 0.5], got ${labelSmoothing}`);
  }
  // TRL warns and ignores label smoothing for these losses; we refuse it so a run is what it says.
  if (labelSmoothing > 0 && lossType !== "sigmoid") {
    throw new RangeError(
      `DPO option labelSmoothing applies only to lossType "sigmoid": got ${labelSmoothing} with "${lossType}"`,
    );
  }
}

/** Rejects inputs that are not four rank-1 tensors of one non-zero length. */
function checkPairs(inputs: DpoLossInputs): void {
  const n = inputs.policyChosenLogps.shape[0];
  for (const [name, x] of Object.entries(inputs) as [string, tf.Tensor][]) {
    if (x.rank !== 1 || x.shape[0] !== n || n === 0) {
      throw new RangeError(
        `Cannot compute the DPO loss: ${name} must be [n] like policyChosenLogps (n = ${n} > 0), got shape [${x.shape}]`,
      );
    }
  }
}
