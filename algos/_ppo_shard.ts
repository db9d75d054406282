/**
 * One shard of PPO's data-parallel workers (private; run by `_ppo_worker.ts`): a slice of the env
 * copies with its own random stream, which collects its part of each rollout into shared memory,
 * computes its GAE and shuffles its rows each epoch ({@linkcode PpoShard}, in the worker that owns
 * it), and its rows' share of each minibatch's gradient ({@linkcode ShardRows}, in whichever worker
 * claims it). The workers sum the shards' shares in shard order and step Adam (`_ppo_pool.ts`).
 *
 * With one shard every step is the one-thread trainer's (`ppo.ts`), in the same order on the same
 * numbers: the same random draws for actions and shuffles, the same critic call, the same
 * minibatch rows, the same normalisation, so `numWorkers` 1 gives the numbers of `numWorkers` 0.
 * With S shards, shard s holds env copies [s·N/S, (s+1)·N/S), draws from the s-th fork of the
 * run's generator, shuffles its own rows, and gives each minibatch its N/S-th share of rows.
 */
import {
  type Env,
  Rng,
  type RngState,
  type RolloutEpisode,
  VectorEnv,
  type VectorEnvState,
} from "@proximal/core";
import type { MlpPolicy } from "@proximal/models";
import { computeGae } from "./ppo.ts";
import { actorHalf, criticHalf, type HalfLossOptions } from "./_ppo_grad.ts";

/** What a shard needs to know of the run. */
export interface ShardSpec {
  /** Its index (its place in the sums). */
  index: number;
  /** Its first env copy's index in the run. */
  firstEnv: number;
  /** Its env copies. */
  numEnvs: number;
  /** Its random stream's state. */
  rng: { words: RngState; spareNormal: number | null };
}

/** The run's settings every shard shares. */
export interface ShardSettings {
  /** The run's seed: copy i of the run is reset with seed + i. */
  seed: number;
  /** The env's name, for error messages. */
  envName: string;
  numSteps: number;
  numMinibatches: number;
  gamma: number;
  gaeLambda: number;
  bootstrapTruncated: boolean;
}

/** Floats per finished episode in the pool's episode layout. */
export const EPISODE_FLOATS = 5;

/**
 * The shared buffers of a shard's rows: observations, actions (int32 for a discrete space, else
 * float32), their log-probabilities, values, advantages, returns, and the epoch's shuffled order.
 */
export interface ShardRowsMemory {
  observations: SharedArrayBuffer;
  actions: SharedArrayBuffer;
  logProbs: SharedArrayBuffer;
  values: SharedArrayBuffer;
  advantages: SharedArrayBuffer;
  returns: SharedArrayBuffer;
  order: SharedArrayBuffer;
}

