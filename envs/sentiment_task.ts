/**
 * The sentiment-corpus task of the text-completion env: the held-out split, the tokenizer built on the
 * training sentences, the prompts (a sentence's first words), and the `text-completion` env plugin
 * that makes token-level envs from them.
 */
import { defineEnv, type EnvPlugin } from "@proximal/core";
import { BOS_ID, WordTokenizer } from "@proximal/models";
import {
  type LabelledSentence,
  loadSentimentCorpusSync,
  splitHoldout,
  splitPrompt,
} from "./sentiment_corpus.ts";
import { TextCompletionEnv } from "./text_completion.ts";

/** The options that define the task: the text-completion env plugin's options. */
export type SentimentTaskOptions = {
  /** Words of a sentence that form its prompt; default 3. */
  promptWords: number;
  /** The longest completion, in tokens; default 16. */
  maxNewTokens: number;
  /** Share of the corpus held out for evaluation; default 0.1. */
  holdoutFraction: number;
  /** Seed of the held-out split; default 1 (fixed, so separate runs share the tokenizer). */
  splitSeed: number;
  /** Occurrences a word needs to enter the vocabulary; default 2. */
  minCount: number;
};

/** The defaults of {@linkcode SentimentTaskOptions}. */
export const sentimentTaskDefaults: SentimentTaskOptions = {
  promptWords: 3,
  maxNewTokens: 16,
  holdoutFraction: 0.1,
  splitSeed: 1,
  minCount: 2,
};

/** A prompt with the rest of its sentence and the sentence's human label. */
export interface TaskPrompt {
  /** The sentence's first words. */
  prompt: string;
  /** The rest, starting with a space. */
  continuation: string;
  /** The sentence's human label: 1 positive, 0 negative. */
  label: 0 | 1;
}

/** The corpus split, the tokenizer built on its training part, and the prompts. */
export interface SentimentTask {
  /** Built on the training sentences. */
  tokenizer: WordTokenizer;
  /** The training sentences. */
  train: LabelledSentence[];
  /** The held-out sentences. */
  holdout: LabelledSentence[];
  /** Prompts of the training sentences that have words after the prompt. */
  trainPrompts: TaskPrompt[];
  /** Prompts of the held-out sentences. */
  evalPrompts: TaskPrompt[];
  /** Longest `<bos>` + prompt + completion: the text env's observation width. */
  contextLength: number;
  /** The longest completion, in tokens. */
  maxNewTokens: number;
  /** `<bos>` and the prompt's tokens: what a completion is generated from. */
  promptIds(prompt: string): Int32Array;
  /** A completion's text, with the space that joins it to its prompt. */
  completionText(ids: ArrayLike<number>): string;
  /** The text env's decoder: a prompt (starting `<bos>`) as text, a completion as above. */
  decode(ids: Int32Array): string;
}

// Built once per process and options: every env copy and stage shares the corpus and tokenizer.
let corpus: LabelledSentence[] | undefined;
const tasks = new Map<string, SentimentTask>();

/**
 * The task for these options, built once per process from the installed sentiment corpus.
 *
 * @param options Any of {@linkcode SentimentTaskOptions}; the rest take their defaults.
 * @returns The task.
 * @throws `The text-completion prompt set is empty: …` if no sentence is longer than its prompt.
 * @example Prompts and their token ids
 * ```ts
 * import assert from "node:assert/strict";
 * import { sentimentTask } from "@proximal/envs";
 * const task = sentimentTask({ promptWords: 3 });
 * const [first] = task.trainPrompts;
 * assert.equal(first!.prompt.split(" ").length, 3);
 * assert.equal(task.promptIds(first!.prompt)[0], 1); // <bos>
 * ```
 */
