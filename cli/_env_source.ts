// Where a worker thread can load the env plugin from (PPO's --num-workers builds envs in workers).
import { resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { type EnvSource, isModuleReference, type PluginOptions } from "@proximal/core";
import { builtinEnvModules } from "./builtins.ts";

/** The module the CLI loaded the env plugin from, by absolute URL and name; none if unknown. */
export function withEnvSource(
  ref: string,
  name: string,
  options: PluginOptions,
): { envSource?: EnvSource } {
  if (!isModuleReference(ref)) {
    const module = builtinEnvModules[name];
    return module ? { envSource: { module, options } } : {};
  }
  const hash = ref.lastIndexOf("#");
  const specifier = hash < 0 ? ref : ref.slice(0, hash);
  const url = /^(file|https?|jsr|npm):/.test(specifier)
    ? specifier
    : pathToFileURL(resolve(specifier)).href;
  return { envSource: { module: `${url}#${name}`, options } };
}
