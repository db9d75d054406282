/**
 * The UCI "Sentiment Labelled Sentences" corpus (Kotzias, Denil, de Freitas & Smyth, "From Group
 * to Individual Labels using Deep Features", KDD 2015): 3,000 review sentences, 1,000 each from
 * IMDB, Amazon and Yelp, each labelled positive (1) or negative (0) by a person, 500 of each label
 * per source. It is the prompt source and the human-written reference text of proximal's RLHF
 * examples.
 *
 * The sentences are not copied into this repository: they ship with the npm package
 * `sentiment@5.0.2` as `test/fixtures/{amazon,imdb,yelp}.json`, and are read from the installed
 * package at run time. The static import of its `package.json` below puts the package in the
 * module graph, so Deno downloads it on first use (into `DENO_DIR`, no `node_modules` needed), and
 * `import.meta.resolve("npm:sentiment@5.0.2/package.json")` then gives the package's directory
 * (a `file:` URL in Deno's npm cache, or in `node_modules` if the project uses one).
 *
 * The files are JSON arrays of `{ "text": string, "class": 0 | 1 }` converted from UCI's
 * tab-separated files, with three quirks the loader smooths over: each file ends with a
 * `{ "text": "", "class": null }` entry (the original file's final newline), which is skipped; the
 * IMDB sentences end in two spaces, and all sentences are trimmed and their inner whitespace
 * collapsed to single spaces; and eight IMDB characters are Windows-1252 punctuation read as
 * Latin-1 control characters (U+0085, U+0096, U+0097), which are mapped back to `…`, `–` and `—`.
 * The corpus keeps its few duplicates (17 repeats within a source, one sentence in two sources,
 * never with conflicting labels).
 */
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import sentimentPackage from "sentiment/package.json" with { type: "json" };
import { Rng } from "@proximal/core";

/** Where a sentence comes from: Amazon phone, IMDB movie or Yelp restaurant reviews. */
export type SentimentSource = "amazon" | "imdb" | "yelp";

/** One human-labelled review sentence. */
export interface LabelledSentence {
  /** The sentence, trimmed, with single spaces. */
  text: string;
  /** 1 for positive, 0 for negative. */
  label: 0 | 1;
  /** The site the review comes from. */
  source: SentimentSource;
}

/** Options of {@linkcode loadSentimentCorpus}. */
export interface LoadSentimentCorpusOptions {
  /**
   * The folder holding `amazon.json`, `imdb.json` and `yelp.json`; default the `test/fixtures/`
   * folder of the installed npm package `sentiment@5.0.2`.
   */
  directory?: string | URL;
}

/** A sentence split into the prompt a policy sees and the human continuation. */
export interface PromptSplit {
  /** The sentence's first words. */
  prompt: string;
  /** The rest of the sentence, starting with the space that followed the prompt. */
  continuation: string;
}

/** Options of {@linkcode splitPrompt}. */
export interface SplitPromptOptions {
  /** How many words (runs of non-space characters) the prompt has; default 4. */
  promptWords?: number;
}

/** The defaults of {@linkcode SplitPromptOptions}. */
export const splitPromptDefaults: Required<SplitPromptOptions> = { promptWords: 4 };

/** Options of {@linkcode splitHoldout}. */
export interface SplitHoldoutOptions {
  /** The share of items held out, in [0, 1]; default 0.1. */
  fraction?: number;
  /** The seed of the shuffle that picks the held-out items; default 0. */
  seed?: number;
}

/** The defaults of {@linkcode SplitHoldoutOptions}. */
export const splitHoldoutDefaults: Required<SplitHoldoutOptions> = { fraction: 0.1, seed: 0 };

/** A collection split into training and held-out items. */
export interface HoldoutSplit<T> {
  /** The items to train on, in their original order. */
  train: T[];
  /** The held-out items, in their original order. */
  holdout: T[];
}

/** The corpus files, in the order they are loaded. */
const SOURCES: readonly SentimentSource[] = ["amazon", "imdb", "yelp"];

