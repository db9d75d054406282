import assert from "node:assert/strict";
import { join, relative } from "node:path";
import { fileURLToPath } from "node:url";
import type { AlgoPlugin, EnvPlugin, Plugin } from "../core/plugin.ts";
import {
  createRegistry,
  describePlugin,
  isModuleReference,
  lookupPlugin,
  resolveOptions,
  resolvePlugin,
  toCamelCase,
  toKebabCase,
  validatePlugin,
} from "../core/registry.ts";

const FIXTURES = fileURLToPath(new URL("./fixtures/", import.meta.url));

/** A fixture's path relative to the working directory, as a user would type it. */
function fixture(name: string): string {
  const path = relative(Deno.cwd(), join(FIXTURES, name));
  return path.startsWith("../") ? path : `./${path}`;
}

function unused(): never {
  throw new Error("unused");
}

function env(name: string, defaults: Record<string, number | string | boolean> = {}): EnvPlugin {
  return { kind: "env", name, description: `The ${name} env`, defaults, create: unused };
}

const ppo: AlgoPlugin<{ learningRate: number; numEnvs: number; normAdv: boolean; tag: string }> = {
  kind: "algo",
  name: "ppo",
  description: "Proximal policy optimisation",
  defaults: { learningRate: 2.5e-4, numEnvs: 4, normAdv: true, tag: "" },
  help: { learningRate: "Adam step size", numEnvs: "Env copies stepped in lockstep" },
  create: unused,
};

const registry = createRegistry([
  env("cartpole"),
  env("text-preference"),
  ppo as unknown as Plugin,
]);

// ---------------------------------------------------------------------------------------------
// createRegistry and lookups by name
// ---------------------------------------------------------------------------------------------

Deno.test("createRegistry keys plugins by kind and name", () => {
  assert.equal(registry.size, 3);
  assert.equal(registry.get("env:cartpole")?.name, "cartpole");
  assert.equal(registry.get("algo:ppo")?.kind, "algo");
});

Deno.test("createRegistry throws on a duplicate name within a kind", () => {
  assert.throws(
    () => createRegistry([env("cartpole"), env("pendulum"), env("cartpole")]),
    { message: 'Duplicate env plugin "cartpole"' },
  );
});

Deno.test("createRegistry allows one name in two kinds", () => {
  const algo = { ...ppo, name: "cartpole" } as unknown as Plugin;
  assert.equal(createRegistry([env("cartpole"), algo]).size, 2);
});

Deno.test("createRegistry refuses a name or alias used twice within a kind", () => {
  const rlhfPpo = { ...ppo, name: "rlhf-ppo", aliases: ["ppo"] } as unknown as Plugin;
  assert.throws(
    () => createRegistry([ppo as unknown as Plugin, rlhfPpo]),
    { message: 'Duplicate algo plugin name "ppo": plugin "ppo" and an alias of "rlhf-ppo"' },
  );
  const a = { ...env("a"), aliases: ["old"] };
  const b = { ...env("b"), aliases: ["older", "old"] };
  assert.throws(
    () => createRegistry([a, b]),
    { message: 'Duplicate env plugin name "old": an alias of "a" and an alias of "b"' },
  );
  assert.throws(
    () => createRegistry([a, env("old")]),
    { message: 'Duplicate env plugin name "old": an alias of "a" and plugin "old"' },
  );
  // An alias may repeat a name of another kind.
  assert.equal(createRegistry([rlhfPpo, env("ppo")]).size, 2);
});

Deno.test("lookupPlugin and resolvePlugin find a plugin by an alias", async () => {
  const textEnv = { ...env("text-completion"), aliases: ["text-preference"] };
  const aliased = createRegistry([textEnv, ppo as unknown as Plugin]);
  assert.equal(aliased.size, 2, "aliases are not entries");
  assert.equal(lookupPlugin(aliased, "env", "text-completion"), textEnv);
  assert.equal(lookupPlugin(aliased, "env", "text-preference"), textEnv);
  assert.equal(lookupPlugin(aliased, "algo", "text-preference"), undefined);
  assert.equal(lookupPlugin(aliased, "env", "text"), undefined);
  assert.equal(await resolvePlugin(aliased, "env", "text-preference"), textEnv);
  await assert.rejects(
    resolvePlugin(aliased, "env", "text"),
    { message: 'Unknown env plugin "text": available: text-completion' },
  );
});

