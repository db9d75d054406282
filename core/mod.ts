/**
 * The contracts proximal's envs, models, algorithms and reward sources plug into, and the runtime
 * they share. Contracts: Gymnasium-style {@linkcode Env}s and spaces, a vectorised env, the
 * actor-critic {@linkcode Policy}, {@linkcode RewardSource}, rollout processors,
 * {@linkcode Trainer}, the plugin types and registry. Runtime: a seeded {@linkcode Rng},
 * {@linkcode Adam}, checkpoints and their typed {@linkcode MetaReader}, the trainer kit (option
 * checks, saving and restoring a trainer's state), policy evaluation, preference-pair files and
 * tfjs backend set-up. The networks live in `@proximal/models`, the algorithms (and the RLHF KL
 * controllers) in `@proximal/algos`.
 *
 * @example Step a vectorised env with random actions
 * ```ts
 * import assert from "node:assert/strict";
 * import { Box, Discrete, Rng, VectorEnv, type Env } from "@proximal/core";
 * function makeEnv(): Env {
 *   let t = 0;
 *   return {
 *     observationSpace: new Box({ low: -1, high: 1, shape: [1] }),
 *     actionSpace: new Discrete(2),
 *     reset: () => ((t = 0), { observation: new Float32Array(1), info: {} }),
 *     step: () => ({ observation: new Float32Array(1), reward: 1, terminated: ++t >= 3, truncated: false, info: {} }),
 *   };
 * }
 * const envs = new VectorEnv(makeEnv, { numEnvs: 2, seed: 1 });
 * envs.reset();
 * const rng = new Rng(0);
 * for (let i = 0; i < 3; i++) envs.step(Int32Array.from([rng.int(2), rng.int(2)]));
 * assert.ok(envs.step(Int32Array.from([0, 0])).episodes.length === 0);
 * ```
 *
 * @module
 */
export * from "./adam.ts";
export * from "./backend.ts";
export * from "./checkpoint.ts";
export * from "./env.ts";
export * from "./env_call_record.ts";
export * from "./evaluate.ts";
export * from "./meta_reader.ts";
export * from "./plugin.ts";
export * from "./policy.ts";
export * from "./preference_pairs.ts";
export * from "./registry.ts";
export * from "./reward_source.ts";
export * from "./rng.ts";
export * from "./rollout.ts";
export * from "./spaces.ts";
export * from "./tensors.ts";
export * from "./trainer.ts";
export * from "./training.ts";
export * from "./training_options.ts";
export * from "./vector_env.ts";
