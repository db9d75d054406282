/**
 * Built-in environments for proximal, each a class implementing `Env` from `@proximal/core`
 * and an env plugin for the registry: CartPole-v1 with Gymnasium's exact dynamics. Also the data
 * of the RLHF loop: the 3,000 human-labelled review sentences of the UCI "Sentiment Labelled
 * Sentences" set (Kotzias et al., 2015), read from the `sentiment@5.0.2` npm package. And
 * Gymnasium-style env wrappers: observation and reward normalisation, action clipping and
 * rescaling (`withWrappers`).
 *
 * @example Run one CartPole episode with random pushes
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "@proximal/core";
 * import { cartpole } from "@proximal/envs";
 * const env = cartpole.create(cartpole.defaults);
 * const rng = new Rng(0);
 * env.reset({ seed: 0 });
 * let length = 0;
 * for (let done = false; !done; length++) {
 *   const step = env.step(rng.int(2));
 *   done = step.terminated || step.truncated;
 * }
 * assert.ok(length > 0 && length <= 500);
 * ```
 *
 * @module
 */
export * from "./cartpole.ts";
export * from "./sentiment_corpus.ts";
export * from "./sentiment_task.ts";
export * from "./text_completion.ts";
export * from "./wrappers.ts";