/** Windows-1252's characters for bytes 0x80–0x9F; its five undefined bytes map to themselves. */
const WINDOWS_1252_C1 = "€\u0081‚ƒ„…†‡ˆ‰Š‹Œ\u008dŽ\u008f\u0090‘’“”•–—˜™š›œ\u009džŸ";

/**
 * Loads the 3,000 labelled sentences, Amazon's first, then IMDB's, then Yelp's, each in file
 * order.
 *
 * @param options `directory`: read the three files from elsewhere (default: the installed
 * `sentiment@5.0.2` package).
 * @returns The sentences.
 * @throws `Cannot read sentiment corpus file <path>: <reason>` if a file is missing, or
 * `Invalid sentiment corpus file <path> entry <n>: <what is wrong>` (1-based) for a malformed
 * entry.
 * @example Count the positive sentences
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadSentimentCorpus } from "@proximal/envs";
 * const corpus = await loadSentimentCorpus();
 * assert.equal(corpus.length, 3000);
 * assert.equal(corpus.filter((s) => s.label === 1).length, 1500);
 * ```
 */
export function loadSentimentCorpus(
  options: LoadSentimentCorpusOptions = {},
): Promise<LabelledSentence[]> {
  // A promise that rejects (rather than a synchronous throw) on a missing or malformed file.
  return new Promise((resolve) => resolve(loadSentimentCorpusSync(options)));
}

/**
 * {@linkcode loadSentimentCorpus}, reading the three files synchronously (~1 ms here), for code
 * that cannot wait, such as an env plugin's `create`.
 *
 * @param options `directory`: read the files from elsewhere (default: the installed package).
 * @returns The sentences.
 * @throws As {@linkcode loadSentimentCorpus}.
 * @example Count the sentences
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadSentimentCorpusSync } from "@proximal/envs";
 * assert.equal(loadSentimentCorpusSync().length, 3000);
 * ```
 */
export function loadSentimentCorpusSync(
  options: LoadSentimentCorpusOptions = {},
): LabelledSentence[] {
  const directory = options.directory ?? defaultDirectory();
  const base = directory instanceof URL ? directory : pathToFileURL(`${resolve(directory)}/`);
  const sentences: LabelledSentence[] = [];
  for (const source of SOURCES) {
    const url = new URL(`${source}.json`, base);
    const path = url.protocol === "file:" ? fileURLToPath(url) : url.href;
    let text: string;
    try {
      text = Deno.readTextFileSync(url);
    } catch (error) {
      const detail = error instanceof Deno.errors.NotFound
        ? "file not found"
        : error instanceof Error
        ? error.message
        : String(error);
      throw new Error(`Cannot read sentiment corpus file ${path}: ${detail}`, { cause: error });
    }
    sentences.push(...parseCorpusFile(text, source, path));
  }
  return sentences;
}

/**
 * Splits a sentence after its first `promptWords` words: the prompt a policy is given and the
 * continuation the human wrote. `prompt + continuation` is the sentence again.
 *
 * @param text The sentence.
 * @param options `promptWords`: the prompt's length in words (default 4).
 * @returns The split, or `undefined` if the sentence has no word after the prompt.
 * @throws If `promptWords` is not an integer ≥ 1.
 * @example Prompts for an RLHF run, skipping sentences that are too short
 * ```ts
 * import assert from "node:assert/strict";
 * import { splitPrompt } from "@proximal/envs";
 * assert.deepEqual(splitPrompt("The food was amazing and cheap."), {
 *   prompt: "The food was amazing",
 *   continuation: " and cheap.",
 * });
 * assert.equal(splitPrompt("Great phone!"), undefined);
 * ```
 */
export function splitPrompt(
  text: string,
  options: SplitPromptOptions = {},
): PromptSplit | undefined {
  const { promptWords } = { ...splitPromptDefaults, ...options };
  if (!Number.isInteger(promptWords) || promptWords < 1) {
    throw new RangeError(
      `Cannot split a prompt: promptWords must be an integer >= 1, got ${promptWords}`,
    );
  }
  const words = /\S+/g;
  let end = -1;
  for (let n = 0; n < promptWords; n++) {
    const match = words.exec(text);
    if (match === null) return undefined;
    end = match.index + match[0].length;
  }
  const continuation = text.slice(end);
  if (continuation.trim() === "") return undefined;
  return { prompt: text.slice(0, end), continuation };
}

