/**
 * A PPO worker (private; started by `_ppo_pool.ts`): its own tfjs backend, a replica of the MLP
 * policy and some of the run's shards (`_ppo_shard.ts`), whose env copies it builds from the run's
 * `EnvSource`. It runs PPO's algorithm — `collectRollout`, `computeGae`, `runEpochs` — with
 * the closed-form gradient, serving rounds through shared memory: it waits for the generation
 * counter to move, runs the command on each of its shards, and counts itself done —
 *
 * - `iterate`: load the weights, collect each shard's part of the rollout into shared memory (its
 *   rows, values, returns and finished episodes), then run the update's epochs. Each opens with
 *   every shard's owner shuffling its rows and writing its advantage sums per minibatch. At each
 *   step the shards' halves of the minibatch's gradient (shard 0's actor half, its critic half,
 *   shard 1's …) are claimed one at a time from a shared counter by whichever worker is free, so a
 *   worker slowed by the machine takes fewer; each half is the same numbers whoever computes it.
 *   After each step the workers meet at a barrier, then every worker reads all the shards'
 *   numbers, forms the same normalisation or the same summed gradient, and steps its own copy of
 *   Adam with it, so their weights stay equal; shard 0's worker writes the results back;
 * - `stop`: leave the loop (before the pool terminates the worker).
 *
 * It waits with `Atomics.waitAsync`, so messages (checkpoint states) are served between rounds.
 */
import {
  Adam,
  type BackendName,
  Box,
  createRegistry,
  Discrete,
  resolvePlugin,
  setupBackend,
  SharedEnvCallRecorder,
  VectorEnv,
} from "@proximal/core";
import { MlpPolicy } from "@proximal/models";
import { ppoLossValue } from "./ppo.ts";
import { runEpochs } from "./ppo_loops.ts";
import { assignFlat } from "./_ppo_engine.ts";
import { ACTOR_METRICS, sumShares } from "./_ppo_mlp_engine.ts";
import { minibatchNorms, PpoShard, ShardRows } from "./_ppo_shard.ts";
import {
  ARGS,
  COMMAND,
  CTL,
  type WorkerInit,
  type WorkerReply,
  type WorkerRequest,
  writeEpisodes,
  writeUpdate,
} from "./_ppo_protocol.ts";

const scope = self as unknown as {
  postMessage(message: WorkerReply): void;
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
};

interface Served {
  init: WorkerInit;
  policy: MlpPolicy;
  adam: Adam;
  shards: PpoShard[];
  /** Every shard's rows, in shard order, for the gradient halves this worker claims. */
  rows: ShardRows[];
  control: Int32Array;
  args: Float64Array;
  params: Float32Array;
  /** Passages through the barrier in this update. */
  barriers: number;
  /** Records this worker's env calls for the watchdog, when the run has one. */
  recorder: SharedEnvCallRecorder | null;
}

let served: Served | null = null;

scope.onmessage = async (event) => {
  const request = event.data;
  try {
    if (request.type === "init") {
      served = await init(request);
      // The generation to wait past is read before "ready": the pool starts its first round once
      // every worker is ready, and a worker that read it after could take that round for old.
      const generation = Atomics.load(served.control, CTL.generation);
      scope.postMessage({ type: "ready" });
      serve(served, generation);
      return;
    }
    if (!served) throw new Error(`got "${request.type}" before "init"`);
    if (request.type === "getState") {
      scope.postMessage({ type: "state", states: served.shards.map((s) => s.getState()) });
    } else if (request.type === "setState") {
      served.shards.forEach((s, i) => {
        if (served!.recorder) served!.recorder.copyOffset = s.spec.firstEnv;
        s.setState(request.states[i]!);
      });
      scope.postMessage({ type: "done" });
    }
  } catch (error) {
    scope.postMessage({ type: "error", message: messageOf(error) });
  }
};

async function init(request: WorkerInit): Promise<Served> {
  await setupBackend(request.backend as BackendName);
  const { observationSize, action, envSource, memory } = request;
  const plugin = await resolvePlugin(createRegistry([]), "env", envSource.module);
  const makeEnv = () => plugin.create(envSource.options);
  // MlpPolicy reads only the spaces' sizes and kinds; the weights come with every round.
  const unbounded = (size: number) => new Box({ low: -Infinity, high: Infinity, shape: [size] });
  // Slot 0 is the main thread's; a shard's copy i is copy firstEnv + i of the run.
  const recorder = request.envCallRecord
    ? new SharedEnvCallRecorder(request.envCallRecord, { slot: 1 + request.index })
    : null;
  VectorEnv.callRecorder = recorder ?? undefined;
  const policy = new MlpPolicy(
    unbounded(observationSize),
    action.kind === "discrete" ? new Discrete(action.size) : unbounded(action.size),
    { hiddenSizes: request.hiddenSizes },
  );
  return {
    init: request,
    policy,
    adam: new Adam(policy.variables, {
      epsilon: request.update.adamEpsilon,
      maxGradNorm: request.update.maxGradNorm,
    }),
    shards: request.shards.map((spec) => {
      if (recorder) recorder.copyOffset = spec.firstEnv;
      return new PpoShard(makeEnv, spec, {
        settings: request.settings,
        memory: memory.shards[spec.index]!,
      });
    }),
    rows: memory.shards.map((m, i) =>
      new ShardRows(m, { action, shareRows: request.shareRows[i]! })
    ),
    control: new Int32Array(memory.control),
    args: new Float64Array(memory.args),
    params: new Float32Array(memory.params),
    barriers: 0,
    recorder,
  };
}

