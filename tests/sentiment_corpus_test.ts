import assert from "node:assert/strict";
import { join } from "node:path";
import {
  type LabelledSentence,
  loadSentimentCorpus,
  splitHoldout,
  splitPrompt,
} from "@proximal/envs";

const corpus = await loadSentimentCorpus();

function count(items: readonly LabelledSentence[], keep: (s: LabelledSentence) => boolean): number {
  return items.filter(keep).length;
}

Deno.test("sentiment corpus has 3,000 sentences: 1,000 per source, 500 of each label per source", () => {
  // UCI's readme for "Sentiment Labelled Sentences" (Kotzias et al., 2015): "For each website,
  // there exist 500 positive and 500 negative sentences." The files shipped in sentiment@5.0.2
  // hold exactly that once the blank trailing entry of each file is dropped.
  assert.equal(corpus.length, 3000);
  assert.equal(count(corpus, (s) => s.label === 1), 1500);
  assert.equal(count(corpus, (s) => s.label === 0), 1500);
  for (const source of ["amazon", "imdb", "yelp"] as const) {
    assert.equal(count(corpus, (s) => s.source === source), 1000, source);
    assert.equal(count(corpus, (s) => s.source === source && s.label === 1), 500, source);
  }
});

Deno.test("sentiment corpus is loaded Amazon, IMDB, Yelp, each in file order", () => {
  assert.deepEqual(corpus[0], {
    text: "So there is no way for me to plug it in here in the US unless I go by a converter.",
    label: 0,
    source: "amazon",
  });
  assert.deepEqual(corpus[1000], {
    text: "A very, very, very slow-moving, aimless movie about a distressed, drifting young man.",
    label: 0,
    source: "imdb",
  });
  assert.equal(corpus[2000]!.source, "yelp");
  assert.equal(corpus[2999]!.source, "yelp");
});

Deno.test("sentiment corpus text is trimmed, single-spaced and free of Windows-1252 mojibake", () => {
  for (const { text } of corpus) {
    assert.equal(text, text.trim());
    assert.doesNotMatch(text, /\s\s|[\t\n\r]|[\u0080-\u009f]/, JSON.stringify(text));
    assert.notEqual(text, "");
  }
  // The IMDB file has U+0085 and U+0096 (Windows-1252's … and – read as Latin-1).
  const texts = new Set(corpus.map((s) => s.text));
  assert.ok(texts.has("The script is…was there a script?"));
  assert.ok(texts.has("I'll even say it again – this is torture."));
  assert.ok(
    texts.has(
      "My fiancé and I came in the middle of the day and we were greeted and seated right away.",
    ),
  );
});

