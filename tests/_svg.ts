// Shared by the plot and CLI tests: reads the drawn lines back out of an ECharts SVG.
import assert from "node:assert/strict";

/** The vertices of every `<path>` stroked in `color` whose `d` is a polyline, in document order. */
export function polylines(svg: string, color: string): [number, number][][] {
  const lines: [number, number][][] = [];
  for (const m of svg.matchAll(/<path d="(M[^"]*)"[^>]*>/g)) {
    if (!m[0].includes(`stroke="${color}"`) || m[0].includes('stroke-opacity="0"')) continue;
    const points = [...m[1]!.matchAll(/[ML]([-\d.e]+) ([-\d.e]+)/g)].map((p) =>
      [Number(p[1]), Number(p[2])] as [number, number]
    );
    lines.push(points);
  }
  return lines;
}

/** Asserts pixels = a + b·data for every point (b ≠ 0), within rounding to 0.1 px. */
export function assertAffine(data: number[], pixels: number[], what: string): number {
  const i0 = data.indexOf(Math.min(...data)), i1 = data.indexOf(Math.max(...data));
  const b = (pixels[i1]! - pixels[i0]!) / (data[i1]! - data[i0]!);
  const a = pixels[i0]! - b * data[i0]!;
  assert.ok(Number.isFinite(b) && b !== 0, `${what}: no scale`);
  data.forEach((d, i) => {
    assert.ok(
      Math.abs(a + b * d - pixels[i]!) <= 0.11,
      `${what}: point ${i} (${d}) drawn at ${pixels[i]}, expected ${a + b * d}`,
    );
  });
  return b;
}
