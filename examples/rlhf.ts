/**
 * `deno task rlhf`: the whole RLHF loop on 2 CPU cores, from scratch.
 *
 *  1. SFT — a GRU language model learns the 2,700 training sentences of the UCI sentiment corpus.
 *  2. Pairs — for training prompts (a sentence's first words) the SFT model samples completions;
 *     VADER, playing the human, ranks them and labels best against worst, second best against
 *     second worst and so on, with Bradley–Terry noise. A tenth of the prompts is held out.
 *  3. Reward model — initialised from SFT, trained on the pairs (Bradley–Terry loss), stopped
 *     early on a validation split of them; scored on the held-out prompts' best-vs-worst pairs.
 *  4. PPO — the SFT model, now a policy, writes completions in the text-completion env; the
 *     reward model scores them; a per-token KL penalty to the frozen SFT model keeps it fluent.
 *     4b, 4c. GRPO and RLOO — from the SFT model, on the same reward model and as many tokens.
 *  5. DPO — from the SFT model, on the best-vs-worst pairs, with no reward model.
 *  6. Evaluation — on every held-out prompt: each tuned policy's win-rate over SFT under VADER and
 *     under a classifier no stage trains on (ties half, 95 % bootstrap intervals), KL to SFT per
 *     sequence, distinct-2, unknown-token rate, five samples per policy for the same prompts, and
 *     each stage's wall time and training tokens/s (`table` in the report, printed as Markdown).
 *
 * Writes `report.json` and `pairs.jsonl` (TRL's format) to `--out` and prints a summary. The
 * stages' hyperparameters are those of the CLI's stages (`@proximal/rlhf`'s defaults); the settings
 * below only size the run.
 *
 *   deno task rlhf [--out DIR] [--seed N] [--quick]
 */
