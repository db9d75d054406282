// Where the SFT, reward-model and DPO stages spend a training step, through their public trainers
// on the stage's shapes: one SFT epoch over a slice of the corpus, one reward-model epoch and one
// DPO epoch over a slice of a pairs file (a reward-model stage's pairs.jsonl), each timed in
// wall-clock and CPU milliseconds per gradient step (CPU time moves less when other jobs share the
// cores). Usage: deno run -A bench/_lm_stage_profile.ts PAIRS.jsonl [steps per stage, default 30]
import process from "node:process";
import { DpoTrainer, SftTrainer, tokenizePairs } from "@proximal/algos";
import { readPreferencePairs, setupBackend } from "@proximal/core";
import { GruLanguageModel } from "@proximal/models";
import { sentimentTask } from "@proximal/envs";
import { BradleyTerryTrainer } from "@proximal/reward-models";
import { dpoStageDefaults, rewardModelStageDefaults, sftStageDefaults } from "@proximal/rlhf";

await setupBackend("wasm");
const [pairsFile, stepsArg] = Deno.args;
if (!pairsFile) {
  throw new Error("Usage: deno run -A bench/_lm_stage_profile.ts PAIRS.jsonl [steps]");
}
const steps = Number(stepsArg ?? 30);
const task = sentimentTask();
const V = task.tokenizer.vocabSize;
const newModel = () =>
  new GruLanguageModel(V, { embeddingSize: 64, hiddenSize: 128, valueHead: true, seed: 1 });
const pairs = await readPreferencePairs(pairsFile);

async function time(name: string, gradientSteps: number, run: () => Promise<unknown>) {
  const t0 = performance.now(), c0 = process.cpuUsage();
  await run();
  const c = process.cpuUsage(c0), wall = performance.now() - t0;
  console.log(JSON.stringify({
    stage: name,
    steps: gradientSteps,
    msPerStep: +(wall / gradientSteps).toFixed(1),
    cpuMsPerStep: +((c.user + c.system) / 1000 / gradientSteps).toFixed(1),
  }));
}

{
  const encode = (text: string) => task.tokenizer.encode(text);
  const b = sftStageDefaults.batchSize;
  const train = task.train.map((s) => encode(s.text)).filter((ids) => ids.length > 0);
  // The model brings its shape, so the shape options stay out.
  const { embeddingSize: _e, hiddenSize: _h, layers: _l, ...options } = sftStageDefaults;
  const sft = new SftTrainer(
    { train: train.slice(0, b * steps), holdout: [], vocabSize: V, model: newModel() },
    { ...options, seed: 1 },
  );
  await sft.iterate(); // warm-up
  await time("sft", steps, () => sft.iterate());
  sft.dispose();
}
{
  const b = rewardModelStageDefaults.batchSize;
  const rm = new BradleyTerryTrainer({ tokenizer: task.tokenizer, model: newModel() }, {
    learningRate: rewardModelStageDefaults.learningRate,
    batchSize: b,
    epochs: 2,
    seed: 1,
  });
  const slice = pairs.slice(0, b * steps);
  await rm.trainEpoch(slice); // warm-up
  await time("reward-model", steps, () => rm.trainEpoch(slice));
  rm.dispose();
}
{
  const b = dpoStageDefaults.batchSize;
  const tokenized = tokenizePairs(pairs.slice(0, b * steps), task.tokenizer);
  const dpo = new DpoTrainer(newModel(), tokenized, { batchSize: b, epochs: 2, seed: 1 });
  await dpo.iterate(); // warm-up
  await time("dpo", steps, () => dpo.iterate());
  dpo.dispose();
}
