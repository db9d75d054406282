// Where GRPO's time goes: sampling (generation, reward, the two log-prob passes) vs the update.
import { Grpo } from "@proximal/algos";
import { setupBackend } from "@proximal/core";
import { sentimentTask, sentimentTaskDefaults } from "@proximal/envs";
import { vaderJudge } from "@proximal/reward-models";
import { loadLanguageModel } from "@proximal/rlhf";

await setupBackend("wasm");
const task = sentimentTask(sentimentTaskDefaults);
const { model } = await loadLanguageModel(Deno.args[0]!, task.tokenizer);
const grpo = new Grpo({
  policy: model,
  reference: model.clone(),
  reward: vaderJudge(),
  task: {
    prompts: task.trainPrompts.map((p) => task.promptIds(p.prompt)),
    decode: task.decode,
    maxNewTokens: task.maxNewTokens,
  },
  seed: 1,
  totalTokens: Number(Deno.args[1] ?? 4000),
});
while (!grpo.done) {
  const { metrics } = await grpo.iterate();
  console.log(
    ["perf/sample_ms", "perf/update_ms", "perf/tokens_per_second"].map((k) =>
      Math.round(metrics[k]!)
    ).join(" "),
  );
}
