// The progress display: a live status line on a terminal, plain lines otherwise.
import type { IterationReport } from "@proximal/core";

/** Training episodes the rolling mean return is taken over (and `--stop-at-return` waits for). */
export const RETURN_WINDOW = 20;

/**
 * Where a run stands, for {@linkcode MainOptions.onProgress} (`main`'s caller shows it instead of
 * the progress display; several seeds' runs side by side, say).
 *
 * @example Print the step
 * ```ts
 * import type { RunProgress } from "@proximal/cli";
 * const show = (p: RunProgress) => console.log(`${p.step}/${p.total} ${p.unit}`);
 * show({ step: 1024, total: 4096, unit: "env steps", rolling: 22.5 });
 * ```
 */
export interface RunProgress {
  /** Steps so far, in the trainer's unit. */
  step: number;
  /** The step budget. */
  total: number;
  /** What a step counts (`env steps`, `tokens`). */
  unit: string;
  /** The mean return of the last 20 training episodes (NaN before the first ends). */
  rolling: number;
  /** The trainer's own progress in [0, 1], where it has one (text stages). */
  fraction?: number;
}

/**
 * A live status line on a terminal; plain lines every ~10 % (or 10 s) otherwise; or, given
 * `report`, that function instead at most every 0.1 s and at the end. The step count is shown in
 * the trainer's unit: `12,288/30,720 tokens (40%)`.
 */
export class Progress {
  readonly #tty = Deno.stderr.isTerminal();
  readonly #total: number;
  readonly #unit: string;
  readonly #report: ((progress: RunProgress) => void) | undefined;
  #last: RunProgress | undefined;
  #lastPrint = 0;
  #lastFraction = 0;
  constructor(total: number, unit: string, report?: (progress: RunProgress) => void) {
    this.#total = total;
    this.#unit = unit;
    this.#report = report;
  }

  update(
    report: Pick<IterationReport, "step" | "metrics">,
    options: { rolling: number; fraction: number | undefined },
  ): void {
    const { step, metrics } = report;
    const fraction = options.fraction ?? step / this.#total;
    if (this.#report) {
      this.#last = { step, total: this.#total, unit: this.#unit, rolling: options.rolling };
      if (options.fraction !== undefined) this.#last.fraction = options.fraction;
      if (performance.now() - this.#lastPrint < 100) return;
      this.#report(this.#last);
      this.#lastPrint = performance.now();
      return;
    }
    const sps = metrics["charts/SPS"];
    // Text envs pay their reward through a reward source, not the env: show that instead.
    const reward = metrics["env/reward_mean"];
    const line = [
      options.fraction === undefined
        ? `${step.toLocaleString("en-US")}/${this.#total.toLocaleString("en-US")} ${this.#unit}`
        : `${step.toLocaleString("en-US")} ${this.#unit}`,
      `(${Math.floor(100 * fraction)}%)`,
      sps === undefined ? "" : ` ${Math.round(sps).toLocaleString("en-US")} SPS`,
      reward !== undefined
        ? ` reward ${reward.toFixed(3)}`
        : options.fraction === undefined
        ? ` return ${
          Number.isNaN(options.rolling) ? "–" : options.rolling.toFixed(1)
        } (last ${RETURN_WINDOW})`
        : "",
    ].join(" ").replace(/ +$/, "");
    const now = performance.now();
    if (this.#tty) {
      if (now - this.#lastPrint < 100) return;
      Deno.stderr.writeSync(new TextEncoder().encode(`\r\x1b[2K${line}`));
      this.#lastPrint = now;
    } else if (fraction - this.#lastFraction >= 0.1 || now - this.#lastPrint > 10_000) {
      console.log(line);
      this.#lastFraction = fraction;
      this.#lastPrint = now;
    }
  }

  end(): void {
    if (this.#report) {
      if (this.#last) this.#report(this.#last);
      return;
    }
    if (this.#tty) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
  }
}
