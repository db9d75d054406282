/**
 * Learning-curve SVGs hold the runs' points: the drawn line of a metric has one vertex per row,
 * placed by one affine map of (step, value) to pixels, and an overlay's mean line is the mean of
 * the runs' curves.
 */
import assert from "node:assert/strict";
import {
  choosePanels,
  overlaySvg,
  readRun,
  runCurvesSvg,
  type RunMetrics,
} from "@proximal/cli/plot";
import { assertAffine, polylines } from "./_svg.ts";

const returns = [12, 30, 25, 80, 61, 140, 220, 180, 350, 500, 470, 500];
const run: RunMetrics = {
  name: "demo",
  unit: "env steps",
  rows: returns.map((r, i) => ({
    step: 1024 * (i + 1),
    time: i,
    "charts/episodic_return": r,
    "losses/value_loss": 10 / (i + 1),
    "losses/entropy": 0.69 - 0.01 * i,
  })),
};

Deno.test("a run's SVG draws every row of its return at the right place", () => {
  const svg = runCurvesSvg(run);
  assert.match(svg, /^<svg[^>]*width="960"/);
  assert.ok(svg.includes("charts/episodic_return") && svg.includes("env steps"));
  const lines = polylines(svg, "#1f77b4");
  // The return, then one line per small panel (value loss, entropy).
  assert.equal(lines.length, 3);
  const top = lines[0]!;
  assert.equal(top.length, returns.length);
  assertAffine(run.rows.map((r) => r.step!), top.map((p) => p[0]), "x");
  // Larger values are drawn higher: a negative scale on the y pixels.
  assert.ok(assertAffine(returns, top.map((p) => p[1]), "y") < 0);
  assertAffine(run.rows.map((r) => r["losses/value_loss"]!), lines[1]!.map((p) => p[1]), "loss");
});

Deno.test("an overlay draws each group's mean of its runs' curves", () => {
  const seed = (name: string, scale: number): RunMetrics => ({
    name,
    groupKey: "a",
    groupLabel: "fast",
    rows: [0, 1, 2, 3].map((i) => ({ step: 100 * (i + 1), "charts/episodic_return": scale * i })),
  });
  // A single run on the same axes calibrates the pixel map of values: 0 at step 100, 9 at 400.
  const other: RunMetrics = {
    name: "cleanrl-s1",
    rows: [0, 1].map((i) => ({ step: 100 + 300 * i, "charts/episodic_return": 9 * i })),
  };
  const svg = overlaySvg([seed("fast-s1", 1), seed("fast-s2", 3), other], {
    metrics: ["charts/episodic_return"],
  });
  assert.ok(svg.includes("fast (mean of 2, band min–max)") && svg.includes("cleanrl-s1"));
  const [single] = polylines(svg, "#d62728");
  assert.equal(single!.length, 2);
  const [[x0, y0], [x1, y1]] = single as [[number, number], [number, number]];
  const stepOf = (px: number) => 100 + 300 * (px - x0) / (x1 - x0);
  const pixelOf = (value: number) => y0 + (y1 - y0) * value / 9;
  const [mean] = polylines(svg, "#1f77b4").filter((l) => l.length > 4);
  assert.ok(mean, "the first group's mean line");
  // The runs are i and 3i at step 100(i + 1): their mean is 2(step/100 − 1).
  for (const [px, py] of mean) {
    const expected = pixelOf(2 * (stepOf(px) / 100 - 1));
    assert.ok(
      Math.abs(py - expected) <= 0.3,
      `mean at x=${px} drawn at ${py}, expected ${expected}`,
    );
  }
});

Deno.test("plots pick panels by the metrics present and refuse unknown ones by name", () => {
  assert.deepEqual(choosePanels([run]), [
    "charts/episodic_return",
    "losses/value_loss",
    "losses/entropy",
  ]);
  const sft: RunMetrics = {
    name: "sft",
    rows: [{ step: 1, "train/loss": 3, "eval/perplexity": 9 }],
  };
  assert.deepEqual(choosePanels([sft]), ["eval/perplexity", "train/loss"]);
  assert.throws(
    () => runCurvesSvg(run, { metrics: ["losses/nope"] }),
    /^Error: Cannot plot losses\/nope: no run has this metric/,
  );
});

Deno.test("reading a run names the file and line of a malformed row", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.writeTextFile(`${dir}/metrics.jsonl`, '{"step":1,"loss":2}\n{"step":2,"loss":\n');
    await assert.rejects(readRun(dir), (e: Error) => {
      assert.equal(e.message, `Cannot plot ${dir}: ${dir}/metrics.jsonl:2 is not JSON`);
      return true;
    });
    await Deno.writeTextFile(
      `${dir}/metrics.jsonl`,
      '{"step":1,"loss":2}\n{"step":2,"loss":null}\n',
    );
    const read = await readRun(dir);
    assert.equal(read.rows.length, 2);
    assert.ok(Number.isNaN(read.rows[1]!.loss));
    await assert.rejects(readRun(`${dir}/missing`), /^Error: Cannot plot .*missing: cannot read/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
