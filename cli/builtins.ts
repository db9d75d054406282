/**
 * The built-in plugins, listed explicitly (nothing registers itself by being imported). The CLI
 * resolves `--env` and `--algo` names against this registry; a path or URL loads a user's module.
 */
import { ppo } from "@proximal/algos";
import { createRegistry, type Registry } from "@proximal/core";
import { cartpole } from "@proximal/envs";
import { textPreferenceWithStages } from "@proximal/rlhf";

/** Every built-in plugin. */
export const builtins: Registry = createRegistry([cartpole, textPreferenceWithStages, ppo]);

/**
 * Where a worker thread loads each built-in env plugin from (`EnvSource.module`): PPO's
 * `--num-workers` builds the envs in its workers. The text env trains a language model, which
 * the workers do not serve.
 */
export const builtinEnvModules: Readonly<Record<string, string>> = {
  cartpole: `${import.meta.resolve("@proximal/envs")}#cartpole`,
};
