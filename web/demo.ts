// The page: BEiT v2 at work on one Fashion-MNIST image, in the browser. It fetches a run
// folder's files from `run/` and the test images from `data/` (both served by
// `deno task web:serve`), runs on WebGPU when the browser gives an adapter and on the CPU
// backend (WebAssembly) otherwise, and draws what demo_core.ts computes.

/// <reference lib="dom" />

import { openBackend, useBackend } from "../tensor/mod.ts";
import { codeColor } from "../vqkd/report.ts";
import { FASHION_MNIST_CLASSES } from "../data/fashion_mnist.ts";
import {
  type DemoModels,
  type DemoResult,
  idxImage,
  loadDemoModels,
  runDemo,
} from "./demo_core.ts";

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

async function fetchBytes(url: string): Promise<Uint8Array> {
  const response = await fetch(url);
  if (!response.ok) {
    throw new Error(`Cannot fetch ${url}: ${response.status} ${response.statusText}`);
  }
  return new Uint8Array(await response.arrayBuffer());
}

async function gunzipBytes(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes.slice()]).stream().pipeThrough(new DecompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/**
 * WebGPU when an adapter exists, else the CPU backend (also with `?backend=cpu` in the
 * address); and how to say it.
 */
async function chooseBackend(): Promise<{ name: string; label: string }> {
  if (new URLSearchParams(location.search).get("backend") === "cpu") {
    await openBackend("cpu");
    return { name: "cpu", label: "the CPU (WebAssembly), as the address asks" };
  }
  try {
    const adapter = await navigator.gpu?.requestAdapter();
    if (adapter) {
      await openBackend("webgpu");
      const info = adapter.info;
      const what = [info.vendor, info.architecture, info.description].filter(Boolean).join(" ");
      return { name: "webgpu", label: `WebGPU${what ? ` (${what})` : ""}` };
    }
  } catch {
    // no usable adapter
  }
  await openBackend("cpu");
  return { name: "cpu", label: "the CPU (WebAssembly; this browser gave no WebGPU adapter)" };
}

/** Draws a 28 × 28 image scaled up on a canvas. */
function drawImage(canvas: HTMLCanvasElement, pixels: ArrayLike<number>) {
  const ctx = canvas.getContext("2d")!;
  const cell = canvas.width / 28;
  for (let i = 0; i < 784; i++) {
    const v = Math.round(pixels[i] * 255);
    ctx.fillStyle = `rgb(${v},${v},${v})`;
    ctx.fillRect((i % 28) * cell, Math.floor(i / 28) * cell, cell, cell);
  }
}

/** Draws a 7 × 7 grid of codes; `show(i)` gives the code to draw, or null for a grey cell. */
function drawCodes(
  canvas: HTMLCanvasElement,
  show: (i: number) => number | null,
  outline?: (i: number) => string | null,
) {
  const ctx = canvas.getContext("2d")!;
  const cell = canvas.width / 7;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.font = `${Math.round(cell / 3)}px sans-serif`;
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  for (let i = 0; i < 49; i++) {
    const x = (i % 7) * cell;
    const y = Math.floor(i / 7) * cell;
    const code = show(i);
    if (code === null) {
      ctx.fillStyle = "#bbb";
      ctx.fillRect(x, y, cell, cell);
      continue;
    }
    const [r, g, b] = codeColor(code).map((c) => Math.round(c * 255));
    ctx.fillStyle = `rgb(${r},${g},${b})`;
    ctx.fillRect(x, y, cell, cell);
    ctx.fillStyle = r * 0.299 + g * 0.587 + b * 0.114 > 140 ? "#000" : "#fff";
    ctx.fillText(String(code), x + cell / 2, y + cell / 2);
    const color = outline?.(i);
    if (color) {
      ctx.strokeStyle = color;
      ctx.lineWidth = 4;
      ctx.strokeRect(x + 2, y + 2, cell - 4, cell - 4);
    }
  }
}

function drawResult(r: DemoResult, branch: "main" | "bottleneck", codes: number) {
  const guess = branch === "main" ? r.predicted : r.predictedClsPt;
  drawCodes($("tokens"), (i) => r.tokens[i]);
  drawCodes($("masked"), (i) => (r.mask[i] ? null : r.tokens[i]));
  drawCodes(
    $("predicted"),
    (i) => (r.mask[i] ? guess[i] : null),
    (i) => (r.mask[i] ? (guess[i] === r.tokens[i] ? "#1a7f37" : "#cf222e") : null),
  );
  const pct = (x: number) => `${(100 * x).toFixed(0)} %`;
  const masked = r.mask.reduce((a, b) => a + b, 0);
  $("accuracy").textContent =
    `${pct(branch === "main" ? r.accuracy.main : r.accuracy.bottleneck)}` +
    ` of the ${masked} masked patches predicted exactly (main branch ${pct(r.accuracy.main)}, ` +
    `CLS bottleneck ${pct(r.accuracy.bottleneck)}; a guess is right once in ${codes})`;
  const order = r.classProbs.map((p, i) => [p, i]).sort((a, b) => b[0] - a[0]).slice(0, 5);
  $("classes").innerHTML = order.map(([p, i]) =>
    `<div class="bar"><span class="name">${r.classes[i]}</span><span class="fill" style="width:${
      (200 * p).toFixed(0)
    }px"></span><span>${(100 * p).toFixed(1)} %</span></div>`
  ).join("");
}

interface DemoApi {
  /** Settles when the models are loaded; gives the backend's name. */
  ready: Promise<string>;
  /** Shows test image `index` with a mask of `numMasked` patches drawn from `seed`. */
  show(index: number, numMasked: number, seed: number): Promise<DemoResult>;
}

declare global {
  // The page's API, for a person at the console and for tools/web/test.ts.
  var tessella: DemoApi;
}

function start(): void {
  const status = $("status");
  let models: DemoModels | undefined;
  let images: Uint8Array | undefined;
  let labels: Uint8Array | undefined;
  let current: Float32Array | undefined;
  let last: DemoResult | undefined;
  const state = { index: 0, numMasked: 20, seed: 1, branch: "main" as "main" | "bottleneck" };

  const refresh = async (): Promise<DemoResult> => {
    if (!models || !current) throw new Error("the models are not loaded yet");
    drawImage($("image"), current);
    last = await runDemo(models, current, { numMasked: state.numMasked, seed: state.seed });
    drawResult(last, state.branch, models.recipe.vqkd.codes);
    return last;
  };
  const showIndex = async (index: number) => {
    const count = (images!.length - 16) / 784;
    state.index = ((index % count) + count) % count;
    current = idxImage(images!, state.index);
    $<HTMLInputElement>("index").value = String(state.index);
    $("label").textContent = `test image ${state.index}, labelled “${
      FASHION_MNIST_CLASSES[labels![8 + state.index]]
    }”`;
    return await refresh();
  };

  const ready = (async () => {
    const backend = await chooseBackend();
    await useBackend(backend.name);
    status.textContent = `Loading the run's models on ${backend.label}…`;
    models = await loadDemoModels((name) => fetchBytes(`run/${name}`), backend.name);
    images = await gunzipBytes(await fetchBytes("data/t10k-images-idx3-ubyte.gz"));
    labels = await gunzipBytes(await fetchBytes("data/t10k-labels-idx1-ubyte.gz"));
    const r = models.recipe;
    status.textContent = `Running on ${backend.label}. Models: VQ-KD with ${r.vqkd.codes} codes, ` +
      `BEiT v2 of width ${r.beit.embedDim} and depth ${r.beit.depth} (seed ${r.seed}).`;
    await showIndex(0);
    return backend.name;
  })();
  ready.catch((error) => {
    status.textContent = `Could not start: ${(error as Error).message}`;
    status.classList.add("error");
  });

  globalThis.tessella = {
    ready,
    async show(index, numMasked, seed) {
      await ready;
      state.numMasked = numMasked;
      state.seed = seed;
      $<HTMLInputElement>("count").value = String(numMasked);
      $("countValue").textContent = String(numMasked);
      $<HTMLInputElement>("seed").value = String(seed);
      return await showIndex(index);
    },
  };

  const run = (f: () => Promise<unknown>) => () =>
    void f().catch((e) => (status.textContent = String(e)));
  $("prev").onclick = run(() => showIndex(state.index - 1));
  $("next").onclick = run(() => showIndex(state.index + 1));
  $("index").onchange = run(() => showIndex(Number($<HTMLInputElement>("index").value) || 0));
  $("count").oninput = run(async () => {
    state.numMasked = Number($<HTMLInputElement>("count").value);
    $("countValue").textContent = String(state.numMasked);
    await refresh();
  });
  $("seed").onchange = run(async () => {
    state.seed = Number($<HTMLInputElement>("seed").value) || 0;
    await refresh();
  });
  $("newMask").onclick = run(async () => {
    state.seed += 1;
    $<HTMLInputElement>("seed").value = String(state.seed);
    await refresh();
  });
  for (const id of ["branchMain", "branchCls"]) {
    $(id).onchange = () => {
      state.branch = $<HTMLInputElement>("branchMain").checked ? "main" : "bottleneck";
      if (last && models) drawResult(last, state.branch, models.recipe.vqkd.codes);
    };
  }
  $("upload").onchange = run(async () => {
    const file = $<HTMLInputElement>("upload").files?.[0];
    if (!file) return;
    // The run's models saw 28 × 28 grayscale images, light garments on black: scale the
    // picture into 28 × 28 and read its luminance.
    const bitmap = await createImageBitmap(file);
    const canvas = new OffscreenCanvas(28, 28);
    const ctx = canvas.getContext("2d")!;
    ctx.drawImage(bitmap, 0, 0, 28, 28);
    const rgba = ctx.getImageData(0, 0, 28, 28).data;
    current = Float32Array.from(
      { length: 784 },
      (_, i) => (0.299 * rgba[4 * i] + 0.587 * rgba[4 * i + 1] + 0.114 * rgba[4 * i + 2]) / 255,
    );
    $("label").textContent = `your image (${file.name})`;
    await refresh();
  });
}

start();
