// The course's figures, written into docs/course/figures/:
//
//   masks.svg        blockwise masks drawn by drawBlockwiseMask: four on the 7×7 grid of
//                    Fashion-MNIST (20 of 49) and four on the official 14×14 grid (75 of 196)
//   bottleneck.svg   the data flow of BEiT v2 pretraining: the main branch and the CLS bottleneck
//   token_maps.png   test images above their 7×7 VQ-KD code maps (one colour per code)
//
//   deno run -A tools/course/figures.ts                  # trains a small tokenizer (a few minutes)
//   deno run -A tools/course/figures.ts --run runs/default   # a finished run's tokenizer instead
//
// Without --run, a small ViT teacher (1 epoch) and a small VQ-KD (2 epochs) are trained on
// 10,000 training images, with fixed keys: the figure is reproducible, not representative of
// a full run's tokenizer.

import { parseArgs } from "node:util";
import { foldIn, key, type Tensor, tensor, toArray, useBackend } from "../../tensor/mod.ts";
import { encodeImagePng, type Image } from "../../data/image_folder.ts";
import {
  asHostDataset,
  balancedSubset,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  loadFashionMnistRaw,
} from "../../data/fashion_mnist.ts";
import { normalize } from "../../data/transforms.ts";
import { trainClassifier } from "../../nn/classifier.ts";
import { adamw } from "../../nn/optim/alias.ts";
import { visionTransformer } from "../../nn/vision_transformer.ts";
import { drawBlockwiseMask, type MaskingOptions } from "../../beit/masking.ts";
import { loadRunTokenizer, openRun } from "../../beit/saved_run.ts";
import { classifierTeacher } from "../../vqkd/teachers.ts";
import { trainVqkd } from "../../vqkd/train.ts";
import { codeColor } from "../../vqkd/report.ts";

const OUT = new URL("../../docs/course/figures/", import.meta.url).pathname;
const MEAN = [FASHION_MNIST_MEAN];
const STD = [FASHION_MNIST_STD];

// --- masks.svg ------------------------------------------------------------------------------

/** One panel: a grid of cells, masked ones filled. */
function maskPanel(mask: Uint8Array, grid: number, x0: number, y0: number, size: number): string {
  const cell = size / grid;
  const cells: string[] = [];
  for (let r = 0; r < grid; r++) {
    for (let c = 0; c < grid; c++) {
      const fill = mask[r * grid + c] ? "#d9534f" : "#f2f2f2";
      cells.push(
        `<rect x="${(x0 + c * cell).toFixed(2)}" y="${(y0 + r * cell).toFixed(2)}" width="${
          cell.toFixed(2)
        }" height="${cell.toFixed(2)}" fill="${fill}" stroke="#ffffff" stroke-width="1"/>`,
      );
    }
  }
  return cells.join("");
}

function masksSvg(): string {
  const panels: { title: string; options: MaskingOptions }[] = [
    { title: "7 × 7, 20 masked", options: { grid: [7, 7], numMasked: 20, minBlock: 4 } },
    { title: "14 × 14, 75 masked", options: { grid: [14, 14], numMasked: 75, minBlock: 16 } },
  ];
  const size = 140;
  const gap = 20;
  const width = 4 * size + 5 * gap;
  const rowHeight = size + 50;
  const parts: string[] = [];
  panels.forEach(({ title, options }, row) => {
    const y = 10 + row * rowHeight;
    parts.push(
      `<text x="${gap}" y="${
        y + 16
      }" font-family="sans-serif" font-size="14">${title} (red: masked)</text>`,
    );
    for (let i = 0; i < 4; i++) {
      const { mask } = drawBlockwiseMask(foldIn(key(2022), 10 * row + i), options);
      parts.push(maskPanel(mask, options.grid[0], gap + i * (size + gap), y + 28, size));
    }
  });
  const height = 10 + panels.length * rowHeight;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<rect width="100%" height="100%" fill="white"/>${parts.join("")}</svg>\n`;
}

// --- bottleneck.svg -------------------------------------------------------------------------

interface Box {
  x: number;
  y: number;
  w: number;
  h: number;
  label: string;
  fill: string;
}

function box(b: Box): string {
  const lines = b.label.split("\n");
  const text = lines.map((l, i) =>
    `<text x="${b.x + b.w / 2}" y="${
      b.y + b.h / 2 + (i - (lines.length - 1) / 2) * 15 + 5
    }" text-anchor="middle" font-family="sans-serif" font-size="13">${l}</text>`
  ).join("");
  return `<rect x="${b.x}" y="${b.y}" width="${b.w}" height="${b.h}" rx="6" fill="${b.fill}" stroke="#444"/>${text}`;
}