import { parseArgs } from "node:util";
import { DpoTrainer, Grpo, klPenalty, Ppo, Rloo, SftTrainer, tokenizePairs } from "@proximal/algos";
import { type PreferencePair, Rng, setupBackend, writePreferencePairs } from "@proximal/core";
import { type GruLanguageModel, LmPolicy } from "@proximal/models";
import {
  sentimentTask,
  sentimentTaskDefaults,
  splitHoldout,
  TextCompletionEnv,
} from "@proximal/envs";
import {
  BradleyTerryTrainer,
  labelPairs,
  scoreEpisodes,
  vaderJudge,
  winRate,
} from "@proximal/reward-models";
import {
  classifierWinRate,
  describeEvaluation,
  dpoStageDefaults,
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

const { values } = parseArgs({
  args: Deno.args,
  options: {
    out: {
      type: "string",
      default: `runs/rlhf-${new Date().toISOString().replace(/[-:]|\..*/g, "")}`,
    },
    seed: { type: "string", default: "1" },
    quick: { type: "boolean", default: false },
  },
});
const seed = Number(values.seed);
if (!Number.isInteger(seed)) {
  console.error(`error: --seed must be a whole number, got ${values.seed}`);
  Deno.exit(2);
}
const quick = values.quick;
const outDir = values.out;

// ──────────────────────────────── Settings ────────────────────────────────
// The stages' defaults (see @proximal/rlhf for why each value); --quick shortens every stage.
const PROMPT_WORDS = sentimentTaskDefaults.promptWords; // a sentence's first 3 words are its prompt
const MAX_NEW_TOKENS = sentimentTaskDefaults.maxNewTokens;
const SFT_EPOCHS = quick ? 1 : sftStageDefaults.epochs;
const PAIR_PROMPTS = quick ? 200 : 2440; // every training prompt
const SAMPLES_PER_PROMPT = rewardModelStageDefaults.samplesPerPrompt;
const PAIRS_PER_PROMPT = rewardModelStageDefaults.pairsPerPrompt;
const LABEL_TEMPERATURE = rewardModelStageDefaults.labelTemperature;
const RM_EPOCHS = quick ? 1 : rewardModelStageDefaults.epochs; // at most: it stops early
const RM_VALIDATION_FRACTION = rewardModelStageDefaults.validationFraction;
const RM_PATIENCE = rewardModelStageDefaults.patience;
const PPO_ITERATIONS = quick ? 4 : 60;
const PPO_ENVS = 32;
const PPO_KL_COEF = refKlDefaults.refKlCoef; // fixed (refKlTarget 0)
const PPO_ENT_COEF = rlhfPpoDefaults.entCoef;
const { samplesPerPrompt: _dpoSamples, labelTemperature: _dpoNoise, ...dpoOptions } =
  dpoStageDefaults;
const DPO_PAIRS_PER_PROMPT = Math.min(dpoOptions.pairsPerPrompt, PAIRS_PER_PROMPT); // of the RM's
const DPO_EPOCHS = quick ? 1 : dpoOptions.epochs;

await setupBackend("wasm");
await Deno.mkdir(outDir, { recursive: true });
const report: Record<string, unknown> = {
  seed,
  quick,
  settings: {
    PROMPT_WORDS,
    MAX_NEW_TOKENS,
    SFT_EPOCHS,
    PAIR_PROMPTS,
    SAMPLES_PER_PROMPT,
    PAIRS_PER_PROMPT,
    LABEL_TEMPERATURE,
    RM_EPOCHS,
    RM_VALIDATION_FRACTION,
    RM_PATIENCE,
    PPO_ITERATIONS,
    PPO_ENVS,
    PPO_KL_COEF,
    PPO_ENT_COEF,
    DPO_EPOCHS,
    DPO_PAIRS_PER_PROMPT,
    DPO_BETA: dpoOptions.beta,
    DPO_LEARNING_RATE: dpoOptions.learningRate,
  },
};
const stageSeconds: Record<string, number> = {};
const startedAt = performance.now();
async function stage<T>(name: string, run: () => Promise<T> | T): Promise<T> {
  const start = performance.now();
  console.log(`\n== ${name}`);
  const result = await run();
  stageSeconds[name] = Math.round((performance.now() - start) / 100) / 10;
  console.log(`   (${stageSeconds[name]} s)`);
  return result;
}

// ──────────────────────────────── Data ────────────────────────────────
// The same task the CLI's text-completion stages build, with this run's seed as the split's.
const task = sentimentTask({ ...sentimentTaskDefaults, splitSeed: seed });
const { tokenizer, train, holdout, trainPrompts, promptIds, contextLength } = task;
const encode = (text: string) => tokenizer.encode(text);
const evalPrompts = task.evalPrompts; // every held-out prompt
console.log(
  `corpus: ${train.length} training and ${holdout.length} held-out sentences, vocabulary ${tokenizer.vocabSize}, ${trainPrompts.length} training prompts, ${evalPrompts.length} evaluation prompts`,
);
report.data = {
  trainSentences: train.length,
  holdoutSentences: holdout.length,
  vocabulary: tokenizer.vocabSize,
  trainPrompts: trainPrompts.length,
  evalPrompts: evalPrompts.length,
};

// ──────────────────────────────── 1. SFT ────────────────────────────────
const sftModel = await stage("1. SFT", async () => {
  const sft = new SftTrainer(
    {
      train: train.map((s) => encode(s.text)).filter((ids) => ids.length > 0),
      holdout: holdout.map((s) => encode(s.text)).filter((ids) => ids.length > 0),
      vocabSize: tokenizer.vocabSize,
    },
    { ...sftStageDefaults, epochs: SFT_EPOCHS, seed },
  );
  let last: Record<string, number> = {};
  while (!sft.done) {
    last = (await sft.iterate()).metrics;
    console.log(
      `   epoch ${sft.epoch}: train loss ${last["train/loss"]!.toFixed(3)}, held-out perplexity ${
        last["eval/perplexity"]!.toFixed(1)
      }`,
    );
  }
  report.sft = last;
  const model = sft.model.clone();
  sft.dispose();
  return model;
});

// ──────────────────────────────── Generation ────────────────────────────────
function sample(model: GruLanguageModel, prompts: readonly string[], rng: Rng): string[] {
  return sampleCompletions(model, task, { prompts, rng });
}

report.generation = await stage("generation throughput", () => {
  const prompts = trainPrompts.slice(0, 64).map((p) => promptIds(p.prompt));
  const measure = (useCache: boolean) => {
    sftModel.generate(prompts, { maxNewTokens: MAX_NEW_TOKENS, rng: new Rng(0), useCache });
    const start = performance.now();
    const { completions } = sftModel.generate(prompts, {
      maxNewTokens: MAX_NEW_TOKENS,
      rng: new Rng(1),
      useCache,
    });
    const tokens = completions.reduce((a, c) => a + c.length, 0);
    return Math.round(tokens / ((performance.now() - start) / 1000));
  };
  const cached = measure(true), uncached = measure(false);
  console.log(`   batch 64: ${cached} tokens/s with the state cache, ${uncached} without`);
  return { batch: 64, tokensPerSecondCached: cached, tokensPerSecondUncached: uncached };
});

// ──────────────────────────────── 2. Pairs ────────────────────────────────
const judge = vaderJudge();
const { rmPairs, dpoPairs, heldPairs } = await stage("2. pairs labelled by the judge", async () => {
  const rng = new Rng(seed);
  const chosenPrompts = rng.shuffle([...trainPrompts]).slice(0, PAIR_PROMPTS).map((p) => p.prompt);
  const repeated = chosenPrompts.flatMap((p) => new Array<string>(SAMPLES_PER_PROMPT).fill(p));
  const completions = sample(sftModel, repeated, rng);
  const items = chosenPrompts.map((prompt, i) => ({
    prompt,
    completions: completions.slice(i * SAMPLES_PER_PROMPT, (i + 1) * SAMPLES_PER_PROMPT),
  }));
  // Prompts are held out, not pairs, so no pair of a held-out prompt is trained on; they give one
  // best-vs-worst pair each, the kind of pair the reward model's accuracy has always been read on.
  const split = splitHoldout(items, { fraction: 0.1, seed });
  const train = await labelPairs(split.train, judge, {
    temperature: LABEL_TEMPERATURE,
    pairsPerPrompt: PAIRS_PER_PROMPT,
    seed,
  });
  const held = await labelPairs(split.holdout, judge, { temperature: LABEL_TEMPERATURE, seed });
  // DPO trains on the reward model's pairs of the first ranks (best vs worst, then inwards).
  const dpoPairs = train.pairs.filter((_, i) => train.ranks[i]! < DPO_PAIRS_PER_PROMPT);
  await writePreferencePairs(`${outDir}/pairs.jsonl`, [...train.pairs, ...held.pairs]);
  console.log(
    `   ${train.pairs.length} training pairs from ${split.train.length} prompts (${
      (train.flipRate * 100).toFixed(1)
    } % of labels against the judge; ${dpoPairs.length} of ranks < ${DPO_PAIRS_PER_PROMPT}, for DPO), ${held.pairs.length} held-out pairs from ${split.holdout.length} prompts (${
      (held.flipRate * 100).toFixed(1)
    } % against the judge); ${train.ties + held.ties} prompts tied`,
  );
  report.pairs = {
    trainPairs: train.pairs.length,
    trainFlipRate: train.flipRate,
    dpoPairs: dpoPairs.length,
    heldOutPairs: held.pairs.length,
    heldOutFlipRate: held.flipRate,
    tiedPrompts: train.ties + held.ties,
    file: `${outDir}/pairs.jsonl`,
  };
  return { rmPairs: train.pairs, dpoPairs, heldPairs: held.pairs };
});

// ──────────────────────────────── 3. Reward model ────────────────────────────────
const rewardModel = await stage("3. reward model", async () => {
  const rm = new BradleyTerryTrainer(
    { tokenizer, model: sftModel.clone() },
    {
      learningRate: rewardModelStageDefaults.learningRate,
      batchSize: rewardModelStageDefaults.batchSize,
      epochs: RM_EPOCHS,
      validationFraction: quick ? 0 : RM_VALIDATION_FRACTION,
      patience: RM_PATIENCE,
      seed,
    },
  );
  await rm.train(rmPairs, {
    holdout: heldPairs,
    onEpoch: ({ epoch, metrics }) => {
      const validation = metrics["val/loss"] === undefined
        ? ""
        : `, validation ${metrics["val/accuracy"]!.toFixed(3)} (loss ${
          metrics["val/loss"].toFixed(3)
        })`;
      console.log(
        `   epoch ${epoch}: train accuracy ${
          metrics["train/accuracy"]!.toFixed(3)
        }${validation}, held-out ${metrics["eval/accuracy"]!.toFixed(3)}`,
      );
    },
  });
  if (rm.bestEpoch > 0) console.log(`   kept epoch ${rm.bestEpoch} (lowest validation loss)`);
  // A check the judge cannot influence: pairs of human-labelled held-out sentences, positive
  // preferred, each with the prompt it was generated from.
  const positives = holdout.filter((s) => s.label === 1);
  const negatives = holdout.filter((s) => s.label === 0);
  const humanPairs: PreferencePair[] = positives.slice(0, negatives.length).map((p, i) => ({
    prompt: "",
    chosen: p.text,
    rejected: negatives[i]!.text,
  }));
  const judgeAccuracy = rm.accuracy(heldPairs);
  const humanAccuracy = rm.accuracy(humanPairs);
  console.log(
    `   held-out judge-labelled pairs: ${
      (judgeAccuracy * 100).toFixed(1)
    } %; human-labelled sentence pairs: ${
      (humanAccuracy * 100).toFixed(1)
    } % (${humanPairs.length} pairs)`,
  );
  report.rewardModel = {
    heldOutAccuracy: judgeAccuracy,
    humanPairAccuracy: humanAccuracy,
    humanPairs: humanPairs.length,
    epochsTrained: rm.epoch,
    bestEpoch: rm.bestEpoch,
  };
  return rm.rewardModel;
});

// ──────────────────────────────── 4. PPO ────────────────────────────────
const ppoModel = await stage("4. PPO with a KL leash", async () => {
  const reference = new LmPolicy(sftModel.clone(), { contextLength });
  const envPrompts = trainPrompts.map((p) => promptIds(p.prompt));
  const makeEnv = () =>
    new TextCompletionEnv({
      prompts: envPrompts,
      vocabSize: tokenizer.vocabSize,
      maxNewTokens: MAX_NEW_TOKENS,
      contextLength,
      decode: task.decode,
    });
  const ppo = new Ppo(
    {
      makeEnv,
      numEnvs: PPO_ENVS,
      seed,
      totalTimesteps: PPO_ENVS * MAX_NEW_TOKENS * PPO_ITERATIONS,
      envName: "text-completion",
      policy: new LmPolicy(sftModel.clone(), { contextLength }),
      processors: [
        scoreEpisodes(rewardModel),
        klPenalty(reference, refKlController(refKlDefaults)),
      ],
    },
    // One completion per env copy per rollout.
    { ...rlhfPpoDefaults, numSteps: MAX_NEW_TOKENS },
  );
  const history: Record<string, number>[] = [];
  while (!ppo.done) {
    const { metrics } = await ppo.iterate();
    history.push(metrics);
    if (history.length % 10 === 0 || ppo.done) {
      console.log(
        `   iteration ${history.length}: reward ${metrics["env/reward_mean"]?.toFixed(3)}, KL ${
          metrics["objective/kl"]?.toFixed(2)
        } (β ${metrics["objective/kl_coef"]?.toFixed(3)})`,
      );
    }
  }
  report.ppo = {
    first: history[0],
    last: history.at(-1),
    tokensPerSecond: history.at(-1)?.["charts/SPS"],
  };
  const model = (ppo.policy as LmPolicy).model.clone();
  ppo.dispose();
  reference.dispose();
  return model;
});

// ──────────────────────────────── 4b, 4c. GRPO and RLOO ────────────────────────────────
// The same reward model and as many generated tokens as PPO, G (k) completions per prompt.
async function groupStage(name: "grpo" | "rloo"): Promise<GruLanguageModel> {
  const context = {
    policy: sftModel.clone(),
    reference: sftModel.clone(),
    reward: rewardModel,
    task: {
      prompts: trainPrompts.map((p) => promptIds(p.prompt)),
      decode: task.decode,
      maxNewTokens: MAX_NEW_TOKENS,
    },
    seed,
    totalTokens: PPO_ENVS * MAX_NEW_TOKENS * PPO_ITERATIONS,
  };
  const trainer = name === "grpo"
    ? new Grpo(context, grpoStageDefaults)
    : new Rloo(context, rlooStageDefaults);
  const history: Record<string, number>[] = [];
  while (!trainer.done) history.push((await trainer.iterate()).metrics);
  const last = history.at(-1)!;
  const score = last["reward"] ?? last["objective/scores"];
  console.log(
    `   ${history.length} iterations: reward ${score?.toFixed(3)}, ${
      Math.round(last["perf/tokens_per_second"]!)
    } tokens/s`,
  );
  report[name] = { first: history[0], last, tokensPerSecond: last["perf/tokens_per_second"] };
  const model = trainer.model.clone();
  trainer.dispose();
  return model;
}
const grpoModel = await stage("4b. GRPO", () => groupStage("grpo"));
const rlooModel = await stage("4c. RLOO", () => groupStage("rloo"));

// ──────────────────────────────── 5. DPO ────────────────────────────────
const dpoModel = await stage("5. DPO", async () => {
  const { pairsPerPrompt: _n, ...trainerOptions } = dpoOptions;
  const pairs = tokenizePairs(dpoPairs, tokenizer);
  const dpo = new DpoTrainer(sftModel.clone(), pairs, {
    ...trainerOptions,
    holdout: tokenizePairs(heldPairs, tokenizer),
    epochs: DPO_EPOCHS,
    seed,
  });
  // Tokens the policy reads per epoch: <bos> prompt completion <eos>, chosen and rejected.
  const tokensPerEpoch = pairs.reduce(
    (a, p) => a + 2 * (p.prompt.length + 2) + p.chosen.length + p.rejected.length,
    0,
  );
  let last: Record<string, number> = {};
  let trainSeconds = 0;
  while (!dpo.done) {
    last = (await dpo.iterate()).metrics;
    trainSeconds += last["perf/pairs_per_second"]! > 0
      ? pairs.length / last["perf/pairs_per_second"]!
      : 0;
    console.log(
      `   epoch: loss ${last["loss"]?.toFixed(3)}, held-out reward accuracy ${
        last["eval/rewards/accuracies"]?.toFixed(3)
      }, margin ${last["eval/rewards/margins"]?.toFixed(3)}`,
    );
  }
  report.dpo = {
    ...last,
    tokensPerSecond: trainSeconds > 0 ? tokensPerEpoch * DPO_EPOCHS / trainSeconds : 0,
  };
  const model = dpo.model.clone();
  dpo.dispose();
  return model;
});

// ──────────────────────────────── 6. Evaluation ────────────────────────────────
await stage("6. evaluation", () => {
  const prompts = evalPrompts.map((p) => p.prompt);
  // A judge no stage trained on: fitted on the human labels of the training sentences.
  const { classifier, heldOutAccuracy } = heldOutJudge(task);
  console.log(
    `   held-out classifier: ${(heldOutAccuracy * 100).toFixed(1)} % on held-out sentences`,
  );
  report.heldOutClassifier = { heldOutAccuracy, features: classifier.features.size };
  const evaluation = { task, prompts, seed: seed + 7, classifier };
  const measured = {
    sft: evaluateCompletions(sftModel, sftModel, evaluation),
    ppo: evaluateCompletions(ppoModel, sftModel, evaluation),
    dpo: evaluateCompletions(dpoModel, sftModel, evaluation),
    grpo: evaluateCompletions(grpoModel, sftModel, evaluation),
    rloo: evaluateCompletions(rlooModel, sftModel, evaluation),
  };
  const results: Record<string, unknown> = {};
  for (const [name, e] of Object.entries(measured)) {
    const win = name === "sft" ? undefined : winRate(e.scores, measured.sft.scores, { seed });
    const held = name === "sft" ? undefined : classifierWinRate(e, measured.sft, { seed });
    results[name] = {
      meanJudgeScore: e.meanJudgeScore,
      klToSftPerSequence: e.klToReferencePerSequence,
      distinct2: e.distinct2,
      unknownTokenRate: e.unknownTokenRate,
      meanLength: e.meanLength,
      samples: e.samples,
      ...(win ? { winRateOverSft: win, classifierWinRateOverSft: held } : {}),
    };
    console.log(`   ${describeEvaluation(name, e, win)}`);
    if (held) {
      const pct = (x: number) => (x * 100).toFixed(1);
      console.log(
        `      held-out classifier win-rate ${pct(held.rate)} % [${pct(held.interval[0])}, ${
          pct(held.interval[1])
        }]`,
      );
    }
    for (const sample of e.samples) console.log(`      ${sample}`);
  }
  report.evaluation = results;
  report.table = summaryTable(measured, results);
});

/** One row per policy: the table (win-rates with their intervals, leash, speed). */
function summaryTable(
  measured: Record<string, ReturnType<typeof evaluateCompletions>>,
  results: Record<string, unknown>,
): Record<string, unknown>[] {
  const stageOf: Record<string, string> = {
    sft: "1. SFT",
    ppo: "4. PPO with a KL leash",
    grpo: "4b. GRPO",
    rloo: "4c. RLOO",
    dpo: "5. DPO",
  };
  const speed = (name: string): number | undefined => {
    const r = report[name] as Record<string, number | undefined> | undefined;
    return name === "sft" ? r?.["train/tokens_per_second"] : r?.tokensPerSecond;
  };
  const pct = (x: number) => (x * 100).toFixed(1);
  const interval = (w?: { rate: number; interval: [number, number] }) =>
    w ? `${pct(w.rate)} % [${pct(w.interval[0])}, ${pct(w.interval[1])}]` : "–";
  const rows = Object.entries(measured).map(([name, e]) => {
    const r = results[name] as {
      winRateOverSft?: { rate: number; interval: [number, number] };
      classifierWinRateOverSft?: { rate: number; interval: [number, number] };
    };
    return {
      policy: name,
      vaderWinRate: r.winRateOverSft,
      classifierWinRate: r.classifierWinRateOverSft,
      klPerSequence: e.klToReferencePerSequence,
      distinct2: e.distinct2,
      distinct2OverSft: e.distinct2 / measured.sft!.distinct2,
      unknownTokenRate: e.unknownTokenRate,
      wallSeconds: stageSeconds[stageOf[name]!],
      trainingTokensPerSecond: speed(name),
    };
  });
  console.log(
    "\n| policy | VADER win [95 % CI] | classifier win [95 % CI] | KL/seq | distinct-2 | <unk> | wall s | training tokens/s |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
  for (const row of rows) {
    console.log(
      `| ${row.policy} | ${interval(row.vaderWinRate)} | ${interval(row.classifierWinRate)} | ${
        row.klPerSequence.toFixed(2)
      } | ${row.distinct2.toFixed(3)} (${row.distinct2OverSft.toFixed(2)} × SFT) | ${
        pct(row.unknownTokenRate)
      } % | ${row.wallSeconds ?? "–"} | ${
        row.trainingTokensPerSecond === undefined ? "–" : Math.round(row.trainingTokensPerSecond)
      } |`,
    );
  }
  return rows;
}

report.stageSeconds = stageSeconds;
report.totalSeconds = Math.round((performance.now() - startedAt) / 100) / 10;
await Deno.writeTextFile(`${outDir}/report.json`, JSON.stringify(report, null, 2) + "\n");
console.log(`\nWhole loop: ${report.totalSeconds} s → ${outDir}/report.json`);
