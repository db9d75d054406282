// The learning-curve picture written beside a run's metrics at the end of every run. The plot
// module (and ECharts with it) is imported only here, at the end, so a run's start-up never pays
// for loading the chart library.

/** Where a run's picture goes, beside its `metrics.jsonl`. */
export const CURVES_FILE = "curves.svg";

/**
 * Renders `<outDir>/metrics.jsonl` (grouped and labelled by `config.json`) to `<outDir>/curves.svg`,
 * through a temporary file and a rename so a half-written picture never replaces a whole one.
 * Returns the path written, or why nothing was (a run stopped before its first row): a missing
 * picture is worth a line, never a failed run.
 */
export async function writeCurves(outDir: string): Promise<{ path: string } | { skipped: string }> {
  const { readRun, runCurvesSvg } = await import("./plot.ts");
  let svg: string;
  try {
    svg = runCurvesSvg(await readRun(outDir));
  } catch (e) {
    return { skipped: (e as Error).message };
  }
  const path = `${outDir}/${CURVES_FILE}`;
  const temporary = `${path}.tmp`;
  await Deno.writeTextFile(temporary, svg);
  await Deno.rename(temporary, path);
  return { path };
}
