/**
 * The `text-preference` env plugin and the four RLHF stages it brings to `deno task train`:
 *
 *   deno task train --env text-preference --algo sft          --out runs/sft
 *   deno task train --env text-preference --algo reward-model --model runs/sft --out runs/rm
 *   deno task train --env text-preference --algo ppo --model runs/sft --reward runs/rm --out runs/ppo
 *   deno task train --env text-preference --algo dpo --model runs/sft --pairs runs/rm/pairs.jsonl
 *
 * Each stage is a thin plugin over the library's trainers (SftTrainer, BradleyTerryTrainer,
 * Ppo with an LmPolicy and rollout processors, DpoTrainer): it loads the model and pairs the flags
 * name, and its checkpoint carries the tokenizer, so the next stage can load it. Without
 * `--pairs`, reward-model and DPO training sample pairs from `--model` and let VADER label them
 * (written to `<out>/pairs.jsonl`, TRL's format).
 */
import {
  AdaptiveKlController,
  type AlgoContext,
  type Checkpoint,
  createRegistry,
  defineAlgo,
  defineReward,
  type EnvPlugin,
  FixedKlController,
  type IterationReport,
  type PreferencePair,
  readCheckpoint,
  readPreferencePairs,
  resolveOptions,
  resolvePlugin,
  type RewardSource,
  Rng,
  type RolloutProcessor,
  type Trainer,
  type TrainerEvaluation,
  writePreferencePairs,
} from "@proximal/core";
import { assertSameVocabulary, type GruLanguageModel, LmPolicy } from "@proximal/models";
import {
  type SentimentTask as Task,
  sentimentTask,
  type SentimentTaskOptions,
  splitHoldout,
  textPreference,
  TextPreferenceEnv,
} from "@proximal/envs";
import {
  dpoDefaults,
  DpoTrainer,
  klPenalty,
  Ppo,
  ppoDefaults,
  sftDefaults,
  SftTrainer,
  tokenizePairs,
} from "@proximal/algos";
import {
  BradleyTerryRewardModel,
  BradleyTerryTrainer,
  labelPairs,
  scoreEpisodes,
  vaderJudge,
  whitenRewards,
} from "@proximal/reward-models";
import {
  describeEvaluation,
  evaluateCompletions,
  judgeWinRate,
  lmMeta,
  loadLanguageModel,
  sampleCompletions,
} from "./text_eval.ts";

// ──────────────────────────────── Shared pieces ────────────────────────────────

function taskOf(context: AlgoContext): Task {
  return sentimentTask(context.envOptions as Partial<SentimentTaskOptions> | undefined);
}

/** Pairs for training and the held-out ones; whole prompts are held out. */
interface PairSplit {
  train: PreferencePair[];
  holdout: PreferencePair[];
}

/**
 * Pairs from `--pairs FILE`, or sampled from the model and labelled by VADER (then written to
 * `<out>/pairs.jsonl`). A tenth of the prompts is held out, so no pair of a held-out prompt is
 * trained on; labelled held-out prompts give one best-vs-worst pair each.
 */
async function preferencePairs(
  options: {
    pairs: string;
    samplesPerPrompt: number;
    pairsPerPrompt: number;
    labelTemperature: number;
  },
  model: GruLanguageModel,
  context: AlgoContext & { task: Task },
): Promise<PairSplit> {
  const { task, seed } = context;
  if (options.pairs !== "") {
    const byPrompt = new Map<string, PreferencePair[]>();
    for (const pair of await readPreferencePairs(options.pairs)) {
      byPrompt.set(pair.prompt, [...(byPrompt.get(pair.prompt) ?? []), pair]);
    }
    const split = splitHoldout([...byPrompt.values()], { fraction: 0.1, seed });
    if (split.train.length === 0 || split.holdout.length === 0) {
      throw new RangeError(
        `${options.pairs} holds pairs of ${byPrompt.size} prompt(s): training needs at least 10 (a tenth is held out)`,
      );
    }
    return { train: split.train.flat(), holdout: split.holdout.flat() };
  }
  const rng = new Rng(seed);
  const { samplesPerPrompt } = options;
  const prompts = task.trainPrompts.map((p) => p.prompt);
  const repeated = prompts.flatMap((p) => new Array<string>(samplesPerPrompt).fill(p));
  const completions = sampleCompletions(model, task, { prompts: repeated, rng });
  const items = prompts.map((prompt, i) => ({
    prompt,
    completions: completions.slice(i * samplesPerPrompt, (i + 1) * samplesPerPrompt),
  }));
  const split = splitHoldout(items, { fraction: 0.1, seed });
  const judge = vaderJudge();
  const label = { temperature: options.labelTemperature, seed };
  const train = await labelPairs(split.train, judge, {
    ...label,
    pairsPerPrompt: options.pairsPerPrompt,
  });
  const holdout = await labelPairs(split.holdout, judge, label);
  await Deno.mkdir(context.outDir ?? ".", { recursive: true });
  const source = `${context.outDir ?? "."}/pairs.jsonl`;
  await writePreferencePairs(source, [...train.pairs, ...holdout.pairs]);
  console.log(
    `Labelled ${train.pairs.length} training and ${holdout.pairs.length} held-out pairs with VADER → ${source}`,
  );
  return { train: train.pairs, holdout: holdout.pairs };
}

