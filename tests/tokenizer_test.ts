import assert from "node:assert/strict";
import {
  assertSameVocabulary,
  BOS_ID,
  EOS_ID,
  PAD_ID,
  SPECIAL_TOKENS,
  UNK_ID,
  WordTokenizer,
} from "@proximal/models";
import { loadSentimentCorpus } from "@proximal/envs";

const texts = (await loadSentimentCorpus()).map((s) => s.text);

Deno.test("tokenizer reserves <pad>=0, <bos>=1, <eos>=2, <unk>=3", () => {
  assert.deepEqual([PAD_ID, BOS_ID, EOS_ID, UNK_ID], [0, 1, 2, 3]);
  assert.deepEqual(SPECIAL_TOKENS, ["<pad>", "<bos>", "<eos>", "<unk>"]);
  const tokenizer = WordTokenizer.fromTexts(["<pad> <unk> pad pad"], { minCount: 1 });
  assert.deepEqual(tokenizer.vocabulary.slice(0, 4), SPECIAL_TOKENS);
  // Special tokens typed as text are punctuation and words, never the special ids.
  assert.deepEqual(tokenizer.vocabulary.slice(4), ["pad", "<", ">", "unk"]);
  assert.ok(!tokenizer.encode("<pad>").includes(PAD_ID));
});

Deno.test("tokenizer splits lower-cased words (apostrophes included) and single punctuation marks", () => {
  const cases: [string, string[]][] = [
    ["I LOVED it!!", ["i", "loved", "it", "!", "!"]],
    ["Don't buy it; it's junk.", ["don't", "buy", "it", ";", "it's", "junk", "."]],
    ["slow-moving, aimless", ["slow", "-", "moving", ",", "aimless"]],
    ["good - but", ["good", "–", "but"]],
    ["Crema Café’s “BEST” crêpe", ["crema", "café's", '"', "best", '"', "crêpe"]],
    ["$5.99 for 2 (two) 😁", ["$", "5", ".", "99", "for", "2", "(", "two", ")", "😁"]],
    ["  \t\n ", []],
  ];
  for (const [text, tokens] of cases) assert.deepEqual(WordTokenizer.split(text), tokens, text);
});

Deno.test("tokenizer normal form: each spacing rule", () => {
  const cases: [string, string][] = [
    ["Great phone , works well !", "great phone, works well!"],
    ["Wait . . . what ?!", "wait... what?!"],
    ["( really ) [ yes ] { no }", "(really) [yes] {no}"],
    ["a 100 % $ 5 # 1", "a 100% $5 #1"],
    ["well - made and -good- and 10 / 10", "well – made and-good-and 10/10"],
    ['he said " great " and " bad "', 'he said "great" and "bad"'],
    ["3 . 5 stars , 1 , 000 fans at 10 : 30 . Then", "3.5 stars, 1,000 fans at 10:30. then"],
    ["s * * * happens", "s*** happens"],
    ["Definitely worth seeing… it's", "definitely worth seeing... it's"],
  ];
  for (const [text, normal] of cases) assert.equal(WordTokenizer.normalize(text), normal, text);
});

Deno.test("tokenizer round trip: decode(encode(s)) equals the normal form for every corpus sentence", () => {
  const tokenizer = WordTokenizer.fromTexts(texts, { minCount: 1, maxVocab: 100_000 });
  let unchanged = 0;
  for (const text of texts) {
    const normal = WordTokenizer.normalize(text);
    const ids = tokenizer.encode(text);
    assert.equal(tokenizer.unknownRate(ids), 0);
    assert.equal(tokenizer.decode(ids), normal);
    assert.equal(WordTokenizer.normalize(normal), normal, "normalising is idempotent");
    if (normal === text.toLowerCase()) unchanged++;
  }
  // The rules fit how people write: most sentences are already in normal form once lower-cased
  // (2,789 of 3,000; the rest are mostly a missing space after a full stop, or a spaced comma).
  assert.ok(unchanged / texts.length > 0.9, `${unchanged}`);
  const sample =
    "I'm glad this piece of s*** didn't do as planned... \"movie business\" of Québec.";
  assert.equal(
    tokenizer.decode(tokenizer.encode(sample)),
    "i'm glad this piece of s*** didn't do as planned... \"movie business\" of québec.",
  );
});

