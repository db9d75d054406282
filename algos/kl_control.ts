/**
 * The controllers of the KL leash of PPO on text (Ziegler et al., 2019, "Fine-Tuning Language
 * Models from Human Preferences"; TRL's `PPOTrainer`): each generated token is charged
 * β·(log π − log π_ref) against the frozen reference model (the {@linkcode klPenalty} rollout
 * processor), and β is either fixed or steered so the measured KL tracks a target.
 */

// ──────────────────────────────── Controllers ────────────────────────────────

/** The saved state of a KL controller: its kind and its current coefficient. */
export interface KlControllerState {
  /** Which controller saved it. */
  kind: "fixed" | "adaptive";
  /** The coefficient β. */
  value: number;
}

/**
 * What PPO on text asks of a KL controller.
 *
 * @example Pick a controller from options, as a trainer would
 * ```ts
 * import assert from "node:assert/strict";
 * import { AdaptiveKlController, FixedKlController, type KlController } from "@proximal/algos";
 * const target: number = 6;
 * const kl: KlController = target > 0
 *   ? new AdaptiveKlController({ initKlCoef: 0.2, target })
 *   : new FixedKlController(0.2);
 * kl.update(6, 64); // at target: β unchanged
 * assert.ok(kl.value === 0.2);
 * ```
 */
export interface KlController {
  /** The current coefficient β of the per-token KL penalty. */
  readonly value: number;
  /**
   * Adjusts β after a batch.
   *
   * @param currentKl The batch's mean per-sequence KL (`objective/kl` of {@linkcode klPenalty}).
   * @param nSteps The sequences in that batch (TRL passes the batch size).
   */
  update(currentKl: number, nSteps: number): void;
  /** The state to put in a checkpoint. */
  getState(): KlControllerState;
  /** Restores a state from `getState` of the same kind of controller. */
  setState(state: KlControllerState): void;
}

/**
 * A constant KL coefficient: {@linkcode FixedKlController.update} does nothing (TRL's
 * `FixedKLController`).
 *
 * @example β stays put
 * ```ts
 * import assert from "node:assert/strict";
 * import { FixedKlController } from "@proximal/algos";
 * const kl = new FixedKlController(0.05);
 * kl.update(100, 256);
 * assert.ok(kl.value === 0.05);
 * ```
 */
export class FixedKlController implements KlController {
  #value: number;

  /**
   * Creates a controller holding β.
   *
   * @param value The coefficient β ≥ 0.
   */
  constructor(value: number) {
    this.#value = checkCoef(value, "Cannot create a fixed KL controller");
  }

  /** The coefficient β. */
  get value(): number {
    return this.#value;
  }

  /**
   * Does nothing: β is fixed.
   *
   * @param _currentKl Ignored.
   * @param _nSteps Ignored.
   * @example See {@linkcode FixedKlController}
   * ```ts ignore
   * kl.update(currentKl, batchSize);
   * ```
   */
  update(_currentKl: number, _nSteps: number): void {}

  /**
   * The state to put in a checkpoint.
   *
   * @returns `{ kind: "fixed", value }`.
   * @example Save
   * ```ts
   * import assert from "node:assert/strict";
   * import { FixedKlController } from "@proximal/algos";
   * assert.ok(new FixedKlController(0.1).getState().value === 0.1);
   * ```
   */
  getState(): KlControllerState {
    return { kind: "fixed", value: this.#value };
  }

  /**
   * Restores a state from {@linkcode FixedKlController.getState}.
   *
   * @param state A fixed controller's state.
   * @throws If the state is an adaptive controller's or its value is not a number ≥ 0.
   * @example Restore
   * ```ts
   * import assert from "node:assert/strict";
   * import { FixedKlController } from "@proximal/algos";
   * const kl = new FixedKlController(0.1);
   * kl.setState(new FixedKlController(0.2).getState());
   * assert.ok(kl.value === 0.2);
   * ```
   */
  setState(state: KlControllerState): void {
    this.#value = restore(state, "fixed");
  }
}

/** Options of {@linkcode AdaptiveKlController}. */
export interface AdaptiveKlOptions {
  /** The coefficient β to start from; default 0.2 (TRL's `init_kl_coef`). */
  initKlCoef?: number;
  /** The per-sequence KL to steer to; default 6 (TRL's `target`). */
  target?: number;
  /** How many sequences a full 20 % correction of β takes; default 10000 (TRL's `horizon`). */
  horizon?: number;
}

/** TRL's defaults for the adaptive controller (`PPOConfig`: `init_kl_coef`, `target`, `horizon`). */
export const adaptiveKlDefaults: Required<AdaptiveKlOptions> = {
  initKlCoef: 0.2,
  target: 6,
  horizon: 10000,
};

/**
 * A KL coefficient steered towards a target KL by a proportional controller (Ziegler et al.,
 * 2019, §2.2; TRL's `AdaptiveKLController`):
 *
 *   e = clip(KL / target − 1, −0.2, 0.2),   β ← β·(1 + e·nSteps / horizon).
 *
 * Above the target β grows, below it β shrinks, by at most 20 % per `horizon` sequences.
 *
 * @example β grows while the KL is above target
 * ```ts
 * import assert from "node:assert/strict";
 * import { AdaptiveKlController } from "@proximal/algos";
 * const kl = new AdaptiveKlController({ initKlCoef: 0.2, target: 6, horizon: 100 });
 * kl.update(9, 10); // e = clip(0.5) = 0.2, β = 0.2·(1 + 0.2·10/100) = 0.204
 * assert.ok(Math.abs(kl.value - 0.204) < 1e-12);
 * ```
 */
export class AdaptiveKlController implements KlController {
  /** The per-sequence KL β is steered to. */
  readonly target: number;
  /** Sequences per full (20 %) correction. */
  readonly horizon: number;
  #value: number;

