import assert from "node:assert/strict";
import { join } from "node:path";
import {
  parsePreferencePairs,
  type PreferencePair,
  readPreferencePairs,
  writePreferencePairs,
} from "@proximal/core";

const PAIRS: PreferencePair[] = [
  { prompt: "The film was", chosen: " a delight.", rejected: " a mess." },
  { prompt: 'Service: ünïcödé ✓ "quoted"\nsecond line', chosen: "", rejected: " \t" },
];

async function withTempDir(body: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir();
  try {
    await body(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

async function listDir(dir: string): Promise<string[]> {
  const names: string[] = [];
  for await (const entry of Deno.readDir(dir)) names.push(entry.name);
  return names.sort();
}

Deno.test("preference pairs written and read back are identical, one JSON object per line", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "nested", "pairs.jsonl");
    await writePreferencePairs(path, PAIRS);
    assert.deepEqual(await readPreferencePairs(path), PAIRS);
    const lines = (await Deno.readTextFile(path)).split("\n");
    assert.equal(lines.length, 3);
    assert.equal(lines[2], "");
    assert.deepEqual(JSON.parse(lines[0]!), PAIRS[0]);
  });
});

Deno.test("preference pairs reader ignores extra keys, blank lines, CRLF and a byte-order mark", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "trl.jsonl");
    await Deno.writeTextFile(
      path,
      '\uFEFF{"prompt": "Hi", "chosen": " there", "rejected": " go", "score_chosen": 9}\r\n' +
        "\r\n   \n" +
        '{"rejected": "b", "chosen": "a", "prompt": "P", "meta": {"judge": "vader"}}',
    );
    assert.deepEqual(await readPreferencePairs(path), [
      { prompt: "Hi", chosen: " there", rejected: " go" },
      { prompt: "P", chosen: "a", rejected: "b" },
    ]);
  });
});

Deno.test("preference pairs reader names the file and 1-based line of every problem", async () => {
  const good = '{"prompt": "Hi", "chosen": " a", "rejected": " b"}';
  const cases: [string, string][] = [
    [`${good}\n{"prompt": "Hi", "chosen": " a",}`, "line 2: not valid JSON ("],
    [
      `${good}\n\n[1, 2]`,
      'line 3: expected a JSON object with "prompt", "chosen" and "rejected", got an array',
    ],
    ["null", 'line 1: expected a JSON object with "prompt", "chosen" and "rejected", got null'],
    [
      '"just text"',
      'line 1: expected a JSON object with "prompt", "chosen" and "rejected", got a string',
    ],
    [`${good}\n${good}\n{"prompt": "Hi", "rejected": " b"}`, 'line 3: "chosen" is missing'],
    ['{"chosen": " a", "rejected": " b"}', 'line 1: "prompt" is missing'],
    [
      '{"prompt": "Hi", "chosen": " a", "rejected": 3}',
      'line 1: "rejected" must be a string, got number',
    ],
    [
      '{"prompt": "Hi", "chosen": null, "rejected": " b"}',
      'line 1: "chosen" must be a string, got null',
    ],
    [`\n\n${good}\n{"prompt": "", "chosen": " a", "rejected": " b"}`, 'line 4: "prompt" is empty'],
    ['{"prompt": " \\t ", "chosen": " a", "rejected": " b"}', 'line 1: "prompt" is empty'],
    ["", ": no pairs (the file is empty or has only blank lines)"],
    ["\n  \n\r\n", ": no pairs (the file is empty or has only blank lines)"],
  ];
  await withTempDir(async (dir) => {
    const path = join(dir, "p.jsonl");
    for (const [content, detail] of cases) {
      await Deno.writeTextFile(path, content);
      const expected = `Invalid pairs file ${path}${detail.startsWith("line") ? " " : ""}${detail}`;
      await assert.rejects(
        readPreferencePairs(path),
        (error: Error) => error.message.startsWith(expected),
        `${JSON.stringify(content)}: expected ${expected}`,
      );
    }
    // Not UTF-8 on line 2.
    await Deno.writeFile(
      path,
      Uint8Array.from([...new TextEncoder().encode(`${good}\n{"prompt": "`), 0xff, 0xfe, 0x0a]),
    );
    await assert.rejects(readPreferencePairs(path), {
      message: `Invalid pairs file ${path} line 2: not valid UTF-8`,
    });
  });
  assert.throws(() => parsePreferencePairs('{"prompt": 1}'), {
    message: 'Invalid pairs file <text> line 1: "prompt" must be a string, got number',
  });
});

Deno.test("preference pairs reader names the path of a missing file", async () => {
  await assert.rejects(readPreferencePairs("no/such/pairs.jsonl"), {
    message: "Cannot read pairs file no/such/pairs.jsonl: file not found",
  });
});

Deno.test("preference pairs writer is atomic: no temporary file is left, on success or failure", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "pairs.jsonl");
    await writePreferencePairs(path, PAIRS);
    await writePreferencePairs(path, PAIRS.slice(0, 1));
    assert.deepEqual(await listDir(dir), ["pairs.jsonl"]);
    assert.deepEqual(await readPreferencePairs(path), PAIRS.slice(0, 1));

    // The rename fails (the target is a non-empty directory): the temp file is removed.
    const blocked = join(dir, "blocked.jsonl");
    await Deno.mkdir(join(blocked, "inside"), { recursive: true });
    await assert.rejects(
      writePreferencePairs(blocked, PAIRS),
      (error: Error) => error.message.startsWith(`Cannot write pairs file ${blocked}: `),
    );
    assert.deepEqual(await listDir(dir), ["blocked.jsonl", "pairs.jsonl"]);
  });
});

Deno.test("preference pairs writer checks the pairs first and leaves the old file untouched", async () => {
  await withTempDir(async (dir) => {
    const path = join(dir, "pairs.jsonl");
    await writePreferencePairs(path, PAIRS);
    const before = await Deno.readTextFile(path);
    const bad = [
      PAIRS[0]!,
      { prompt: "Hi", chosen: 4, rejected: "b" } as unknown as PreferencePair,
    ];
    await assert.rejects(writePreferencePairs(path, bad), {
      message: `Cannot write pairs file ${path}: pair 1: "chosen" must be a string, got number`,
    });
    await assert.rejects(writePreferencePairs(path, [{ prompt: "", chosen: "a", rejected: "b" }]), {
      message: `Cannot write pairs file ${path}: pair 0: "prompt" is empty`,
    });
    await assert.rejects(writePreferencePairs(path, []), {
      message: `Cannot write pairs file ${path}: expected a non-empty array of pairs`,
    });
    assert.equal(await Deno.readTextFile(path), before);
    assert.deepEqual(await listDir(dir), ["pairs.jsonl"]);

    // Only the three fields are written.
    const extra = { ...PAIRS[0]!, judge: "vader" } as PreferencePair;
    await writePreferencePairs(path, [extra]);
    assert.equal(
      await Deno.readTextFile(path),
      '{"prompt":"The film was","chosen":" a delight.","rejected":" a mess."}\n',
    );
  });
});