Deno.test("tokenizer maps tokens outside the vocabulary to <unk> and measures the rate", () => {
  const tokenizer = WordTokenizer.fromTexts(["the cat sat", "the cat ran"], { minCount: 2 });
  assert.deepEqual(tokenizer.vocabulary.slice(4), ["cat", "the"]);
  const ids = tokenizer.encode("The dog sat.");
  assert.deepEqual([...ids], [5, UNK_ID, UNK_ID, UNK_ID]);
  assert.equal(tokenizer.decode(ids), "the <unk> <unk> <unk>");
  assert.equal(tokenizer.unknownRate(ids), 0.75);
  assert.equal(tokenizer.unknownRate(tokenizer.encode("cat", { bos: true, eos: true })), 0);
  assert.equal(tokenizer.unknownRate([PAD_ID, PAD_ID]), 0);
  assert.equal(tokenizer.unknownRate([]), 0);

  // The default vocabulary (min count 2) covers 93 % of the corpus's tokens.
  const corpusTokenizer = WordTokenizer.fromTexts(texts);
  const all = Int32Array.from(texts.flatMap((t) => [...corpusTokenizer.encode(t)]));
  const rate = corpusTokenizer.unknownRate(all);
  assert.ok(rate > 0.05 && rate < 0.1, `${rate}`);
});

Deno.test("tokenizer vocabulary: min count, max size with ties broken alphabetically, order-independent", () => {
  const corpus = ["b a c c d d d", "e e f f", "g"];
  assert.deepEqual(
    WordTokenizer.fromTexts(corpus, { minCount: 2 }).vocabulary.slice(4),
    ["d", "c", "e", "f"],
  );
  assert.deepEqual(
    WordTokenizer.fromTexts(corpus, { minCount: 1 }).vocabulary.slice(4),
    ["d", "c", "e", "f", "a", "b", "g"],
  );
  // maxVocab counts the four special tokens.
  const capped = WordTokenizer.fromTexts(corpus, { minCount: 1, maxVocab: 7 });
  assert.equal(capped.vocabSize, 7);
  assert.deepEqual(capped.vocabulary.slice(4), ["d", "c", "e"]);
  assert.equal(WordTokenizer.fromTexts(corpus, { maxVocab: 4 }).vocabSize, 4);

  const defaults = WordTokenizer.fromTexts(texts);
  const shuffled = WordTokenizer.fromTexts([...texts].reverse());
  assert.deepEqual(shuffled.vocabulary, defaults.vocabulary);
  assert.equal(shuffled.fingerprint, defaults.fingerprint);
  assert.ok(defaults.vocabSize > 2000 && defaults.vocabSize <= 4000, `${defaults.vocabSize}`);
  assert.equal(WordTokenizer.fromTexts(texts, { maxVocab: 1000 }).vocabSize, 1000);

  assert.throws(() => WordTokenizer.fromTexts(corpus, { minCount: 0 }), {
    message: "Cannot build a word tokenizer: minCount must be an integer >= 1, got 0",
  });
  assert.throws(() => WordTokenizer.fromTexts(corpus, { maxVocab: 3 }), {
    message:
      "Cannot build a word tokenizer: maxVocab must be an integer >= 4 (the special tokens), got 3",
  });
});

Deno.test("tokenizer encode adds <bos>/<eos> on request; decode skips special tokens unless asked", () => {
  const tokenizer = WordTokenizer.fromTexts(["good film"], { minCount: 1 });
  const ids = tokenizer.encode("good film", { bos: true, eos: true });
  assert.ok(ids instanceof Int32Array);
  assert.deepEqual([...ids], [BOS_ID, 5, 4, EOS_ID]);
  const padded = [...ids, PAD_ID, PAD_ID];
  assert.equal(tokenizer.decode(padded), "good film");
  assert.equal(
    tokenizer.decode(padded, { skipSpecial: false }),
    "<bos> good film <eos> <pad> <pad>",
  );
  assert.throws(() => tokenizer.decode([4, 6]), {
    message: "Cannot decode token id 6 at position 1: ids must be integers in [0, 6)",
  });
  assert.throws(() => tokenizer.decode([1.5]), /Cannot decode token id 1\.5 at position 0/);
});

Deno.test("tokenizer JSON round trip keeps the vocabulary, the ids and the fingerprint", () => {
  const tokenizer = WordTokenizer.fromTexts(texts);
  const copy = WordTokenizer.fromJSON(JSON.parse(JSON.stringify(tokenizer)));
  assert.deepEqual(copy.vocabulary, tokenizer.vocabulary);
  assert.equal(copy.fingerprint, tokenizer.fingerprint);
  for (const text of texts.slice(0, 200)) {
    assert.deepEqual(copy.encode(text), tokenizer.encode(text));
  }
  const json = tokenizer.toJSON();
  assert.equal(json.format, "proximal-word-tokenizer");
  assert.equal(json.version, 1);
  assert.equal(json.fingerprint, tokenizer.fingerprint);
});

