/**
 * The networks proximal trains: {@linkcode MlpPolicy} (the actor-critic MLP of CleanRL's classic
 * control agents, with fused kernels for acting on tfjs-wasm), and the RLHF stack — a word-level
 * {@linkcode WordTokenizer}, a GRU language model ({@linkcode GruLanguageModel}) and
 * {@linkcode LmPolicy}, which makes a language model a token-by-token policy.
 *
 * @example An MLP policy acts on a batch of observations
 * ```ts
 * import assert from "node:assert/strict";
 * import { Box, Discrete, Rng, setupBackend } from "@proximal/core";
 * import { MlpPolicy } from "@proximal/models";
 * await setupBackend("cpu");
 * const policy = new MlpPolicy(new Box({ low: -1, high: 1, shape: [4] }), new Discrete(2), { seed: 1 });
 * const { actions } = policy.act(new Float32Array(8), { rng: new Rng(1) });
 * assert.equal(actions.length, 2);
 * policy.dispose();
 * ```
 *
 * @module
 */
export * from "./completion_log_probs.ts";
export * from "./language_model.ts";
export * from "./language_model_types.ts";
export * from "./lm_policy.ts";
export * from "./mlp_policy.ts";
export * from "./tokenizer.ts";
