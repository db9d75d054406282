/**
 * Learning curves as SVG, rendered headless by Apache ECharts (server-side SVG, no DOM): one run's
 * panels (its headline metric against its progress, and the losses), or several runs overlaid,
 * grouped by configuration, each group's mean drawn over the band between its runs' minimum and
 * maximum.
 *
 *   deno task plot runs/fast-s1 runs/fast-s2 runs/cleanrl-s1 …   writes curves.svg (or --out FILE)
 *
 * @module
 */
import { basename, resolve } from "node:path";
import { parseArgs } from "node:util";
import * as echarts from "echarts";

/** One run's metrics, as `deno task train` writes them. */
export interface RunMetrics {
  /** A short name for legends (the run directory's name by default). */
  name: string;
  /** The rows of `metrics.jsonl`: `step`, `time` and the trainer's metrics. */
  rows: Record<string, number>[];
  /** What `step` counts (`env steps`, `tokens`, `pairs`); default `steps`. */
  unit?: string;
  /**
   * What the run's numbers depend on besides the seed (its `config.json` without `seed`, `out`,
   * …), as a string: runs with the same key form one group in an overlay. Default: the name.
   */
  groupKey?: string;
  /** The group's label in an overlay's legend. Default: the name. */
  groupLabel?: string;
}

/** Options of {@linkcode runCurvesSvg} and {@linkcode overlaySvg}. */
export interface CurvesSvgOptions {
  /** Metrics to draw, first one largest; default: chosen from the metrics present (see `PANELS`). */
  metrics?: readonly string[];
  /** Width in pixels; default 960. */
  width?: number;
  /** Title above the panels; default the run's name, or "N runs". */
  title?: string;
}

/** Metrics worth the large panel, in order of preference. */
const HEADLINE = [
  "charts/episodic_return",
  "env/reward_mean",
  "rewards/accuracies",
  "val/accuracy",
  "eval/accuracy",
  "eval/perplexity",
  "train/loss",
  "loss",
];

/** Metrics worth a small panel, in order of preference (losses, KLs, rewards). */
const SECONDARY = [
  "objective/kl",
  "env/reward_mean",
  "losses/policy_loss",
  "losses/value_loss",
  "losses/entropy",
  "losses/approx_kl",
  "rewards/margins",
  "rewards/chosen",
  "rewards/rejected",
  "loss",
  "train/loss",
  "eval/loss",
  "val/loss",
  "train/accuracy",
  "eval/perplexity",
];

/** At most this many small panels under the large one. */
const MAX_SMALL = 4;
const HEADLINE_HEIGHT = 300;
const SMALL_HEIGHT = 200;
const MARGIN = { left: 70, right: 30, top: 60, gap: 70, bottom: 50 };
const PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2"];
/** Points of an overlay's common grid of steps. */
const GRID_POINTS = 200;

/**
 * The metrics a figure draws: `requested` if given (each must be present), else the first
 * present headline metric and up to four present secondary ones.
 *
 * @param runs The runs.
 * @param requested Metric names the user asked for, if any.
 * @returns The metric names, the headline first.
 * @example Pick PPO's panels
 * ```ts
 * import assert from "node:assert/strict";
 * import { choosePanels } from "@proximal/cli/plot";
 * const rows = [{ step: 1, "charts/episodic_return": 10, "losses/value_loss": 2 }];
 * assert.deepEqual(choosePanels([{ name: "a", rows }]), ["charts/episodic_return", "losses/value_loss"]);
 * ```
 */
export function choosePanels(runs: readonly RunMetrics[], requested?: readonly string[]): string[] {
  const present = new Set<string>();
  for (const run of runs) {
    for (const row of run.rows) {
      for (const [key, value] of Object.entries(row)) {
        if (key !== "step" && key !== "time" && Number.isFinite(value)) present.add(key);
      }
    }
  }
  if (requested && requested.length > 0) {
    const missing = requested.filter((m) => !present.has(m));
    if (missing.length > 0) {
      throw new Error(
        `Cannot plot ${missing.join(", ")}: no run has ${
          missing.length > 1 ? "these metrics" : "this metric"
        } (present: ${[...present].sort().join(", ")})`,
      );
    }
    return [...requested];
  }
  const headline = HEADLINE.find((m) => present.has(m)) ?? [...present][0];
  if (headline === undefined) throw new Error("Cannot plot: the runs have no finite metric");
  const small = SECONDARY.filter((m) => m !== headline && present.has(m)).slice(0, MAX_SMALL);
  return [headline, ...small];
}