Deno.test("tokenizer fromJSON rejects malformed or tampered JSON, naming the source", () => {
  const good = WordTokenizer.fromTexts(["good film"], { minCount: 1 }).toJSON();
  const cases: [unknown, string][] = [
    [null, "expected a JSON object, got null"],
    [[], "expected a JSON object, got an array"],
    [{ ...good, format: "bpe" }, '"format" must be "proximal-word-tokenizer", got "bpe"'],
    [{ ...good, version: 2 }, "unsupported version 2 (this version reads version 1)"],
    [{ ...good, vocabulary: "good film" }, '"vocabulary" must be an array of strings'],
    [
      { ...good, vocabulary: ["<bos>", "<pad>", "<eos>", "<unk>"] },
      'token 0 must be "<pad>", got "<bos>" (the special tokens <pad> <bos> <eos> <unk> come first)',
    ],
    [
      { ...good, vocabulary: [...SPECIAL_TOKENS, "good", 7] },
      "token 5 must be a string, got number",
    ],
    [
      { ...good, vocabulary: [...SPECIAL_TOKENS, "Good"] },
      'token 4 "Good" is not a single token in normal form (it splits into ["good"])',
    ],
    [
      { ...good, vocabulary: [...SPECIAL_TOKENS, "good film"] },
      'token 4 "good film" is not a single token in normal form (it splits into ["good","film"])',
    ],
    [{ ...good, vocabulary: [...SPECIAL_TOKENS, "a", "a"] }, 'token 5 "a" appears twice'],
    [
      { ...good, vocabulary: [...SPECIAL_TOKENS, "good", "film"] },
      `"fingerprint" is "${good.fingerprint}" but the vocabulary's is "${
        new WordTokenizer([...SPECIAL_TOKENS, "good", "film"]).fingerprint
      }"`,
    ],
    [
      { ...good, fingerprint: undefined },
      `"fingerprint" is missing but the vocabulary's is "${good.fingerprint}"`,
    ],
  ];
  for (const [json, detail] of cases) {
    assert.throws(() => WordTokenizer.fromJSON(json, { source: "runs/x/tokenizer.json" }), {
      message: `Invalid tokenizer runs/x/tokenizer.json: ${detail}`,
    });
  }
  assert.throws(() => WordTokenizer.fromJSON(7), {
    message: "Invalid tokenizer JSON: expected a JSON object, got number",
  });
  assert.throws(
    () => new WordTokenizer(["<pad>"]),
    /^TypeError: Invalid tokenizer vocabulary: token 1 must be "<bos>"/,
  );
});

Deno.test("tokenizer fingerprint is a stable hash of the vocabulary", () => {
  const tokenizer = new WordTokenizer([...SPECIAL_TOKENS, "good", "film"]);
  // sha256("proximal-word-tokenizer/1\n<pad>\n<bos>\n<eos>\n<unk>\ngood\nfilm"), first 16 hex
  // digits, computed independently with Python's hashlib.
  assert.equal(tokenizer.fingerprint, "d1581c8090eb9f01");
  assert.equal(
    WordTokenizer.fromTexts(["good good good film film"]).fingerprint,
    "d1581c8090eb9f01",
  );
  // The same words in another order are another vocabulary: the ids differ.
  assert.notEqual(
    new WordTokenizer([...SPECIAL_TOKENS, "film", "good"]).fingerprint,
    tokenizer.fingerprint,
  );
  assert.equal(
    WordTokenizer.fromTexts(texts).fingerprint,
    WordTokenizer.fromTexts(texts).fingerprint,
  );
  assert.match(WordTokenizer.fromTexts(texts).fingerprint, /^[0-9a-f]{16}$/);
});

Deno.test("assertSameVocabulary refuses a tokenizer whose vocabulary differs from the checkpoint's", () => {
  const trained = WordTokenizer.fromTexts(texts);
  const other = WordTokenizer.fromTexts(texts, { maxVocab: 1000 });
  assertSameVocabulary(trained.fingerprint, WordTokenizer.fromJSON(trained.toJSON()));
  assert.throws(
    () =>
      assertSameVocabulary(trained.fingerprint, other, { where: "checkpoint runs/x/latest.ckpt" }),
    {
      message:
        `Vocabulary mismatch: checkpoint runs/x/latest.ckpt was trained with vocabulary ${trained.fingerprint}, the tokenizer has ${other.fingerprint}`,
    },
  );
  assert.throws(
    () => assertSameVocabulary("0123456789abcdef", trained),
    /^Error: Vocabulary mismatch: the checkpoint was trained with vocabulary 0123456789abcdef, the tokenizer has /,
  );
});