/**
 * A stage's trainer: the library's trainer, whose checkpoints also carry the tokenizer and the
 * model's shape, and an evaluation of the tuned model against the one it started from.
 */
class TextStage implements Trainer {
  readonly #inner: Trainer;
  readonly #task: Task;
  readonly #model: () => GruLanguageModel;
  readonly #prefix: string;
  readonly #reference: GruLanguageModel | undefined;
  readonly #seed: number;
  readonly #epochs: (() => number) | undefined;

  constructor(
    inner: Trainer,
    options: {
      task: Task;
      model: () => GruLanguageModel;
      prefix: string;
      reference?: GruLanguageModel;
      seed: number;
      /** The fraction of epochs done, for trainers that run epochs. */
      epochs?: () => number;
    },
  ) {
    this.#epochs = options.epochs;
    this.#inner = inner;
    this.#task = options.task;
    this.#model = options.model;
    this.#prefix = options.prefix;
    this.#reference = options.reference;
    this.#seed = options.seed;
  }
  get algo(): string {
    return this.#inner.algo;
  }
  get step(): number {
    return this.#inner.step;
  }
  get done(): boolean {
    return this.#inner.done;
  }
  get metricNames(): readonly string[] {
    return this.#inner.metricNames;
  }
  get policy(): Trainer["policy"] {
    return this.#inner.policy;
  }
  get progress(): number | undefined {
    return this.#epochs ? this.#epochs() : undefined;
  }
  iterate(): Promise<IterationReport> {
    return this.#inner.iterate();
  }
  async save(): Promise<Checkpoint> {
    const checkpoint = await this.#inner.save();
    checkpoint.meta.lm = lmMeta(this.#model(), this.#task.tokenizer, this.#prefix);
    return checkpoint;
  }
  restore(checkpoint: Checkpoint): Promise<void> {
    return this.#inner.restore(checkpoint);
  }
  finalEvaluation(options: { episodes: number }): Promise<TrainerEvaluation> {
    const prompts = this.#task.evalPrompts.slice(0, options.episodes).map((p) => p.prompt);
    const model = this.#model();
    const tuned = evaluateCompletions(model, this.#reference ?? model, {
      task: this.#task,
      prompts,
      seed: this.#seed + 7,
    });
    const metrics: Record<string, number> = {
      prompts: prompts.length,
      meanJudgeScore: tuned.meanJudgeScore,
      distinct2: tuned.distinct2,
      unknownTokenRate: tuned.unknownTokenRate,
    };
    const summary: string[] = [];
    const details: Record<string, unknown> = { samples: tuned.samples };
    if (this.#reference) {
      const before = evaluateCompletions(this.#reference, this.#reference, {
        task: this.#task,
        prompts,
        seed: this.#seed + 7,
      });
      const win = judgeWinRate(tuned, before, this.#seed);
      Object.assign(metrics, {
        winRateOverReference: win.rate,
        winRateLow: win.interval[0],
        winRateHigh: win.interval[1],
        klToReferencePerSequence: tuned.klToReferencePerSequence,
        referenceDistinct2: before.distinct2,
        referenceUnknownTokenRate: before.unknownTokenRate,
      });
      details.referenceSamples = before.samples;
      summary.push(
        `${prompts.length} held-out prompts`,
        describeEvaluation("reference", before),
        describeEvaluation("tuned", tuned, win),
        "before → after:",
        ...before.samples.map((s, i) => `  ${s}  →  ${tuned.samples[i]}`),
      );
    } else {
      summary.push(
        `${prompts.length} held-out prompts`,
        describeEvaluation("model", tuned),
        ...tuned.samples.map((s) => `  ${s}`),
      );
    }
    return Promise.resolve({ metrics, summary, details });
  }
  dispose(): void {
    this.#inner.dispose();
    this.#reference?.dispose();
  }
}

