/**
 * The continuous example's table (README, "Continuous control"): the mean 100-episode return of
 * uniformly random forces on `examples/point_mass.ts` at seeds 1–3, and of the trained runs given
 * as directories (their `eval.json`, deterministic), grouped by the run directory's name without
 * its `-sN` suffix.
 *
 *   deno run -A bench/continuous.ts /tmp/pm-continuous-s1 … /tmp/pm-defaults-s3
 */
import { evaluatePolicy, type Policy, Rng } from "@proximal/core";
import { pointMass } from "../examples/point_mass.ts";

/** Uniformly random forces within the action bounds, seeded. */
function randomPolicy(seed: number): Policy {
  const rng = new Rng(seed);
  return {
    act: (observations: Float32Array) => {
      const n = observations.length / 4;
      const actions = Float32Array.from({ length: 2 * n }, () => rng.range(-2, 2));
      return { actions };
    },
  } as unknown as Policy;
}

const rows: string[] = [];
const random = [1, 2, 3].map((seed) =>
  evaluatePolicy(() => pointMass.create(pointMass.defaults), randomPolicy(seed), {
    episodes: 100,
    seed: 1_000_000 + seed,
    deterministic: false,
  }).mean
);
rows.push(`| random forces | ${random.map((r) => r.toFixed(0)).join(" | ")} |`);

const groups = new Map<string, Map<string, number>>();
for (const dir of Deno.args) {
  const name = dir.replace(/\/$/, "").split("/").pop()!;
  const group = name.replace(/-s\d+$/, ""), seed = name.match(/-s(\d+)$/)?.[1] ?? "?";
  const { mean } = JSON.parse(await Deno.readTextFile(`${dir}/eval.json`));
  groups.set(group, (groups.get(group) ?? new Map()).set(seed, mean));
}
for (const [group, seeds] of groups) {
  const cells = ["1", "2", "3"].map((s) => seeds.get(s)?.toFixed(0) ?? "–");
  rows.push(`| ${group} | ${cells.join(" | ")} |`);
}
console.log("| policy | seed 1 | seed 2 | seed 3 |\n| --- | --- | --- | --- |");
console.log(rows.join("\n"));
