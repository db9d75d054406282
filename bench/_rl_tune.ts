// Tunes the text-env RL stages against the whole loop's quality targets without re-running SFT
// and the reward model each time: for a seed it builds (or reads from a cache) the SFT model and
// the reward model exactly as `examples/rlhf.ts` does, then trains each given setting of PPO, GRPO
// or RLOO as the loop trains it and evaluates it as the loop does (all held-out prompts, win-rate
// over SFT under the held-out classifier and VADER, KL per sequence, distinct-2 × SFT's), with
// training tokens/s. A setting equal to the defaults repeats the loop's row of that seed.
//
//   deno run -A bench/_rl_tune.ts SEED CACHE_DIR '[{"name":"ppo","algo":"ppo","options":{}}]'
//
// Prints one JSON line per setting.
import * as tf from "@tensorflow/tfjs";
import { Grpo, klPenalty, Ppo, Rloo, SftTrainer } from "@proximal/algos";
import { Rng, setupBackend } from "@proximal/core";
import { GruLanguageModel, LmPolicy } from "@proximal/models";
import {
  sentimentTask,
  sentimentTaskDefaults,
  splitHoldout,
  TextCompletionEnv,
} from "@proximal/envs";
import {
  BradleyTerryRewardModel,
  BradleyTerryTrainer,
  labelPairs,
  scoreEpisodes,
  vaderJudge,
  winRate,
} from "@proximal/reward-models";
import {
  classifierWinRate,
  evaluateCompletions,
  grpoStageDefaults,
  heldOutJudge,
  refKlController,
  refKlDefaults,
  rewardModelStageDefaults,
  rlhfPpoDefaults,
  rlooStageDefaults,
  sampleCompletions,
  sftStageDefaults,
} from "@proximal/rlhf";

interface Setting {
  name: string;
  algo: "ppo" | "grpo" | "rloo";
  options?: Record<string, unknown>;
  refKlCoef?: number;
  numEnvs?: number;
}

const seed = Number(Deno.args[0] ?? 1);
const cache = Deno.args[1] ?? `/tmp/rltune`;
const settings = JSON.parse(Deno.args[2] ?? "[]") as Setting[];
await setupBackend("wasm");
await Deno.mkdir(cache, { recursive: true });
const task = sentimentTask({ ...sentimentTaskDefaults, splitSeed: seed });
const { tokenizer, train, holdout, trainPrompts, promptIds, contextLength } = task;
const TOKENS = 32 * 16 * 60;

function shapeOf(m: GruLanguageModel) {
  return {
    embeddingSize: m.embeddingSize,
    hiddenSize: m.hiddenSize,
    layers: m.layers,
    valueHead: m.hasValueHead,
    maskedTokens: [...m.maskedTokens],
  };
}
async function saveModel(path: string, m: GruLanguageModel): Promise<void> {
  const parts = m.variables.map((v) => v.dataSync() as Float32Array);
  const total = parts.reduce((a, p) => a + p.length, 0), all = new Float32Array(total);
  let at = 0;
  for (const p of parts) (all.set(p, at), at += p.length);
  await Deno.writeFile(`${path}.bin`, new Uint8Array(all.buffer));
  await Deno.writeTextFile(`${path}.json`, JSON.stringify(shapeOf(m)));
}
async function readModel(path: string): Promise<GruLanguageModel | null> {
  try {
    const shape = JSON.parse(await Deno.readTextFile(`${path}.json`));
    const bytes = await Deno.readFile(`${path}.bin`);
    const all = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    const m = new GruLanguageModel(tokenizer.vocabSize, shape);
    let at = 0;
    for (const v of m.variables) {
      v.assign(tf.tensor(all.slice(at, at + v.size), v.shape));
      at += v.size;
    }
    return m;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return null;
    throw e;
  }
}

const dir = `${cache}/s${seed}`;
await Deno.mkdir(dir, { recursive: true });
let sftModel = await readModel(`${dir}/sft`);
let rmModel = await readModel(`${dir}/rm`);
if (!sftModel || !rmModel) {
  const encode = (text: string) => tokenizer.encode(text);
  const sft = new SftTrainer({
    train: train.map((s) => encode(s.text)).filter((ids) => ids.length > 0),
    holdout: holdout.map((s) => encode(s.text)).filter((ids) => ids.length > 0),
    vocabSize: tokenizer.vocabSize,
  }, { ...sftStageDefaults, seed });
  while (!sft.done) await sft.iterate();
  sftModel = sft.model.clone();
  sft.dispose();
  // Pairs and the reward model, as examples/rlhf.ts makes them.
  const judge = vaderJudge(), rng = new Rng(seed), r = rewardModelStageDefaults;
  const chosen = rng.shuffle([...trainPrompts]).slice(0, 2440).map((p) => p.prompt);
  const repeated = chosen.flatMap((p) => new Array<string>(r.samplesPerPrompt).fill(p));
  const completions = sampleCompletions(sftModel, task, { prompts: repeated, rng });
  const items = chosen.map((prompt, i) => ({
    prompt,
    completions: completions.slice(i * r.samplesPerPrompt, (i + 1) * r.samplesPerPrompt),
  }));
  const split = splitHoldout(items, { fraction: 0.1, seed });
  const trainPairs = await labelPairs(split.train, judge, {
    temperature: r.labelTemperature,
    pairsPerPrompt: r.pairsPerPrompt,
    seed,
  });
  const held = await labelPairs(split.holdout, judge, { temperature: r.labelTemperature, seed });
  const rm = new BradleyTerryTrainer({ tokenizer, model: sftModel.clone() }, {
    learningRate: r.learningRate,
    batchSize: r.batchSize,
    epochs: r.epochs,
    validationFraction: r.validationFraction,
    patience: r.patience,
    seed,
  });
  await rm.train(trainPairs.pairs, { holdout: held.pairs });
  console.error(`reward model: held-out ${rm.accuracy(held.pairs).toFixed(3)}`);
  rmModel = rm.model.clone();
  rm.dispose();
  await saveModel(`${dir}/sft`, sftModel);
  await saveModel(`${dir}/rm`, rmModel);
}
const rewardModel = new BradleyTerryRewardModel({ tokenizer, model: rmModel });

