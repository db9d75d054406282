/**
 * A training run's memory over time: runs the CLI with the given flags and samples the process's
 * resident set (VmRSS in /proc/PID/status, Linux) every second, then prints the first and the
 * last minute's mean and range. A leak shows as a last minute above the first.
 *
 *   deno run -A bench/rss.ts --preset fast --total-timesteps 2000000 --eval-episodes 0 --out /tmp/rss
 */
const child = new Deno.Command(Deno.execPath(), {
  args: ["run", "-A", new URL("../cli/mod.ts", import.meta.url).pathname, ...Deno.args],
  stdout: "null",
  stderr: "inherit",
}).spawn();

const samples: { seconds: number; mb: number }[] = [];
const start = performance.now();
const timer = setInterval(() => {
  try {
    const status = Deno.readTextFileSync(`/proc/${child.pid}/status`);
    const kb = Number(status.match(/VmRSS:\s+(\d+) kB/)?.[1]);
    if (Number.isFinite(kb)) {
      samples.push({ seconds: (performance.now() - start) / 1000, mb: kb / 1024 });
    }
  } catch {
    // The process has ended.
  }
}, 1000);
const status = await child.status;
clearInterval(timer);

function summary(part: { mb: number }[]): string {
  const mbs = part.map((s) => s.mb);
  const mean = mbs.reduce((a, b) => a + b, 0) / Math.max(1, mbs.length);
  return `mean ${mean.toFixed(1)} MB, range ${Math.min(...mbs).toFixed(1)}–${
    Math.max(...mbs).toFixed(1)
  } MB (${mbs.length} samples)`;
}
const total = samples.at(-1)?.seconds ?? 0;
console.log(
  JSON.stringify(
    {
      exitCode: status.code,
      seconds: Math.round(total),
      firstMinute: summary(samples.filter((s) => s.seconds <= 60)),
      lastMinute: summary(samples.filter((s) => s.seconds > total - 60)),
    },
    null,
    2,
  ),
);
