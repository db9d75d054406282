// `--help`: the flags, the plugins (with their aliases), the presets and the options of the
// selected plugins.
import {
  type AlgoPlugin,
  describePlugin,
  type EnvPlugin,
  type Plugin,
  toKebabCase,
} from "@proximal/core";
import { builtins } from "./builtins.ts";
import { TOP_LEVEL } from "./_flags.ts";

/** The help text for the selected env and algorithm. */
export function helpText(env: EnvPlugin, algo: AlgoPlugin): string {
  const lines = [
    "Usage: deno task train [--env NAME|PATH] [--algo NAME|PATH] [flags] [plugin options]",
    "",
    "Flags:",
  ];
  for (const [flag, { type, default: d, help }] of Object.entries(TOP_LEVEL)) {
    const name = `--${flag} ${type}`.trimEnd();
    lines.push(`  ${name.padEnd(30)} ${help}${d === "" ? "" : ` (default: ${d})`}`);
  }
  lines.push(
    `  ${"--help, -h".padEnd(30)} this text`,
    "",
    "Values go as --flag value or --flag=value; negative numbers too (--seed -3).",
    "",
  );
  const kinds = ["env", "algo"] as const;
  for (const kind of kinds) {
    const plugins = [...builtins.values()].filter((p) => p.kind === kind);
    lines.push(`Built-in ${kind} plugins: ${plugins.map(withAliases).join(", ")}`);
  }
  for (const [name, preset] of Object.entries(algo.presets ?? {})) {
    const set = Object.entries(preset.options).map(([k, v]) => `--${toKebabCase(k)} ${v}`);
    if (preset.numEnvs !== undefined) set.unshift(`--num-envs ${preset.numEnvs}`);
    if (preset.wrappers?.length) set.push(`--wrappers ${preset.wrappers.join(",")}`);
    lines.push(
      `Preset ${algo.name} --preset ${name}: ${preset.description}`,
      `  = ${set.join(" ")}`,
    );
  }
  if (env.algos?.length) {
    lines.push(`Algorithms of env ${env.name}: ${env.algos.map(withAliases).join(", ")}`);
  }
  lines.push(
    "",
    "Options of the selected plugins (pick others with --env/--algo before --help):",
    "",
    describePlugin(env),
    "",
    describePlugin(algo),
    "",
    "Boolean options take a value: --anneal-lr false",
  );
  return lines.join("\n");
}

function withAliases(plugin: Plugin): string {
  const aliases = plugin.aliases ?? [];
  return aliases.length > 0 ? `${plugin.name} (alias ${aliases.join(", ")})` : plugin.name;
}
