/**
 * The RLHF loop's hyperparameters, defined once: the CLI's stages (`deno task train --env
 * text-completion --algo sft | reward-model | rlhf-ppo | dpo`) take them as their defaults and
 * `examples/rlhf.ts` runs with them. Where a stage differs from its trainer's own default, the
 * comment says why.
 */
import { dpoDefaults, type DpoOptions, ppoDefaults, type PpoOptions } from "@proximal/algos";
import { sftDefaults, type SftOptions } from "@proximal/algos";
import { grpoDefaults, type GrpoOptions, rlooDefaults, type RlooOptions } from "@proximal/algos";
import type { BradleyTerryOptions } from "@proximal/reward-models";

/** The SFT stage's hyperparameters: {@linkcode SftOptions} but the seed, which is the run's. */
export type SftStageOptions = Omit<SftOptions, "seed">;

const { seed: _sftSeed, ...sftShared } = sftDefaults;

/**
 * The SFT stage's defaults: `SftTrainer`'s, with 6 epochs rather than 5, since held-out perplexity
 * on the sentiment corpus still falls at the sixth.
 *
 * @example The epochs
 * ```ts
 * import assert from "node:assert/strict";
 * import { sftStageDefaults } from "@proximal/rlhf";
 * assert.equal(sftStageDefaults.epochs, 6);
 * ```
 */
export const sftStageDefaults: SftStageOptions = { ...sftShared, epochs: 6 };

/** How preference pairs are made when no pairs file is given: sampled, then ranked by a judge. */
export type PairLabelOptions = {
  /** Completions sampled per training prompt from the model; default 8. */
  samplesPerPrompt: number;
  /**
   * Labelled pairs per prompt: best against worst, then second best against second worst and so
   * on; default 4 for the reward model, 1 for DPO.
   */
  pairsPerPrompt: number;
  /** Bradley–Terry temperature of the labels' noise (how often the "human" disagrees); default 0.2. */
  labelTemperature: number;
};

/** The reward-model stage's hyperparameters: pair labelling and the Bradley–Terry trainer's. */
export type RewardModelStageOptions =
  & PairLabelOptions
  & Pick<
    BradleyTerryOptions,
    "learningRate" | "batchSize" | "epochs" | "validationFraction" | "patience"
  >;

/**
 * The reward-model stage's defaults. Eight samples per prompt widen the best–worst gap, so fewer
 * labels flip, and the pairs inwards give the reward model four times the data for one sampling
 * pass. A small model overfits the noisy labels within a few epochs, so a tenth of the pairs
 * validates each epoch (at most 6) and the epoch of the lowest validation loss is kept.
 *
 * @example Four pairs per prompt
 * ```ts
 * import assert from "node:assert/strict";
 * import { rewardModelStageDefaults } from "@proximal/rlhf";
 * assert.equal(rewardModelStageDefaults.pairsPerPrompt, 4);
 * ```
 */
export const rewardModelStageDefaults: RewardModelStageOptions = {
  samplesPerPrompt: 8,
  pairsPerPrompt: 4,
  labelTemperature: 0.2,
  learningRate: 1e-3,
  batchSize: 32,
  epochs: 6,
  validationFraction: 0.1,
  patience: 2,
};

/**
 * The RLHF PPO stage's hyperparameters: {@linkcode PpoOptions} without those of the MLP policy and
 * its shards, which a language-model policy does not use (its workers compute gradient parts).
 */
export type RlhfPpoOptions = Omit<PpoOptions, "hiddenSize" | "hiddenLayers" | "numShards">;

const { hiddenSize: _h, hiddenLayers: _l, numShards: _s, ...ppoShared } = ppoDefaults;

