/**
 * A word-level tokenizer for small language models: lower-cased words and single punctuation
 * marks, a vocabulary of the corpus's frequent tokens, four special tokens, and a fingerprint of
 * the vocabulary so a checkpoint can refuse a tokenizer it was not trained with.
 *
 * Splitting. A text is normalised with Unicode NFKC, curly quotes become straight ones (`‘’` →
 * `'`, `“”` → `"`), a hyphen standing alone between spaces is a dash and becomes `–` (so that
 * `well-made` and `good - but` stay apart when joined), and the text is lower-cased. It is then
 * split with
 * `/[\p{L}\p{N}\p{M}']+|[^\s\p{L}\p{N}\p{M}']/gu`: a token is a run of letters, digits and
 * apostrophes (`don't`, `café`, `90's`) or any other single non-space character (`.`, `!`, `-`,
 * `"`, an emoji). Whitespace only separates tokens.
 *
 * Joining ({@linkcode WordTokenizer.decode}). Tokens are joined by one space, except: no space
 * before `. , ! ? ; : % ) ] } … * +`; none after `( [ { $ #`; none on either side of `- / —`; a
 * `"` opens (space before, none after) and closes (none before, space after) in turn; none after a
 * `.`, `,` or `:` between two numbers (`3.5`, `1,000`, `10:30`). The first matching rule wins.
 *
 * The normal form of a text, {@linkcode WordTokenizer.normalize}, is its tokens joined by these
 * rules: `"I LOVED it  (really) !"` becomes `"i loved it (really)!"`. Joining never merges two
 * tokens, so normalising is idempotent, and `decode(encode(s))` equals `normalize(s)` whenever
 * every token of `s` is in the vocabulary (an unknown token decodes as `<unk>`).
 */
import { createHash } from "node:crypto";

/** The id of `<pad>`, which fills sequences up to a common length. */
export const PAD_ID = 0;
/** The id of `<bos>`, which can start a sequence. */
export const BOS_ID = 1;
/** The id of `<eos>`, which ends a sequence. */
export const EOS_ID = 2;
/** The id of `<unk>`, which stands for every token outside the vocabulary. */
export const UNK_ID = 3;
/** The special tokens, in id order: `<pad>`=0, `<bos>`=1, `<eos>`=2, `<unk>`=3. */
export const SPECIAL_TOKENS: readonly string[] = Object.freeze([
  "<pad>",
  "<bos>",
  "<eos>",
  "<unk>",
]);

/** Options of {@linkcode WordTokenizer.fromTexts}. */
export interface WordTokenizerOptions {
  /** A token enters the vocabulary only if it occurs at least this often; default 2. */
  minCount?: number;
  /** The largest vocabulary, the four special tokens included; default 4000. */
  maxVocab?: number;
}

/** The defaults of {@linkcode WordTokenizerOptions}. */
export const wordTokenizerDefaults: Required<WordTokenizerOptions> = {
  minCount: 2,
  maxVocab: 4000,
};

/** Options of {@linkcode WordTokenizer.encode}. */
export interface TokenizerEncodeOptions {
  /** Start with `<bos>`; default false. */
  bos?: boolean;
  /** End with `<eos>`; default false. */
  eos?: boolean;
}

/** Options of {@linkcode WordTokenizer.decode}. */
export interface TokenizerDecodeOptions {
  /** Leave out `<pad>`, `<bos>` and `<eos>` (`<unk>` is always written); default true. */
  skipSpecial?: boolean;
}

/** Options of {@linkcode WordTokenizer.fromJSON}. */
export interface TokenizerFromJSONOptions {
  /** Where the JSON came from (a path), named in error messages; default `"JSON"`. */
  source?: string;
}

/** Options of {@linkcode assertSameVocabulary}. */
export interface AssertSameVocabularyOptions {
  /**
   * What was trained with the expected vocabulary, named in the error, e.g.
   * `"checkpoint runs/x/latest.ckpt"`; default `"the checkpoint"`.
   */
  where?: string;
}