// ──────────────────────────────── The env ────────────────────────────────

// ──────────────────────────────── SFT ────────────────────────────────

const { seed: _sftSeed, ...sftShared } = sftDefaults;

const sftStage = defineAlgo({
  kind: "algo",
  name: "sft",
  description:
    "Supervised fine-tuning: a GRU language model learns the corpus's training sentences",
  // One more epoch than SftTrainer's default: held-out perplexity still falls at 6 on this corpus.
  defaults: { ...sftShared, epochs: 6 },
  help: {
    learningRate: "Adam step size",
    batchSize: "sentences per gradient step",
    epochs: "passes over the sentences",
    embeddingSize: "token embedding width",
    hiddenSize: "GRU width",
    layers: "GRU layers",
  },
  create: (options, context) => {
    const task = taskOf(context);
    const encode = (text: string) => task.tokenizer.encode(text);
    const sft = new SftTrainer(
      {
        train: task.train.map((s) => encode(s.text)).filter((ids) => ids.length > 0),
        holdout: task.holdout.map((s) => encode(s.text)).filter((ids) => ids.length > 0),
        vocabSize: task.tokenizer.vocabSize,
      },
      { ...options, seed: context.seed },
    );
    return new TextStage(sft, {
      task,
      model: () => sft.model,
      prefix: "model",
      seed: context.seed,
      epochs: () => sft.epoch / sft.options.epochs,
    });
  },
});

// ──────────────────────────────── Reward model ────────────────────────────────

const pairOptions = {
  model: "",
  pairs: "",
  samplesPerPrompt: 8,
  pairsPerPrompt: 1,
  labelTemperature: 0.2,
};
const pairHelp = {
  model: "checkpoint (file or run directory) of the model to start from, e.g. runs/sft",
  pairs: "JSONL file of {prompt, chosen, rejected} rows (default: sample and label with VADER)",
  samplesPerPrompt: "completions sampled per prompt when labelling pairs",
  pairsPerPrompt: "labelled pairs per prompt: best vs worst, then inwards",
  labelTemperature: "Bradley-Terry temperature of the sampled labels' noise",
};

