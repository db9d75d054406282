// The text-completion env's episode boundaries, the RLHF rollout processors against hand numbers,
// and the whole generic path — env, judge, KL leash, whitening, PPO — learning at a fixed seed.
import assert from "node:assert/strict";
import { FixedKlController, klPenalty, Ppo } from "@proximal/algos";
import { type Rollout, setupBackend, VectorEnv } from "@proximal/core";
import { MlpPolicy } from "@proximal/models";
import { TextCompletionEnv } from "@proximal/envs";
import { functionReward, scoreEpisodes, whitenRewards } from "@proximal/reward-models";

await setupBackend("wasm");

const prompts = [Int32Array.of(1, 4), Int32Array.of(1, 6, 7)];

Deno.test("text-completion episodes end at <eos> (terminated) or after maxNewTokens (truncated)", () => {
  const env = new TextCompletionEnv({ prompts, vocabSize: 9, maxNewTokens: 3 });
  assert.equal(env.contextLength, 6); // longest prompt 3 + 3 new tokens
  const first = env.reset({ seed: 0 }).observation;
  const promptLength = first.indexOf(0);
  // Two tokens then <eos>: terminated, the completion excludes <eos>.
  assert.deepEqual(env.step(5), {
    observation: first.slice().fill(5, promptLength, promptLength + 1),
    reward: 0,
    terminated: false,
    truncated: false,
    info: {},
  });
  env.step(8);
  const end = env.step(2);
  assert.equal(end.terminated, true);
  assert.equal(end.truncated, false);
  assert.deepEqual(end.info.completionIds, [5, 8]);
  assert.equal(end.info.completion, "5 8");
  // Three tokens without <eos>: truncated at the third.
  env.reset();
  assert.equal(env.step(5).truncated, false);
  assert.equal(env.step(5).truncated, false);
  const cut = env.step(5);
  assert.equal(cut.truncated, true);
  assert.equal(cut.terminated, false);
  assert.deepEqual(cut.info.completionIds, [5, 5, 5]);
});

Deno.test("text-completion env rejects an empty prompt set, out-of-vocabulary prompts and actions", () => {
  assert.throws(
    () => new TextCompletionEnv({ prompts: [], vocabSize: 9 }),
    /the prompt set is empty/,
  );
  assert.throws(
    () => new TextCompletionEnv({ prompts: [Int32Array.of(1, 12)], vocabSize: 9 }),
    /Prompt 0 has token id 12 at position 1, outside the vocabulary of 9/,
  );
  assert.throws(
    () => new TextCompletionEnv({ prompts, vocabSize: 9, maxNewTokens: 4, contextLength: 5 }),
    /does not fit the context length 5/,
  );
  const env = new TextCompletionEnv({ prompts, vocabSize: 9 });
  env.reset({ seed: 1 });
  assert.throws(() => env.step(9), /must be a token id in \[0, 9\), got 9/);
});

Deno.test("text-completion state round trip continues identically", () => {
  const env = new TextCompletionEnv({ prompts, vocabSize: 9, maxNewTokens: 5 });
  env.reset({ seed: 3 });
  env.step(4);
  const saved = JSON.parse(JSON.stringify(env.getState()));
  const a = [env.step(5), env.step(2), env.reset()].map((r) => Array.from(r.observation));
  env.setState(saved);
  const b = [env.step(5), env.step(2), env.reset()].map((r) => Array.from(r.observation));
  assert.deepEqual(b, a);
});

function rollout(rewards: Float32Array, episodes: Rollout["episodes"], numEnvs = 2): Rollout {
  const total = rewards.length;
  return {
    numEnvs,
    numSteps: total / numEnvs,
    observationSize: 1,
    actionSize: 1,
    observations: new Float32Array(total),
    actions: new Int32Array(total),
    logProbs: new Float32Array(total),
    values: new Float32Array(total),
    rewards,
    ended: new Uint8Array(total),
    episodes,
  };
}

Deno.test("scoreEpisodes adds each episode's score at its last step", async () => {
  let calls = 0;
  const judge = functionReward("count-a", ({ completion }) => {
    calls++;
    return completion.split("a").length - 1;
  });
  const rewards = new Float32Array(6).fill(0.5);
  // Env 1 ends at step 0 ("aa" → 2), env 0 at step 2 ("a" → 1): flat indices 0·2+1 = 1 and 2·2+0 = 4.
  const episode = (envIndex: number, step: number, completion: string) => ({
    envIndex,
    step,
    return: 0,
    length: 1,
    truncated: false,
    info: { prompt: "p", completion },
  });
  const metrics = await scoreEpisodes(judge).process(
    rollout(rewards, [episode(1, 0, "aa"), episode(0, 2, "a")]),
  );
  assert.deepEqual(Array.from(rewards), [0.5, 2.5, 0.5, 0.5, 1.5, 0.5]);
  assert.equal(calls, 2);
  assert.deepEqual(metrics, { "env/reward_mean": 1.5, "env/reward_std": 0.5 });
  await assert.rejects(
    () =>
      scoreEpisodes(judge).process(
        rollout(new Float32Array(2), [{ ...episode(0, 0, "x"), info: {} }]),
      ),
    /its last info has no "prompt" and "completion" strings/,
  );
});

