/**
 * One shard of PPO's data-parallel workers (private; run by `_ppo_worker.ts`): a slice of the env
 * copies with its own random stream, which collects its part of each rollout, computes its GAE, and
 * computes its rows' share of each minibatch's gradient. The main thread sums the shards' shares in
 * shard order and applies Adam (`_ppo_pool.ts`).
 *
 * With one shard every step is the one-thread trainer's (`ppo.ts`), in the same order on the same
 * numbers: the same random draws for actions and shuffles, the same critic call, the same
 * minibatch rows, the same normalisation, so `numWorkers` 1 gives the numbers of `numWorkers` 0.
 * With S shards, shard s holds env copies [s·N/S, (s+1)·N/S), draws from the s-th fork of the
 * run's generator, shuffles its own rows, and gives each minibatch its N/S-th share of rows.
 */
import {
  type Env,
  type MlpPolicy,
  Rng,
  type RngState,
  type RolloutEpisode,
  VectorEnv,
  type VectorEnvState,
} from "@proximal/core";
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

/** Floats per finished episode in {@linkcode PpoShard.writeEpisodes}' layout. */
export const EPISODE_FLOATS = 5;

/** A shard's env copies, random stream and rollout. */
export class PpoShard {
  readonly spec: ShardSpec;
  readonly envs: VectorEnv;
  readonly rng: Rng;
  observations: Float32Array;
  /** This rollout's rows (time-major over the shard's copies). */
  readonly rows: number;
  readonly #s: ShardSettings;
  readonly #obsBuf: Float32Array;
  readonly #actBuf: Int32Array | Float32Array;
  readonly #actSize: number;
  readonly #logProbBuf: Float32Array;
  readonly valueBuf: Float32Array;
  readonly #rewardBuf: Float32Array;
  readonly #endedBuf: Uint8Array;
  advantages: Float32Array;
  returns: Float32Array;
  episodes: RolloutEpisode[] = [];
  readonly #order: Int32Array;
  readonly #mb: number;
  readonly #mbObs: Float32Array;
  readonly #mbAct: Int32Array | Float32Array;
  readonly #mbLogProb: Float32Array;
  readonly #mbValue: Float32Array;
  readonly #mbAdv: Float32Array;
  readonly #mbRet: Float32Array;

