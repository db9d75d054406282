/**
 * One shard of PPO's data-parallel workers (private; run by `_ppo_worker.ts`): a slice of the env
 * copies with its own random stream, which collects its part of each rollout into shared memory
 * with `ppo_loops.ts`'s `collectRollout`, computes its GAE and shuffles its rows each epoch
 * ({@linkcode PpoShard}, in the worker that owns it), and its rows' share of each minibatch's
 * gradient ({@linkcode ShardRows}, in whichever worker claims it). The workers sum the shards'
 * shares in shard order and step Adam.
 *
 * With one shard every step is the one-thread trainer's, in the same order on the same numbers:
 * the same rollout function, the same random draws for actions and shuffles, the same minibatch
 * rows, the same normalisation, so `numWorkers` 1 gives the numbers of `numWorkers` 0. With S
 * shards, shard s holds env copies [s·N/S, (s+1)·N/S), draws from the s-th fork of the run's
 * generator, shuffles its own rows, and gives each minibatch its N/S-th share of rows.
 */
import { type Env, Rng, type RolloutEpisode, VectorEnv } from "@proximal/core";
import type { MlpPolicy } from "@proximal/models";
import { computeGae } from "./ppo.ts";
import { collectRollout } from "./ppo_loops.ts";
import { emptyRows, gatherRows, type Minibatch } from "./_ppo_engine.ts";
import { actorHalf, criticHalf, type HalfLossOptions } from "./_ppo_mlp_engine.ts";
import type { ShardRowsMemory, ShardSettings, ShardSpec, ShardState } from "./_ppo_protocol.ts";

/** A shard's rows as typed views of its shared memory, and the epoch's order. */
type RowViews = Minibatch & { order: Int32Array };

function rowViews(memory: ShardRowsMemory, discrete: boolean): RowViews {
  return {
    observations: new Float32Array(memory.observations),
    actions: discrete ? new Int32Array(memory.actions) : new Float32Array(memory.actions),
    logProbs: new Float32Array(memory.logProbs),
    values: new Float32Array(memory.values),
    advantages: new Float32Array(memory.advantages),
    returns: new Float32Array(memory.returns),
    order: new Int32Array(memory.order),
  };
}

/** A shard's env copies, random stream and rollout. */
export class PpoShard {
  readonly spec: ShardSpec;
  readonly envs: VectorEnv;
  readonly rng: Rng;
  observations: Float32Array;
  /** This rollout's rows (time-major over the shard's copies). */
  readonly rows: number;
  /** The episodes that finished in the last rollout. */
  episodes: RolloutEpisode[] = [];
  readonly #s: ShardSettings;
  readonly #rows: RowViews;
  readonly #mb: number;

  constructor(
    makeEnv: () => Env,
    spec: ShardSpec,
    options: { settings: ShardSettings; memory: ShardRowsMemory },
  ) {
    const settings = options.settings;
    this.spec = spec;
    this.#s = settings;
    // Copy i of the shard is copy firstEnv + i of the run: the same reset seeds as one vector env.
    this.envs = new VectorEnv(makeEnv, {
      numEnvs: spec.numEnvs,
      seed: settings.seed + spec.firstEnv,
      name: settings.envName,
    });
    this.rng = new Rng(0);
    this.rng.setState(spec.rng);
    this.observations = this.envs.reset().slice();
    this.rows = spec.numEnvs * settings.numSteps;
    this.#rows = rowViews(options.memory, this.envs.actionSpace.kind === "discrete");
    this.#mb = this.rows / settings.numMinibatches;
  }

  /**
   * Collects the shard's part of a rollout with the policy's current weights (the actor acts at
   * every step, the critic values every observation in one call afterwards), then its GAE.
   */
  rollout(policy: MlpPolicy): void {
    const s = this.#s, rows = this.#rows;
    const rollout = collectRollout(this.envs, policy, {
      numSteps: s.numSteps,
      gamma: s.gamma,
      bootstrapTruncated: s.bootstrapTruncated,
      rng: this.rng,
      observations: this.observations,
      values: "batched",
      firstEnv: this.spec.firstEnv,
      into: rows,
    });
    const gae = computeGae(rollout, { gamma: s.gamma, lambda: s.gaeLambda });
    rows.advantages.set(gae.advantages);
    rows.returns.set(gae.returns);
    for (let k = 0; k < this.rows; k++) rows.order[k] = k;
    this.episodes = rollout.episodes;
  }