/**
 * The RLHF PPO stage's defaults: one rollout step per generated token (16, the longest
 * completion), no discount over a completion, gradient clipping at 1 for the language model, an
 * entropy bonus of 0.025 that keeps the policy from collapsing onto the reward model's favourite
 * words, minibatches of whole env copies (TRL's whole sequences), and one gradient step per rollout
 * — one epoch of one minibatch — at a learning rate of 3e-3; CleanRL's values otherwise.
 *
 * Each epoch runs the 2,111-way output layer forward and backward over every rollout token, so
 * CleanRL's 4 epochs of 4 minibatches held training at ~650 tokens/s; one step per rollout trains
 * at ~2,500 (rollout and update ~100 ms each per 512 tokens). Its learning rate makes up the steps:
 * measured in the whole loop at seeds 1–3 (README, "Issue 15's 10×, round 4"), 2.5e-3 fell short on
 * distinct-2 at seed 3 and 3e-3 met every target at all three (an entropy bonus of 0.035 or 0.015,
 * β 0.4 or a value coefficient of 0.1 did not). The entropy bonus is from the README's "The leash".
 *
 * @example Undiscounted, one gradient step per rollout
 * ```ts
 * import assert from "node:assert/strict";
 * import { rlhfPpoDefaults } from "@proximal/rlhf";
 * assert.equal(rlhfPpoDefaults.gamma, 1);
 * assert.equal(rlhfPpoDefaults.updateEpochs * rlhfPpoDefaults.numMinibatches, 1);
 * ```
 */
export const rlhfPpoDefaults: RlhfPpoOptions = {
  ...ppoShared,
  learningRate: 3e-3,
  numSteps: 16,
  gamma: 1,
  entCoef: 0.025,
  maxGradNorm: 1,
  minibatchUnit: "env",
  numMinibatches: 1,
  updateEpochs: 1,
};

/**
 * The leash of RLHF's PPO to the reference model: a per-token penalty β·KL(policy ‖ reference) in
 * the rewards (the `klPenalty` rollout processor), apart from PPO's own `klPenaltyCoef`.
 */
export type RefKlOptions = {
  /** β, the coefficient of the KL to the reference (initial, when adaptive); default 0.4. */
  refKlCoef: number;
  /** KL per sequence that an adaptive β steers to (TRL's controller); 0 keeps β fixed; default 0. */
  refKlTarget: number;
  /** The adaptive controller's horizon (TRL's); default 1000. */
  refKlHorizon: number;
};

/**
 * The leash's defaults: a fixed β of 0.35. Over a run of ~2,000 episodes an adaptive β lags (it
 * shrinks while the policy has not moved yet, then KL overshoots its target), so β is fixed; 0.35
 * sits between a β that lets PPO game the reward model and one that holds the policy too close
 * (with whole-env minibatches, in the whole loop at seed 1: 0.4 won 74 % under the held-out
 * classifier, 0.3 drifted to KL 7.5 and distinct-2 0.90 × SFT's; README, "The leash").
 *
 * @example A fixed coefficient
 * ```ts
 * import assert from "node:assert/strict";
 * import { refKlDefaults } from "@proximal/rlhf";
 * assert.deepEqual(refKlDefaults, { refKlCoef: 0.35, refKlTarget: 0, refKlHorizon: 1000 });
 * ```
 */
export const refKlDefaults: RefKlOptions = { refKlCoef: 0.35, refKlTarget: 0, refKlHorizon: 1000 };

/**
 * Penalties an RL stage (`rlhf-ppo`, `grpo`, `rloo`) subtracts from its reward, both off (0) by
 * default: measured in the README's "The leash", neither raised distinct-2.
 */
export type RewardPenalties = {
  /** Subtract this times the share of repeated words of each completion; default 0 (off). */
  repetitionPenalty: number;
  /** Subtract this times the number of words of each completion; default 0 (off). */
  lengthPenalty: number;
};

/** The DPO stage's hyperparameters: pair labelling and {@linkcode DpoOptions} but the seed. */
export type DpoStageOptions = PairLabelOptions & Omit<DpoOptions, "seed">;

const { seed: _dpoSeed, ...dpoShared } = dpoDefaults;

