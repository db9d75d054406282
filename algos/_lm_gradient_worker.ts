/**
 * A worker of PPO's gradient in parts (private; started by `_lm_gradient_pool.ts`): its own tfjs
 * backend and a replica of the trainer's `LmPolicy`, rebuilt from its shape and options. It waits
 * for its generation word to move, loads the shared weights, takes `ppoGradient` of its part's
 * rows — the function the trainer's thread takes of its own part, so a part's numbers are the same
 * whichever thread computes it — and writes the gradient and the loss's terms back, then sets its
 * done word to the generation it served. A failure sets the failed word and leaves its message.
 */
import { type BackendName, setupBackend } from "@proximal/core";
import { GruLanguageModel, LmPolicy } from "@proximal/models";
import { ppoGradient } from "./ppo.ts";
import { assignFlat } from "./_ppo_engine.ts";
import {
  ARG,
  COMMAND,
  type LmWorkerInit,
  partRows,
  SLOT,
  TERMS,
  workerViews,
  writeMessage,
} from "./_lm_gradient_pool.ts";
import type { WorkerReply } from "./_ppo_protocol.ts";

const scope = self as unknown as {
  postMessage(message: WorkerReply): void;
  onmessage: ((event: MessageEvent<LmWorkerInit>) => void) | null;
};

scope.onmessage = async (event) => {
  const init = event.data, views = workerViews(init.memory, init.policy.contextLength);
  const c = views.control;
  const fail = (error: unknown, context = "") => {
    const message = context + (error instanceof Error ? error.message : String(error));
    // The message first: the trainer reads it once it sees the flag.
    writeMessage(init.memory, message);
    Atomics.store(c, SLOT.failed, 1);
    return message;
  };
  let policy: LmPolicy;
  try {
    await setupBackend(init.backend as BackendName);
    const m = init.model;
    const model = new GruLanguageModel(m.vocabSize, {
      embeddingSize: m.embeddingSize,
      hiddenSize: m.hiddenSize,
      layers: m.layers,
      valueHead: true,
      maskedTokens: m.maskedTokens,
    });
    policy = new LmPolicy(model, init.policy);
  } catch (error) {
    scope.postMessage({ type: "error", message: fail(error, "cannot build the policy: ") });
    return;
  }
  // The trainer posts parts only once it sees `ready`: the generation to wait past is this one.
  let generation = Atomics.load(c, SLOT.generation);
  Atomics.store(c, SLOT.ready, 1);
  scope.postMessage({ type: "ready" });
  const weights = new Float32Array(init.weights);
  for (;;) {
    const wait = Atomics.waitAsync(c, SLOT.generation, generation);
    if (wait.async) await wait.value;
    generation = Atomics.load(c, SLOT.generation);
    if (Atomics.load(c, SLOT.command) === COMMAND.stop) return;
    try {
      const a = views.args;
      assignFlat(policy.variables, weights);
      const { grad, terms } = ppoGradient(policy, partRows(views, a[ARG.rows]!), {
        clipCoef: a[ARG.clipCoef]!,
        clipVloss: a[ARG.clipVloss] === 1,
        entCoef: a[ARG.entCoef]!,
        vfCoef: a[ARG.vfCoef]!,
        klCoef: a[ARG.klCoef]!,
      });
      views.grad.set(grad);
      TERMS.forEach((name, i) => a[ARG.terms + i] = terms[name]);
    } catch (error) {
      fail(error);
    }
    Atomics.store(c, SLOT.done, generation);
    Atomics.notify(c, SLOT.done);
  }
};
