/**
 * The page's figures for the README (section "In the browser"): time to an evaluation of 475 with
 * the fast preset in headless Chromium beside the CLI's (`deno task train --preset fast
 * --stop-at-return 475`), seeds 1–3, the two run alternately in one process; the time from
 * opening the page to its first training iteration (a fresh browser context each time, so nothing
 * is cached); the bundle's size; and the catch env plugin trained in the page by URL.
 *
 *   deno run -A examples/web/measure.ts [--seeds 1,2,3] [--screenshot docs/web.png]
 *
 * Needs Debian's `chromium` (or `PROXIMAL_CHROMIUM`). Prints a JSON report.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { join } from "node:path";
import { type Chromium, launchChromium } from "./chromium.ts";
import { buildSite, serveSite } from "./build.ts";

const { values } = parseArgs({
  args: Deno.args,
  options: { seeds: { type: "string", default: "1,2,3" }, screenshot: { type: "string" } },
  strict: true,
});
const seeds = values.seeds.split(",").map(Number);
const root = new URL("../../", import.meta.url).pathname;

interface PageRun {
  seed: number;
  env: string;
  firstIterationSeconds: number;
  openToEvaluationSeconds: number;
  trainSeconds: number;
  steps: number;
  evaluation: number;
}

async function runPage(browser: Chromium, base: string, query: string, shot?: string) {
  const context = await browser.createBrowserContext();
  const page = await context.newPage();
  await page.setViewport({ width: 1000, height: 720 });
  await page.goto(`${base}?${query}&autostart=1`);
  await page.waitForFunction(`["done", "error"].includes(globalThis.proximal.state)`, {
    timeout: 600_000,
    polling: 100,
  });
  const seen = await page.evaluate<{
    error: string | null;
    first: number;
    end: number;
    mean: number;
    step: number;
    trainSeconds: number;
  }>(`(() => {
    const p = globalThis.proximal;
    return { ...p.evaluation, error: p.error, first: p.firstIterationMs, end: p.evaluationMs };
  })()`);
  if (seen.error) throw new Error(`The page failed: ${seen.error}`);
  const env = await page.evaluate<string>(
    `document.getElementById("env-name").textContent.split(" ")[0]`,
  );
  if (shot) await page.screenshot({ path: shot });
  await context.close();
  return {
    env,
    firstIterationSeconds: seen.first / 1000,
    openToEvaluationSeconds: seen.end / 1000,
    trainSeconds: seen.trainSeconds,
    steps: seen.step,
    evaluation: seen.mean,
  };
}

async function runCli(seed: number) {
  const out = await Deno.makeTempDir({ prefix: "proximal-cli-" });
  const start = performance.now();
  const { code } = await new Deno.Command(Deno.execPath(), {
    args: ["task", "-q", "train", "--preset", "fast", "--stop-at-return", "475"]
      .concat(["--seed", String(seed), "--out", out]),
    cwd: root,
    stdout: "null",
    stderr: "inherit",
  }).output();
  const wall = (performance.now() - start) / 1000;
  if (code !== 0) throw new Error(`The CLI failed at seed ${seed}: exit code ${code}`);
  const result = JSON.parse(await Deno.readTextFile(join(out, "eval.json")));
  await Deno.remove(out, { recursive: true });
  return {
    seed,
    startToEvaluationSeconds: wall,
    trainSeconds: result.trainSeconds as number,
    steps: result.envSteps as number,
    evaluation: result.mean as number,
  };
}

async function gzipSize(path: string): Promise<number> {
  const stream = (await Deno.open(path)).readable.pipeThrough(new CompressionStream("gzip"));
  let size = 0;
  for await (const chunk of stream) size += chunk.length;
  return size;
}

const out = await Deno.makeTempDir({ prefix: "proximal-web-" });
const { files } = await buildSite({ out });
const js = Object.keys(files).filter((f) => f.endsWith(".js") && !f.startsWith("plugins/"));
const bundle = {
  javascriptBytes: js.reduce((a, f) => a + files[f]!, 0),
  javascriptGzipBytes: (await Promise.all(js.map((f) => gzipSize(join(out, f))))).reduce(
    (a, b) => a + b,
    0,
  ),
  simdWasmBytes: files["tfjs-backend-wasm-simd.wasm"]!,
  simdWasmGzipBytes: await gzipSize(join(out, "tfjs-backend-wasm-simd.wasm")),
  folderBytes: Object.values(files).reduce((a, b) => a + b, 0),
  files,
};
const server = serveSite(out, { port: 0 });
const base = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}/`;
const browser = await launchChromium();
const pages: PageRun[] = [];
const clis: Awaited<ReturnType<typeof runCli>>[] = [];
try {
  for (const [i, seed] of seeds.entries()) {
    // Alternate which goes first, so the machine's drift falls on both.
    const page = () =>
      runPage(
        browser,
        base,
        `preset=fast&seed=${seed}`,
        i === 0 ? values.screenshot : undefined,
      ).then((r) => pages.push({ seed, ...r }));
    const cli = () => runCli(seed).then((r) => clis.push(r));
    if (i % 2 === 0) await cli().then(page);
    else await page().then(cli);
    console.error(JSON.stringify({ page: pages.at(-1), cli: clis.at(-1) }));
  }
  const plugin = await runPage(
    browser,
    base,
    "env=plugins/catch_env.js&preset=cleanrl&budget=50000&stop=",
  );
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  console.log(JSON.stringify(
    {
      bundle,
      cartpole: { page: pages, cli: clis },
      ratios: {
        pageOverCliOpenToEvaluation: sum(pages.map((p) => p.openToEvaluationSeconds)) /
          sum(clis.map((c) => c.startToEvaluationSeconds)),
        pageOverCliTrainSeconds: sum(pages.map((p) => p.trainSeconds)) /
          sum(clis.map((c) => c.trainSeconds)),
      },
      catchPlugin: plugin,
    },
    null,
    2,
  ));
} finally {
  await browser.close();
  await server.shutdown();
  await Deno.remove(out, { recursive: true });
}
