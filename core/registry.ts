/**
 * The plugin registry: built-in plugins in one `Map` keyed `kind:name` (like TensorFlow.js's
 * kernel registry), user plugins loaded from a module by path or URL, and the checks and option
 * handling that turn a plugin and some command-line flags into complete, typed options.
 */
import { resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import type { Plugin, PluginBase, PluginKind, PluginOfKind, PluginOptions } from "./plugin.ts";

/** Plugins keyed by `${kind}:${name}`, e.g. `env:cartpole`. Build one with {@linkcode createRegistry}. */
export type Registry = Map<string, Plugin>;

/** Options of {@linkcode validatePlugin}. */
export interface ValidatePluginOptions {
  /** The kind the value must be. */
  kind: PluginKind;
  /** Where the value came from, for error messages: a module path, `the registry (item 2)`, … */
  where: string;
}

const KINDS: readonly PluginKind[] = ["env", "algo", "reward"];

/** Option names must be camelCase so that each maps to one `--kebab-case` flag and back. */
const OPTION_NAME = /^[a-z][a-zA-Z0-9]*$/;

const MODULE_PREFIXES = ["./", "../", "/", "file:", "http:", "https:", "jsr:", "npm:"];
const MODULE_EXTENSIONS = [".ts", ".js", ".mjs", ".tsx"];

/**
 * Builds a registry from a list of plugins, validating each one. A plugin's `aliases` find it too
 * (see {@linkcode lookupPlugin}), so within a kind no name or alias may be used twice.
 *
 * @param plugins The plugins, of any kinds.
 * @returns A new registry keyed `${kind}:${name}` (aliases are not keys).
 * @throws If a plugin is invalid or two plugins of one kind share a name or an alias.
 *
 * @example Register and look up a plugin
 * ```ts
 * import assert from "node:assert/strict";
 * import { createRegistry, defineEnv } from "@proximal/core";
 * const coin = defineEnv({
 *   kind: "env",
 *   name: "coin",
 *   description: "A one-step env",
 *   defaults: {},
 *   create: () => {
 *     throw new Error("unused");
 *   },
 * });
 * const registry = createRegistry([coin]);
 * assert.ok(registry.get("env:coin") === coin);
 * ```
 */
export function createRegistry(plugins: readonly Plugin[]): Registry {
  const registry: Registry = new Map();
  // Each `${kind}:${name or alias}` taken so far, with the name of the plugin it finds.
  const taken = new Map<string, string>();
  plugins.forEach((value: unknown, index) => {
    const where = `the registry (item ${index})`;
    const kind = isRecord(value) ? value.kind : undefined;
    if (!KINDS.includes(kind as PluginKind)) {
      throw new Error(
        `Invalid plugin in ${where}: "kind" must be one of ${KINDS.join(", ")}, got ${
          formatValue(kind)
        }`,
      );
    }
    const plugin = validatePlugin(value, { kind: kind as PluginKind, where });
    for (const name of [plugin.name, ...(plugin.aliases ?? [])]) {
      const owner = taken.get(`${plugin.kind}:${name}`);
      if (owner === undefined) continue;
      if (owner === name && name === plugin.name) {
        throw new Error(`Duplicate ${plugin.kind} plugin "${name}"`);
      }
      const role = (of: string) => of === name ? `plugin "${of}"` : `an alias of "${of}"`;
      throw new Error(
        `Duplicate ${plugin.kind} plugin name "${name}": ${role(owner)} and ${role(plugin.name)}`,
      );
    }
    for (const name of [plugin.name, ...(plugin.aliases ?? [])]) {
      taken.set(`${plugin.kind}:${name}`, plugin.name);
    }
    registry.set(`${plugin.kind}:${plugin.name}`, plugin);
  });
  return registry;
}

/**
 * Finds a registered plugin of a kind by its name or one of its `aliases`.
 *
 * @param registry The plugins.
 * @param kind The kind of plugin wanted.
 * @param name A plugin's name or alias.
 * @returns The plugin, or undefined when no plugin of the kind has that name or alias.
 *
 * @example Find a plugin by an earlier name
 * ```ts
 * import assert from "node:assert/strict";
 * import { createRegistry, defineEnv, lookupPlugin } from "@proximal/core";
 * const coin = defineEnv({
 *   kind: "env",
 *   name: "coin",
 *   aliases: ["coin-flip"],
 *   description: "A one-step env",
 *   defaults: {},
 *   create: () => {
 *     throw new Error("unused");
 *   },
 * });
 * const registry = createRegistry([coin]);
 * assert.ok(lookupPlugin(registry, "env", "coin-flip") === coin);
 * assert.ok(lookupPlugin(registry, "algo", "coin") === undefined);
 * ```
 */
export function lookupPlugin<K extends PluginKind>(
  registry: Registry,
  kind: K,
  name: string,
): PluginOfKind<K> | undefined {
  const byName = registry.get(`${kind}:${name}`);
  if (byName?.kind === kind) return byName as PluginOfKind<K>;
  for (const plugin of registry.values()) {
    if (plugin.kind === kind && plugin.aliases?.includes(name)) return plugin as PluginOfKind<K>;
  }
  return undefined;
}

/**
 * Checks that a value is a well-formed plugin of the given kind: a `kind`, a non-empty `name`,
 * optional `aliases` (other names), a `description`, `defaults` whose values are finite numbers,
 * strings or booleans under camelCase names, optional `help` strings for those options, optional
 * `optionAliases` (other camelCase names of those options), and a `create` function.
 *
 * @param value The value to check, e.g. a module export.
 * @param options The expected kind and where the value came from (for error messages).
 * @returns The value, typed as a plugin.
 * @throws A one-line error naming `where` and the offending field.
 *
 * @example Reject a plugin with a bad default
 * ```ts
 * import assert from "node:assert/strict";
 * import { validatePlugin } from "@proximal/core";
 * try {
 *   validatePlugin({ kind: "env", name: "x", description: "", defaults: { lr: {} }, create() {} }, {
 *     kind: "env",
 *     where: "./x.ts",
 *   });
 * } catch (error) {
 *   assert.ok((error as Error).message.includes(`"defaults.lr" must be a number`));
 * }
 * ```
 */
export function validatePlugin(value: unknown, options: ValidatePluginOptions): Plugin {
  const { kind, where } = options;
  function fail(detail: string): never {
    throw new Error(`Invalid ${kind} plugin in ${where}: ${detail}`);
  }
  if (!isRecord(value)) fail(`expected an object, got ${formatValue(value)}`);
  if (value.kind !== kind) fail(`"kind" must be "${kind}", got ${formatValue(value.kind)}`);
  const { name, aliases, description, defaults, help, optionAliases } = value;
  if (typeof name !== "string" || name.length === 0) {
    fail(`"name" must be a non-empty string, got ${formatValue(name)}`);
  }
  if (/\s/.test(name)) fail(`"name" must not contain whitespace, got ${formatValue(name)}`);
  if (aliases !== undefined) {
    if (!Array.isArray(aliases)) fail(`"aliases" must be an array, got ${formatValue(aliases)}`);
    aliases.forEach((alias: unknown, i) => {
      if (typeof alias !== "string" || alias.length === 0 || /\s/.test(alias)) {
        fail(
          `"aliases[${i}]" must be a non-empty string without whitespace, got ${
            formatValue(alias)
          }`,
        );
      }
      if (alias === name || aliases.indexOf(alias) !== i) {
        fail(`"aliases[${i}]" repeats the name ${formatValue(alias)}`);
      }
    });
  }
  if (typeof description !== "string") {
    fail(`"description" must be a string, got ${formatValue(description)}`);
  }
  if (!isPlainObject(defaults)) {
    fail(`"defaults" must be a plain object, got ${formatValue(defaults)}`);
  }
  for (const [key, option] of Object.entries(defaults)) {
    if (!OPTION_NAME.test(key)) {
      fail(`option name ${JSON.stringify(key)} in "defaults" must be camelCase letters and digits`);
    }
    if (typeof option === "number") {
      if (!Number.isFinite(option)) {
        fail(`"defaults.${key}" must be a finite number, got ${formatValue(option)}`);
      }
    } else if (typeof option !== "string" && typeof option !== "boolean") {
      fail(`"defaults.${key}" must be a number, string or boolean, got ${formatValue(option)}`);
    }
  }
  if (help !== undefined) {
    if (!isPlainObject(help)) fail(`"help" must be a plain object, got ${formatValue(help)}`);
    for (const [key, text] of Object.entries(help)) {
      if (!Object.hasOwn(defaults, key)) fail(`"help.${key}" names no option in "defaults"`);
      if (typeof text !== "string") {
        fail(`"help.${key}" must be a string, got ${formatValue(text)}`);
      }
    }
  }
  if (optionAliases !== undefined) {
    if (!isPlainObject(optionAliases)) {
      fail(`"optionAliases" must be a plain object, got ${formatValue(optionAliases)}`);
    }
    for (const [alias, option] of Object.entries(optionAliases)) {
      if (!OPTION_NAME.test(alias)) {
        fail(
          `option alias ${
            JSON.stringify(alias)
          } in "optionAliases" must be camelCase letters and digits`,
        );
      }
      if (Object.hasOwn(defaults, alias)) {
        fail(`"optionAliases.${alias}" is an option in "defaults" already`);
      }
      if (typeof option !== "string" || !Object.hasOwn(defaults, option)) {
        fail(
          `"optionAliases.${alias}" must name an option in "defaults", got ${formatValue(option)}`,
        );
      }
    }
  }
  if (typeof value.create !== "function") {
    fail(`"create" must be a function, got ${formatValue(value.create)}`);
  }
  return value as unknown as Plugin;
}

/**
 * Tells whether a plugin reference names a module (a path or URL) rather than a registered plugin.
 * A `#selector` suffix is ignored.
 *
 * @param ref What the user typed, e.g. `cartpole` or `./my_env.ts#coin`.
 * @returns True for paths and URLs: `./`, `../`, `/`, `file:`, `http:`, `https:`, `jsr:`, `npm:`
 * prefixes and `.ts`, `.js`, `.mjs`, `.tsx` extensions.
 *
 * @example Names and paths
 * ```ts
 * import assert from "node:assert/strict";
 * import { isModuleReference } from "@proximal/core";
 * assert.ok(!isModuleReference("cartpole"));
 * assert.ok(isModuleReference("./my_env.ts"));
 * assert.ok(isModuleReference("my_env.ts#coin"));
 * assert.ok(isModuleReference("jsr:@me/envs"));
 * ```
 */
export function isModuleReference(ref: string): boolean {
  const { specifier } = splitReference(ref);
  return MODULE_PREFIXES.some((prefix) => specifier.startsWith(prefix)) ||
    MODULE_EXTENSIONS.some((extension) => specifier.endsWith(extension));
}

/**
 * Finds a plugin by name or alias in a registry (see {@linkcode lookupPlugin}), or loads it from a module when `ref` is a path or URL
 * (see {@linkcode isModuleReference}). Relative paths are resolved against the working directory.
 * When a module exports several plugins of the kind, pick one with `#exportName` or `#pluginName`,
 * e.g. `./my_envs.ts#coin`.
 *
 * @param registry The built-in plugins.
 * @param kind The kind of plugin wanted.
 * @param ref A plugin name or a module reference.
 * @returns The plugin, validated.
 * @throws If the name is unknown (listing the available names), the module cannot be loaded, or
 * it exports no single valid plugin of the kind.
 *
 * @example Look up a built-in plugin by name
 * ```ts
 * import assert from "node:assert/strict";
 * import { createRegistry, defineEnv, resolvePlugin } from "@proximal/core";
 * const coin = defineEnv({
 *   kind: "env",
 *   name: "coin",
 *   description: "A one-step env",
 *   defaults: {},
 *   create: () => {
 *     throw new Error("unused");
 *   },
 * });
 * const registry = createRegistry([coin]);
 * assert.ok((await resolvePlugin(registry, "env", "coin")) === coin);
 * ```
 */
export async function resolvePlugin<K extends PluginKind>(
  registry: Registry,
  kind: K,
  ref: string,
): Promise<PluginOfKind<K>> {
  if (!isModuleReference(ref)) {
    const plugin = lookupPlugin(registry, kind, ref);
    if (plugin) return plugin;
    const names = [...registry.values()].filter((p) => p.kind === kind).map((p) => p.name).sort();
    throw new Error(
      `Unknown ${kind} plugin "${ref}": available: ${names.length > 0 ? names.join(", ") : "none"}`,
    );
  }
  return await loadPlugin(kind, ref);
}

/**
 * Merges given option values over a plugin's defaults, converting command-line strings to the
 * type of each default: numbers accept numbers and numeric strings; booleans accept `true`,
 * `false`, `"true"`, `"false"`, `"1"` and `"0"`; strings accept strings. Undefined values keep the
 * default. A key may be one of the plugin's `optionAliases`, but one option is set once.
 *
 * @param plugin The plugin whose `defaults` fix the option names and types.
 * @param given Option values, e.g. parsed command-line flags (camelCase keys).
 * @returns A new, complete options object; `defaults` is not modified.
 * @throws If an option is unknown (listing the valid names), is given twice (by its name and an
 * alias), or a value has the wrong type.
 *
 * @example Options from command-line strings
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineAlgo, resolveOptions } from "@proximal/core";
 * const algo = defineAlgo<{ learningRate: number; anneal: boolean; tag: string }>({
 *   kind: "algo",
 *   name: "demo",
 *   description: "",
 *   defaults: { learningRate: 0.001, anneal: true, tag: "" },
 *   create: () => {
 *     throw new Error("unused");
 *   },
 * });
 * const options = resolveOptions(algo, { learningRate: "3e-4", anneal: "false" });
 * assert.ok(options.learningRate === 0.0003 && options.anneal === false && options.tag === "");
 * ```
 */
export function resolveOptions<O extends PluginOptions>(
  plugin: PluginBase<string, O>,
  given: Record<string, unknown>,
): O {
  const label = `${plugin.kind} plugin "${plugin.name}"`;
  const names = Object.keys(plugin.defaults);
  const aliases: Readonly<Record<string, string>> = plugin.optionAliases ?? {};
  const options: PluginOptions = { ...plugin.defaults };
  const setBy = new Map<string, string>();
  for (const [key, value] of Object.entries(given)) {
    const name = Object.hasOwn(plugin.defaults, key)
      ? key
      : Object.hasOwn(aliases, key)
      ? aliases[key]
      : undefined;
    if (name === undefined) {
      throw new Error(
        `Unknown option "${key}" for ${label}: ${
          names.length > 0 ? `valid options are ${names.join(", ")}` : "it takes no options"
        }`,
      );
    }
    if (value === undefined) continue;
    const other = setBy.get(name);
    if (other !== undefined) {
      throw new Error(`Options "${other}" and "${key}" of ${label} set the same option: give one`);
    }
    setBy.set(name, key);
    const fallback = plugin.defaults[name] as PluginOptions[string];
    const coerced = coerceOption(fallback, value);
    if (coerced === undefined) {
      const expected = typeof fallback === "boolean"
        ? "a boolean (true, false, 1 or 0)"
        : `a ${typeof fallback}`;
      throw new Error(`Option "${key}" of ${label} must be ${expected}, got ${formatValue(value)}`);
    }
    options[name] = coerced;
  }
  return options as O;
}

/**
 * Describes a plugin for `--help`: its name, kind and aliases, its description, then one line per
 * option with its flag, type, help text, default and aliases.
 *
 * @param plugin The plugin.
 * @returns Multi-line text without a trailing newline.
 *
 * @example Help for an env
 * ```ts
 * import assert from "node:assert/strict";
 * import { defineEnv, describePlugin } from "@proximal/core";
 * const coin = defineEnv({
 *   kind: "env",
 *   name: "coin",
 *   description: "A one-step env",
 *   defaults: { maxSteps: 1 },
 *   help: { maxSteps: "Steps per episode" },
 *   create: () => {
 *     throw new Error("unused");
 *   },
 * });
 * assert.ok(describePlugin(coin).includes("--max-steps <number>  Steps per episode (default: 1)"));
 * ```
 */
export function describePlugin(plugin: Plugin): string {
  const help: Readonly<Record<string, string | undefined>> = plugin.help ?? {};
  const optionAliases = Object.entries(plugin.optionAliases ?? {});
  const rows = Object.entries(plugin.defaults).map(([key, value]) => {
    const aliases = optionAliases.filter(([, option]) => option === key)
      .map(([alias]) => `--${toKebabCase(alias)}`);
    const fallback = typeof value === "string" ? JSON.stringify(value) : value;
    const also = aliases.length > 0 ? `; alias ${aliases.join(", ")}` : "";
    return {
      flag: `--${toKebabCase(key)} <${typeof value}>`,
      text: [help[key], `(default: ${fallback}${also})`]
        .filter((part) => part !== undefined && part !== "").join(" "),
    };
  });
  const width = Math.max(0, ...rows.map((row) => row.flag.length));
  const aliases = plugin.aliases ?? [];
  const lines = [
    `${plugin.name} (${plugin.kind} plugin${
      aliases.length > 0 ? `; alias ${aliases.join(", ")}` : ""
    })`,
  ];
  if (plugin.description !== "") lines.push(plugin.description);
  lines.push("", rows.length > 0 ? "Options:" : "Options: none");
  for (const row of rows) lines.push(`  ${row.flag.padEnd(width)}  ${row.text}`);
  return lines.join("\n");
}

/**
 * Converts a camelCase option name to its kebab-case flag name.
 *
 * @param name A camelCase name, e.g. `learningRate`.
 * @returns The kebab-case name, e.g. `learning-rate`.
 *
 * @example Option name to flag
 * ```ts
 * import assert from "node:assert/strict";
 * import { toKebabCase } from "@proximal/core";
 * assert.ok(toKebabCase("numMinibatches") === "num-minibatches");
 * ```
 */
export function toKebabCase(name: string): string {
  return name.replace(/[A-Z]/g, (letter) => `-${letter.toLowerCase()}`);
}

/**
 * Converts a kebab-case flag (with or without leading dashes) to its camelCase option name; the
 * inverse of {@linkcode toKebabCase}.
 *
 * @param flag A flag, e.g. `--learning-rate` or `learning-rate`.
 * @returns The camelCase name, e.g. `learningRate`.
 *
 * @example Flag to option name
 * ```ts
 * import assert from "node:assert/strict";
 * import { toCamelCase } from "@proximal/core";
 * assert.ok(toCamelCase("--num-minibatches") === "numMinibatches");
 * ```
 */
export function toCamelCase(flag: string): string {
  return flag.replace(/^-+/, "").replace(/-([a-z])/g, (_, letter: string) => letter.toUpperCase());
}

// ---------------------------------------------------------------------------------------------
// Loading plugins from modules
// ---------------------------------------------------------------------------------------------

async function loadPlugin<K extends PluginKind>(kind: K, ref: string): Promise<PluginOfKind<K>> {
  const { specifier, selector } = splitReference(ref);
  function fail(detail: string): never {
    throw new Error(`Cannot load ${kind} plugin "${ref}": ${detail}`);
  }
  const url = toModuleUrl(specifier);
  if (url.protocol === "file:") {
    const path = fileURLToPath(url);
    let info: Deno.FileInfo;
    try {
      info = await Deno.stat(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) fail(`file not found (${path})`);
      fail(firstLine(error));
    }
    if (!info.isFile) fail(`not a file (${path})`);
  }
  let module: Record<string, unknown>;
  try {
    module = await import(url.href);
  } catch (error) {
    fail(firstLine(error));
  }

  // A plugin exported under two names (say, also as `default`) counts once.
  const candidates = new Map<unknown, string[]>();
  for (const [exportName, value] of Object.entries(module)) {
    if (isRecord(value) && value.kind === kind) {
      candidates.set(value, [...(candidates.get(value) ?? []), exportName]);
    }
  }
  const entries = [...candidates].map(([value, exportNames]) => ({ value, exportNames }));
  const where = (exportNames: string[]) => `${specifier} (export ${exportNames.join(", ")})`;

  if (selector !== undefined) {
    const chosen = entries.find((entry) => entry.exportNames.includes(selector)) ??
      entries.find((entry) => isRecord(entry.value) && entry.value.name === selector);
    if (chosen === undefined) {
      fail(
        `the module has no ${kind} plugin exported or named "${selector}" (${kind} plugins: ${
          entries.length > 0 ? entries.map((entry) => entry.exportNames[0]).join(", ") : "none"
        })`,
      );
    }
    const plugin = validatePlugin(chosen.value, { kind, where: where(chosen.exportNames) });
    return plugin as PluginOfKind<K>;
  }
  const [only] = entries;
  if (only === undefined) {
    const exports = Object.entries(module).map(([exportName, value]) =>
      isRecord(value) && KINDS.includes(value.kind as PluginKind)
        ? `${exportName} (${value.kind} plugin)`
        : exportName
    );
    fail(
      `the module exports no ${kind} plugin (exports: ${
        exports.length > 0 ? exports.join(", ") : "none"
      })`,
    );
  }
  if (entries.length > 1) {
    const names = entries.map((entry) => entry.exportNames[0]);
    fail(
      `the module exports ${entries.length} ${kind} plugins (${
        names.join(", ")
      }): choose one with "${specifier}#${names[0]}"`,
    );
  }
  return validatePlugin(only.value, { kind, where: where(only.exportNames) }) as PluginOfKind<K>;
}

/** Splits `./x.ts#coin` into the module specifier and the optional selector after the last `#`. */
function splitReference(ref: string): { specifier: string; selector?: string } {
  const hash = ref.lastIndexOf("#");
  if (hash < 0) return { specifier: ref };
  return { specifier: ref.slice(0, hash), selector: ref.slice(hash + 1) };
}

function toModuleUrl(specifier: string): URL {
  if (/^(file|https?|jsr|npm):/.test(specifier)) return new URL(specifier);
  return pathToFileURL(resolve(Deno.cwd(), specifier));
}

// ---------------------------------------------------------------------------------------------
// Values
// ---------------------------------------------------------------------------------------------

/** Converts an option value to the type of its default; undefined if it cannot. */
function coerceOption(
  fallback: PluginOptions[string],
  value: unknown,
): PluginOptions[string] | undefined {
  switch (typeof fallback) {
    case "number": {
      if (typeof value === "number") return Number.isFinite(value) ? value : undefined;
      if (typeof value !== "string" || value.trim() === "") return undefined;
      const number = Number(value);
      return Number.isFinite(number) ? number : undefined;
    }
    case "boolean":
      if (value === true || value === "true" || value === "1") return true;
      if (value === false || value === "false" || value === "0") return false;
      return undefined;
    case "string":
      return typeof value === "string" ? value : undefined;
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  if (!isRecord(value) || Array.isArray(value)) return false;
  const prototype = Object.getPrototypeOf(value);
  return prototype === Object.prototype || prototype === null;
}

/** A short description of a value for error messages: strings quoted, objects by type. */
function formatValue(value: unknown): string {
  if (typeof value === "string") return JSON.stringify(value);
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (typeof value === "number" || typeof value === "boolean" || typeof value === "bigint") {
    return String(value);
  }
  return typeof value;
}

function firstLine(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return message.split("\n", 1)[0]?.trim() || "unknown error";
}