/**
 * One run's learning curves: its headline metric against its progress (`step`, in the run's
 * unit) in a large panel, and the losses in small ones.
 *
 * @param run The run's metrics.
 * @param options Panels, width, title.
 * @returns The SVG document.
 * @example Render a tiny run
 * ```ts
 * import assert from "node:assert/strict";
 * import { runCurvesSvg } from "@proximal/cli/plot";
 * const rows = [0, 1, 2].map((i) => ({ step: 512 * (i + 1), "charts/episodic_return": 10 * i }));
 * const svg = runCurvesSvg({ name: "demo", rows, unit: "env steps" });
 * assert.match(svg, /^<svg/);
 * ```
 */
export function runCurvesSvg(run: RunMetrics, options: CurvesSvgOptions = {}): string {
  const metrics = choosePanels([run], options.metrics);
  const series = metrics.map((metric, panel) => ({
    name: run.name,
    type: "line" as const,
    xAxisIndex: panel,
    yAxisIndex: panel,
    showSymbol: false,
    animation: false,
    lineStyle: { width: 1.5, color: PALETTE[0] },
    itemStyle: { color: PALETTE[0] },
    data: pointsOf(run, metric),
  }));
  return render(metrics, series, {
    width: options.width ?? 960,
    title: options.title ?? run.name,
    unit: run.unit ?? "steps",
    legend: false,
  });
}

/**
 * Several runs overlaid: runs with the same `groupKey` (e.g. seeds of one configuration) form a
 * group, drawn as its mean over a common grid of steps with a band from the runs' minimum to
 * their maximum; a group of one run is drawn as it is.
 *
 * @param runs The runs.
 * @param options Panels, width, title.
 * @returns The SVG document.
 * @example Two seeds of one configuration
 * ```ts
 * import assert from "node:assert/strict";
 * import { overlaySvg } from "@proximal/cli/plot";
 * const run = (name: string, k: number) => ({
 *   name,
 *   groupKey: "fast",
 *   rows: [1, 2, 3].map((i) => ({ step: 100 * i, "charts/episodic_return": k * i })),
 * });
 * assert.match(overlaySvg([run("s1", 1), run("s2", 2)]), /<svg/);
 * ```
 */
export function overlaySvg(runs: readonly RunMetrics[], options: CurvesSvgOptions = {}): string {
  if (runs.length === 0) throw new Error("Cannot plot: no runs given");
  const metrics = choosePanels(runs, options.metrics);
  const groups = new Map<string, RunMetrics[]>();
  for (const run of runs) {
    const key = run.groupKey ?? run.name;
    groups.set(key, [...(groups.get(key) ?? []), run]);
  }
  const series: unknown[] = [];
  [...groups.values()].forEach((members, g) => {
    const color = PALETTE[g % PALETTE.length]!;
    const label = members[0]!.groupLabel ?? members[0]!.name;
    const name = members.length > 1 ? `${label} (mean of ${members.length}, band min–max)` : label;
    metrics.forEach((metric, panel) => {
      const axes = { xAxisIndex: panel, yAxisIndex: panel };
      if (members.length === 1) {
        series.push({
          ...axes,
          name,
          type: "line",
          showSymbol: false,
          animation: false,
          lineStyle: { width: 1.5, color },
          itemStyle: { color },
          data: pointsOf(members[0]!, metric),
        });
        return;
      }
      const band = groupBand(members, metric);
      const stack = `band-${g}-${panel}`;
      // The band is two stacked series: the minimum (invisible), then max − min filled.
      series.push({
        ...axes,
        name,
        type: "line",
        stack,
        showSymbol: false,
        animation: false,
        lineStyle: { opacity: 0 },
        itemStyle: { color },
        data: band.map(([x, , lo]) => [x, lo]),
      });
      series.push({
        ...axes,
        name,
        type: "line",
        stack,
        showSymbol: false,
        animation: false,
        lineStyle: { opacity: 0 },
        areaStyle: { color, opacity: 0.18 },
        itemStyle: { color },
        data: band.map(([x, , lo, hi]) => [x, hi - lo]),
      });
      series.push({
        ...axes,
        name,
        type: "line",
        showSymbol: false,
        animation: false,
        lineStyle: { width: 2, color },
        itemStyle: { color },
        data: band.map(([x, mean]) => [x, mean]),
      });
    });
  });
  const units = new Set(runs.map((r) => r.unit ?? "steps"));
  return render(metrics, series, {
    width: options.width ?? 960,
    title: options.title ?? `${runs.length} runs`,
    unit: [...units].join(" / "),
    legend: true,
  });
}

