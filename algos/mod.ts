/**
 * proximal's training algorithms, each led by one file that reads top to bottom:
 *
 * - PPO, after CleanRL: `ppo.ts` is the algorithm — its options and defaults, GAE, the clipped
 *   loss, the reference gradient and the {@linkcode Ppo} trainer; `ppo_loops.ts` holds the rollout
 *   and the update's epoch loop, shared with the worker shards; `ppo_plugin.ts` makes it the
 *   `ppo` plugin. The speed work (the closed-form MLP gradient, the worker pool) sits in private
 *   `_ppo_*` files behind one gradient-engine interface.
 * - SFT of a language model ({@linkcode SftTrainer}, `sft.ts`).
 * - DPO ({@linkcode DpoTrainer}, `dpo.ts`), with its sigmoid, IPO and hinge losses and TRL's
 *   metrics in `dpo_loss.ts` and per-sequence log-probs in `log_probs.ts`.
 * - The RLHF KL leash: {@linkcode klPenalty} (`kl_penalty.ts`), a rollout processor that charges
 *   each generated token against a frozen reference for PPO, and its fixed and adaptive KL
 *   controllers (`kl_control.ts`).
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
export * from "./clipped_surrogate.ts";
export * from "./grpo.ts";
export * from "./rloo.ts";