/**
 * Splits items into a training set and a held-out set, at random but reproducibly: the same
 * seed and the same number of items always hold out the same positions. The held-out set has
 * `Math.round(items.length * fraction)` items; both sets keep the items' original order.
 *
 * @param items The items to split.
 * @param options `fraction` (default 0.1) and `seed` (default 0).
 * @returns The two sets.
 * @throws If `fraction` is not in [0, 1] or `seed` is not a finite number.
 * @example Hold out 10 % of the corpus
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadSentimentCorpus, splitHoldout } from "@proximal/envs";
 * const { train, holdout } = splitHoldout(await loadSentimentCorpus(), { fraction: 0.1, seed: 1 });
 * assert.equal(holdout.length, 300);
 * assert.equal(train.length, 2700);
 * ```
 */
export function splitHoldout<T>(
  items: readonly T[],
  options: SplitHoldoutOptions = {},
): HoldoutSplit<T> {
  const { fraction, seed } = { ...splitHoldoutDefaults, ...options };
  if (!(fraction >= 0 && fraction <= 1)) {
    throw new RangeError(`Cannot split a holdout: fraction must be in [0, 1], got ${fraction}`);
  }
  if (!Number.isFinite(seed)) {
    throw new RangeError(`Cannot split a holdout: seed must be a finite number, got ${seed}`);
  }
  const order = new Rng(seed).shuffle(Int32Array.from(items, (_, i) => i));
  const held = new Uint8Array(items.length);
  for (const i of order.subarray(0, Math.round(items.length * fraction))) held[i] = 1;
  const split: HoldoutSplit<T> = { train: [], holdout: [] };
  items.forEach((item, i) => (held[i] ? split.holdout : split.train).push(item));
  return split;
}

// ---------------------------------------------------------------------------------------------
// Reading the files
// ---------------------------------------------------------------------------------------------

function defaultDirectory(): URL {
  if (sentimentPackage.version !== "5.0.2") {
    throw new Error(
      `Cannot locate the sentiment corpus: expected the npm package sentiment@5.0.2, found ${sentimentPackage.version}`,
    );
  }
  // The full npm specifier, not the import map's "sentiment", so that this also resolves once the
  // package is published (a published package has no import map at run time).
  return new URL("test/fixtures/", import.meta.resolve("npm:sentiment@5.0.2/package.json"));
}

function parseCorpusFile(text: string, source: SentimentSource, path: string): LabelledSentence[] {
  let entries: unknown;
  try {
    entries = JSON.parse(text);
  } catch (error) {
    throw new SyntaxError(
      `Invalid sentiment corpus file ${path}: not valid JSON (${
        error instanceof Error ? error.message : String(error)
      })`,
    );
  }
  if (!Array.isArray(entries)) {
    throw new SyntaxError(
      `Invalid sentiment corpus file ${path}: expected a JSON array of entries`,
    );
  }
  const sentences: LabelledSentence[] = [];
  entries.forEach((entry: unknown, i: number) => {
    const fail = (detail: string): never => {
      throw new SyntaxError(`Invalid sentiment corpus file ${path} entry ${i + 1}: ${detail}`);
    };
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      fail(`expected an object with "text" and "class"`);
    }
    const { text: raw, class: label } = entry as Record<string, unknown>;
    if (typeof raw !== "string") fail(`"text" must be a string`);
    const sentence = clean(raw as string);
    // A blank line of the original tab-separated file.
    if (sentence === "" && label === null) return;
    if (label !== 0 && label !== 1) fail(`"class" must be 0 or 1, got ${JSON.stringify(label)}`);
    if (sentence === "") fail(`"text" is empty`);
    sentences.push({ text: sentence, label: label as 0 | 1, source });
  });
  return sentences;
}

/** Repairs Windows-1252 punctuation read as Latin-1, trims and collapses whitespace. */
function clean(text: string): string {
  return text
    .replace(/[\u0080-\u009f]/g, (c) => WINDOWS_1252_C1[c.charCodeAt(0) - 0x80]!)
    .replace(/\s+/g, " ")
    .trim();
}