Deno.test("createRegistry validates each plugin", () => {
  const bad = { ...env("bad"), defaults: { lr: [1] } } as unknown as Plugin;
  assert.throws(
    () => createRegistry([env("ok"), bad]),
    /^Error: Invalid env plugin in the registry \(item 1\): "defaults\.lr" must be a number, string or boolean, got array$/,
  );
  const noKind = { ...env("x"), kind: "model" } as unknown as Plugin;
  assert.throws(
    () => createRegistry([noKind]),
    /^Error: Invalid plugin in the registry \(item 0\): "kind" must be one of env, algo, reward, got "model"$/,
  );
});

Deno.test("resolvePlugin finds a plugin by name and kind", async () => {
  assert.equal((await resolvePlugin(registry, "env", "cartpole")).name, "cartpole");
  assert.equal((await resolvePlugin(registry, "algo", "ppo")).description, ppo.description);
});

Deno.test("resolvePlugin lists the available names of the kind for an unknown name", async () => {
  await assert.rejects(
    resolvePlugin(registry, "env", "cartpol"),
    { message: 'Unknown env plugin "cartpol": available: cartpole, text-preference' },
  );
  // A plugin of another kind is not found under this kind.
  await assert.rejects(
    resolvePlugin(registry, "env", "ppo"),
    { message: 'Unknown env plugin "ppo": available: cartpole, text-preference' },
  );
  // Names are listed sorted, whatever the registry's order.
  await assert.rejects(
    resolvePlugin(createRegistry([env("pendulum"), env("acrobot")]), "env", "x"),
    { message: 'Unknown env plugin "x": available: acrobot, pendulum' },
  );
  await assert.rejects(
    resolvePlugin(registry, "reward", "judge"),
    { message: 'Unknown reward plugin "judge": available: none' },
  );
});

// ---------------------------------------------------------------------------------------------
// validatePlugin
// ---------------------------------------------------------------------------------------------

Deno.test("validatePlugin accepts a plugin and returns it", () => {
  const plugin = env("ok", { a: 1, b: "x", c: false });
  assert.equal(validatePlugin(plugin, { kind: "env", where: "./x.ts" }), plugin);
});

Deno.test("validatePlugin names where and the field in each error", () => {
  const good = { ...env("x", { lr: 1 }), help: { lr: "Step size" } };
  const cases: [unknown, RegExp][] = [
    [42, /: expected an object, got 42$/],
    [null, /: expected an object, got null$/],
    [{ ...good, kind: "algo" }, /: "kind" must be "env", got "algo"$/],
    [{ ...good, name: "" }, /: "name" must be a non-empty string, got ""$/],
    [{ ...good, name: 7 }, /: "name" must be a non-empty string, got 7$/],
    [{ ...good, name: "two words" }, /: "name" must not contain whitespace, got "two words"$/],
    [{ ...good, description: undefined }, /: "description" must be a string, got undefined$/],
    [{ ...good, defaults: [] }, /: "defaults" must be a plain object, got array$/],
    [{ ...good, defaults: new Map() }, /: "defaults" must be a plain object, got object$/],
    [
      { ...good, defaults: { lr: { value: 1 } } },
      /: "defaults\.lr" must be a number, string or boolean, got object$/,
    ],
    [{ ...good, defaults: { lr: null } }, /: "defaults\.lr" must be .*, got null$/],
    [{ ...good, defaults: { lr: NaN } }, /: "defaults\.lr" must be a finite number, got NaN$/],
    [
      { ...good, defaults: { lr: Infinity } },
      /: "defaults\.lr" must be a finite number, got Infinity$/,
    ],
    [
      { ...good, defaults: { "learning-rate": 1 } },
      /: option name "learning-rate" in "defaults" must be camelCase letters and digits$/,
    ],
    [{ ...good, help: "Step size" }, /: "help" must be a plain object, got "Step size"$/],
    [{ ...good, help: { lrr: "typo" } }, /: "help\.lrr" names no option in "defaults"$/],
    [{ ...good, help: { lr: 3 } }, /: "help\.lr" must be a string, got 3$/],
    [{ ...good, create: "make" }, /: "create" must be a function, got "make"$/],
    [{ ...good, aliases: "y" }, /: "aliases" must be an array, got "y"$/],
    [
      { ...good, aliases: ["y z"] },
      /: "aliases\[0\]" must be a non-empty string without whitespace, got "y z"$/,
    ],
    [{ ...good, aliases: [""] }, /: "aliases\[0\]" must be a non-empty string .*, got ""$/],
    [{ ...good, aliases: ["x"] }, /: "aliases\[0\]" repeats the name "x"$/],
    [{ ...good, aliases: ["y", "y"] }, /: "aliases\[1\]" repeats the name "y"$/],
    [{ ...good, optionAliases: [] }, /: "optionAliases" must be a plain object, got array$/],
    [
      { ...good, optionAliases: { "learning-rate": "lr" } },
      /: option alias "learning-rate" in "optionAliases" must be camelCase letters and digits$/,
    ],
    [
      { ...good, optionAliases: { lr: "lr" } },
      /: "optionAliases\.lr" is an option in "defaults" already$/,
    ],
    [
      { ...good, optionAliases: { rate: "lrr" } },
      /: "optionAliases\.rate" must name an option in "defaults", got "lrr"$/,
    ],
  ];
  for (const [value, pattern] of cases) {
    assert.throws(() => validatePlugin(value, { kind: "env", where: "./x.ts" }), (error: Error) => {
      assert.match(error.message, /^Invalid env plugin in \.\/x\.ts: /);
      assert.match(error.message, pattern);
      assert.doesNotMatch(error.message, /\n/);
      return true;
    });
  }
});

