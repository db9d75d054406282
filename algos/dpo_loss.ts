/**
 * The DPO loss (Rafailov et al., 2023) and its IPO and hinge variants, with TRL's definitions and
 * metrics: what {@linkcode dpoLoss} computes from the policy's and the reference's per-sequence
 * log-probs, and the options it reads. The trainer that minimises it is `DpoTrainer` (dpo.ts).
 */
import * as tf from "@tensorflow/tfjs";
import { between, checkOptions, oneOf, positive, type Scalar, type Tensor1D } from "@proximal/core";

// ──────────────────────────────── Options ────────────────────────────────

/** The preference losses {@linkcode dpoLoss} implements, under TRL's `loss_type` names. */
export type DpoLossType = "sigmoid" | "ipo" | "hinge";

/** The loss types, for flag validation and `--help`. */
export const DPO_LOSS_TYPES: readonly DpoLossType[] = ["sigmoid", "ipo", "hinge"];

/** The options {@linkcode dpoLoss} reads: β, the loss type and label smoothing. */
export type DpoLossOptions = {
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

/**
 * The loss's defaults, TRL's (`DPOConfig`): β 0.1, the sigmoid loss, no label smoothing.
 *
 * @example Read a default
 * ```ts
 * import assert from "node:assert/strict";
 * import { dpoLossDefaults } from "@proximal/algos";
 * assert.equal(dpoLossDefaults.beta, 0.1);
 * ```
 */
export const dpoLossDefaults: DpoLossOptions = {
  beta: 0.1,
  lossType: "sigmoid",
  labelSmoothing: 0,
};

/** The loss's option rules. */
const LOSS_RULES = {
  beta: positive,
  lossType: oneOf(DPO_LOSS_TYPES),
  labelSmoothing: between(0, 0.5),
};

/**
 * Rejects loss options outside their meaningful range, naming the option, and label smoothing
 * with a loss other than `sigmoid` (TRL warns and ignores it; refused here so a run is what it
 * says).
 *
 * @param options β, the loss type and label smoothing.
 * @throws `RangeError: DPO option <name> must be …`.
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { checkDpoLossOptions } from "@proximal/algos";
 * assert.throws(
 *   () => checkDpoLossOptions({ beta: 0.1, lossType: "ipo", labelSmoothing: 0.1 }),
 *   /labelSmoothing applies only to lossType "sigmoid"/,
 * );
 * ```
 */
export function checkDpoLossOptions(options: DpoLossOptions): void {
  checkOptions("DPO", options, LOSS_RULES);
  const { labelSmoothing, lossType } = options;
  if (labelSmoothing > 0 && lossType !== "sigmoid") {
    throw new RangeError(
      `DPO option labelSmoothing applies only to lossType "sigmoid": got ${labelSmoothing} with "${lossType}"`,
    );
  }
}

// ──────────────────────────────── The loss ────────────────────────────────

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
 * @param options β, the loss type and ε; missing ones take {@linkcode dpoLossDefaults}.
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
    beta: options.beta ?? dpoLossDefaults.beta,
    lossType: options.lossType ?? dpoLossDefaults.lossType,
    labelSmoothing: options.labelSmoothing ?? dpoLossDefaults.labelSmoothing,
  };
  checkDpoLossOptions({ beta, lossType, labelSmoothing });
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
