/**
 * Which plugins and settings the flags name (private to the CLI): the env and algorithm plugins by
 * name, alias or module reference, the preset, and the wrappers, each checked against a run being
 * resumed.
 */
import {
  type AlgoPlugin,
  createRegistry,
  type EnvPlugin,
  isModuleReference,
  lookupPlugin,
  type Plugin,
  type Registry,
  resolvePlugin,
} from "@proximal/core";
import { WRAPPER_NAMES } from "@proximal/envs";
import { builtins } from "./builtins.ts";
import type { Resumed } from "./_checkpoints.ts";
import { asUsageError, type FlagValues, TOP_LEVEL, UsageError } from "./_flags.ts";

/**
 * The env and algorithm plugins, by name, alias or module reference (`--env`, `--algo`, else the
 * resumed run's, else the defaults). An env may bring algorithms of its own (the text env: sft,
 * reward-model, rlhf-ppo, dpo), found before the built-in ones. The references returned are what
 * the run records: a plugin's name for a name or alias, a module reference as given.
 */
export async function selectPlugins(
  first: FlagValues,
  resumed: Resumed | undefined,
): Promise<{ envRef: string; algoRef: string; envPlugin: EnvPlugin; algoPlugin: AlgoPlugin }> {
  const wanted = (kind: "env" | "algo") => {
    const given = first[kind];
    return typeof given === "string" ? given : resumed?.config[kind] ?? TOP_LEVEL[kind].default;
  };
  const envLookup = (ref: string) => lookupPlugin(builtins, "env", ref);
  checkResumedWith(resumed, "env", first.env, envLookup);
  const envRef = canonicalRef(wanted("env"), envLookup);
  const envPlugin = await resolvePlugin(builtins, "env", envRef).catch(asUsageError);

  let envAlgos: Registry;
  try {
    envAlgos = createRegistry(envPlugin.algos ?? []);
  } catch (e) {
    throw new UsageError(
      `Invalid algorithms of env plugin "${envPlugin.name}": ${(e as Error).message}`,
    );
  }
  const algoLookup = (ref: string) =>
    lookupPlugin(envAlgos, "algo", ref) ?? lookupPlugin(builtins, "algo", ref);
  checkResumedWith(resumed, "algo", first.algo, algoLookup);
  const algoRef = canonicalRef(wanted("algo"), algoLookup);
  const algoPlugin = lookupPlugin(envAlgos, "algo", algoRef) ??
    await resolvePlugin(builtins, "algo", algoRef).catch(asUsageError);
  return { envRef, algoRef, envPlugin, algoPlugin };
}

/** A plugin's name for a name or alias; a module reference (or an unknown name) as it is. */
function canonicalRef(ref: string, lookup: (name: string) => Plugin | undefined): string {
  return isModuleReference(ref) ? ref : lookup(ref)?.name ?? ref;
}

/** Refuses `--env`/`--algo` naming another plugin than the run being resumed. */
function checkResumedWith(
  resumed: Resumed | undefined,
  kind: "env" | "algo",
  given: string | boolean | undefined,
  lookup: (name: string) => Plugin | undefined,
): void {
  if (!resumed || typeof given !== "string") return;
  const trained = resumed.config[kind];
  if (canonicalRef(given, lookup) !== canonicalRef(trained, lookup)) {
    throw new UsageError(
      `Cannot resume from ${resumed.path}: it was trained with --${kind} ${trained}, not ${given}`,
    );
  }
}

/**
 * `--wrappers`, else the resumed run's, else the preset's: names joined by commas, checked against
 * the known wrappers; `none` (or "") for none. A resumed run keeps its wrappers.
 */
export function wrappersFlag(
  given: string | boolean | undefined,
  resumed: Resumed | undefined,
  preset: readonly string[] | undefined,
): string {
  if (typeof given !== "string") return resumed?.config.wrappers ?? preset?.join(",") ?? "";
  const names = given.split(",").map((name) => name.trim()).filter((n) => n !== "" && n !== "none");
  const unknown = names.filter((name) => !(WRAPPER_NAMES as readonly string[]).includes(name));
  if (unknown.length > 0) {
    throw new UsageError(
      `Unknown wrapper in --wrappers: ${unknown.join(", ")} (choose from ${
        WRAPPER_NAMES.join(", ")
      }, or none)`,
    );
  }
  const wrappers = names.join(",");
  if (resumed && wrappers !== resumed.config.wrappers) {
    throw new UsageError(
      `Cannot resume from ${resumed.path}: it was trained with --wrappers ${
        resumed.config.wrappers || "none"
      }, not ${wrappers || "none"}`,
    );
  }
  return wrappers;
}

/** The algorithm's `--preset`, if one is given. */
export function presetOf(
  algo: AlgoPlugin,
  name: string | boolean | undefined,
): NonNullable<AlgoPlugin["presets"]>[string] | undefined {
  if (typeof name !== "string" || name === "") return undefined;
  const preset = algo.presets?.[name];
  if (!preset) {
    const names = Object.keys(algo.presets ?? {});
    throw new UsageError(
      `Unknown --preset "${name}" for algo ${algo.name}: ${
        names.length > 0 ? `choose ${names.join(", ")}` : "it has no presets"
      }`,
    );
  }
  return preset;
}
