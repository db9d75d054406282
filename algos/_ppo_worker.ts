/**
 * A PPO worker (private; started by `_ppo_pool.ts`): its own tfjs backend and a replica of the MLP
 * policy. It answers one request at a time with one half of a minibatch's gradient, given the
 * current weights of that half:
 *
 * - `actor`: the gradient of `ppoPolicyLoss` with respect to the actor's variables (the critic
 *   does not run), with the policy loss, entropy, KL estimates and clip fraction;
 * - `critic` (with two workers): the gradient of `ppoValueLoss` with respect to the critic's
 *   variables, with the value loss;
 * - `setCritic`, then `values` for each batch of a rollout's observations: the critic's values,
 *   computed while the main thread acts and steps the envs.
 *
 * Each is the same computation, op for op, as that half of the one-thread gradient (see
 * `actorGradient` and `criticGradient` in `_ppo_pool.ts`).
 */
import { type BackendName, Box, Discrete, MlpPolicy, setupBackend } from "@proximal/core";
import {
  actorGradient,
  assignFlat,
  criticGradient,
  type WorkerInit,
  type WorkerReply,
  type WorkerRequest,
} from "./_ppo_pool.ts";

const scope = self as unknown as {
  postMessage(message: WorkerReply, transfer?: Transferable[]): void;
  onmessage: ((event: MessageEvent<WorkerRequest>) => void) | null;
};

let policy: MlpPolicy | null = null;

// Requests are handled strictly one after another (init awaits the backend).
let queue: Promise<void> = Promise.resolve();
scope.onmessage = (event) => {
  const request = event.data;
  queue = queue.then(async () => {
    try {
      if (request.type === "init") {
        await init(request);
        scope.postMessage({ type: "ready" });
        return;
      }
      if (!policy) throw new Error(`got "${request.type}" before "init"`);
      if (request.type === "setCritic") {
        assignFlat(policy.criticVariables, request.params);
        scope.postMessage({ type: "done" });
      } else if (request.type === "values") {
        const data = policy.value(request.observations);
        scope.postMessage({ type: "values", data }, [data.buffer as ArrayBuffer]);
      } else {
        const data = request.type === "actor"
          ? actorGradient(policy, request)
          : criticGradient(policy, request);
        scope.postMessage({ type: "gradient", data }, [data.buffer as ArrayBuffer]);
      }
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      scope.postMessage({ type: "error", message });
    }
  });
};

async function init(request: WorkerInit): Promise<void> {
  await setupBackend(request.backend as BackendName);
  const { observationSize, action } = request;
  // MlpPolicy reads only the spaces' sizes and kinds; the weights come with every request.
  const unbounded = (size: number) => new Box({ low: -Infinity, high: Infinity, shape: [size] });
  policy = new MlpPolicy(
    unbounded(observationSize),
    action.kind === "discrete" ? new Discrete(action.size) : unbounded(action.size),
    { hiddenSizes: request.hiddenSizes },
  );
}
