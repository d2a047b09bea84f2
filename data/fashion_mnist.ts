// Fashion-MNIST (Xiao, Rasul & Vollgraf 2017, MIT licence, © Zalando SE): 70,000 28×28
// grayscale images of 10 clothing classes, 60,000 for training and 10,000 for testing.
//
// Where the data comes from, in order: an explicit `dataDir` (or `--data DIR`), the
// TESSELLA_DATA environment variable, Debian's `dataset-fashion-mnist` package
// (/usr/share/datasets/fashion-mnist), and finally the class-balanced subset committed in
// data/fashion_mnist/ (10,000 training and 2,000 test images), so that a fresh clone works
// with nothing installed. `source` in the result says which was used.

import { type Tensor, tensor } from "../tensor/mod.ts";
import { gunzip, IdxError, isGzip, parseIdx } from "./idx.ts";
import type { HostDataset } from "./loader.ts";

/** The ten classes, by label. */
export const FASHION_MNIST_CLASSES: readonly string[] = [
  "T-shirt/top",
  "Trouser",
  "Pullover",
  "Dress",
  "Coat",
  "Sandal",
  "Shirt",
  "Sneaker",
  "Bag",
  "Ankle boot",
];

/** Where Debian's dataset-fashion-mnist package puts the files. */
export const DEBIAN_FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist";

/** Fashion-MNIST's own pixel statistics (training set, on the [0, 1] scale). */
export const FASHION_MNIST_MEAN = 0.286;
/** Fashion-MNIST's pixel standard deviation (training set, on the [0, 1] scale). */
export const FASHION_MNIST_STD = 0.353;

/** Which copy of the data set was read. */
export type DataSource = "dir" | "debian" | "embedded";

/** One split as host arrays: pixels uint8 [N·28·28] and labels uint8 [N]. */
export interface FashionMnistRaw {
  /** Pixels uint8 [N·28·28], row-major. */
  pixels: Uint8Array;
  /** Labels 0–9 [N]. */
  labels: Uint8Array;
  /** Number of images N. */
  count: number;
  /** Which copy of the data set was read. */
  source: DataSource;
  /** The folder (or URL) the files came from. */
  location: string;
}

const FILES = {
  train: ["train-images-idx3-ubyte", "train-labels-idx1-ubyte"],
  test: ["t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"],
} as const;

/** A split as a host data set for the loaders: images [N, 1, 28, 28] (uint8) and labels. */
export function asHostDataset(raw: FashionMnistRaw): HostDataset {
  return { pixels: raw.pixels, labels: raw.labels, shape: [raw.count, 1, 28, 28] };
}

/** The embedded subset's folder (a file: URL locally, https when imported from JSR). */
export const EMBEDDED_FASHION_MNIST: URL = new URL("./fashion_mnist/", import.meta.url);

async function readMaybe(location: string | URL, name: string): Promise<Uint8Array | null> {
  const candidates = [`${name}.gz`, name];
  for (const file of candidates) {
    const url = typeof location === "string" ? null : new URL(file, location);
    try {
      if (url && url.protocol !== "file:") {
        const response = await fetch(url);
        if (response.ok) return new Uint8Array(await response.arrayBuffer());
        continue;
      }
      const path = url ? url : `${location}/${file}`;
      return await Deno.readFile(path);
    } catch (error) {
      if (error instanceof Deno.errors.NotFound) continue;
      throw error;
    }
  }
  return null;
}

async function decode(bytes: Uint8Array, path: string): Promise<Uint8Array> {
  return isGzip(bytes) ? await gunzip(bytes, path) : bytes;
}

/** Reads and checks one split from a folder; null when its files are absent. */
async function readSplit(
  location: string | URL,
  split: "train" | "test",
  source: DataSource,
): Promise<FashionMnistRaw | null> {
  const [imagesName, labelsName] = FILES[split];
  const imagesBytes = await readMaybe(location, imagesName);
  const labelsBytes = await readMaybe(location, labelsName);
  if (imagesBytes === null || labelsBytes === null) return null;
  const where = String(location);
  const imagesPath = `${where}/${imagesName}`;
  const labelsPath = `${where}/${labelsName}`;
  const images = parseIdx(await decode(imagesBytes, imagesPath), imagesPath);
  const labels = parseIdx(await decode(labelsBytes, labelsPath), labelsPath);
  if (images.dims.length !== 3 || images.dims[1] !== 28 || images.dims[2] !== 28) {
    throw new IdxError(
      `${where}/${imagesName}`,
      `expected N×28×28 images, found ${images.dims.join("×")}`,
    );
  }
  if (labels.dims.length !== 1 || labels.dims[0] !== images.dims[0]) {
    throw new IdxError(
      `${where}/${labelsName}`,
      `expected ${images.dims[0]} labels, found ${labels.dims.join("×")}`,
    );
  }
  const bad = labels.data.findIndex((y) => y > 9);
  if (bad >= 0) {
    throw new IdxError(
      `${where}/${labelsName}`,
      `label ${labels.data[bad]} at index ${bad} is outside 0–9`,
    );
  }
  return {
    pixels: images.data,
    labels: labels.data,
    count: images.dims[0],
    source,
    location: where,
  };
}

