/**
 * proximal's training algorithms, each readable top to bottom in one file: PPO (clipped
 * surrogate, GAE, CleanRL's defaults and implementation details), SFT of a language model, and
 * DPO (sigmoid, IPO and hinge losses against a frozen reference); plus `klPenalty`, the RLHF KL
 * leash as a rollout processor for PPO.
 *
 * @example Train PPO on CartPole-v1
 * ```ts
 * import { Ppo } from "@proximal/algos";
 * import { setupBackend } from "@proximal/core";
 * import { CartPole } from "@proximal/envs";
 * await setupBackend("wasm");
 * const ppo = new Ppo({ makeEnv: () => new CartPole(), numEnvs: 4, seed: 1, totalTimesteps: 512 });
 * const { metrics } = await ppo.iterate();
 * console.log(metrics["losses/value_loss"]);
 * ppo.dispose();
 * ```
 *
 * @module
 */
export * from "./dpo.ts";
export * from "./dpo_loss.ts";
export * from "./log_probs.ts";
export * from "./ppo.ts";
export * from "./ppo_loops.ts";
export * from "./ppo_plugin.ts";
export * from "./sft.ts";
export * from "./kl_control.ts";
export * from "./kl_penalty.ts";
