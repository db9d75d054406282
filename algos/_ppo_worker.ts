/**
 * A PPO worker (private; started by `_ppo_pool.ts`): its own tfjs backend, a replica of the MLP
 * policy and some of the run's shards (`_ppo_shard.ts`), whose env copies it builds from the run's
 * `EnvSource`. It then serves rounds through shared memory: it waits for the generation counter to
 * move, runs the command on each of its shards, and counts itself done —
 *
 * - `rollout`: load the weights, collect each shard's part of the rollout, write its values,
 *   returns and finished episodes;
 * - `epoch`: shuffle each shard's rows, write its advantage sums per minibatch;
 * - `step` j: load the weights, write each shard's share of minibatch j's gradient;
 * - `stop`: leave the loop (before the pool terminates the worker).
 *
 * It waits with `Atomics.waitAsync`, so messages (checkpoint states) are served between rounds.
 */
import {
  type BackendName,
  Box,
  createRegistry,
  Discrete,
  MlpPolicy,
  resolvePlugin,
  setupBackend,
} from "@proximal/core";
import { EPISODE_FLOATS, PpoShard } from "./_ppo_shard.ts";
import {
  ARGS,
  assignFlat,
  COMMAND,
  CTL,
  type WorkerInit,
  type WorkerReply,
  type WorkerRequest,
} from "./_ppo_pool.ts";

const scope = self as unknown as {
  postMessage(message: WorkerReply): void;
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
};

interface Served {
  init: WorkerInit;
  policy: MlpPolicy;
  shards: PpoShard[];
  control: Int32Array;
  args: Float64Array;
  params: Float32Array;
  norm: Float64Array;
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
      served.shards.forEach((s, i) => s.setState(request.states[i]!));
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
  const policy = new MlpPolicy(
    unbounded(observationSize),
    action.kind === "discrete" ? new Discrete(action.size) : unbounded(action.size),
    { hiddenSizes: request.hiddenSizes },
  );
  return {
    init: request,
    policy,
    shards: request.shards.map((spec) => new PpoShard(makeEnv, spec, request.settings)),
    control: new Int32Array(memory.control),
    args: new Float64Array(memory.args),
    params: new Float32Array(memory.params),
    norm: new Float64Array(memory.norm),
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
      run(s, Atomics.load(c, CTL.command), Atomics.load(c, CTL.arg));
    } catch (error) {
      // The message first: the pool reads it once it sees the failure flag.
      scope.postMessage({ type: "error", message: messageOf(error) });
      Atomics.store(c, CTL.failed, 1);
    }
    Atomics.add(c, CTL.done, 1);
    Atomics.notify(c, CTL.done);
  }
}

function run(s: Served, command: number, arg: number): void {
  const memory = s.init.memory.shards;
  if (command === COMMAND.rollout) {
    assignFlat(s.policy.variables, s.params);
    for (const shard of s.shards) {
      shard.rollout(s.policy);
      const m = memory[shard.spec.index]!;
      new Float32Array(m.values).set(shard.valueBuf);
      new Float32Array(m.returns).set(shard.returns);
      const data = new Float64Array(m.episodes);
      shard.episodes.forEach((e, k) => {
        data.set([e.envIndex, e.return, e.length, e.truncated ? 1 : 0, e.step], k * EPISODE_FLOATS);
      });
      new Float64Array(m.info)[0] = shard.episodes.length;
    }
  } else if (command === COMMAND.epoch) {
    for (const shard of s.shards) {
      shard.startEpoch(new Float64Array(memory[shard.spec.index]!.stats));
    }
  } else if (command === COMMAND.step) {
    assignFlat(s.policy.variables, s.params);
    const a = s.args;
    const rows = s.shards[0]!.rows / s.init.settings.numMinibatches;
    const loss = {
      clipCoef: a[ARGS.clipCoef]!,
      clipVloss: a[ARGS.clipVloss] === 1,
      entCoef: a[ARGS.entCoef]!,
      vfCoef: a[ARGS.vfCoef]!,
      klCoef: a[ARGS.klCoef]!,
      // Every shard has the same rows, so a minibatch has a share's rows times the shards.
      minibatchRows: rows * memory.length,
    };
    const norm = a[ARGS.normAdv] === 1
      ? { mean: s.norm[2 * arg]!, std: s.norm[2 * arg + 1]! }
      : null;
    for (const shard of s.shards) {
      const { actor, critic } = shard.gradient(s.policy, arg, { loss, norm });
      const out = new Float32Array(memory[shard.spec.index]!.grad);
      out.set(actor);
      out.set(critic, actor.length);
    }
  } else {
    throw new Error(`unknown command ${command}`);
  }
}

function messageOf(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