/** A tokenizer saved with {@linkcode WordTokenizer.toJSON}. */
export interface WordTokenizerJSON {
  /** Always `"proximal-word-tokenizer"`. */
  format: "proximal-word-tokenizer";
  /** The format version, 1. */
  version: 1;
  /** The vocabulary's {@linkcode WordTokenizer.fingerprint}, checked on loading. */
  fingerprint: string;
  /** Every token in id order, the four special tokens first. */
  vocabulary: string[];
}

const FORMAT = "proximal-word-tokenizer";
/** Bump when splitting changes: the fingerprint includes it, so old checkpoints are refused. */
const VERSION = 1;
const TOKEN_PATTERN = /[\p{L}\p{N}\p{M}']+|[^\s\p{L}\p{N}\p{M}']/gu;
const NO_SPACE_BEFORE = new Set([".", ",", "!", "?", ";", ":", "%", ")", "]", "}", "…", "*", "+"]);
const NO_SPACE_AFTER = new Set(["(", "[", "{", "$", "#"]);
const NO_SPACE_AROUND = new Set(["-", "/", "—"]);
const NUMBER_SEPARATORS = new Set([".", ",", ":"]);

/**
 * A word-level tokenizer with a fixed vocabulary: see the module documentation for how text is
 * split, joined and normalised.
 *
 * @example Build from a corpus, encode and decode
 * ```ts
 * import assert from "node:assert/strict";
 * import { UNK_ID, WordTokenizer } from "@proximal/models";
 * const tokenizer = WordTokenizer.fromTexts(
 *   ["The food was great!", "The service was great."],
 *   { minCount: 2 },
 * );
 * assert.deepEqual(tokenizer.vocabulary.slice(4), ["great", "the", "was"]);
 * const ids = tokenizer.encode("The soup was GREAT");
 * assert.equal(ids[1], UNK_ID);
 * assert.equal(tokenizer.decode(ids), "the <unk> was great");
 * ```
 */
export class WordTokenizer {
  /** The number of tokens, special tokens included: ids are `0 … vocabSize - 1`. */
  readonly vocabSize: number;
  /** A short, stable hash (16 hex digits) of the vocabulary and the splitting rules' version. */
  readonly fingerprint: string;
  readonly #tokens: readonly string[];
  readonly #ids: Map<string, number>;