/**
 * The DPO stage's defaults: `DpoTrainer`'s, on one best-vs-worst pair per prompt (the clearest
 * preference) when it labels its own pairs, but β 0.7: β is DPO's only leash, and TRL's 0.1 let it
 * drift 8.7 nats from SFT with distinct-2 at 0.74 × SFT's; measured at seed 1 (README, "The
 * leash"), β 0.7 stays within 2.1 nats at 0.91 × and still wins 81 % under the held-out classifier.
 *
 * @example One pair per prompt
 * ```ts
 * import assert from "node:assert/strict";
 * import { dpoStageDefaults } from "@proximal/rlhf";
 * assert.equal(dpoStageDefaults.pairsPerPrompt, 1);
 * assert.equal(dpoStageDefaults.beta, 0.7);
 * ```
 */
export const dpoStageDefaults: DpoStageOptions = {
  samplesPerPrompt: rewardModelStageDefaults.samplesPerPrompt,
  pairsPerPrompt: 1,
  labelTemperature: rewardModelStageDefaults.labelTemperature,
  ...dpoShared,
  beta: 0.7,
};

/**
 * The GRPO stage's defaults: `grpoDefaults` (TRL's names and defaults, TRL's one gradient step per
 * batch, μ 1) with batches of 8 prompts × 8 completions, a learning rate of 2e-3, β 0.3 and
 * completions sampled at temperature 1.2 in training (rarer words get sampled, and those the
 * reward likes are learned, so the policy spreads over them rather than collapsing onto one
 * "great"). Each gradient step costs as much as sampling its batch, so four steps per batch held
 * training at ~1,250 tokens/s; one step on half the batch trains at ~3,000 and takes as many steps
 * in the budget (~38) as it has batches. Measured in the whole loop at seeds 1–3 (README, "Issue
 * 15's 10×, round 4"): 16 prompts per batch at 2e-3–3e-3 won too little at seed 2 (66–71 %).
 *
 * @example Eight completions per prompt, one step per batch
 * ```ts
 * import assert from "node:assert/strict";
 * import { grpoStageDefaults } from "@proximal/rlhf";
 * assert.equal(grpoStageDefaults.numGenerations, 8);
 * assert.equal(grpoStageDefaults.numIterations, 1);
 * assert.equal(grpoStageDefaults.temperature, 1.2);
 * ```
 */
export const grpoStageDefaults: GrpoOptions = {
  ...grpoDefaults,
  promptsPerBatch: 8,
  learningRate: 2e-3,
  beta: 0.3,
  temperature: 1.2,
};

/**
 * The RLOO stage's defaults: `rlooDefaults` (TRL's names and defaults) with two gradient steps per
 * batch at a learning rate of 2e-3, k 4 completions of 32 prompts (as many per batch as TRL's 2 of
 * 64; the leave-one-out baseline of three is steadier than of one), β 0.5 in the reward and
 * completions sampled at temperature 1.1 in training (as GRPO's, which spreads the policy over the
 * words the reward likes). Four steps per batch (lr 1e-3) held training at ~1,200 tokens/s; two
 * train at ~2,000–2,500. Measured in the whole loop at seeds 1–3 (README, "Issue 15's 10×, round
 * 4"): every setting of one step per batch tried (lr 2e-3–4e-3, 16 or 32 prompts, temperature
 * 1.1–1.2) missed a target at one seed at least — wins at seeds 1 or 3, distinct-2 at seed 2.
 *
 * @example Four completions per prompt
 * ```ts
 * import assert from "node:assert/strict";
 * import { rlooStageDefaults } from "@proximal/rlhf";
 * assert.equal(rlooStageDefaults.numGenerations, 4);
 * assert.equal(rlooStageDefaults.numIterations, 2);
 * ```
 */
export const rlooStageDefaults: RlooOptions = {
  ...rlooDefaults,
  numIterations: 2,
  promptsPerBatch: 32,
  numGenerations: 4,
  learningRate: 2e-3,
  beta: 0.5,
  temperature: 1.1,
};