export function sentimentTask(options: Partial<SentimentTaskOptions> = {}): SentimentTask {
  const o: SentimentTaskOptions = { ...sentimentTaskDefaults, ...options };
  const key = JSON.stringify(o);
  const cached = tasks.get(key);
  if (cached) return cached;
  corpus ??= loadSentimentCorpusSync();
  const { train, holdout } = splitHoldout(corpus, {
    fraction: o.holdoutFraction,
    seed: o.splitSeed,
  });
  const tokenizer = WordTokenizer.fromTexts(train.map((s) => s.text), { minCount: o.minCount });
  const promptsOf = (sentences: readonly LabelledSentence[]): TaskPrompt[] =>
    sentences.flatMap((s) => {
      const split = splitPrompt(s.text, { promptWords: o.promptWords });
      return split ? [{ ...split, label: s.label }] : [];
    });
  const trainPrompts = promptsOf(train), evalPrompts = promptsOf(holdout);
  if (trainPrompts.length === 0 || evalPrompts.length === 0) {
    throw new RangeError(
      `The text-completion prompt set is empty: no ${
        trainPrompts.length === 0 ? "training" : "held-out"
      } sentence has more than ${o.promptWords} words (lower --prompt-words)`,
    );
  }
  const promptIds = (prompt: string) => Int32Array.from([BOS_ID, ...tokenizer.encode(prompt)]);
  const completionText = (ids: ArrayLike<number>) => {
    const text = tokenizer.decode(Array.from(ids));
    return text === "" ? "" : ` ${text}`;
  };
  const task: SentimentTask = {
    tokenizer,
    train,
    holdout,
    trainPrompts,
    evalPrompts,
    contextLength: Math.max(...trainPrompts.map((p) => promptIds(p.prompt).length)) +
      o.maxNewTokens,
    maxNewTokens: o.maxNewTokens,
    promptIds,
    completionText,
    decode: (ids) => ids[0] === BOS_ID ? tokenizer.decode(ids) : completionText(ids),
  };
  tasks.set(key, task);
  return task;
}

/**
 * The `text-completion` env plugin: write the continuation of a corpus sentence's first words,
 * token by token; the episode ends at `<eos>` or `maxNewTokens`, and the env pays no reward (a
 * `RewardSource` scores the completion, e.g. through `scoreEpisodes`). Each copy draws training
 * prompts. `deno task train --env text-completion` adds the RLHF stages as its algorithms.
 *
 * @example One episode of random tokens
 * ```ts
 * import assert from "node:assert/strict";
 * import { Rng } from "@proximal/core";
 * import { textCompletion } from "@proximal/envs";
 * const env = textCompletion.create({ ...textCompletion.defaults, maxNewTokens: 4 });
 * env.reset({ seed: 1 });
 * const rng = new Rng(1);
 * let step;
 * do step = env.step(4 + rng.int(100)); while (!step.terminated && !step.truncated);
 * assert.ok(step.truncated && typeof step.info.completion === "string");
 * ```
 */
export const textCompletion: EnvPlugin<SentimentTaskOptions> = defineEnv({
  kind: "env",
  name: "text-completion",
  // Its name until the env was named for what an episode is, rather than for how RLHF rewards it.
  aliases: ["text-preference"],
  description: "Write a sentence's continuation token by token (UCI sentiment corpus)",
  defaults: sentimentTaskDefaults,
  help: {
    promptWords: "words of a sentence that form its prompt",
    maxNewTokens: "longest completion, in tokens",
    holdoutFraction: "share of the corpus held out for evaluation",
    splitSeed: "seed of the held-out split (fixed, so every stage shares the tokenizer)",
    minCount: "occurrences a word needs to enter the vocabulary",
  },
  create: (options) => {
    const task = sentimentTask(options);
    return new TextCompletionEnv({
      prompts: task.trainPrompts.map((p) => task.promptIds(p.prompt)),
      vocabSize: task.tokenizer.vocabSize,
      maxNewTokens: task.maxNewTokens,
      contextLength: task.contextLength,
      decode: task.decode,
    });
  },
});
