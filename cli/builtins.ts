/**
 * The built-in plugins, listed explicitly (nothing registers itself by being imported), as
 * TensorFlow.js lists its kernels. The CLI resolves `--env` and `--algo` names and aliases against
 * this registry; a path or URL loads a user's module.
 */
import { ppo } from "@proximal/algos";
import { createRegistry, type Registry } from "@proximal/core";
import { cartpole } from "@proximal/envs";
import { textCompletionWithStages } from "@proximal/rlhf";

/**
 * Every built-in plugin: the `cartpole` and `text-completion` envs (the latter with the RLHF
 * stages as its algorithms) and the `ppo` algorithm.
 *
 * @example Look up a plugin by name or alias
 * ```ts
 * import assert from "node:assert/strict";
 * import { lookupPlugin } from "@proximal/core";
 * import { builtins } from "@proximal/cli";
 * assert.equal(lookupPlugin(builtins, "env", "text-preference")?.name, "text-completion");
 * assert.equal(lookupPlugin(builtins, "algo", "ppo")?.name, "ppo");
 * ```
 */
export const builtins: Registry = createRegistry([cartpole, textCompletionWithStages, ppo]);

/**
 * Where a worker thread loads each built-in env plugin from (`EnvSource.module`): PPO's
 * `--num-workers` builds the envs in its workers. The text env trains a language model, which
 * the workers do not serve.
 *
 * @example CartPole's module
 * ```ts
 * import assert from "node:assert/strict";
 * import { builtinEnvModules } from "@proximal/cli";
 * assert.match(builtinEnvModules.cartpole!, /_worker_envs\.ts#cartpole$/);
 * ```
 */
export const builtinEnvModules: Readonly<Record<string, string>> = {
  cartpole: `${new URL("./_worker_envs.ts", import.meta.url).href}#cartpole`,
};