/** A reward model trained epoch by epoch, as a Trainer. */
class RewardModelStage implements Trainer {
  readonly algo = "reward-model";
  readonly metricNames: readonly string[];
  readonly policy: LmPolicy;
  #step = 0;
  constructor(
    readonly rewardModel: BradleyTerryTrainer,
    readonly split: PairSplit,
    readonly task: Task,
  ) {
    this.policy = new LmPolicy(rewardModel.model, { contextLength: task.contextLength });
    this.metricNames = rewardModel.metricNames;
  }
  get step(): number {
    return this.#step;
  }
  get done(): boolean {
    return this.rewardModel.done;
  }
  get progress(): number {
    return this.rewardModel.epoch / this.rewardModel.options.epochs;
  }
  async iterate(): Promise<IterationReport> {
    const { metrics } = await this.rewardModel.trainEpoch(this.split.train, {
      holdout: this.split.holdout,
    });
    this.#step += this.split.train.length;
    return { step: this.#step, metrics, episodes: [] };
  }
  async save(): Promise<Checkpoint> {
    const checkpoint = await this.rewardModel.save();
    checkpoint.meta.lm = lmMeta(this.rewardModel.model, this.task.tokenizer, "model");
    checkpoint.meta.stageStep = this.#step;
    return checkpoint;
  }
  async restore(checkpoint: Checkpoint): Promise<void> {
    await this.rewardModel.restore(checkpoint);
    this.#step = Number(checkpoint.meta.stageStep ?? 0);
  }
  finalEvaluation(): Promise<TrainerEvaluation> {
    // A check the judge cannot influence: held-out human-labelled sentences, positive preferred.
    const positives = this.task.holdout.filter((s) => s.label === 1);
    const negatives = this.task.holdout.filter((s) => s.label === 0);
    const humanPairs = positives.slice(0, negatives.length).map((p, i) => ({
      prompt: "",
      chosen: p.text,
      rejected: negatives[i]!.text,
    }));
    const heldOut = this.rewardModel.accuracy(this.split.holdout);
    const human = this.rewardModel.accuracy(humanPairs);
    return Promise.resolve({
      metrics: {
        heldOutAccuracy: heldOut,
        humanPairAccuracy: human,
        humanPairs: humanPairs.length,
      },
      summary: [
        `accuracy on ${this.split.holdout.length} held-out pairs: ${(heldOut * 100).toFixed(1)} %`,
        `accuracy on ${humanPairs.length} human-labelled sentence pairs: ${
          (human * 100).toFixed(1)
        } %`,
      ],
    });
  }
  dispose(): void {
    this.rewardModel.dispose();
  }
}

const rewardModelStage = defineAlgo({
  kind: "algo",
  name: "reward-model",
  description: "A Bradley-Terry reward model trained on preference pairs, initialised from --model",
  // As in examples/rlhf.ts: four pairs per prompt, at most 6 epochs, the lowest validation loss kept.
  defaults: {
    ...pairOptions,
    pairsPerPrompt: 4,
    learningRate: 1e-3,
    batchSize: 32,
    epochs: 6,
    validationFraction: 0.1,
    patience: 2,
  },
  help: {
    ...pairHelp,
    learningRate: "Adam step size",
    batchSize: "pairs per gradient step",
    epochs: "most passes over the pairs",
    validationFraction: "share of the training pairs that early stopping validates on (0 = off)",
    patience: "epochs without a lower validation loss before stopping",
  },
  create: async (options, context) => {
    const task = taskOf(context);
    const { model } = await loadLanguageModel(options.model, task.tokenizer);
    try {
      const split = await preferencePairs(options, model, { ...context, task });
      const rewardModel = new BradleyTerryTrainer({ tokenizer: task.tokenizer, model }, {
        learningRate: options.learningRate,
        batchSize: options.batchSize,
        epochs: options.epochs,
        validationFraction: options.validationFraction,
        patience: options.patience,
        seed: context.seed,
      });
      return new RewardModelStage(rewardModel, split, task);
    } catch (e) {
      model.dispose();
      throw e;
    }
  },
});

// ──────────────────────────────── PPO ────────────────────────────────

const vader = defineReward({
  kind: "reward",
  name: "vader",
  description: "The VADER sentiment judge (compound score of prompt + completion)",
  defaults: {},
  create: () => vaderJudge(),
});

/** `vader`, a reward model's checkpoint (file or run directory), or a reward plugin module. */
async function rewardSource(ref: string, task: Task): Promise<RewardSource> {
  if (ref === "vader") return vaderJudge();
  const isCheckpoint = ref.endsWith(".ckpt") ||
    (await Deno.stat(`${ref.replace(/\/$/, "")}/latest.ckpt`).then(() => true, () => false));
  if (isCheckpoint) {
    const source = ref.endsWith(".ckpt") ? ref : `${ref.replace(/\/$/, "")}/latest.ckpt`;
    const checkpoint = await readCheckpoint(source);
    const rewardModel = BradleyTerryRewardModel.fromCheckpoint(
      { meta: checkpoint.meta.trainer as Record<string, unknown>, tensors: checkpoint.tensors },
      { source },
    );
    try {
      assertSameVocabulary(rewardModel.tokenizer.fingerprint, task.tokenizer, {
        where: `reward model ${source}`,
      });
    } catch (e) {
      rewardModel.dispose();
      throw e;
    }
    return rewardModel;
  }
  const plugin = await resolvePlugin(createRegistry([vader]), "reward", ref);
  return await plugin.create(resolveOptions(plugin, {}));
}

// The MLP's shape and the workers (which need the MLP policy) do not apply to a language model.
const { hiddenSize: _h, hiddenLayers: _l, numWorkers: _w, numShards: _s, ...ppoShared } =
  ppoDefaults;

const ppoStage = defineAlgo({
  kind: "algo",
  name: "ppo",
  description:
    "PPO on a language-model policy from --model, scored by --reward, with a KL leash to --model",
  defaults: {
    ...ppoShared,
    learningRate: 3e-4,
    numSteps: 16,
    gamma: 1,
    // As in examples/rlhf.ts: over ~2,000 episodes an adaptive coefficient lags and the policy
    // drifts into repetition; a fixed β and an entropy bonus keep it fluent.
    entCoef: 0.02,
    maxGradNorm: 1,
    model: "",
    reward: "vader",
    klCoef: 0.4,
    klTarget: 0,
    klHorizon: 1000,
    whiten: false,
  },
  help: {
    model: "checkpoint (file or run directory) of the SFT model: the policy and its reference",
    reward: "vader, a reward model's checkpoint (e.g. runs/rm), or a reward plugin module",
    klCoef: "initial coefficient of the per-token KL penalty to the reference",
    klTarget: "KL per sequence the adaptive coefficient steers to (0 = fixed coefficient)",
    klHorizon: "adaptive KL controller's horizon (TRL's)",
    whiten: "divide each rollout's rewards by their standard deviation",
  },
  create: async (options, context) => {
    const { model, reward, klCoef, klTarget, klHorizon, whiten, ...ppoOptions } = options;
    const task = taskOf(context);
    const source = await rewardSource(reward, task);
    const { model: policyModel } = await loadLanguageModel(model, task.tokenizer);
    const reference = policyModel.clone();
    const processors: RolloutProcessor[] = [
      scoreEpisodes(source),
      ...(whiten ? [whitenRewards()] : []),
      klPenalty(
        new LmPolicy(reference.clone(), { contextLength: task.contextLength }),
        klTarget > 0
          ? new AdaptiveKlController({
            initKlCoef: klCoef,
            target: klTarget,
            horizon: klHorizon,
          })
          : new FixedKlController(klCoef),
      ),
    ];
    const prompts = task.trainPrompts.map((p) => task.promptIds(p.prompt));
    const policy = new LmPolicy(policyModel, { contextLength: task.contextLength });
    const ppo = new Ppo({
      makeEnv: () =>
        new TextPreferenceEnv({
          prompts,
          vocabSize: task.tokenizer.vocabSize,
          maxNewTokens: task.maxNewTokens,
          contextLength: task.contextLength,
          decode: task.decode,
        }),
      numEnvs: context.numEnvs,
      seed: context.seed,
      totalTimesteps: context.totalTimesteps,
      envName: context.envName ?? "text-preference",
      policy,
      processors,
    }, ppoOptions);
    return new TextStage(ppo, {
      task,
      model: () => policy.model,
      prefix: "policy",
      reference,
      seed: context.seed,
    });
  },
});

// ──────────────────────────────── DPO ────────────────────────────────

// The run's --seed seeds the shuffles.
const { seed: _dpoSeed, ...dpoShared } = dpoDefaults;

const dpoStage = defineAlgo({
  kind: "algo",
  name: "dpo",
  description: "Direct Preference Optimization on pairs, against the frozen --model",
  defaults: { ...pairOptions, ...dpoShared },
  help: {
    ...pairHelp,
    beta: "strength of the implicit KL leash",
    lossType: "sigmoid (DPO), ipo or hinge",
    labelSmoothing: "assumed label-noise rate (conservative DPO)",
    learningRate: "Adam step size",
    batchSize: "pairs per gradient step",
    epochs: "passes over the pairs",
    precomputeReferenceLogProbs: "compute the reference's log-probs once and free it",
  },
  create: async (options, context) => {
    const {
      model: modelPath,
      pairs: _p,
      samplesPerPrompt: _s,
      pairsPerPrompt: _n,
      labelTemperature: _t,
      ...dpo
    } = options;
    const task = taskOf(context);
    const { model } = await loadLanguageModel(modelPath, task.tokenizer);
    try {
      const split = await preferencePairs(options, model, { ...context, task });
      const reference = model.clone();
      const trainer = new DpoTrainer(model, tokenizePairs(split.train, task.tokenizer), {
        ...dpo,
        lossType: dpo.lossType as "sigmoid",
        holdout: tokenizePairs(split.holdout, task.tokenizer),
        seed: context.seed,
      });
      return new TextStage(trainer, {
        task,
        model: () => trainer.model,
        prefix: "policy",
        reference,
        seed: context.seed,
        epochs: () => trainer.epoch / trainer.options.epochs,
      });
    } catch (e) {
      model.dispose();
      throw e;
    }
  },
});

/**
 * The `text-preference` env of `@proximal/envs`, bringing the RLHF stages as its algorithms:
 * `--env text-preference --algo sft | reward-model | ppo | dpo`.
 */
export const textPreferenceWithStages: EnvPlugin<SentimentTaskOptions> = {
  ...textPreference,
  algos: [sftStage, rewardModelStage, ppoStage, dpoStage],
};
