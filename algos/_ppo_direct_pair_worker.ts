/**
 * The worker of the direct engine's pair (private; `_ppo_direct_pair.ts`): the critic's half of
 * each gradient step, on the pair's shared memory (`_ppo_direct_pair_memory.ts`).
 */
import { type PairInit, servePair } from "./_ppo_direct_pair_memory.ts";

const scope = self as unknown as { onmessage: (event: MessageEvent<PairInit>) => void };
scope.onmessage = (event) => servePair(event.data);
