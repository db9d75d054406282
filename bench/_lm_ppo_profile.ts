// Where PPO's time goes on the text env: rollout, processors and update per iteration.
import { FixedKlController, klPenalty, Ppo } from "@proximal/algos";
import { setupBackend } from "@proximal/core";
import { GruLanguageModel, LmPolicy } from "@proximal/models";
import { sentimentTask, sentimentTaskDefaults, TextCompletionEnv } from "@proximal/envs";
import { scoreEpisodes, vaderJudge } from "@proximal/reward-models";
import { loadLanguageModel, rlhfPpoDefaults } from "@proximal/rlhf";

await setupBackend("wasm");
const task = sentimentTask(sentimentTaskDefaults);
const model = Deno.args[1]
  ? (await loadLanguageModel(Deno.args[1], task.tokenizer)).model
  : new GruLanguageModel(task.tokenizer.vocabSize, {
    embeddingSize: 64,
    hiddenSize: 128,
    valueHead: true,
    maskedTokens: [0, 1],
    seed: 1,
  });
const prompts = task.trainPrompts.map((p) => task.promptIds(p.prompt));
const iterations = Number(Deno.args[0] ?? 3);
const ppo = new Ppo({
  makeEnv: () =>
    new TextCompletionEnv({
      prompts,
      vocabSize: task.tokenizer.vocabSize,
      maxNewTokens: task.maxNewTokens,
      contextLength: task.contextLength,
      decode: task.decode,
    }),
  numEnvs: 32,
  seed: 1,
  totalTimesteps: 32 * 16 * iterations,
  envName: "text-completion",
  policy: new LmPolicy(model.clone(), { contextLength: task.contextLength }),
  processors: [
    scoreEpisodes(vaderJudge()),
    klPenalty(
      new LmPolicy(model.clone(), { contextLength: task.contextLength }),
      new FixedKlController(0.4),
    ),
  ],
}, { ...rlhfPpoDefaults });
const rows: { ms: number; rollout: number; update: number }[] = [];
while (!ppo.done) {
  const t0 = performance.now();
  const { metrics } = await ppo.iterate();
  const ms = performance.now() - t0;
  rows.push({
    ms,
    rollout: metrics["perf/rollout_ms"]!,
    update: metrics["perf/update_ms"]!,
  });
  console.log(JSON.stringify({
    ms: Math.round(ms),
    rollout: Math.round(metrics["perf/rollout_ms"]!),
    update: Math.round(metrics["perf/update_ms"]!),
    tps: Math.round(512 / (ms / 1000)),
    kl: metrics["objective/kl"],
    ent: metrics["losses/entropy"],
  }));
}
// Past the first (warm-up) iteration: tokens/s and the rollout's and update's shares.
const steady = rows.slice(1),
  sum = (f: (r: typeof rows[0]) => number) => steady.reduce((a, r) => a + f(r), 0);
console.log(JSON.stringify({
  summary: true,
  tokensPerSecond: Math.round(512 * steady.length / (sum((r) => r.ms) / 1000)),
  rolloutMs: Math.round(sum((r) => r.rollout) / steady.length),
  updateMs: Math.round(sum((r) => r.update) / steady.length),
}));