/**
 * Takes `perSplit` images, class-balanced: the first ⌈perSplit/10⌉ or ⌊perSplit/10⌋ of
 * each class in file order (classes with lower labels get the remainder), kept in file order.
 */
export function balancedSubset(raw: FashionMnistRaw, perSplit: number): FashionMnistRaw {
  if (!Number.isInteger(perSplit) || perSplit <= 0) {
    throw new Error(`Cannot take a subset of ${perSplit} images`);
  }
  if (perSplit >= raw.count) return raw;
  const quota = Array.from(
    { length: 10 },
    (_, c) => Math.floor(perSplit / 10) + (c < perSplit % 10 ? 1 : 0),
  );
  const picked: number[] = [];
  for (let i = 0; i < raw.count && picked.length < perSplit; i++) {
    const y = raw.labels[i];
    if (quota[y] > 0) {
      quota[y]--;
      picked.push(i);
    }
  }
  const pixels = new Uint8Array(picked.length * 784);
  const labels = new Uint8Array(picked.length);
  picked.forEach((i, k) => {
    pixels.set(raw.pixels.subarray(i * 784, (i + 1) * 784), k * 784);
    labels[k] = raw.labels[i];
  });
  return { ...raw, pixels, labels, count: picked.length };
}

/** Options of the Fashion-MNIST loaders. */
export interface FashionMnistOptions {
  /** Which split to load. */
  split: "train" | "test";
  /** A folder with the four IDX files (gzip'd or not); it must hold them. */
  dataDir?: string;
  /** Take this many images, class-balanced. */
  subset?: number;
  /** Skip TESSELLA_DATA and the Debian copy (tests of the embedded subset). */
  embeddedOnly?: boolean;
}

/**
 * Loads one split as host arrays (uint8), searching the places listed in the file header.
 *
 * @param options `split`, `dataDir`, `subset`
 * @returns pixels, labels and where they came from
 */
export async function loadFashionMnistRaw(options: FashionMnistOptions): Promise<FashionMnistRaw> {
  if (options.split !== "train" && options.split !== "test") {
    throw new Error(
      `Cannot load Fashion-MNIST: split must be "train" or "test" (got ${
        JSON.stringify(options.split)
      })`,
    );
  }
  const [imagesName, labelsName] = FILES[options.split];
  const looked: string[] = [];
  const tryFolder = async (location: string | URL, source: DataSource) => {
    looked.push(String(location));
    return await readSplit(location, options.split, source);
  };
  let raw: FashionMnistRaw | null = null;
  if (options.dataDir !== undefined) {
    raw = await tryFolder(options.dataDir, "dir");
    if (raw === null) {
      throw new Error(
        `Cannot load Fashion-MNIST from ${options.dataDir}: it should hold ${imagesName}.gz and ${labelsName}.gz ` +
          `(gzip'd IDX, as published by Zalando) or their uncompressed versions`,
      );
    }
  }
  if (raw === null && !options.embeddedOnly) {
    let env: string | undefined;
    try {
      env = Deno.env.get("TESSELLA_DATA");
    } catch {
      env = undefined; // no --allow-env: skip the variable
    }
    if (env) raw = await tryFolder(env, "dir");
    if (raw === null) raw = await tryFolder(DEBIAN_FASHION_MNIST_DIR, "debian");
  }
  if (raw === null) raw = await tryFolder(EMBEDDED_FASHION_MNIST, "embedded");
  if (raw === null) {
    throw new Error(
      `Cannot find Fashion-MNIST (${imagesName}.gz, ${labelsName}.gz). Looked in: ${
        looked.join(", ")
      }. ` +
        `Get it with \`apt-get install dataset-fashion-mnist\` (Debian/Ubuntu), or download the four files from ` +
        `https://github.com/zalandoresearch/fashion-mnist into a folder and pass --data DIR or set TESSELLA_DATA`,
    );
  }
  return options.subset === undefined ? raw : balancedSubset(raw, options.subset);
}

/**
 * Loads one split of Fashion-MNIST as CPU tensors.
 *
 * @param options `split` ("train" or "test"), `dataDir`, `subset` (images per split, class-balanced)
 * @returns images float32 [N, 1, 28, 28] in [0, 1], labels int32 [N], and `source`
 *   ("dir", "debian" or "embedded")
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadFashionMnist } from "@tessella/tessella/data";
 * const { images, labels } = await loadFashionMnist({ split: "test", subset: 20 });
 * assert.deepEqual(images.shape, [20, 1, 28, 28]);
 * assert.deepEqual(labels.shape, [20]);
 * ```
 */
export async function loadFashionMnist(
  options: FashionMnistOptions,
): Promise<{ images: Tensor; labels: Tensor; source: DataSource }> {
  const raw = await loadFashionMnistRaw(options);
  const images = new Float32Array(raw.pixels.length);
  for (let i = 0; i < images.length; i++) images[i] = raw.pixels[i] / 255;
  return {
    images: tensor(images, { shape: [raw.count, 1, 28, 28], backend: "cpu" }),
    labels: tensor(Int32Array.from(raw.labels), { backend: "cpu" }),
    source: raw.source,
  };
}