Deno.test("whitenRewards divides by the unbiased std and keeps the mean", async () => {
  // r = [1, 3, 5, 7]: mean 4, unbiased var = (9 + 1 + 1 + 9) / 3 = 20/3, std 2.5820
  // → 4 + (r − 4)/2.5820 = [2.8381, 3.6127, 4.3873, 5.1619]
  const rewards = Float32Array.of(1, 3, 5, 7);
  await whitenRewards().process(rollout(rewards, []));
  const expected = [2.838104, 3.612702, 4.387298, 5.161895];
  rewards.forEach((r, i) => assert.ok(Math.abs(r - expected[i]!) < 1e-5, `${r} vs ${expected[i]}`));
});

Deno.test("klPenalty subtracts beta times the log-ratio to the reference and reports the KL", async () => {
  const env = new TextCompletionEnv({ prompts, vocabSize: 9, maxNewTokens: 3 });
  const reference = new MlpPolicy(env.observationSpace, env.actionSpace, { seed: 5 });
  const envs = new VectorEnv(
    () => new TextCompletionEnv({ prompts, vocabSize: 9, maxNewTokens: 3 }),
    { numEnvs: 2 },
  );
  const observations = envs.reset().slice();
  const acted = reference.act(observations, { deterministic: true });
  // logπ − logπ_ref = +0.3 and −0.1 by construction; β = 0.5 → rewards −0.15 and +0.05.
  const logProbs = Float32Array.from(acted.logProbs, (lp, i) => lp + (i === 0 ? 0.3 : -0.1));
  const rewards = new Float32Array(2);
  const metrics = (await klPenalty(reference, new FixedKlController(0.5)).process({
    ...rollout(rewards, []),
    observationSize: env.contextLength,
    observations,
    actions: acted.actions,
    logProbs,
  })) as Record<string, number>;
  assert.ok(
    Math.abs(rewards[0]! + 0.15) < 1e-5 && Math.abs(rewards[1]! - 0.05) < 1e-5,
    `${rewards}`,
  );
  assert.ok(Math.abs(metrics["objective/kl_per_token"]! - 0.1) < 1e-5);
  assert.equal(metrics["objective/kl_coef"], 0.5);
  reference.dispose();
});

Deno.test("PPO through the text env, a judge, the KL leash and whitening raises the judge's score at seed 1", async () => {
  // The judge likes completions made of token 5; the policy starts near-uniform over 9 tokens.
  const judge = functionReward("fives", ({ completion }) => {
    const tokens = completion.split(" ").filter((t) => t !== "");
    return tokens.length === 0 ? 0 : tokens.filter((t) => t === "5").length / tokens.length;
  });
  const makeEnv = () => new TextCompletionEnv({ prompts, vocabSize: 9, maxNewTokens: 4 });
  const probe = makeEnv();
  const reference = new MlpPolicy(probe.observationSpace, probe.actionSpace, { seed: 1 });
  const scores: number[] = [];
  const ppo = new Ppo(
    {
      makeEnv,
      numEnvs: 8,
      seed: 1,
      totalTimesteps: 8 * 32 * 30,
      processors: [
        scoreEpisodes(judge),
        klPenalty(reference, new FixedKlController(0.02)),
        whitenRewards(),
      ],
    },
    { numSteps: 32, gamma: 1, learningRate: 3e-3, entCoef: 0 },
  );
  let kl = NaN;
  while (!ppo.done) {
    const { metrics } = await ppo.iterate();
    scores.push(metrics["env/reward_mean"]!);
    kl = metrics["objective/kl"]!;
  }
  const start = scores.slice(0, 3).reduce((a, b) => a + b, 0) / 3;
  const end = scores.slice(-3).reduce((a, b) => a + b, 0) / 3;
  assert.ok(start < 0.25, `the untrained policy already scored ${start}`);
  assert.ok(end > 0.7, `the judge's score only reached ${end}`);
  assert.ok(Number.isFinite(kl) && kl > 0, `KL to the reference ${kl}`);
  ppo.dispose();
  reference.dispose();
});
