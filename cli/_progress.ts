// The progress display: a live status line on a terminal, plain lines otherwise.
import type { IterationReport } from "@proximal/core";

/** Training episodes the rolling mean return is taken over (and `--stop-at-return` waits for). */
export const RETURN_WINDOW = 20;

/**
 * A live status line on a terminal; plain lines every ~10 % (or 10 s) otherwise. The step count is
 * shown in the trainer's unit: `12,288/30,720 tokens (40%)`.
 */
export class Progress {
  readonly #tty = Deno.stderr.isTerminal();
  readonly #total: number;
  readonly #unit: string;
  #lastPrint = 0;
  #lastFraction = 0;
  constructor(total: number, unit: string) {
    this.#total = total;
    this.#unit = unit;
  }

  update(
    report: Pick<IterationReport, "step" | "metrics">,
    options: { rolling: number; fraction: number | undefined },
  ): void {
    const { step, metrics } = report;
    const fraction = options.fraction ?? step / this.#total;
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
    if (this.#tty) Deno.stderr.writeSync(new TextEncoder().encode("\n"));
  }
}
