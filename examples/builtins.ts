/**
 * The built-in plugins, listed explicitly (nothing registers itself by being imported). The CLI
 * resolves `--env` and `--algo` names against this registry; a path or URL loads a user's module.
 */
import { ppo } from "@proximal/algos";
import { createRegistry, type Registry } from "@proximal/core";
import { cartpole } from "@proximal/envs";
import { textPreferenceWithStages } from "./text_stages.ts";

/** Every built-in plugin. */
export const builtins: Registry = createRegistry([cartpole, textPreferenceWithStages, ppo]);