  /**
   * Creates a tokenizer from a complete vocabulary. Usually you call
   * {@linkcode WordTokenizer.fromTexts} or {@linkcode WordTokenizer.fromJSON} instead.
   *
   * @param vocabulary Every token in id order: the four {@linkcode SPECIAL_TOKENS} first, then
   * distinct tokens in normal form (each one a whole token of the splitting pattern).
   * @throws `Invalid tokenizer vocabulary: <what is wrong>`.
   */
  constructor(vocabulary: readonly string[]) {
    checkVocabulary(vocabulary, (detail) => `Invalid tokenizer vocabulary: ${detail}`);
    this.#tokens = Object.freeze([...vocabulary]);
    this.#ids = new Map(this.#tokens.map((token, id) => [token, id]));
    this.vocabSize = this.#tokens.length;
    this.fingerprint = fingerprintOf(this.#tokens);
  }

  /**
   * Builds the vocabulary from a corpus: the tokens occurring at least `minCount` times, the most
   * frequent first, ties in alphabetical (UTF-16 code unit) order, at most `maxVocab` tokens in
   * all. The same texts always give the same ids.
   *
   * @param texts The corpus.
   * @param options `minCount` (default 2) and `maxVocab` (default 4000, special tokens included).
   * @returns The tokenizer.
   * @throws If `minCount` is not an integer ≥ 1 or `maxVocab` not an integer ≥ 4.
   * @example Frequent words only
   * ```ts
   * import assert from "node:assert/strict";
   * import { WordTokenizer } from "@proximal/models";
   * const tokenizer = WordTokenizer.fromTexts(["a b b c c c"], { minCount: 2 });
   * assert.deepEqual(tokenizer.vocabulary, ["<pad>", "<bos>", "<eos>", "<unk>", "c", "b"]);
   * ```
   */
  static fromTexts(texts: Iterable<string>, options: WordTokenizerOptions = {}): WordTokenizer {
    const { minCount, maxVocab } = { ...wordTokenizerDefaults, ...options };
    const where = "Cannot build a word tokenizer";
    if (!Number.isInteger(minCount) || minCount < 1) {
      throw new RangeError(`${where}: minCount must be an integer >= 1, got ${minCount}`);
    }
    if (!Number.isInteger(maxVocab) || maxVocab < SPECIAL_TOKENS.length) {
      throw new RangeError(
        `${where}: maxVocab must be an integer >= ${SPECIAL_TOKENS.length} (the special tokens), got ${maxVocab}`,
      );
    }
    const counts = new Map<string, number>();
    for (const text of texts) {
      if (typeof text !== "string") {
        throw new TypeError(`${where}: every text must be a string, got ${typeof text}`);
      }
      for (const token of WordTokenizer.split(text)) {
        counts.set(token, (counts.get(token) ?? 0) + 1);
      }
    }
    for (const special of SPECIAL_TOKENS) counts.delete(special);
    const kept = [...counts].filter(([, count]) => count >= minCount)
      .sort(([a, countA], [b, countB]) => countB - countA || (a < b ? -1 : a > b ? 1 : 0))
      .slice(0, maxVocab - SPECIAL_TOKENS.length)
      .map(([token]) => token);
    return new WordTokenizer([...SPECIAL_TOKENS, ...kept]);
  }

  /**
   * Restores a tokenizer saved with {@linkcode WordTokenizer.toJSON}, checking the format, the
   * vocabulary and that the stored fingerprint matches it.
   *
   * @param json The parsed JSON.
   * @param options `source`: where it came from, for error messages.
   * @returns The tokenizer.
   * @throws `Invalid tokenizer <source>: <what is wrong>`.
   * @example Save and restore
   * ```ts
   * import assert from "node:assert/strict";
   * import { WordTokenizer } from "@proximal/models";
   * const tokenizer = WordTokenizer.fromTexts(["hi there", "hi you"], { minCount: 1 });
   * const copy = WordTokenizer.fromJSON(JSON.parse(JSON.stringify(tokenizer)));
   * assert.equal(copy.fingerprint, tokenizer.fingerprint);
   * ```
   */
  static fromJSON(json: unknown, options: TokenizerFromJSONOptions = {}): WordTokenizer {
    const source = options.source ?? "JSON";
    const message = (detail: string) => `Invalid tokenizer ${source}: ${detail}`;
    if (typeof json !== "object" || json === null || Array.isArray(json)) {
      throw new TypeError(message(`expected a JSON object, got ${describe(json)}`));
    }
    const record = json as Record<string, unknown>;
    if (record.format !== FORMAT) {
      throw new TypeError(
        message(`"format" must be "${FORMAT}", got ${JSON.stringify(record.format) ?? "nothing"}`),
      );
    }
    if (record.version !== VERSION) {
      throw new TypeError(
        message(
          `unsupported version ${
            JSON.stringify(record.version) ?? "(none)"
          } (this version reads version ${VERSION})`,
        ),
      );
    }
    if (!Array.isArray(record.vocabulary)) {
      throw new TypeError(message(`"vocabulary" must be an array of strings`));
    }
    const vocabulary: unknown[] = record.vocabulary;
    checkVocabulary(vocabulary, message);
    const tokenizer = new WordTokenizer(vocabulary as string[]);
    if (record.fingerprint !== tokenizer.fingerprint) {
      throw new TypeError(
        message(
          `"fingerprint" is ${
            JSON.stringify(record.fingerprint) ?? "missing"
          } but the vocabulary's is "${tokenizer.fingerprint}"`,
        ),
      );
    }
    return tokenizer;
  }

  /**
   * Splits a text into tokens in normal form (NFKC, straight quotes, lower case), without
   * looking anything up in a vocabulary.
   *
   * @param text Any text.
   * @returns The tokens.
   * @example Words and punctuation
   * ```ts
   * import assert from "node:assert/strict";
   * import { WordTokenizer } from "@proximal/models";
   * assert.deepEqual(WordTokenizer.split("Don't  GO-now!"), ["don't", "go", "-", "now", "!"]);
   * ```
   */
  static split(text: string): string[] {
    return preprocess(text).match(TOKEN_PATTERN) ?? [];
  }

  /**
   * A text's normal form: its tokens joined by the spacing rules (see the module documentation).
   * `decode(encode(text))` equals this when every token is in the vocabulary.
   *
   * @param text Any text.
   * @returns The normal form.
   * @example Spacing is regularised
   * ```ts
   * import assert from "node:assert/strict";
   * import { WordTokenizer } from "@proximal/models";
   * const normal = WordTokenizer.normalize(`It was "GREAT" , 10/10 (really) !`);
   * assert.equal(normal, `it was "great", 10/10 (really)!`);
   * ```
   */
  static normalize(text: string): string {
    return join(WordTokenizer.split(text));
  }

  /**
   * Every token in id order, the special tokens first.
   *
   * @example Special tokens come first
   * ```ts
   * import assert from "node:assert/strict";
   * import { WordTokenizer } from "@proximal/models";
   * assert.equal(WordTokenizer.fromTexts([]).vocabulary[2], "<eos>");
   * ```
   */
  get vocabulary(): readonly string[] {
    return this.#tokens;
  }

  /**
   * Turns a text into token ids; tokens outside the vocabulary become {@linkcode UNK_ID}.
   *
   * @param text Any text.
   * @param options `bos` / `eos`: add `<bos>` / `<eos>` (both default false).
   * @returns One id per token.
   * @example A sequence for a language model
   * ```ts
   * import assert from "node:assert/strict";
   * import { BOS_ID, EOS_ID, WordTokenizer } from "@proximal/models";
   * const tokenizer = WordTokenizer.fromTexts(["good film", "good food"], { minCount: 1 });
   * const ids = tokenizer.encode("Good film", { bos: true, eos: true });
   * const [good, film] = [tokenizer.vocabulary.indexOf("good"), tokenizer.vocabulary.indexOf("film")];
   * assert.deepEqual([...ids], [BOS_ID, good, film, EOS_ID]);
   * ```
   */
  encode(text: string, options: TokenizerEncodeOptions = {}): Int32Array {
    const tokens = WordTokenizer.split(text);
    const bos = options.bos ?? false;
    const ids = new Int32Array(tokens.length + (bos ? 1 : 0) + (options.eos ? 1 : 0));
    let i = 0;
    if (bos) ids[i++] = BOS_ID;
    for (const token of tokens) ids[i++] = this.#ids.get(token) ?? UNK_ID;
    if (options.eos) ids[i] = EOS_ID;
    return ids;
  }

  /**
   * Turns token ids back into text in normal form (see {@linkcode WordTokenizer.normalize}).
   *
   * @param ids Token ids, each an integer in `[0, vocabSize)`.
   * @param options `skipSpecial`: leave out `<pad>`, `<bos>` and `<eos>` (default true).
   * @returns The text.
   * @throws `Cannot decode token id <id>: <why>` for an id outside the vocabulary.
   * @example Round trip
   * ```ts
   * import assert from "node:assert/strict";
   * import { WordTokenizer } from "@proximal/models";
   * const tokenizer = WordTokenizer.fromTexts(["I loved it. It's great!"], { minCount: 1 });
   * const ids = tokenizer.encode("I LOVED it .  It's great !");
   * assert.equal(tokenizer.decode(ids), "i loved it. it's great!");
   * ```
   */
  decode(ids: ArrayLike<number>, options: TokenizerDecodeOptions = {}): string {
    const skipSpecial = options.skipSpecial ?? true;
    const tokens: string[] = [];
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (!Number.isInteger(id) || id < 0 || id >= this.vocabSize) {
        throw new RangeError(
          `Cannot decode token id ${id} at position ${i}: ids must be integers in [0, ${this.vocabSize})`,
        );
      }
      if (skipSpecial && (id === PAD_ID || id === BOS_ID || id === EOS_ID)) continue;
      tokens.push(this.#tokens[id]!);
    }
    return join(tokens);
  }

  /**
   * The fraction of ids that are {@linkcode UNK_ID}, not counting `<pad>`, `<bos>` and `<eos>`.
   *
   * @param ids Token ids, e.g. from {@linkcode WordTokenizer.encode}.
   * @returns A number in [0, 1]; 0 when there are no tokens to count.
   * @example One word in four is unknown
   * ```ts
   * import assert from "node:assert/strict";
   * import { WordTokenizer } from "@proximal/models";
   * const tokenizer = WordTokenizer.fromTexts(["the cat sat"], { minCount: 1 });
   * assert.equal(tokenizer.unknownRate(tokenizer.encode("the dog sat .", { eos: true })), 0.5);
   * ```
   */
  unknownRate(ids: ArrayLike<number>): number {
    let counted = 0;
    let unknown = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i]!;
      if (id === PAD_ID || id === BOS_ID || id === EOS_ID) continue;
      counted++;
      if (id === UNK_ID) unknown++;
    }
    return counted === 0 ? 0 : unknown / counted;
  }

  /**
   * The tokenizer as plain JSON, for saving beside a checkpoint; `JSON.stringify` calls this.
   *
   * @returns The format, version, fingerprint and vocabulary.
   * @example Save to a file
   * ```ts
   * import assert from "node:assert/strict";
   * import { WordTokenizer } from "@proximal/models";
   * const json = WordTokenizer.fromTexts(["a a"]).toJSON();
   * assert.deepEqual(json.vocabulary, ["<pad>", "<bos>", "<eos>", "<unk>", "a"]);
   * ```
   */
  toJSON(): WordTokenizerJSON {
    return {
      format: FORMAT,
      version: VERSION,
      fingerprint: this.fingerprint,
      vocabulary: [...this.#tokens],
    };
  }
}