Deno.test("sentiment corpus errors name the file and the 1-based entry", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const good = JSON.stringify([{ text: "Fine.  ", class: 1 }, { text: "", class: null }]);
    await Deno.writeTextFile(join(dir, "amazon.json"), good);
    await Deno.writeTextFile(join(dir, "imdb.json"), good);
    await assert.rejects(
      loadSentimentCorpus({ directory: dir }),
      { message: `Cannot read sentiment corpus file ${join(dir, "yelp.json")}: file not found` },
    );

    await Deno.writeTextFile(join(dir, "yelp.json"), good);
    assert.deepEqual(
      (await loadSentimentCorpus({ directory: dir })).map((s) => [s.text, s.label, s.source]),
      [["Fine.", 1, "amazon"], ["Fine.", 1, "imdb"], ["Fine.", 1, "yelp"]],
    );

    const bad: [unknown, string][] = [
      [
        [{ text: "Ok", class: 1 }, { text: "Meh", class: 2 }],
        'entry 2: "class" must be 0 or 1, got 2',
      ],
      [[{ text: "Meh", class: null }], 'entry 1: "class" must be 0 or 1, got null'],
      [[{ text: "Ok", class: 1 }, { class: 0 }], 'entry 2: "text" must be a string'],
      [[{ text: "Ok", class: 1 }, { text: "  ", class: 0 }], 'entry 2: "text" is empty'],
      [[{ text: "Ok", class: 1 }, "Ok\t1"], 'entry 2: expected an object with "text" and "class"'],
      [{ text: "Ok", class: 1 }, "expected a JSON array of entries"],
    ];
    const path = join(dir, "imdb.json");
    for (const [content, detail] of bad) {
      await Deno.writeTextFile(path, JSON.stringify(content));
      const separator = detail.startsWith("entry") ? " " : ": ";
      await assert.rejects(loadSentimentCorpus({ directory: dir }), {
        message: `Invalid sentiment corpus file ${path}${separator}${detail}`,
      });
    }
    await Deno.writeTextFile(path, '[{"text": "Ok", "class": 1},');
    await assert.rejects(
      loadSentimentCorpus({ directory: dir }),
      (error: Error) =>
        error.message.startsWith(`Invalid sentiment corpus file ${path}: not valid JSON (`),
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("splitPrompt keeps the first words as the prompt and the rest, space included, as the continuation", () => {
  assert.deepEqual(splitPrompt("The food was amazing and cheap."), {
    prompt: "The food was amazing",
    continuation: " and cheap.",
  });
  assert.deepEqual(splitPrompt("Not sure who was more lost - the audience.", { promptWords: 2 }), {
    prompt: "Not sure",
    continuation: " who was more lost - the audience.",
  });
  // Too short: no word after the prompt.
  assert.equal(splitPrompt("Great phone, works well."), undefined);
  assert.equal(splitPrompt("Great phone, works well.   "), undefined);
  assert.equal(splitPrompt(""), undefined);
  assert.throws(() => splitPrompt("a b c", { promptWords: 0 }), {
    message: "Cannot split a prompt: promptWords must be an integer >= 1, got 0",
  });

  let kept = 0;
  for (const { text } of corpus) {
    const split = splitPrompt(text);
    if (split === undefined) {
      assert.ok(text.split(" ").length <= 4, text);
      continue;
    }
    kept++;
    assert.equal(split.prompt + split.continuation, text);
    assert.equal(split.prompt.split(" ").length, 4);
    assert.match(split.continuation, /^ \S/);
  }
  // 502 of the 3,000 sentences have four words or fewer.
  assert.equal(kept, 2498);
});

Deno.test("splitHoldout is reproducible from its seed, disjoint, complete and order-preserving", () => {
  const a = splitHoldout(corpus, { fraction: 0.1, seed: 1 });
  const b = splitHoldout(corpus, { fraction: 0.1, seed: 1 });
  assert.deepEqual(a, b);
  assert.equal(a.holdout.length, 300);
  assert.equal(a.train.length, 2700);

  const position = new Map(corpus.map((s, i) => [s, i]));
  const indices = (items: LabelledSentence[]) => items.map((s) => position.get(s)!);
  const held = indices(a.holdout);
  const trained = indices(a.train);
  assert.deepEqual([...held].sort((x, y) => x - y), held);
  assert.deepEqual([...trained].sort((x, y) => x - y), trained);
  assert.deepEqual([...held, ...trained].sort((x, y) => x - y), corpus.map((_, i) => i));
  // A random 10 % draws from every source.
  for (const source of ["amazon", "imdb", "yelp"]) {
    assert.ok(a.holdout.some((s) => s.source === source), source);
  }

  const other = splitHoldout(corpus, { fraction: 0.1, seed: 2 });
  assert.notDeepEqual(indices(other.holdout), held);
  assert.deepEqual(splitHoldout(corpus), splitHoldout(corpus, { fraction: 0.1, seed: 0 }));
});

Deno.test("splitHoldout handles the edge fractions and rejects bad options", () => {
  const items = [1, 2, 3, 4, 5, 6, 7];
  assert.deepEqual(splitHoldout(items, { fraction: 0 }), { train: items, holdout: [] });
  assert.deepEqual(splitHoldout(items, { fraction: 1 }), { train: [], holdout: items });
  assert.equal(splitHoldout(items, { fraction: 0.3 }).holdout.length, 2);
  assert.deepEqual(splitHoldout([], { fraction: 0.5 }), { train: [], holdout: [] });
  assert.throws(() => splitHoldout(items, { fraction: 1.5 }), {
    message: "Cannot split a holdout: fraction must be in [0, 1], got 1.5",
  });
  assert.throws(() => splitHoldout(items, { fraction: NaN }), /fraction must be in \[0, 1\]/);
  assert.throws(() => splitHoldout(items, { seed: Infinity }), {
    message: "Cannot split a holdout: seed must be a finite number, got Infinity",
  });
});
