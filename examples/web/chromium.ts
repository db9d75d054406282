/**
 * Headless Chromium for the page's test and measurements, through puppeteer-core. puppeteer is
 * imported by a computed specifier and typed here by the few calls used, because its typings pull
 * in the DOM library, which retypes globals in every other file of `deno check .`.
 *
 * @module
 */

/** The path of Debian's `chromium`, or `PROXIMAL_CHROMIUM`. */
export const CHROMIUM: string = Deno.env.get("PROXIMAL_CHROMIUM") ?? "/usr/bin/chromium";

/** A browser tab: the puppeteer calls the page's test and measurements make. */
export interface Tab {
  setViewport(viewport: { width: number; height: number }): Promise<void>;
  goto(url: string): Promise<unknown>;
  /** Evaluates a JavaScript expression in the page and returns its (JSON-able) value. */
  evaluate<T>(expression: string): Promise<T>;
  /** Waits until a JavaScript expression is truthy in the page. */
  waitForFunction(
    expression: string,
    options: { timeout: number; polling: number },
  ): Promise<unknown>;
  click(selector: string): Promise<void>;
  screenshot(options: { path: string }): Promise<unknown>;
}

/** A browser context: its own cache and storage. */
export interface Context {
  newPage(): Promise<Tab>;
  close(): Promise<void>;
}

/** A headless Chromium. */
export interface Chromium {
  newPage(): Promise<Tab>;
  createBrowserContext(): Promise<Context>;
  close(): Promise<void>;
}

/**
 * Launches headless Chromium (no sandbox: CI runs as root).
 *
 * @example Open a page
 * ```ts ignore
 * const browser = await launchChromium();
 * const tab = await browser.newPage();
 * await tab.goto("http://127.0.0.1:8000/");
 * await browser.close();
 * ```
 */
export async function launchChromium(): Promise<Chromium> {
  const specifier = ["puppeteer", "core"].join("-");
  const { default: puppeteer } = await import(specifier);
  return await puppeteer.launch({
    executablePath: CHROMIUM,
    args: ["--no-sandbox"],
    headless: true,
  });
}

/** Whether Chromium is installed where {@linkcode CHROMIUM} says. */
export function hasChromium(): boolean {
  try {
    return Deno.statSync(CHROMIUM).isFile;
  } catch {
    return false;
  }
}