/**
 * Reads a run directory's `metrics.jsonl` (and, if present, `config.json` for grouping and the
 * unit), naming the file and line of anything malformed.
 *
 * @param dir The run directory, as `deno task train --out` made it.
 * @returns The run's metrics.
 * @example Read a run
 * ```ts ignore
 * import { readRun } from "@proximal/cli/plot";
 * const run = await readRun("runs/cartpole-ppo-s1");
 * ```
 */
export async function readRun(dir: string): Promise<RunMetrics> {
  const path = `${dir}/metrics.jsonl`;
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    throw new Error(`Cannot plot ${dir}: cannot read ${path}: ${(e as Error).message}`);
  }
  const rows: Record<string, number>[] = [];
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      throw new Error(`Cannot plot ${dir}: ${path}:${i + 1} is not JSON`);
    }
    if (
      typeof row !== "object" || row === null ||
      typeof (row as { step?: unknown }).step !== "number"
    ) {
      throw new Error(`Cannot plot ${dir}: ${path}:${i + 1} has no numeric "step"`);
    }
    // JSON has no NaN: the CLI writes non-finite metrics as null.
    const numeric: Record<string, number> = {};
    for (const [key, value] of Object.entries(row)) {
      numeric[key] = typeof value === "number" ? value : NaN;
    }
    rows.push(numeric);
  });
  if (rows.length === 0) throw new Error(`Cannot plot ${dir}: ${path} has no rows`);
  const name = basename(resolve(dir));
  const run: RunMetrics = { name, rows };
  try {
    const config = JSON.parse(await Deno.readTextFile(`${dir}/config.json`));
    const { seed, out: _out, ...rest } = config as Record<string, unknown>;
    run.groupKey = JSON.stringify(rest);
    run.groupLabel = describeConfig(rest, name);
    if (typeof config.unit === "string") run.unit = config.unit;
    void seed;
  } catch {
    // No or unreadable config.json: the run stands alone.
  }
  return run;
}

/**
 * A short legend label for a configuration: its preset if the run recorded one, else the run
 * directory's name without its seed (`fast-s2` → `fast`), else env and algo.
 */
function describeConfig(config: Record<string, unknown>, name: string): string {
  if (typeof config.preset === "string" && config.preset !== "") {
    return `${config.env} ${config.algo} --preset ${config.preset}`;
  }
  const unseeded = name.replace(/-?s(eed)?-?\d+(?=$|-)/, "");
  if (unseeded !== "" && unseeded !== name) return unseeded;
  return [config.env, config.algo].filter((p) => typeof p === "string").join(" ") || name;
}

/** The run's `[step, value]` points of a metric, skipping rows without a finite value. */
function pointsOf(run: RunMetrics, metric: string): [number, number][] {
  const points: [number, number][] = [];
  for (const row of run.rows) {
    const value = row[metric];
    if (value !== undefined && Number.isFinite(value)) points.push([row.step!, value]);
  }
  return points;
}

/**
 * A group's `[step, mean, min, max]` on a common grid of steps: each run's points linearly
 * interpolated, a grid point counted where at least one run covers it.
 */
function groupBand(
  runs: readonly RunMetrics[],
  metric: string,
): [number, number, number, number][] {
  const curves = runs.map((r) => pointsOf(r, metric)).filter((p) => p.length > 0);
  if (curves.length === 0) return [];
  const lo = Math.min(...curves.map((c) => c[0]![0]));
  const hi = Math.max(...curves.map((c) => c[c.length - 1]![0]));
  const out: [number, number, number, number][] = [];
  for (let k = 0; k < GRID_POINTS; k++) {
    const x = lo + (hi - lo) * k / (GRID_POINTS - 1);
    const values = curves.map((c) => interpolate(c, x)).filter((v) => v !== null) as number[];
    if (values.length === 0) continue;
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    out.push([x, mean, Math.min(...values), Math.max(...values)]);
  }
  return out;
}