/** Typed views of a shard's rows. */
interface RowViews {
  observations: Float32Array;
  actions: Int32Array | Float32Array;
  logProbs: Float32Array;
  values: Float32Array;
  advantages: Float32Array;
  returns: Float32Array;
  order: Int32Array;
}

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
  readonly #s: ShardSettings;
  readonly #rows: RowViews;
  readonly #actSize: number;
  readonly #rewardBuf: Float32Array;
  readonly #endedBuf: Uint8Array;
  episodes: RolloutEpisode[] = [];
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
    const discrete = this.envs.actionSpace.kind === "discrete";
    this.#actSize = discrete ? 1 : this.envs.actionSize;
    this.rows = spec.numEnvs * settings.numSteps;
    this.#rows = rowViews(options.memory, discrete);
    this.#rewardBuf = new Float32Array(this.rows);
    this.#endedBuf = new Uint8Array(this.rows);
    this.#mb = this.rows / settings.numMinibatches;
  }

  /**
   * Collects the shard's part of a rollout with the policy's current weights: the actor acts at
   * every step, the critic values every observation once afterwards; then GAE.
   */
  rollout(policy: MlpPolicy): void {
    const s = this.#s, envs = this.envs, n = envs.numEnvs, steps = s.numSteps, rows = this.#rows;
    const obsSize = envs.observationSize, actSize = this.#actSize;
    const finals: { t: number; i: number; observation: Float32Array }[] = [];
    this.episodes = [];
    for (let t = 0; t < steps; t++) {
      rows.observations.set(this.observations, t * n * obsSize);
      const { actions, logProbs } = policy.act(this.observations, { rng: this.rng, values: false });
      rows.actions.set(actions, t * n * actSize);
      rows.logProbs.set(logProbs, t * n);
      const result = envs.step(actions);
      for (let i = 0; i < n; i++) {
        this.#rewardBuf[t * n + i] = result.rewards[i]!;
        this.#endedBuf[t * n + i] = result.terminated[i]! | result.truncated[i]!;
        if (s.bootstrapTruncated && result.truncated[i]) {
          finals.push({ t, i, observation: result.finalObservations[i]!.slice() });
        }
      }
      for (const e of result.episodes) {
        this.episodes.push({ ...e, envIndex: e.envIndex + this.spec.firstEnv, step: t });
      }
      this.observations.set(result.observations);
    }
    // One critic call: the rollout's observations, the truncated episodes' final ones, the next.
    const obsFloats = rows.observations.length;
    const all = new Float32Array(obsFloats + (finals.length + n) * obsSize);
    all.set(rows.observations);
    finals.forEach((f, j) => all.set(f.observation, obsFloats + j * obsSize));
    all.set(this.observations, obsFloats + finals.length * obsSize);
    const values = policy.value(all);
    rows.values.set(values.subarray(0, this.rows));
    // A time limit is not a terminal state: credit the value the episode would have had.
    finals.forEach((f, j) => {
      this.#rewardBuf[f.t * n + f.i]! += s.gamma * values[this.rows + j]!;
    });
    const lastValues = values.slice(this.rows + finals.length);
    const gae = computeGae(
      { rewards: this.#rewardBuf, values: rows.values, ended: this.#endedBuf, lastValues },
      { gamma: s.gamma, lambda: s.gaeLambda },
    );
    rows.advantages.set(gae.advantages);
    rows.returns.set(gae.returns);
    for (let k = 0; k < this.rows; k++) rows.order[k] = k;
  }

  /**
   * Starts an epoch: shuffles the shard's rows and writes, for each minibatch j, the sum of its
   * share's advantages and their squared deviations from its share's mean at `stats[2j]` and
   * `stats[2j + 1]`, from which the main thread forms the minibatch's mean and deviation.
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
  getState(): { envs: VectorEnvState; rng: { words: RngState; spareNormal: number | null } } {
    return { envs: this.envs.getState(), rng: this.rng.getState() };
  }

  /** Restores {@linkcode PpoShard.getState}'s state. */
  setState(
    state: { envs: VectorEnvState; rng: { words: RngState; spareNormal: number | null } },
  ): void {
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
  readonly #obsSize: number;
  readonly #actSize: number;
  /** Rows of this shard in each minibatch. */
  readonly #mb: number;
  readonly #mbObs: Float32Array;
  readonly #mbAct: Int32Array | Float32Array;
  readonly #mbLogProb: Float32Array;
  readonly #mbValue: Float32Array;
  readonly #mbAdv: Float32Array;
  readonly #mbRet: Float32Array;

  constructor(
    memory: ShardRowsMemory,
    shape: {
      observationSize: number;
      action: { kind: "discrete" | "box"; size: number };
      shareRows: number;
    },
  ) {
    const discrete = shape.action.kind === "discrete", mb = shape.shareRows;
    this.#rows = rowViews(memory, discrete);
    this.#obsSize = shape.observationSize;
    this.#actSize = discrete ? 1 : shape.action.size;
    this.#mb = mb;
    this.#mbObs = new Float32Array(mb * this.#obsSize);
    this.#mbAct = discrete ? new Int32Array(mb) : new Float32Array(mb * this.#actSize);
    this.#mbLogProb = new Float32Array(mb);
    this.#mbValue = new Float32Array(mb);
    this.#mbAdv = new Float32Array(mb);
    this.#mbRet = new Float32Array(mb);
  }

  /**
   * One half of the shard's share of minibatch j's gradient at the policy's current weights: its
   * {@linkcode actorHalf} or its {@linkcode criticHalf} result, a sum over its rows divided by the
   * minibatch's rows.
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
    const mb = this.#mb, obsSize = this.#obsSize, actSize = this.#actSize, rows = this.#rows;
    const actor = options.half === "actor";
    for (let r = 0; r < mb; r++) {
      const k = rows.order[j * mb + r]!;
      this.#mbObs.set(rows.observations.subarray(k * obsSize, (k + 1) * obsSize), r * obsSize);
      if (actor) {
        this.#mbAct.set(rows.actions.subarray(k * actSize, (k + 1) * actSize), r * actSize);
        this.#mbLogProb[r] = rows.logProbs[k]!;
        this.#mbAdv[r] = rows.advantages[k]!;
      } else {
        this.#mbValue[r] = rows.values[k]!;
        this.#mbRet[r] = rows.returns[k]!;
      }
    }
    if (!actor) {
      return criticHalf(
        policy,
        { observations: this.#mbObs, values: this.#mbValue, returns: this.#mbRet },
        options.loss,
      );
    }
    const { norm } = options;
    if (norm) {
      for (let r = 0; r < mb; r++) {
        this.#mbAdv[r] = (this.#mbAdv[r]! - norm.mean) / (norm.std + 1e-8);
      }
    }
    return actorHalf(policy, {
      observations: this.#mbObs,
      actions: this.#mbAct,
      logProbs: this.#mbLogProb,
      advantages: this.#mbAdv,
    }, options.loss);
  }
}