/**
 * Throws unless a tokenizer has the vocabulary something (a checkpoint) was trained with: a
 * model's token ids mean nothing under another vocabulary.
 *
 * @param expectedFingerprint The {@linkcode WordTokenizer.fingerprint} stored with the model.
 * @param tokenizer The tokenizer about to be used with it.
 * @param options `where`: what was trained with it, e.g. `"checkpoint runs/x/latest.ckpt"`
 * (default `"the checkpoint"`).
 * @throws `Vocabulary mismatch: <where> was trained with vocabulary <expected>, the tokenizer has
 * <actual>`.
 * @example Refuse a different vocabulary
 * ```ts
 * import assert from "node:assert/strict";
 * import { assertSameVocabulary, WordTokenizer } from "@proximal/models";
 * const trained = WordTokenizer.fromTexts(["good film"], { minCount: 1 });
 * const other = WordTokenizer.fromTexts(["bad film"], { minCount: 1 });
 * assertSameVocabulary(trained.fingerprint, trained);
 * assert.throws(
 *   () => assertSameVocabulary(trained.fingerprint, other, { where: "checkpoint runs/x/a.ckpt" }),
 *   /^Error: Vocabulary mismatch: checkpoint runs\/x\/a\.ckpt was trained with vocabulary/,
 * );
 * ```
 */