async function serve(s: Served, generation: number): Promise<void> {
  const c = s.control;
  for (;;) {
    const wait = Atomics.waitAsync(c, CTL.generation, generation);
    if (wait.async) await wait.value;
    generation = Atomics.load(c, CTL.generation);
    if (Atomics.load(c, CTL.command) === COMMAND.stop) return;
    try {
      run(s, Atomics.load(c, CTL.command));
    } catch (error) {
      // The message first: the pool reads it once it sees the failure flag.
      scope.postMessage({ type: "error", message: messageOf(error) });
      Atomics.store(c, CTL.failed, 1);
    }
    Atomics.add(c, CTL.done, 1);
    Atomics.notify(c, CTL.done);
  }
}

function run(s: Served, command: number): void {
  if (command !== COMMAND.iterate) throw new Error(`unknown command ${command}`);
  const start = performance.now();
  rollout(s);
  new Float64Array(s.init.memory.rolloutMs)[s.init.index] = performance.now() - start;
  update(s);
}

/** The worker's shards' part of the rollout, with the weights in `params`. */
function rollout(s: Served): void {
  assignFlat(s.policy.variables, s.params);
  for (const shard of s.shards) {
    if (s.recorder) s.recorder.copyOffset = shard.spec.firstEnv;
    shard.rollout(s.policy);
    writeEpisodes(shard.episodes, s.init.memory.shards[shard.spec.index]!);
  }
}

/** The update's epochs (`runEpochs`); see the module's comment. */
function update(s: Served): void {
  const { memory, update: u, sizes, shareRows } = s.init, a = s.args;
  const params = s.params.slice();
  s.adam.setState({
    t: a[ARGS.adamT]!,
    m: { shape: [params.length], data: new Float32Array(memory.adamM) },
    v: { shape: [params.length], data: new Float32Array(memory.adamV) },
  });
  s.adam.learningRate = a[ARGS.learningRate]!;
  // The policy already holds these weights: the rollout of this round loaded them.
  s.barriers = 0;
  const loss = {
    clipCoef: a[ARGS.clipCoef]!,
    clipVloss: a[ARGS.clipVloss] === 1,
    entCoef: a[ARGS.entCoef]!,
    vfCoef: a[ARGS.vfCoef]!,
    klCoef: a[ARGS.klCoef]!,
    minibatchRows: shareRows.reduce((x, y) => x + y, 0),
  };
  const normAdv = a[ARGS.normAdv] === 1;
  const c = s.control, halves = 2 * s.rows.length;
  // A share holds the actor's half, then the critic's.
  const actorFloats = ACTOR_METRICS + sizes.actorLayers + sizes.logStd;
  // Each step's claims: every half once, then one failed claim per worker; the barrier after the
  // step keeps the next step's claims from starting before the last failed one.
  let claimBase = 0, step = 0;
  let norms: Float64Array | null = null;
  const result = runEpochs(u, {
    startEpoch: () => {
      for (const shard of s.shards) {
        shard.startEpoch(new Float64Array(memory.shards[shard.spec.index]!.stats));
      }
      barrier(s);
      norms = normAdv
        ? minibatchNorms(memory.shards.map((m) => new Float64Array(m.stats)), shareRows)
        : null;
    },
    step: (j) => {
      const slot = (step++ % 2) as 0 | 1;
      const norm = norms ? { mean: norms[2 * j]!, std: norms[2 * j + 1]! } : null;
      for (;;) {
        const h = Atomics.add(c, CTL.claim, 1) - claimBase;
        if (h >= halves) break;
        const shard = h >> 1, half = h & 1 ? "critic" : "actor";
        const out = new Float32Array(memory.shards[shard]!.grads[slot]);
        out.set(
          s.rows[shard]!.half(s.policy, j, { half, loss, norm }),
          half === "actor" ? 0 : actorFloats,
        );
      }
      claimBase += halves + s.init.numWorkers;
      barrier(s);
      const { grad, terms } = sumShares(
        memory.shards.map((m) => new Float32Array(m.grads[slot])),
        sizes,
      );
      const gradNorm = s.adam.update(params, grad, ppoLossValue(terms, loss));
      assignFlat(s.policy.variables, params);
      return { terms, gradNorm };
    },
  });
  if (s.shards.some((shard) => shard.spec.index === 0)) {
    s.params.set(params);
    const state = s.adam.getState();
    new Float32Array(memory.adamM).set(state.m.data);
    new Float32Array(memory.adamV).set(state.v.data);
    a[ARGS.adamT] = state.t;
    writeUpdate(result, new Float64Array(memory.results));
  }
}

/**
 * Waits until every worker has reached this point as often as this one: a blocking wait, as a
 * worker has nothing else to do in the middle of an update (~15 µs to wake). If another worker
 * failed meanwhile, it gives up, so that no thread is left waiting.
 */
function barrier(s: Served): void {
  const c = s.control, target = ++s.barriers * s.init.numWorkers;
  if (Atomics.add(c, CTL.barrier, 1) + 1 === target) {
    Atomics.notify(c, CTL.barrier);
    return;
  }
  for (
    let seen = Atomics.load(c, CTL.barrier);
    seen < target;
    seen = Atomics.load(c, CTL.barrier)
  ) {
    if (Atomics.load(c, CTL.failed)) throw new Error("another PPO worker failed");
    Atomics.wait(c, CTL.barrier, seen, 100);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