// ---------------------------------------------------------------------------------------------
// isModuleReference
// ---------------------------------------------------------------------------------------------

Deno.test("isModuleReference tells paths and URLs from names", () => {
  for (
    const ref of [
      "./my_env.ts",
      "../envs/x",
      "/abs/path/env",
      "file:///tmp/env.ts",
      "http://example.com/env.ts",
      "https://example.com/env",
      "jsr:@me/envs",
      "npm:some-env",
      "my_env.ts",
      "lib/env.js",
      "env.mjs",
      "env.tsx",
      "./two.ts#heads",
      "two.ts#heads",
    ]
  ) {
    assert.ok(isModuleReference(ref), ref);
  }
  for (const ref of ["cartpole", "text-preference", "ppo", "my.env", "ts", "cartpole#x"]) {
    assert.ok(!isModuleReference(ref), ref);
  }
});

// ---------------------------------------------------------------------------------------------
// Loading plugins from modules
// ---------------------------------------------------------------------------------------------

Deno.test("resolvePlugin loads an env plugin by relative path", async () => {
  const ref = fixture("good_env_plugin.ts");
  assert.match(ref, /^\.\.?\//);
  const plugin = await resolvePlugin(registry, "env", ref);
  assert.equal(plugin.name, "coin");
  const coin = plugin.create(resolveOptions(plugin, { payout: "3" }));
  assert.equal(coin.step(1).reward, 6);
});

Deno.test("resolvePlugin loads by absolute path and file URL", async () => {
  const path = join(FIXTURES, "good_env_plugin.ts");
  assert.equal((await resolvePlugin(registry, "env", path)).name, "coin");
  const url = new URL("./fixtures/good_env_plugin.ts", import.meta.url).href;
  assert.equal((await resolvePlugin(registry, "env", url)).name, "coin");
});

Deno.test("resolvePlugin reports a missing file with its absolute path", async () => {
  const ref = fixture("missing_plugin.ts");
  const absolute = join(FIXTURES, "missing_plugin.ts");
  await assert.rejects(
    resolvePlugin(registry, "env", ref),
    { message: `Cannot load env plugin "${ref}": file not found (${absolute})` },
  );
});

Deno.test("resolvePlugin reports a directory as not a file", async () => {
  await assert.rejects(
    resolvePlugin(registry, "env", FIXTURES.replace(/\/$/, "")),
    /: not a file \(/,
  );
});

Deno.test("resolvePlugin reports the first line of an import error", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const syntax = join(dir, "syntax_error_plugin.ts");
    await Deno.writeTextFile(syntax, "export const coin = {\n  kind: 'env',,\n};\n");
    await assert.rejects(resolvePlugin(registry, "env", syntax), (error: Error) => {
      assert.match(
        error.message,
        /^Cannot load env plugin ".*syntax_error_plugin\.ts": SyntaxError/,
      );
      assert.doesNotMatch(error.message, /\n/);
      return true;
    });

    const throws = join(dir, "throwing_plugin.ts");
    await Deno.writeTextFile(throws, 'throw new Error("Boom at load\\nsecond line");\n');
    await assert.rejects(
      resolvePlugin(registry, "env", throws),
      { message: `Cannot load env plugin "${throws}": Boom at load` },
    );

    const badImport = join(dir, "bad_import_plugin.ts");
    await Deno.writeTextFile(badImport, 'import "./nowhere.ts";\nexport const x = 1;\n');
    await assert.rejects(
      resolvePlugin(registry, "env", badImport),
      /^Error: Cannot load env plugin ".*bad_import_plugin\.ts": .*nowhere\.ts/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("resolvePlugin lists a module's exports when none is a plugin of the kind", async () => {
  const ref = fixture("no_plugin.ts");
  await assert.rejects(
    resolvePlugin(registry, "env", ref),
    {
      message:
        `Cannot load env plugin "${ref}": the module exports no env plugin (exports: helper, ppoLike (algo plugin))`,
    },
  );
  // The same module does hold an algo plugin.
  assert.equal((await resolvePlugin(registry, "algo", ref)).name, "ppo-like");
});

Deno.test("resolvePlugin asks to choose when a module exports several plugins", async () => {
  const ref = fixture("two_plugins.ts");
  await assert.rejects(
    resolvePlugin(registry, "env", ref),
    {
      message:
        `Cannot load env plugin "${ref}": the module exports 2 env plugins (heads, tailsEnv): choose one with "${ref}#heads"`,
    },
  );
});

Deno.test("resolvePlugin selects a plugin by export name or plugin name after #", async () => {
  const ref = fixture("two_plugins.ts");
  assert.equal((await resolvePlugin(registry, "env", `${ref}#heads`)).name, "heads");
  assert.equal((await resolvePlugin(registry, "env", `${ref}#tailsEnv`)).name, "tails");
  assert.equal((await resolvePlugin(registry, "env", `${ref}#tails`)).name, "tails");
  // A selector must name a plugin of the wanted kind.
  await assert.rejects(
    resolvePlugin(registry, "env", `${ref}#flip`),
    {
      message:
        `Cannot load env plugin "${ref}#flip": the module has no env plugin exported or named "flip" (env plugins: heads, tailsEnv)`,
    },
  );
  // Only one algo plugin: no selector needed.
  assert.equal((await resolvePlugin(registry, "algo", ref)).name, "flip");
});

Deno.test("resolvePlugin reports an invalid exported plugin with validatePlugin's error", async () => {
  const ref = fixture("bad_defaults_plugin.ts");
  await assert.rejects(
    resolvePlugin(registry, "env", ref),
    {
      message:
        `Invalid env plugin in ${ref} (export broken): "defaults.lr" must be a number, string or boolean, got object`,
    },
  );
});

Deno.test("resolvePlugin counts a plugin exported as default and by name once", async () => {
  const ref = fixture("default_export_plugin.ts");
  const plugin = await resolvePlugin(registry, "env", ref);
  assert.equal(plugin.name, "dice");
  assert.equal((await resolvePlugin(registry, "env", `${ref}#default`)).name, "dice");
});

// ---------------------------------------------------------------------------------------------
// resolveOptions
// ---------------------------------------------------------------------------------------------

Deno.test("resolveOptions returns the defaults when nothing is given", () => {
  const options = resolveOptions(ppo, {});
  assert.deepEqual(options, ppo.defaults);
  assert.notEqual(options, ppo.defaults);
});

Deno.test("resolveOptions coerces command-line strings to the defaults' types", () => {
  const before = structuredClone(ppo.defaults);
  const options = resolveOptions(ppo, {
    learningRate: "3e-4",
    numEnvs: " 8 ",
    normAdv: "false",
    tag: "42",
  });
  assert.deepEqual(options, { learningRate: 3e-4, numEnvs: 8, normAdv: false, tag: "42" });
  assert.deepEqual(ppo.defaults, before);
  assert.equal(resolveOptions(ppo, { numEnvs: 16 }).numEnvs, 16);
  assert.equal(resolveOptions(ppo, { numEnvs: "-2.5" }).numEnvs, -2.5);
  assert.equal(resolveOptions(ppo, { numEnvs: undefined }).numEnvs, 4);
  for (const [value, expected] of [["true", true], ["1", true], [true, true], ["0", false]]) {
    assert.equal(resolveOptions(ppo, { normAdv: value }).normAdv, expected, String(value));
  }
  assert.equal(resolveOptions(ppo, { tag: "" }).tag, "");
});

Deno.test("resolveOptions rejects a value of the wrong type", () => {
  const cases: [Record<string, unknown>, string][] = [
    [
      { learningRate: "abc" },
      'Option "learningRate" of algo plugin "ppo" must be a number, got "abc"',
    ],
    [{ learningRate: "" }, 'Option "learningRate" of algo plugin "ppo" must be a number, got ""'],
    [{ learningRate: " " }, 'Option "learningRate" of algo plugin "ppo" must be a number, got " "'],
    [{ learningRate: NaN }, 'Option "learningRate" of algo plugin "ppo" must be a number, got NaN'],
    [
      { learningRate: "Infinity" },
      'Option "learningRate" of algo plugin "ppo" must be a number, got "Infinity"',
    ],
    [
      { learningRate: true },
      'Option "learningRate" of algo plugin "ppo" must be a number, got true',
    ],
    [
      { normAdv: "yes" },
      'Option "normAdv" of algo plugin "ppo" must be a boolean (true, false, 1 or 0), got "yes"',
    ],
    [
      { normAdv: 1 },
      'Option "normAdv" of algo plugin "ppo" must be a boolean (true, false, 1 or 0), got 1',
    ],
    [{ tag: 3 }, 'Option "tag" of algo plugin "ppo" must be a string, got 3'],
    [{ tag: null }, 'Option "tag" of algo plugin "ppo" must be a string, got null'],
  ];
  for (const [given, message] of cases) {
    assert.throws(() => resolveOptions(ppo, given), { message });
  }
});

Deno.test("resolveOptions takes an option under an alias, but one option once", () => {
  const renamed = { ...ppo, optionAliases: { lr: "learningRate" } } as typeof ppo;
  const options = resolveOptions(renamed, { lr: "0.5" });
  assert.equal(options.learningRate, 0.5);
  assert.ok(!Object.hasOwn(options, "lr"));
  assert.throws(
    () => resolveOptions(renamed, { lr: "x" }),
    { message: 'Option "lr" of algo plugin "ppo" must be a number, got "x"' },
  );
  assert.throws(
    () => resolveOptions(renamed, { learningRate: 1, lr: 2 }),
    {
      message: 'Options "learningRate" and "lr" of algo plugin "ppo" set the same option: give one',
    },
  );
  // An option left undefined is not given.
  assert.equal(resolveOptions(renamed, { learningRate: 1, lr: undefined }).learningRate, 1);
});

Deno.test("resolveOptions rejects an unknown option, listing the valid ones", () => {
  assert.throws(
    () => resolveOptions(ppo, { lr: "0.1" }),
    {
      message:
        'Unknown option "lr" for algo plugin "ppo": valid options are learningRate, numEnvs, normAdv, tag',
    },
  );
  assert.throws(
    () => resolveOptions(env("cartpole"), { seed: 1 }),
    { message: 'Unknown option "seed" for env plugin "cartpole": it takes no options' },
  );
  // Inherited properties are not options.
  assert.throws(() => resolveOptions(ppo, { toString: "x" }), /^Error: Unknown option "toString"/);
});

// ---------------------------------------------------------------------------------------------
// describePlugin and flag names
// ---------------------------------------------------------------------------------------------

Deno.test("describePlugin shows the name, description and every option with its default", () => {
  assert.equal(
    describePlugin(ppo as unknown as Plugin),
    [
      "ppo (algo plugin)",
      "Proximal policy optimisation",
      "",
      "Options:",
      "  --learning-rate <number>  Adam step size (default: 0.00025)",
      "  --num-envs <number>       Env copies stepped in lockstep (default: 4)",
      "  --norm-adv <boolean>      (default: true)",
      '  --tag <string>            (default: "")',
    ].join("\n"),
  );
  assert.equal(
    describePlugin(env("cartpole")),
    "cartpole (env plugin)\nThe cartpole env\n\nOptions: none",
  );
});

Deno.test("describePlugin shows a plugin's aliases and its options' aliases", () => {
  const renamed = {
    ...ppo,
    aliases: ["proximal"],
    optionAliases: { lr: "learningRate", rate: "learningRate" },
  } as unknown as Plugin;
  const lines = describePlugin(renamed).split("\n");
  assert.equal(lines[0], "ppo (algo plugin; alias proximal)");
  assert.equal(
    lines[4],
    "  --learning-rate <number>  Adam step size (default: 0.00025; alias --lr, --rate)",
  );
  assert.equal(lines[5], "  --num-envs <number>       Env copies stepped in lockstep (default: 4)");
});

Deno.test("toKebabCase and toCamelCase convert between option names and flags", () => {
  const pairs: [string, string][] = [
    ["learningRate", "learning-rate"],
    ["numEnvs", "num-envs"],
    ["gaeLambda", "gae-lambda"],
    ["seed", "seed"],
    ["layer2Size", "layer2-size"],
    ["useGAE", "use-g-a-e"],
  ];
  for (const [name, flag] of pairs) {
    assert.equal(toKebabCase(name), flag);
    assert.equal(toCamelCase(flag), name);
    assert.equal(toCamelCase(`--${flag}`), name);
  }
});