export function assertSameVocabulary(
  expectedFingerprint: string,
  tokenizer: WordTokenizer,
  options: AssertSameVocabularyOptions = {},
): void {
  if (expectedFingerprint !== tokenizer.fingerprint) {
    throw new Error(
      `Vocabulary mismatch: ${
        options.where ?? "the checkpoint"
      } was trained with vocabulary ${expectedFingerprint}, the tokenizer has ${tokenizer.fingerprint}`,
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Splitting, joining, hashing
// ---------------------------------------------------------------------------------------------

function preprocess(text: string): string {
  return fold(text).replace(/(^|\s)-(?=\s|$)/g, "$1–");
}

/** NFKC, straight quotes, lower case. */
function fold(text: string): string {
  return text.normalize("NFKC").replace(/[\u2018\u2019]/g, "'").replace(/[\u201c\u201d]/g, '"')
    .toLowerCase();
}

function join(tokens: readonly string[]): string {
  let out = "";
  let quoteOpen = false;
  for (let i = 0; i < tokens.length; i++) {
    const token = tokens[i]!;
    const isQuote = token === '"';
    if (i > 0 && spaceBetween(tokens[i - 2], tokens[i - 1]!, token, quoteOpen)) out += " ";
    out += token;
    if (isQuote) quoteOpen = !quoteOpen;
  }
  return out;
}

/** Whether a space goes between `prev` and `next`; `quoteOpen`: a `"` is open before `next`. */
function spaceBetween(
  beforePrev: string | undefined,
  prev: string,
  next: string,
  quoteOpen: boolean,
): boolean {
  if (NO_SPACE_AROUND.has(prev) || NO_SPACE_AROUND.has(next)) return false;
  if (NO_SPACE_BEFORE.has(next)) return false;
  if (NO_SPACE_AFTER.has(prev)) return false;
  // `prev` opened a quote when one is open now and `prev` is that quote.
  if (prev === '"' && quoteOpen) return false;
  if (next === '"' && quoteOpen) return false;
  if (
    NUMBER_SEPARATORS.has(prev) && beforePrev !== undefined && /\p{N}$/u.test(beforePrev) &&
    /^\p{N}/u.test(next)
  ) {
    return false;
  }
  return true;
}

function fingerprintOf(tokens: readonly string[]): string {
  return createHash("sha256").update(`${FORMAT}/${VERSION}\n${tokens.join("\n")}`).digest("hex")
    .slice(0, 16);
}

function checkVocabulary(
  vocabulary: readonly unknown[],
  message: (detail: string) => string,
): void {
  for (let i = 0; i < SPECIAL_TOKENS.length; i++) {
    if (vocabulary[i] !== SPECIAL_TOKENS[i]) {
      throw new TypeError(
        message(
          `token ${i} must be "${SPECIAL_TOKENS[i]}", got ${
            describe(vocabulary[i])
          } (the special tokens ${SPECIAL_TOKENS.join(" ")} come first)`,
        ),
      );
    }
  }
  const seen = new Set<string>(SPECIAL_TOKENS);
  for (let i = SPECIAL_TOKENS.length; i < vocabulary.length; i++) {
    const token = vocabulary[i];
    if (typeof token !== "string") {
      throw new TypeError(message(`token ${i} must be a string, got ${describe(token)}`));
    }
    const parts = fold(token).match(TOKEN_PATTERN) ?? [];
    if (parts.length !== 1 || parts[0] !== token) {
      throw new TypeError(
        message(
          `token ${i} ${
            JSON.stringify(token)
          } is not a single token in normal form (it splits into ${JSON.stringify(parts)})`,
        ),
      );
    }
    if (seen.has(token)) {
      throw new TypeError(message(`token ${i} ${JSON.stringify(token)} appears twice`));
    }
    seen.add(token);
  }
}

function describe(value: unknown): string {
  if (value === undefined) return "nothing";
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value === "string" ? JSON.stringify(value) : typeof value;
}
