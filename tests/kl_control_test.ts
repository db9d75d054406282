// The KL leash's controllers against numbers worked out by hand (the working is in the comments):
// the adaptive and the fixed controller.
import assert from "node:assert/strict";
import {
  AdaptiveKlController,
  adaptiveKlDefaults,
  FixedKlController,
  type KlControllerState,
} from "@proximal/algos";

function close(actual: ArrayLike<number>, expected: number[], tol = 1e-6): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i]! - expected[i]!) <= tol,
      `element ${i}: ${actual[i]} is not within ${tol} of ${expected[i]}`,
    );
  }
}

Deno.test("the adaptive controller's β follows β·(1 + clip(KL/target − 1, ±0.2)·n/horizon)", () => {
  // β₀ = 0.2, target 6, horizon 100, 10 sequences per batch unless stated:
  //   KL 9:   e = clip(9/6 − 1 = 0.5)   = 0.2;  β = 0.2·(1 + 0.2·10/100)   = 0.2·1.02  = 0.204
  //   KL 3:   e = clip(3/6 − 1 = −0.5)  = −0.2; β = 0.204·(1 − 0.02)          = 0.19992
  //   KL 6.6: e = 6.6/6 − 1             = 0.1;  β = 0.19992·(1 + 0.01)        = 0.2019192
  //   KL 6, 1000 sequences: e = 0 → β unchanged                                = 0.2019192
  //   KL 0, 50 sequences:   e = clip(−1) = −0.2; β = 0.2019192·(1 − 0.2·0.5)  = 0.18172728
  const kl = new AdaptiveKlController({ initKlCoef: 0.2, target: 6, horizon: 100 });
  const values: number[] = [kl.value];
  for (const [current, n] of [[9, 10], [3, 10], [6.6, 10], [6, 1000], [0, 50]] as const) {
    kl.update(current, n);
    values.push(kl.value);
  }
  close(values, [0.2, 0.204, 0.19992, 0.2019192, 0.2019192, 0.18172728], 1e-12);
});

Deno.test("the adaptive controller takes TRL's defaults and refuses nonsense", () => {
  assert.deepEqual(adaptiveKlDefaults, { initKlCoef: 0.2, target: 6, horizon: 10000 });
  const kl = new AdaptiveKlController();
  assert.equal(kl.value, 0.2);
  assert.equal(kl.target, 6);
  assert.equal(kl.horizon, 10000);
  // One TRL-sized batch of 256 above target: β = 0.2·(1 + 0.2·256/10000) = 0.2·1.00512 = 0.201024
  kl.update(100, 256);
  close([kl.value], [0.201024], 1e-12);
  assert.throws(
    () => kl.update(NaN, 256),
    /Cannot update the KL coefficient: the measured KL is NaN/,
  );
  assert.throws(() => kl.update(1, -1), /nSteps must be >= 0, got -1/);
  assert.throws(
    () => new AdaptiveKlController({ target: 0 }),
    /Cannot create an adaptive KL controller: target must be > 0, got 0/,
  );
  assert.throws(() => new AdaptiveKlController({ horizon: -5 }), /horizon must be > 0, got -5/);
  assert.throws(
    () => new AdaptiveKlController({ initKlCoef: -0.1 }),
    /the coefficient must be a number >= 0, got -0.1/,
  );
});

Deno.test("the fixed controller never moves", () => {
  const kl = new FixedKlController(0.05);
  for (const [current, n] of [[0, 1], [1e6, 1e6], [-3, 256], [0.05, 0]]) {
    kl.update(current!, n!);
    assert.equal(kl.value, 0.05);
  }
  assert.throws(() => new FixedKlController(NaN), /Cannot create a fixed KL controller/);
});

Deno.test("controller state survives a JSON round trip, and the wrong kind is refused", () => {
  const a = new AdaptiveKlController({ initKlCoef: 0.1, target: 4, horizon: 1000 });
  a.update(8, 100);
  const saved: KlControllerState = JSON.parse(JSON.stringify(a.getState()));
  assert.deepEqual(saved, { kind: "adaptive", value: a.value });
  const b = new AdaptiveKlController({ initKlCoef: 0.1, target: 4, horizon: 1000 });
  b.setState(saved);
  // Resumed, both go on identically.
  a.update(2, 100);
  b.update(2, 100);
  assert.equal(b.value, a.value);

  const fixed = new FixedKlController(0.3);
  const other = new FixedKlController(0.1);
  other.setState(JSON.parse(JSON.stringify(fixed.getState())));
  assert.equal(other.value, 0.3);
  assert.throws(
    () => fixed.setState(a.getState()),
    /Cannot restore KL controller state: it is of kind "adaptive", this controller is "fixed"/,
  );
  assert.throws(
    () => a.setState({ kind: "adaptive", value: -1 }),
    /Cannot restore KL controller state: the coefficient must be a number >= 0, got -1/,
  );
});
