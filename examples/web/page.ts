/**
 * The page: form, learning curve, the env drawn as the current policy acts, and the figures. The
 * training runs in `worker.ts`; this thread only draws, so the page stays responsive.
 *
 * Query parameters fill the form: `?env=plugins/catch_env.js&preset=fast&seed=2&autostart=1`.
 *
 * @module
 */
/// <reference lib="dom" />
import type { Frame, FromPage, ToPage } from "./protocol.ts";

/** What the page has seen, also read by the headless-browser test. */
interface PageState {
  state: "idle" | "loading" | "training" | "paused" | "done" | "error";
  /** Milliseconds from navigation to the first training iteration's report. */
  firstIterationMs: number | null;
  /** Milliseconds from navigation to the evaluation's report. */
  evaluationMs: number | null;
  points: { step: number; rolling: number; returns: number[] }[];
  evaluation: Extract<ToPage, { type: "evaluation" }> | null;
  error: string | null;
  framesDrawn: number;
}

const page: PageState = {
  state: "idle",
  firstIterationMs: null,
  evaluationMs: null,
  points: [],
  evaluation: null,
  error: null,
  framesDrawn: 0,
};
(globalThis as unknown as { proximal: PageState }).proximal = page;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const form = $<HTMLFormElement>("controls");
const startButton = $<HTMLButtonElement>("start");
const pauseButton = $<HTMLButtonElement>("pause");
const curve = $<HTMLCanvasElement>("curve");
const scene = $<HTMLCanvasElement>("scene");

const query = new URLSearchParams(location.search);
for (const name of ["env", "preset", "seed", "stop", "budget"]) {
  const value = query.get(name);
  const field = form.elements.namedItem(name) as HTMLInputElement | null;
  if (value !== null && field) field.value = value;
}

const worker = new Worker(new URL("./worker.js", import.meta.url), { type: "module" });
let envName = "";
const frames: Frame[] = [];

function setState(state: PageState["state"], text: string = state): void {
  page.state = state;
  const status = $("status");
  status.dataset.state = state;
  status.textContent = text;
}

form.addEventListener("submit", (event) => {
  event.preventDefault();
  if (page.state === "loading" || page.state === "training" || page.state === "paused") return;
  const field = (name: string) => (form.elements.namedItem(name) as HTMLInputElement).value.trim();
  const message: FromPage = {
    type: "start",
    env: field("env") || "cartpole",
    pageUrl: location.href,
    preset: field("preset"),
    seed: Number(field("seed")),
    totalTimesteps: Number(field("budget")),
    stopAtReturn: field("stop") === "" ? Infinity : Number(field("stop")),
    evalEpisodes: 100,
  };
  page.points = [];
  page.evaluation = null;
  page.error = null;
  $("error").textContent = "";
  $("evaluation").textContent = "–";
  setState("loading", "loading the env and building the trainer…");
  startButton.disabled = true;
  worker.postMessage(message);
});

pauseButton.addEventListener("click", () => {
  if (page.state === "training") {
    worker.postMessage({ type: "pause" } satisfies FromPage);
    pauseButton.textContent = "Resume";
    setState("paused", "pausing after this iteration");
  } else if (page.state === "paused") {
    worker.postMessage({ type: "resume" } satisfies FromPage);
    pauseButton.textContent = "Pause";
    setState("training", "training");
  }
});

worker.onmessage = (event: MessageEvent<ToPage>) => {
  const message = event.data;
  switch (message.type) {
    case "started":
      envName = message.env;
      $("env-name").textContent =
        `${message.env} (${message.numEnvs} copies, tfjs ${message.backend})`;
      setState("training", "training");
      pauseButton.disabled = false;
      break;
    case "iteration": {
      page.firstIterationMs ??= performance.now();
      if (page.points.length === 0) {
        $("first").textContent = `${(page.firstIterationMs / 1000).toFixed(2)} s after opening`;
      }
      page.points.push({ step: message.step, rolling: message.rolling, returns: message.returns });
      frames.push(...message.frames);
      if (frames.length > 240) frames.splice(0, frames.length - 240);
      $("steps").textContent = message.step.toLocaleString("en-US");
      $("rolling").textContent = Number.isNaN(message.rolling) ? "–" : message.rolling.toFixed(1);
      $("sps").textContent = `${Math.round(message.sps).toLocaleString("en-US")} env steps/s (${
        message.trainSeconds.toFixed(1)
      } s of training)`;
      drawCurve();
      break;
    }
    case "paused":
      setState("paused", `paused at step ${message.step.toLocaleString("en-US")}`);
      break;
    case "evaluation":
      page.evaluation = message;
      page.evaluationMs = performance.now();
      $("evaluation").textContent = `${message.mean.toFixed(1)} ± ${
        message.std.toFixed(1)
      } (deterministic, after ${message.step.toLocaleString("en-US")} steps, ${
        message.trainSeconds.toFixed(1)
      } s of training; ${message.stopReason})`;
      setState("done", "done");
      startButton.disabled = false;
      pauseButton.disabled = true;
      break;
    case "error":
      page.error = message.message;
      $("error").textContent = message.message;
      setState("error", "error");
      startButton.disabled = false;
      pauseButton.disabled = true;
      break;
  }
};

