// The page of examples/web/ in headless Chromium (Debian's `chromium`, driven by puppeteer-core):
// it trains CartPole with the fast preset to an evaluation of 475, draws the curve and the cart,
// gives the numbers Deno gives at the same seed, pauses, and trains a user's env plugin by URL.
// `.ci/run` installs Chromium; without it this test is skipped outside CI and fails in CI.
import assert from "node:assert/strict";
import { ppo } from "@proximal/algos";
import { resolveOptions, setupBackend } from "@proximal/core";
import { CartPole } from "@proximal/envs";
import { buildSite, serveSite } from "../examples/web/build.ts";
import { type Chromium, hasChromium, launchChromium, type Tab } from "../examples/web/chromium.ts";

const found = hasChromium();
if (!found && Deno.env.get("CI")) throw new Error("Chromium not found: install Debian's chromium");

interface Seen {
  state: string;
  error: string | null;
  points: { step: number; rolling: number; returns: number[] }[];
  evaluation: { mean: number; step: number } | null;
  framesDrawn: number;
}

/** Pixels drawn on a canvas (not transparent). */
function inked(page: Tab, id: string): Promise<number> {
  return page.evaluate(`(() => {
    const canvas = document.getElementById("${id}");
    const { data } = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height);
    let count = 0;
    for (let i = 3; i < data.length; i += 4) if (data[i] > 0) count++;
    return count;
  })()`);
}

function seen(page: Tab): Promise<Seen> {
  return page.evaluate("globalThis.proximal");
}

async function finish(page: Tab): Promise<Seen> {
  await page.waitForFunction(`["done", "error"].includes(globalThis.proximal.state)`, {
    timeout: 240_000,
    polling: 250,
  });
  const result = await seen(page);
  assert.deepEqual(result.error, null);
  return result;
}

Deno.test({
  name: "web page: trains CartPole and a plugin by URL in headless Chromium",
  ignore: !found,
  sanitizeOps: false,
  sanitizeResources: false,
  fn: async (t) => {
    const out = await Deno.makeTempDir({ prefix: "proximal-web-" });
    const { files } = await buildSite({ out });
    for (const file of ["index.html", "page.js", "worker.js", "tfjs-backend-wasm-simd.wasm"]) {
      assert(files[file]! > 0, `the build lacks ${file}`);
    }
    const server = serveSite(out, { port: 0 });
    const base = `http://127.0.0.1:${(server.addr as Deno.NetAddr).port}/`;
    let browser: Chromium | undefined;
    try {
      browser = await launchChromium();
      const page = await browser.newPage();
      await page.setViewport({ width: 1000, height: 720 });

      await t.step("fast preset to an evaluation of 475, drawn, same numbers as Deno", async () => {
        await page.goto(`${base}?preset=fast&seed=1&autostart=1`);
        const result = await finish(page);
        assert(result.evaluation!.mean >= 475, `evaluation ${result.evaluation!.mean} < 475`);
        assert(result.points.length > 10, `only ${result.points.length} points on the curve`);
        assert(await inked(page, "curve") > 2_000, "the learning curve is not drawn");
        assert(result.framesDrawn > 0 && await inked(page, "scene") > 1_000, "no cart drawn");
        await page.screenshot({ path: `${out}/cartpole.png` });
        console.log(`screenshot: ${out}/cartpole.png`);

        // The page runs the library unchanged: its first iterations' episodes are Deno's.
        await setupBackend("wasm");
        const preset = ppo.presets!.fast!;
        const trainer = await ppo.create(
          resolveOptions(ppo, { ...preset.options, numWorkers: 0 }),
          {
            makeEnv: () => new CartPole(),
            numEnvs: preset.numEnvs!,
            seed: 1,
            totalTimesteps: 500_000,
          },
        );
        for (const point of result.points.slice(0, 5)) {
          const report = await trainer.iterate();
          assert.deepEqual(point.step, report.step);
          assert.deepEqual(point.returns, report.episodes.map((e) => e.return));
        }
        trainer.dispose();
      });

      await t.step("a user's env plugin by URL, paused and resumed", async () => {
        await page.goto(`${base}?env=plugins/catch_env.js&preset=cleanrl&budget=50000&stop=`);
        await page.click("#start");
        await page.waitForFunction("globalThis.proximal.points.length >= 2", {
          timeout: 60_000,
          polling: 50,
        });
        await page.click("#pause");
        await page.waitForFunction(
          `document.getElementById("status").textContent.startsWith("paused at step")`,
          { timeout: 30_000, polling: 50 },
        );
        const before = (await seen(page)).points.length;
        await new Promise((resolve) => setTimeout(resolve, 1_000));
        assert.deepEqual((await seen(page)).points.length, before, "training went on while paused");
        await page.click("#pause");
        const result = await finish(page);
        assert.deepEqual(
          await page.evaluate(`document.getElementById("env-name").textContent.split(" ")[0]`),
          "catch",
        );
        // Random play scores −6 on average (examples/catch_env.ts); a learned policy follows the ball.
        assert(result.evaluation!.mean > 0, `catch evaluation ${result.evaluation!.mean} <= 0`);
        await page.screenshot({ path: `${out}/catch.png` });
      });
    } finally {
      await browser?.close();
      await server.shutdown();
    }
  },
});