/** The curve's value at x by linear interpolation, or null outside its range. */
function interpolate(curve: [number, number][], x: number): number | null {
  if (x < curve[0]![0] || x > curve[curve.length - 1]![0]) return null;
  let i = 1;
  while (i < curve.length && curve[i]![0] < x) i++;
  if (i >= curve.length) return curve[curve.length - 1]![1];
  const [x0, y0] = curve[i - 1]!, [x1, y1] = curve[i]!;
  return x1 === x0 ? y1 : y0 + (y1 - y0) * (x - x0) / (x1 - x0);
}

/** Lays out one large and up to four small panels and renders the chart to SVG. */
function render(
  metrics: string[],
  series: unknown[],
  layout: { width: number; title: string; unit: string; legend: boolean },
): string {
  const { width } = layout;
  const inner = width - MARGIN.left - MARGIN.right;
  const small = metrics.length - 1;
  const columns = Math.min(2, small);
  const rowsOfSmall = Math.ceil(small / 2);
  const top = MARGIN.top + (layout.legend ? 20 : 0);
  const height = top + HEADLINE_HEIGHT + rowsOfSmall * (SMALL_HEIGHT + MARGIN.gap) + MARGIN.bottom;
  const grids = metrics.map((_, panel) => {
    if (panel === 0) {
      return { left: MARGIN.left, top, width: inner, height: HEADLINE_HEIGHT };
    }
    const k = panel - 1, row = Math.floor(k / 2), col = k % 2;
    const cellWidth = columns === 1 ? inner : (inner - MARGIN.gap) / 2;
    return {
      left: MARGIN.left + col * (cellWidth + MARGIN.gap),
      top: top + HEADLINE_HEIGHT + MARGIN.gap + row * (SMALL_HEIGHT + MARGIN.gap),
      width: cellWidth,
      height: SMALL_HEIGHT,
    };
  });
  const chart = echarts.init(null, null, { renderer: "svg", ssr: true, width, height });
  try {
    chart.setOption({
      animation: false,
      backgroundColor: "#ffffff",
      title: [
        { text: layout.title, left: MARGIN.left, top: 8, textStyle: { fontSize: 15 } },
        ...metrics.map((metric, panel) => ({
          text: metric,
          left: grids[panel]!.left,
          top: grids[panel]!.top - 22,
          textStyle: { fontSize: 12, fontWeight: "normal" },
        })),
      ],
      legend: layout.legend ? { top: 30, left: MARGIN.left, type: "plain" } : undefined,
      grid: grids,
      xAxis: metrics.map((_, panel) => ({
        type: "value",
        gridIndex: panel,
        name: panel === 0 || panel > small - columns ? layout.unit : "",
        nameLocation: "middle",
        nameGap: 28,
        scale: true,
        splitLine: { show: false },
      })),
      yAxis: metrics.map((_, panel) => ({ type: "value", gridIndex: panel, scale: true })),
      series,
    });
    return chart.renderToSVGString();
  } finally {
    chart.dispose();
  }
}

/**
 * `deno task plot RUN…`: overlays the runs' learning curves into one SVG.
 *
 * @param args Run directories, and `--out FILE` (default `curves.svg`), `--metrics a,b,…`,
 * `--title TEXT`.
 * @returns The path written.
 * @example Overlay two runs
 * ```ts ignore
 * import { plotMain } from "@proximal/cli/plot";
 * await plotMain(["runs/a", "runs/b", "--out", "ab.svg"]);
 * ```
 */
export async function plotMain(args: string[]): Promise<string> {
  const { values, positionals } = parseArgs({
    args,
    options: {
      out: { type: "string", default: "curves.svg" },
      metrics: { type: "string" },
      title: { type: "string" },
    },
    allowPositionals: true,
  });
  if (positionals.length === 0) {
    throw new Error("Usage: deno task plot RUN_DIR… [--out FILE] [--metrics a,b] [--title TEXT]");
  }
  const runs = await Promise.all(positionals.map(readRun));
  const options: CurvesSvgOptions = {};
  if (values.metrics) options.metrics = values.metrics.split(",").map((m) => m.trim());
  if (values.title) options.title = values.title;
  const svg = runs.length === 1 ? runCurvesSvg(runs[0]!, options) : overlaySvg(runs, options);
  await Deno.writeTextFile(values.out!, svg);
  return values.out!;
}

if (import.meta.main) {
  try {
    console.log(`wrote ${await plotMain(Deno.args)}`);
  } catch (e) {
    console.error(`error: ${(e as Error).message}`);
    Deno.exit(2);
  }
}
