/**
 * `deno task web`: bundles the page (`page.ts`, `worker.ts`) and the example env plugin with
 * `deno bundle` into a static folder any static host can serve, copies tfjs's WASM binaries from
 * the npm package beside them (no CDN), then serves the folder on http://127.0.0.1:8000.
 *
 *   deno task web                          # build examples/web/dist/ and serve it
 *   deno task web --no-serve               # build only
 *   deno task web --port 8080 --out DIR    # another port or folder
 *   deno task web --plugin ./my_env.ts     # also bundle your env plugin to DIR/plugins/my_env.js
 *
 * The page then loads a plugin by URL: `http://127.0.0.1:8000/?env=plugins/my_env.js`.
 *
 * The packages import three Node built-ins (`node:path`, `node:url`, `node:crypto`) for files and
 * hashes that a page never uses; a build-time import map points them at `browser_shims.ts`.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { basename, dirname, join, relative } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, "..", "..");

/** Options of {@linkcode buildSite}. */
export interface BuildOptions {
  /** The output folder; default `examples/web/dist`. */
  out?: string;
  /** Env plugin modules to bundle into `out/plugins/`; default `examples/catch_env.ts` only. */
  plugins?: string[];
}

/** What {@linkcode buildSite} wrote. */
export interface BuildResult {
  out: string;
  /** Bytes of each file written, by path relative to `out`. */
  files: Record<string, number>;
}

/**
 * Bundles the page, the worker and the plugins, and copies `index.html` and the WASM binaries.
 *
 * @example Build to a temporary folder
 * ```ts ignore
 * const { files } = await buildSite({ out: await Deno.makeTempDir() });
 * console.log(files["worker.js"]);
 * ```
 */
export async function buildSite(options: BuildOptions = {}): Promise<BuildResult> {
  const out = options.out ?? join(here, "dist");
  const plugins = [join(root, "examples", "catch_env.ts"), ...(options.plugins ?? [])];
  await Deno.remove(out, { recursive: true }).catch(() => {});
  await Deno.mkdir(join(out, "plugins"), { recursive: true });

  const config = JSON.parse(await Deno.readTextFile(join(root, "deno.json")));
  const shims = pathToFileURL(join(here, "browser_shims.ts")).href;
  const stage = await Deno.makeTempDir({ prefix: "proximal-web-" });
  const importMap = join(stage, "import_map.json");
  await Deno.writeTextFile(
    importMap,
    JSON.stringify({
      imports: {
        ...config.imports,
        "node:path": shims,
        "node:url": shims,
        "node:crypto": shims,
      },
    }),
  );
  // One bundle run with code splitting, so that a plugin shares the worker's copy of the packages
  // and tfjs (a second tfjs would register its kernels over the first). Thin entry files in one
  // staging folder lay the output out as page.js, worker.js, plugins/<name>.js and shared chunks.
  const entries = [join(stage, "page.ts"), join(stage, "worker.ts")];
  await Deno.writeTextFile(entries[0]!, `import "${pathToFileURL(join(here, "page.ts")).href}";\n`);
  await Deno.writeTextFile(
    entries[1]!,
    `import "${pathToFileURL(join(here, "worker.ts")).href}";\n`,
  );
  await Deno.mkdir(join(stage, "plugins"));
  for (const plugin of plugins) {
    const url = pathToFileURL(plugin).href;
    const module = await import(url);
    const entry = join(stage, "plugins", `${basename(plugin).replace(/\.[cm]?[jt]sx?$/, "")}.ts`);
    const lines = [`export * from "${url}";`];
    if ("default" in module) lines.push(`export { default } from "${url}";`);
    await Deno.writeTextFile(entry, lines.join("\n") + "\n");
    entries.push(entry);
  }
  await bundle(entries, { outdir: out, importMap });
  await Deno.remove(stage, { recursive: true });
  await Deno.copyFile(join(here, "index.html"), join(out, "index.html"));
  const wasmDir = dirname(fileURLToPath(import.meta.resolve("@tensorflow/tfjs-backend-wasm")));
  for (const entry of Deno.readDirSync(wasmDir)) {
    if (entry.name.endsWith(".wasm")) {
      await Deno.copyFile(join(wasmDir, entry.name), join(out, entry.name));
    }
  }
  const files: Record<string, number> = {};
  const walk = (dir: string) => {
    for (const entry of Deno.readDirSync(dir)) {
      const path = join(dir, entry.name);
      if (entry.isDirectory) walk(path);
      else files[relative(out, path)] = Deno.statSync(path).size;
    }
  };
  walk(out);
  return { out, files };
}

async function bundle(
  entries: string[],
  target: { outdir: string; importMap: string },
): Promise<void> {
  const args = ["bundle", "--quiet", "--platform", "browser", "--minify", "--code-splitting"];
  args.push("--import-map", target.importMap, "--outdir", target.outdir);
  const { code, stderr } = await new Deno.Command(Deno.execPath(), {
    args: [...args, ...entries],
    cwd: root,
    stdout: "null",
    stderr: "piped",
  }).output();
  if (code !== 0) {
    throw new Error(
      `Cannot bundle ${entries.map((e) => relative(root, e)).join(", ")}: ${
        new TextDecoder().decode(stderr).trim()
      }`,
    );
  }
}

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".wasm": "application/wasm",
  ".png": "image/png",
};

/**
 * Serves a folder read-only on 127.0.0.1 (never other interfaces).
 *
 * @example Serve the built page
 * ```ts ignore
 * const server = serveSite("examples/web/dist", { port: 8000 });
 * await server.shutdown();
 * ```
 */
export function serveSite(dir: string, options: { port?: number } = {}): Deno.HttpServer {
  return Deno.serve(
    { hostname: "127.0.0.1", port: options.port ?? 8000, onListen: () => {} },
    async (request) => {
      const path = decodeURIComponent(new URL(request.url).pathname);
      if (path.split("/").includes("..")) return new Response("Bad path", { status: 400 });
      const file = join(dir, path.endsWith("/") ? `${path}index.html` : path);
      try {
        const body = await Deno.readFile(file);
        const type = TYPES[file.slice(file.lastIndexOf("."))] ?? "application/octet-stream";
        return new Response(body, { headers: { "content-type": type } });
      } catch {
        return new Response(`Not found: ${path}`, { status: 404 });
      }
    },
  );
}

if (import.meta.main) {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      out: { type: "string" },
      port: { type: "string", default: "8000" },
      plugin: { type: "string", multiple: true, default: [] },
      "no-serve": { type: "boolean", default: false },
    },
    strict: true,
  });
  const start = performance.now();
  const { out, files } = await buildSite({
    ...(values.out ? { out: values.out } : {}),
    plugins: values.plugin.map((p) => join(Deno.cwd(), p)),
  });
  const total = Object.values(files).reduce((a, b) => a + b, 0);
  console.log(`Built ${out} in ${((performance.now() - start) / 1000).toFixed(1)} s:`);
  for (const [name, size] of Object.entries(files).sort()) {
    console.log(`  ${name.padEnd(36)} ${(size / 1024).toFixed(0).padStart(6)} KiB`);
  }
  console.log(`  ${"total".padEnd(36)} ${(total / 1024).toFixed(0).padStart(6)} KiB`);
  if (!values["no-serve"]) {
    const port = Number(values.port);
    serveSite(out, { port });
    console.log(`Serving on http://127.0.0.1:${port}/ (Ctrl-C to stop)`);
  }
}