  constructor(makeEnv: () => Env, spec: ShardSpec, settings: ShardSettings) {
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
    const n = spec.numEnvs, steps = settings.numSteps, obsSize = this.envs.observationSize;
    const discrete = this.envs.actionSpace.kind === "discrete";
    this.#actSize = discrete ? 1 : this.envs.actionSize;
    this.rows = n * steps;
    this.#obsBuf = new Float32Array(this.rows * obsSize);
    this.#actBuf = discrete
      ? new Int32Array(this.rows)
      : new Float32Array(this.rows * this.#actSize);
    this.#logProbBuf = new Float32Array(this.rows);
    this.valueBuf = new Float32Array(this.rows);
    this.#rewardBuf = new Float32Array(this.rows);
    this.#endedBuf = new Uint8Array(this.rows);
    this.advantages = new Float32Array(this.rows);
    this.returns = new Float32Array(this.rows);
    this.#order = new Int32Array(this.rows);
    this.#mb = this.rows / settings.numMinibatches;
    this.#mbObs = new Float32Array(this.#mb * obsSize);
    this.#mbAct = discrete ? new Int32Array(this.#mb) : new Float32Array(this.#mb * this.#actSize);
    this.#mbLogProb = new Float32Array(this.#mb);
    this.#mbValue = new Float32Array(this.#mb);
    this.#mbAdv = new Float32Array(this.#mb);
    this.#mbRet = new Float32Array(this.#mb);
  }

  /**
   * Collects the shard's part of a rollout with the policy's current weights: the actor acts at
   * every step, the critic values every observation once afterwards; then GAE.
   */
  rollout(policy: MlpPolicy): void {
    const s = this.#s, envs = this.envs, n = envs.numEnvs, steps = s.numSteps;
    const obsSize = envs.observationSize, actSize = this.#actSize;
    const finals: { t: number; i: number; observation: Float32Array }[] = [];
    this.episodes = [];
    for (let t = 0; t < steps; t++) {
      this.#obsBuf.set(this.observations, t * n * obsSize);
      const { actions, logProbs } = policy.act(this.observations, { rng: this.rng, values: false });
      this.#actBuf.set(actions, t * n * actSize);
      this.#logProbBuf.set(logProbs, t * n);
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
    const all = new Float32Array(this.#obsBuf.length + (finals.length + n) * obsSize);
    all.set(this.#obsBuf);
    finals.forEach((f, j) => all.set(f.observation, this.#obsBuf.length + j * obsSize));
    all.set(this.observations, this.#obsBuf.length + finals.length * obsSize);
    const values = policy.value(all);
    this.valueBuf.set(values.subarray(0, this.rows));
    // A time limit is not a terminal state: credit the value the episode would have had.
    finals.forEach((f, j) => {
      this.#rewardBuf[f.t * n + f.i]! += s.gamma * values[this.rows + j]!;
    });
    const lastValues = values.slice(this.rows + finals.length);
    const gae = computeGae(
      { rewards: this.#rewardBuf, values: this.valueBuf, ended: this.#endedBuf, lastValues },
      { gamma: s.gamma, lambda: s.gaeLambda },
    );
    this.advantages = gae.advantages;
    this.returns = gae.returns;
    for (let k = 0; k < this.rows; k++) this.#order[k] = k;
  }

  /**
   * Starts an epoch: shuffles the shard's rows and writes, for each minibatch j, the sum of its
   * share's advantages and their squared deviations from its share's mean at `stats[2j]` and
   * `stats[2j + 1]`, from which the main thread forms the minibatch's mean and deviation.
   */
  startEpoch(stats: Float64Array): void {
    this.rng.shuffle(this.#order);
    const mb = this.#mb;
    for (let j = 0; j < this.#s.numMinibatches; j++) {
      let sum = 0;
      for (let r = 0; r < mb; r++) sum += this.advantages[this.#order[j * mb + r]!]!;
      const mean = sum / mb;
      let sq = 0;
      for (let r = 0; r < mb; r++) sq += (this.advantages[this.#order[j * mb + r]!]! - mean) ** 2;
      stats[2 * j] = sum;
      stats[2 * j + 1] = sq;
    }
  }

  /**
   * The shard's share of minibatch j's gradient at the policy's current weights: its
   * {@linkcode actorHalf} result followed by its {@linkcode criticHalf} result, each a sum over
   * its rows divided by the minibatch's rows.
   *
   * @param norm The minibatch's advantage mean and deviation, or null to leave them as they are.
   */
  gradient(
    policy: MlpPolicy,
    j: number,
    options: { loss: HalfLossOptions; norm: { mean: number; std: number } | null },
  ): { actor: Float32Array; critic: Float32Array } {
    const mb = this.#mb, obsSize = this.envs.observationSize, actSize = this.#actSize;
    for (let r = 0; r < mb; r++) {
      const k = this.#order[j * mb + r]!;
      this.#mbObs.set(this.#obsBuf.subarray(k * obsSize, (k + 1) * obsSize), r * obsSize);
      this.#mbAct.set(this.#actBuf.subarray(k * actSize, (k + 1) * actSize), r * actSize);
      this.#mbLogProb[r] = this.#logProbBuf[k]!;
      this.#mbValue[r] = this.valueBuf[k]!;
      this.#mbAdv[r] = this.advantages[k]!;
      this.#mbRet[r] = this.returns[k]!;
    }
    const { norm } = options;
    if (norm) {
      for (let r = 0; r < mb; r++) {
        this.#mbAdv[r] = (this.#mbAdv[r]! - norm.mean) / (norm.std + 1e-8);
      }
    }
    const rows = {
      observations: this.#mbObs,
      actions: this.#mbAct,
      logProbs: this.#mbLogProb,
      values: this.#mbValue,
      advantages: this.#mbAdv,
      returns: this.#mbRet,
    };
    return {
      actor: actorHalf(policy, rows, options.loss),
      critic: criticHalf(policy, rows, options.loss),
    };
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