const { classifier } = heldOutJudge(task);
const evaluation = {
  task,
  prompts: task.evalPrompts.map((p) => p.prompt),
  seed: seed + 7,
  classifier,
};
const sftEval = evaluateCompletions(sftModel, sftModel, evaluation);

async function trainPpo(s: Setting): Promise<{ model: GruLanguageModel; extra: object }> {
  const reference = new LmPolicy(sftModel!.clone(), { contextLength });
  const envPrompts = trainPrompts.map((p) => promptIds(p.prompt));
  const numEnvs = s.numEnvs ?? 32;
  const ppo = new Ppo({
    makeEnv: () =>
      new TextCompletionEnv({
        prompts: envPrompts,
        vocabSize: tokenizer.vocabSize,
        maxNewTokens: 16,
        contextLength,
        decode: task.decode,
      }),
    numEnvs,
    seed,
    totalTimesteps: TOKENS,
    envName: "text-completion",
    policy: new LmPolicy(sftModel!.clone(), { contextLength }),
    processors: [
      scoreEpisodes(rewardModel),
      klPenalty(
        reference,
        refKlController({ ...refKlDefaults, refKlCoef: s.refKlCoef ?? refKlDefaults.refKlCoef }),
      ),
    ],
  }, { ...rlhfPpoDefaults, numSteps: 16, ...s.options });
  let rollout = 0, update = 0, n = 0, last: Record<string, number> = {};
  while (!ppo.done) {
    last = (await ppo.iterate()).metrics;
    if (n++ > 0) (rollout += last["perf/rollout_ms"]!, update += last["perf/update_ms"]!);
  }
  const model = (ppo.policy as LmPolicy).model.clone();
  ppo.dispose();
  reference.dispose();
  const per = numEnvs * 16;
  return {
    model,
    extra: {
      tokensPerSecond: last["charts/SPS"],
      rolloutTps: Math.round(per * (n - 1) / (rollout / 1000)),
      updateTps: Math.round(per * (n - 1) / (update / 1000)),
      trainKl: last["objective/kl"],
    },
  };
}

async function trainGroup(s: Setting): Promise<{ model: GruLanguageModel; extra: object }> {
  const context = {
    policy: sftModel!.clone(),
    reference: sftModel!.clone(),
    reward: rewardModel,
    task: {
      prompts: trainPrompts.map((p) => promptIds(p.prompt)),
      decode: task.decode,
      maxNewTokens: 16,
    },
    seed,
    totalTokens: TOKENS,
  };
  const trainer = s.algo === "grpo"
    ? new Grpo(context, { ...grpoStageDefaults, ...s.options })
    : new Rloo(context, { ...rlooStageDefaults, ...s.options });
  let sample = 0, update = 0, tokens = 0, n = 0, last: Record<string, number> = {};
  while (!trainer.done) {
    const before = trainer.step;
    last = (await trainer.iterate()).metrics;
    if (n++ > 0) {
      sample += last["perf/sample_ms"]!;
      update += last["perf/update_ms"]!;
      tokens += trainer.step - before;
    }
  }
  const model = trainer.model.clone();
  trainer.dispose();
  return {
    model,
    extra: {
      tokensPerSecond: Math.round(last["perf/tokens_per_second"]!),
      rolloutTps: Math.round(tokens / (sample / 1000)),
      updateTps: Math.round(tokens / (update / 1000)),
      iterations: n,
    },
  };
}

for (const s of settings) {
  const start = performance.now();
  const { model, extra } = s.algo === "ppo" ? await trainPpo(s) : await trainGroup(s);
  const wall = (performance.now() - start) / 1000;
  const e = evaluateCompletions(model, sftModel, evaluation);
  const held = classifierWinRate(e, sftEval, { seed });
  const vader = winRate(e.scores, sftEval.scores, { seed });
  model.dispose();
  const r1 = (x: number) => Math.round(x * 1000) / 10;
  console.log(JSON.stringify({
    seed,
    name: s.name,
    classifier: r1(held.rate),
    ci: held.interval.map(r1),
    vader: r1(vader.rate),
    kl: Math.round(e.klToReferencePerSequence * 100) / 100,
    d2: Math.round(e.distinct2 / sftEval.distinct2 * 1000) / 1000,
    ...extra,
    wall: Math.round(wall * 10) / 10,
    ok: held.rate >= 0.75 && e.distinct2 >= 0.9 * sftEval.distinct2 &&
      e.klToReferencePerSequence <= 8,
  }));
}