/** An arrow along a polyline of points, with an optional label at its middle segment. */
function arrow(points: [number, number][], label = ""): string {
  const d = points.map(([x, y], i) => `${i ? "L" : "M"}${x},${y}`).join(" ");
  const mid = Math.floor((points.length - 1) / 2);
  const [ax, ay] = points[mid];
  const [bx, by] = points[mid + 1];
  const text = label
    ? `<text x="${(ax + bx) / 2 + 6}" y="${
      (ay + by) / 2 - 4
    }" font-family="sans-serif" font-size="12" fill="#333">${label}</text>`
    : "";
  return `<path d="${d}" fill="none" stroke="#444" stroke-width="1.5" marker-end="url(#head)"/>${text}`;
}

function bottleneckSvg(): string {
  const backbone = "#dce9f7";
  const branch = "#fde8c8";
  const shared = "#e3f1de";
  const boxes: Record<string, Box> = {
    input: {
      x: 20,
      y: 20,
      w: 200,
      h: 44,
      label: "image, 40 % of patches\n→ mask token",
      fill: "#eeeeee",
    },
    early: { x: 20, y: 100, w: 200, h: 44, label: "blocks 1 … l", fill: backbone },
    late: { x: 20, y: 200, w: 200, h: 44, label: "blocks l+1 … L", fill: backbone },
    concat: {
      x: 300,
      y: 200,
      w: 220,
      h: 44,
      label: "[ CLS of block L ;\npatch tokens of block l ]",
      fill: branch,
    },
    cls2: {
      x: 300,
      y: 280,
      w: 220,
      h: 44,
      label: "2 fresh blocks\n(bottleneck, pretraining only)",
      fill: branch,
    },
    norm: {
      x: 20,
      y: 380,
      w: 500,
      h: 36,
      label: "the same final LayerNorm and lm_head (shared)",
      fill: shared,
    },
    lossMain: {
      x: 20,
      y: 460,
      w: 200,
      h: 44,
      label: "CE on masked patches\n(main)",
      fill: "#f6f6f6",
    },
    lossCls: {
      x: 320,
      y: 460,
      w: 200,
      h: 44,
      label: "CE on masked patches\n(bottleneck)",
      fill: "#f6f6f6",
    },
  };
  const b = boxes;
  const arrows = [
    arrow([[120, 64], [120, 100]]),
    arrow([[120, 144], [120, 200]], "all tokens"),
    arrow([[220, 122], [360, 122], [360, 200]], "patch tokens of block l"),
    arrow([[220, 222], [300, 222]], "CLS"),
    arrow([[410, 244], [410, 280]]),
    arrow([[120, 244], [120, 380]], "patch tokens of block L"),
    arrow([[410, 324], [410, 380]]),
    arrow([[120, 416], [120, 460]], "logits"),
    arrow([[420, 416], [420, 460]], "logits"),
  ];
  const width = 560;
  const height = 550;
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}">` +
    `<defs><marker id="head" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">` +
    `<path d="M0,0 L10,5 L0,10 z" fill="#444"/></marker></defs>` +
    `<rect width="100%" height="100%" fill="white"/>` +
    Object.values(b).map(box).join("") + arrows.join("") +
    `<text x="20" y="${height - 26}" font-family="sans-serif" font-size="12" fill="#555">` +
    `targets: the frozen VQ-KD tokenizer's codes of the whole, unmasked image</text>` +
    `<text x="20" y="${height - 8}" font-family="sans-serif" font-size="12" fill="#555">` +
    `loss = main + bottleneck</text>` +
    `</svg>\n`;
}

// --- token_maps.png -------------------------------------------------------------------------

type TokenizeFn = (images: Tensor) => Tensor;

