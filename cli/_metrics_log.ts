// metrics.jsonl and metrics.csv: one row per iteration, appended (so a resumed run continues them).

/** Appends one row per iteration to metrics.jsonl and metrics.csv (fixed columns). */
export class MetricsLog {
  private constructor(
    readonly columns: readonly string[],
    readonly jsonl: Deno.FsFile,
    readonly csv: Deno.FsFile,
    readonly dir: string,
  ) {}

  static async open(dir: string, metricNames: readonly string[]): Promise<MetricsLog> {
    const columns = ["step", "time", ...metricNames];
    const csvPath = `${dir}/metrics.csv`;
    const fresh = !(await exists(csvPath));
    const jsonl = await Deno.open(`${dir}/metrics.jsonl`, { append: true, create: true });
    const csv = await Deno.open(csvPath, { append: true, create: true });
    const log = new MetricsLog(columns, jsonl, csv, dir);
    if (fresh) await log.#append(csv, columns.join(",") + "\n", "metrics.csv");
    return log;
  }

  async write(step: number, time: number, metrics: Record<string, number>): Promise<void> {
    const row: Record<string, number | null> = { step, time: round(time) };
    for (const [k, v] of Object.entries(metrics)) row[k] = Number.isFinite(v) ? v : null;
    await this.#append(this.jsonl, JSON.stringify(row) + "\n", "metrics.jsonl");
    await this.#append(
      this.csv,
      this.columns.map((c) => row[c] ?? "").join(",") + "\n",
      "metrics.csv",
    );
  }

  close(): void {
    this.jsonl.close();
    this.csv.close();
  }

  async #append(file: Deno.FsFile, text: string, name: string): Promise<void> {
    const bytes = new TextEncoder().encode(text);
    try {
      let written = 0;
      while (written < bytes.length) written += await file.write(bytes.subarray(written));
    } catch (e) {
      // A torn row is cut away when the run is resumed.
      throw new Error(`Cannot append to ${this.dir}/${name}: ${(e as Error).message}`, {
        cause: e,
      });
    }
  }
}

function round(x: number): number {
  return Math.round(x * 1000) / 1000;
}

async function exists(path: string): Promise<boolean> {
  try {
    await Deno.stat(path);
    return true;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return false;
    throw e;
  }
}