  /**
   * Creates a controller at `initKlCoef`.
   *
   * @param options See {@linkcode AdaptiveKlOptions}; missing ones take {@linkcode adaptiveKlDefaults}.
   * @throws If `initKlCoef` is negative or `target` or `horizon` is not positive.
   */
  constructor(options: AdaptiveKlOptions = {}) {
    const o = { ...adaptiveKlDefaults, ...options };
    const where = "Cannot create an adaptive KL controller";
    this.#value = checkCoef(o.initKlCoef, where);
    if (!Number.isFinite(o.target) || o.target <= 0) {
      throw new RangeError(`${where}: target must be > 0, got ${o.target}`);
    }
    if (!Number.isFinite(o.horizon) || o.horizon <= 0) {
      throw new RangeError(`${where}: horizon must be > 0, got ${o.horizon}`);
    }
    this.target = o.target;
    this.horizon = o.horizon;
  }

  /** The current coefficient β. */
  get value(): number {
    return this.#value;
  }

  /**
   * One proportional step: β ← β·(1 + clip(currentKl / target − 1, −0.2, 0.2)·nSteps / horizon).
   *
   * @param currentKl The batch's mean per-sequence KL.
   * @param nSteps The sequences in that batch.
   * @throws If `currentKl` is not finite (a diverged policy must not silently poison β) or `nSteps`
   * is negative.
   * @example See {@linkcode AdaptiveKlController}
   * ```ts ignore
   * kl.update(meanKl, batchSize);
   * ```
   */
  update(currentKl: number, nSteps: number): void {
    if (!Number.isFinite(currentKl)) {
      throw new RangeError(`Cannot update the KL coefficient: the measured KL is ${currentKl}`);
    }
    if (!Number.isFinite(nSteps) || nSteps < 0) {
      throw new RangeError(`Cannot update the KL coefficient: nSteps must be >= 0, got ${nSteps}`);
    }
    const error = Math.min(0.2, Math.max(-0.2, currentKl / this.target - 1));
    this.#value *= 1 + error * nSteps / this.horizon;
  }

  /**
   * The state to put in a checkpoint (`target` and `horizon` are options, not state).
   *
   * @returns `{ kind: "adaptive", value }`.
   * @example Save
   * ```ts
   * import assert from "node:assert/strict";
   * import { AdaptiveKlController } from "@proximal/algos";
   * assert.ok(new AdaptiveKlController().getState().value === 0.2);
   * ```
   */
  getState(): KlControllerState {
    return { kind: "adaptive", value: this.#value };
  }

  /**
   * Restores a state from {@linkcode AdaptiveKlController.getState}.
   *
   * @param state An adaptive controller's state.
   * @throws If the state is a fixed controller's or its value is not a number ≥ 0.
   * @example Resume where β had got to
   * ```ts
   * import assert from "node:assert/strict";
   * import { AdaptiveKlController } from "@proximal/algos";
   * const a = new AdaptiveKlController();
   * a.update(12, 512);
   * const b = new AdaptiveKlController();
   * b.setState(a.getState());
   * assert.ok(b.value === a.value);
   * ```
   */
  setState(state: KlControllerState): void {
    this.#value = restore(state, "adaptive");
  }
}

// ──────────────────────────────── Helpers ────────────────────────────────

function checkCoef(value: number, where: string): number {
  if (typeof value !== "number" || !Number.isFinite(value) || value < 0) {
    throw new RangeError(`${where}: the coefficient must be a number >= 0, got ${value}`);
  }
  return value;
}

function restore(state: KlControllerState, kind: KlControllerState["kind"]): number {
  if (state?.kind !== kind) {
    throw new TypeError(
      `Cannot restore KL controller state: it is of kind "${state?.kind}", this controller is "${kind}"`,
    );
  }
  return checkCoef(state.value, "Cannot restore KL controller state");
}