/** A small teacher and tokenizer trained here, with fixed keys. */
async function smallTokenizer(): Promise<TokenizeFn> {
  const train = asHostDataset(
    balancedSubset(await loadFashionMnistRaw({ split: "train" }), 10_000),
  );
  const vit = visionTransformer({
    img_size: 28,
    patch_size: 4,
    in_chans: 1,
    num_classes: 10,
    embed_dim: 64,
    depth: 2,
    num_heads: 2,
    qkv_bias: true,
    use_mean_pooling: true,
  });
  const { params: teacherParams } = await trainClassifier({
    apply: (p, images, o) => vit.apply(p, images, o),
    params: vit.init(key(1)),
    optimizer: adamw({ learningRate: 2e-3, weightDecay: 0.05 }),
    data: train,
    epochs: 1,
    batchSize: 64,
    key: key(2),
    transform: (_k, b) => normalize(b, MEAN, STD),
    label: "teacher",
  });
  const teacher = classifierTeacher(vit, teacherParams, { mean: MEAN, std: STD });
  const trained = await trainVqkd({
    model: {
      encoder: {
        img_size: 28,
        patch_size: 4,
        in_chans: 1,
        embed_dim: 64,
        depth: 2,
        num_heads: 2,
        qkv_bias: true,
      },
      decoder: {
        img_size: 7,
        patch_size: 1,
        in_chans: 32,
        embed_dim: 64,
        depth: 1,
        num_heads: 2,
        qkv_bias: true,
      },
      n_embed: 128,
      embed_dim: 32,
      decoder_out_dim: 64,
    },
    teacher,
    data: train,
    epochs: 2,
    batchSize: 128,
    learningRate: 1e-3,
    key: key(3),
  });
  return (images) => trained.model.apply(trained.params, trained.state, images).tokens;
}

async function runTokenizer(dir: string): Promise<TokenizeFn> {
  const { model, params, state } = await loadRunTokenizer(await openRun(dir));
  return (images) => model.apply(params, state, images).tokens;
}

/** Two rows per group of 8: the images (grey, 4×) and their code maps (16 px per patch). */
async function tokenMapsPng(tokenize: TokenizeFn): Promise<Uint8Array> {
  const raw = await loadFashionMnistRaw({ split: "test" });
  const count = 16;
  const pixels = Float32Array.from(raw.pixels.subarray(0, count * 784), (p) => p / 255);
  const tokens = await toArray(tokenize(tensor(pixels, { shape: [count, 1, 28, 28] })));
  const tile = 112; // 28 px × 4, and 7 patches × 16 px
  const gap = 8;
  const perRow = 8;
  const groups = count / perRow;
  const width = perRow * tile + (perRow + 1) * gap;
  const height = groups * 2 * tile + (2 * groups + 1) * gap;
  const data = new Float32Array(3 * width * height).fill(1);
  const put = (x: number, y: number, rgb: readonly number[]) => {
    for (let c = 0; c < 3; c++) data[c * width * height + y * width + x] = rgb[c];
  };
  for (let i = 0; i < count; i++) {
    const group = Math.floor(i / perRow);
    const x0 = gap + (i % perRow) * (tile + gap);
    const yImage = gap + group * 2 * (tile + gap);
    const yCodes = yImage + tile + gap;
    for (let y = 0; y < tile; y++) {
      for (let x = 0; x < tile; x++) {
        const v = pixels[i * 784 + Math.floor(y / 4) * 28 + Math.floor(x / 4)];
        put(x0 + x, yImage + y, [v, v, v]);
        const code = tokens[i * 49 + Math.floor(y / 16) * 7 + Math.floor(x / 16)];
        put(x0 + x, yCodes + y, codeColor(code));
      }
    }
  }
  const image: Image = { data, channels: 3, height, width };
  return encodeImagePng(image);
}

const { values } = parseArgs({ args: Deno.args, options: { run: { type: "string" } } });
await useBackend("cpu");
await Deno.mkdir(OUT, { recursive: true });
await Deno.writeTextFile(`${OUT}masks.svg`, masksSvg());
await Deno.writeTextFile(`${OUT}bottleneck.svg`, bottleneckSvg());
const tokenize = values.run ? await runTokenizer(values.run) : await smallTokenizer();
await Deno.writeFile(`${OUT}token_maps.png`, await tokenMapsPng(tokenize));
console.log(`wrote masks.svg, bottleneck.svg and token_maps.png to ${OUT}`);
