/**
 * Where a PPO checkpoint keeps the envs and random streams (private). Without workers they are the
 * trainer's; with workers they live in the shards. A run's numbers depend on its shards, so a
 * checkpoint records how many, and one shard's state is written as the one-thread trainer's, so
 * such checkpoints resume with or without workers.
 */
import type { MetaReader, VectorEnv, VectorEnvState } from "@proximal/core";
import type { ShardState } from "./_ppo_protocol.ts";

/**
 * The checkpoint's metadata of the envs: `numShards`, `envs` (every copy, in shard order) and,
 * with several shards, `shards` (each one's envs and random stream).
 *
 * @param shards The shards' states, or null without workers.
 * @param options The trainer's env state and the shards in force.
 * @returns The metadata.
 */
export function shardsMeta(
  shards: ShardState[] | null,
  options: { envs: VectorEnvState; numShards: number },
): Record<string, unknown> {
  return {
    numShards: options.numShards,
    envs: shards ? mergeEnvStates(shards.map((s) => s.envs)) : options.envs,
    ...(shards && shards.length > 1 ? { shards } : {}),
  };
}

/**
 * Reads back {@linkcode shardsMeta}'s metadata, refusing another shard count or other envs before
 * anything is restored.
 *
 * @param meta The checkpoint's metadata.
 * @param envs The run's env copies.
 * @param numShards The shards of this run.
 * @returns Every copy's env state and each shard's state.
 */
export function readShards(
  meta: MetaReader,
  envs: VectorEnv,
  numShards: number,
): { envs: VectorEnvState; shards: ShardState[] } {
  const saved = meta.optionalCount("numShards") ?? 1;
  if (saved !== numShards) {
    meta.fail(
      `the checkpoint was written with numShards ${saved} and this run has ${numShards} (a run's numbers depend on its shards: resume with --num-workers >= 1 --num-shards ${saved})`,
    );
  }
  const all = envState(meta.reader("envs"));
  const shards = numShards === 1
    ? [{ envs: all, rng: meta.rng("rng") }]
    : meta.readers("shards").map((s) => ({ envs: envState(s.reader("envs")), rng: s.rng("rng") }));
  if (shards.length !== numShards) {
    meta.fail(`the checkpoint has states for ${shards.length} shards, not ${numShards}`);
  }
  const n = envs.numEnvs;
  if (all.envs.length !== n || all.observations.length !== n * envs.observationSize) {
    meta.fail(
      `the checkpoint's envs are ${all.envs.length} copies with ${all.observations.length} observation floats, this run's ${n} with ${
        n * envs.observationSize
      } (another --num-envs or env?)`,
    );
  }
  return { envs: all, shards };
}

/** A vector env's saved state, read typed. */
function envState(meta: MetaReader): VectorEnvState {
  const envs = meta.json("envs");
  if (!Array.isArray(envs)) meta.fail("the checkpoint's env states are not a list");
  return {
    envs,
    observations: meta.numbers("observations"),
    returns: meta.numbers("returns"),
    lengths: meta.numbers("lengths"),
  };
}

/** The shards' env states as one vector env's (copies in shard order). */
function mergeEnvStates(states: VectorEnvState[]): VectorEnvState {
  return {
    envs: states.flatMap((s) => s.envs),
    observations: states.flatMap((s) => s.observations),
    returns: states.flatMap((s) => s.returns),
    lengths: states.flatMap((s) => s.lengths),
  };
}
