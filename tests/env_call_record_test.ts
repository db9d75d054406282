/**
 * The env call record a watchdog reads (core/env_call_record.ts): one slot per thread, the call
 * that started first wins, a worker's copies are named as in the run.
 */
import assert from "node:assert/strict";
import { createEnvCallRecord, longestEnvCall, SharedEnvCallRecorder } from "@proximal/core";

Deno.test("the record names the call that started first across slots, with each slot's copy offset", async () => {
  const record = createEnvCallRecord(3);
  const main = new SharedEnvCallRecorder(record);
  const worker1 = new SharedEnvCallRecorder(record, { slot: 2, copyOffset: 4 });
  worker1.enter("cartpole", 1, "step()", 301);
  await new Promise((resolve) => setTimeout(resolve, 5));
  main.enter("pendulum", 0, "reset()", 0);
  const first = longestEnvCall(record)!;
  assert.deepEqual({ ...first, startedAt: 0 }, {
    env: "cartpole",
    copy: 5,
    call: "step()",
    step: 301,
    startedAt: 0,
  });
  worker1.exit();
  assert.equal(longestEnvCall(record)?.env, "pendulum");
  assert.equal(longestEnvCall(record)?.call, "reset()");
  main.exit();
  assert.equal(longestEnvCall(record), undefined);
});

Deno.test("a slot past the record's end records nothing; a bad slot count is refused", () => {
  const record = createEnvCallRecord(1);
  new SharedEnvCallRecorder(record, { slot: 1 }).enter("cartpole", 0, "step()", 1);
  assert.equal(longestEnvCall(record), undefined);
  assert.throws(() => createEnvCallRecord(0), /Cannot create an env call record: slots must be/);
});
