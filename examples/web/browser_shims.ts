/**
 * Browser stand-ins for the Node built-ins the packages import (`node:path`, `node:url`,
 * `node:crypto`): the packages call them only to read and write files, resolve local plugin paths
 * and fingerprint a tokenizer, none of which a page does. `build.ts` maps the built-ins here, so
 * a page that reaches one of them by mistake gets an error that names it.
 *
 * @module
 */

function unavailable(name: string): never {
  throw new Error(`Not available in the browser: ${name} (a file-system or Node.js API)`);
}

/** Stand-in for `node:path`'s `resolve`. */
export function resolve(..._paths: string[]): string {
  return unavailable("node:path resolve");
}

/** Stand-in for `node:path`'s `dirname`. */
export function dirname(_path: string): string {
  return unavailable("node:path dirname");
}

/** Stand-in for `node:url`'s `fileURLToPath`. */
export function fileURLToPath(_url: string | URL): string {
  return unavailable("node:url fileURLToPath");
}

/** Stand-in for `node:url`'s `pathToFileURL`. */
export function pathToFileURL(_path: string): URL {
  return unavailable("node:url pathToFileURL");
}

/** Stand-in for `node:crypto`'s `createHash`. */
export function createHash(_algorithm: string): never {
  return unavailable("node:crypto createHash");
}