/** Returns of every episode (dots) and the rolling mean of 20 (line), against env steps. */
function drawCurve(): void {
  const ctx = curve.getContext("2d")!;
  const { width, height } = curve;
  const pad = { left: 48, right: 12, top: 12, bottom: 28 };
  ctx.clearRect(0, 0, width, height);
  const last = page.points.at(-1);
  if (!last) return;
  const all = page.points.flatMap((p) => p.returns);
  const lo = Math.min(0, ...all), hi = Math.max(envName === "cartpole" ? 500 : 1, ...all);
  const maxStep = Math.max(last.step, 1);
  const x = (step: number) => pad.left + (step / maxStep) * (width - pad.left - pad.right);
  const y = (v: number) =>
    height - pad.bottom - ((v - lo) / (hi - lo)) * (height - pad.top - pad.bottom);
  ctx.strokeStyle = "#999";
  ctx.fillStyle = "#555";
  ctx.font = "11px system-ui";
  ctx.beginPath();
  ctx.moveTo(pad.left, pad.top);
  ctx.lineTo(pad.left, height - pad.bottom);
  ctx.lineTo(width - pad.right, height - pad.bottom);
  ctx.stroke();
  ctx.fillText(String(Math.round(hi)), 4, pad.top + 8);
  ctx.fillText(String(Math.round(lo)), 4, height - pad.bottom);
  ctx.fillText(`${maxStep.toLocaleString("en-US")} env steps`, width - pad.right - 110, height - 8);
  ctx.fillText(
    "episode return: each episode (dots), mean of the last 20 (line)",
    pad.left + 6,
    pad.top + 8,
  );
  ctx.fillStyle = "rgba(70, 130, 180, 0.5)";
  for (const point of page.points) {
    for (const r of point.returns) ctx.fillRect(x(point.step) - 1.5, y(r) - 1.5, 3, 3);
  }
  ctx.strokeStyle = "#d2691e";
  ctx.lineWidth = 2;
  ctx.beginPath();
  let moved = false;
  for (const point of page.points) {
    if (Number.isNaN(point.rolling)) continue;
    if (moved) ctx.lineTo(x(point.step), y(point.rolling));
    else ctx.moveTo(x(point.step), y(point.rolling));
    moved = true;
  }
  ctx.stroke();
  ctx.lineWidth = 1;
}

/** CartPole as a cart and a pole; any other env as a bar per observation component. */
function drawScene(frame: Frame): void {
  const ctx = scene.getContext("2d")!;
  const { width, height } = scene;
  ctx.clearRect(0, 0, width, height);
  ctx.fillStyle = "#555";
  ctx.font = "12px system-ui";
  ctx.fillText(`episode return ${frame.episodeReturn.toFixed(0)}`, 8, 16);
  const o = frame.observation;
  if (envName === "cartpole") {
    const [position = 0, , angle = 0] = o;
    const scale = width / 4.8; // the track spans x ∈ [−2.4, 2.4]
    const ground = height * 0.7, cx = width / 2 + position * scale;
    ctx.strokeStyle = "#888";
    ctx.beginPath();
    ctx.moveTo(0, ground);
    ctx.lineTo(width, ground);
    ctx.stroke();
    ctx.fillStyle = "#333";
    ctx.fillRect(cx - 25, ground - 15, 50, 30);
    const pole = scale * 1.0; // Gymnasium draws the pole 2 × its half-length of 0.5
    ctx.strokeStyle = "#c8793a";
    ctx.lineWidth = 8;
    ctx.beginPath();
    ctx.moveTo(cx, ground - 15);
    ctx.lineTo(cx + pole * Math.sin(angle), ground - 15 - pole * Math.cos(angle));
    ctx.stroke();
    ctx.lineWidth = 1;
  } else {
    const bar = (width - 20) / Math.max(1, o.length), mid = height / 2;
    ctx.fillText(`${envName}: observation`, 8, 34);
    o.forEach((v, i) => {
      const h = Math.max(-1, Math.min(1, v)) * (height / 2 - 40);
      ctx.fillStyle = "#4682b4";
      ctx.fillRect(10 + i * bar + 4, Math.min(mid, mid - h), bar - 8, Math.abs(h) || 1);
    });
  }
  page.framesDrawn++;
}

function animate(): void {
  const frame = frames.shift();
  if (frame) drawScene(frame);
  requestAnimationFrame(animate);
}
requestAnimationFrame(animate);

if (query.get("autostart") === "1") form.requestSubmit();