  /**
   * Starts an epoch: shuffles the shard's rows and writes, for each minibatch j, the sum of its
   * share's advantages and their squared deviations from its share's mean at `stats[2j]` and
   * `stats[2j + 1]`, from which {@linkcode minibatchNorms} forms the minibatch's mean and deviation.
   */
  startEpoch(stats: Float64Array): void {
    const { order, advantages } = this.#rows;
    this.rng.shuffle(order);
    const mb = this.#mb;
    for (let j = 0; j < this.#s.numMinibatches; j++) {
      let sum = 0;
      for (let r = 0; r < mb; r++) sum += advantages[order[j * mb + r]!]!;
      const mean = sum / mb;
      let sq = 0;
      for (let r = 0; r < mb; r++) sq += (advantages[order[j * mb + r]!]! - mean) ** 2;
      stats[2 * j] = sum;
      stats[2 * j + 1] = sq;
    }
  }

  /** The shard's env and random-stream state, for checkpoints. */
  getState(): ShardState {
    return { envs: this.envs.getState(), rng: this.rng.getState() };
  }

  /** Restores {@linkcode PpoShard.getState}'s state. */
  setState(state: ShardState): void {
    this.observations = this.envs.setState(state.envs).slice();
    this.rng.setState(state.rng);
  }
}

/**
 * A shard's rows as any worker sees them (its rollout's rows in shared memory), for computing the
 * shard's share of a minibatch's gradient: the same numbers whichever worker computes them, as the
 * workers' weights are equal.
 */
export class ShardRows {
  readonly #rows: RowViews;
  /** The actor's and the critic's rows of a share (they share the observations). */
  readonly #actor: Pick<Minibatch, "observations" | "actions" | "logProbs" | "advantages">;
  readonly #critic: Pick<Minibatch, "observations" | "values" | "returns">;

  constructor(
    memory: ShardRowsMemory,
    shape: { action: { kind: "discrete" | "box" }; shareRows: number },
  ) {
    this.#rows = rowViews(memory, shape.action.kind === "discrete");
    const rows = emptyRows(this.#rows, shape.shareRows);
    const { observations, actions, logProbs, values, advantages, returns } = rows;
    this.#actor = { observations, actions, logProbs, advantages };
    this.#critic = { observations, values, returns };
  }

  /**
   * One half of the shard's share of minibatch j's gradient at the policy's current weights: its
   * `actorHalf` or its `criticHalf` result, a sum over its rows divided by the minibatch's rows.
   *
   * @param norm The minibatch's advantage mean and deviation, or null to leave them as they are.
   */
  half(
    policy: MlpPolicy,
    j: number,
    options: {
      half: "actor" | "critic";
      loss: HalfLossOptions;
      norm: { mean: number; std: number } | null;
    },
  ): Float32Array {
    const actor = options.half === "actor", into = actor ? this.#actor : this.#critic;
    const start = j * (actor ? this.#actor.logProbs : this.#critic.values).length;
    gatherRows(this.#rows, this.#rows.order, { start, into });
    if (!actor) return criticHalf(policy, this.#critic, options.loss);
    const { norm } = options, adv = this.#actor.advantages;
    if (norm) {
      for (let r = 0; r < adv.length; r++) adv[r] = (adv[r]! - norm.mean) / (norm.std + 1e-8);
    }
    return actorHalf(policy, this.#actor, options.loss);
  }
}

/**
 * Each minibatch's advantage mean and deviation (torch's unbiased one) from its shares' sums and
 * squared deviations, in shard order: Chan et al.'s pairwise update moves each share's squared
 * deviations about its own mean to the minibatch's mean. With one share it is the two-pass
 * formula of the one-thread trainer, to the bit.
 *
 * @param stats Each shard's `[sum, squared deviations]` per minibatch.
 * @param shareRows Each shard's rows per minibatch share.
 * @returns `[mean, std]` per minibatch.
 */
export function minibatchNorms(stats: Float64Array[], shareRows: number[]): Float64Array {
  const m = stats[0]!.length / 2, rows = shareRows.reduce((a, b) => a + b, 0);
  const norms = new Float64Array(2 * m);
  for (let j = 0; j < m; j++) {
    let sum = 0;
    for (const st of stats) sum += st[2 * j]!;
    const mean = sum / rows;
    let sq = 0;
    stats.forEach((st, s) => {
      sq += st[2 * j + 1]! + shareRows[s]! * (st[2 * j]! / shareRows[s]! - mean) ** 2;
    });
    norms[2 * j] = mean;
    norms[2 * j + 1] = Math.sqrt(sq / Math.max(1, rows - 1));
  }
  return norms;
}
