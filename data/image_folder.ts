// Image folders (torchvision's ImageFolder layout): ROOT/<class>/<image>.png|.jpg, the
// class being the sub-folder's name (sorted). PNG is decoded by fast-png, JPEG by jpeg-js.

import { decode as decodePng, encode as encodePng } from "fast-png";
import jpeg from "jpeg-js";
import { type Tensor, tensor } from "../tensor/mod.ts";
import { centerCrop, type ImageBatch, resize } from "./transforms.ts";
import { ioLimits } from "./limits.ts";

/** A decoded image: float32 [C, H, W] in [0, 1]. */
export interface Image {
  /** Pixels [C, H, W], row-major, in [0, 1]. */
  data: Float32Array;
  /** Channels C (1 or 3). */
  channels: number;
  /** Height H in pixels. */
  height: number;
  /** Width W in pixels. */
  width: number;
}

/** Why an image could not be read. */
export class ImageDecodeError extends Error {
  /** Makes the error for the file at `path`, saying what is wrong. */
  constructor(path: string, reason: string) {
    super(`Cannot decode image ${path}: ${reason}`);
    this.name = "ImageDecodeError";
  }
}

/** Interleaved 8/16-bit pixels (HWC) to planar float [C, H, W] with `channels` (1 or 3). */
function toPlanar(
  pixels: ArrayLike<number>,
  inChannels: number,
  height: number,
  width: number,
  max: number,
  channels: number,
): Image {
  const plane = height * width;
  const out = new Float32Array(channels * plane);
  for (let i = 0; i < plane; i++) {
    const at = i * inChannels;
    const gray = inChannels < 3;
    const r = pixels[at] / max;
    const g = gray ? r : pixels[at + 1] / max;
    const b = gray ? r : pixels[at + 2] / max;
    if (channels === 1) out[i] = gray ? r : 0.299 * r + 0.587 * g + 0.114 * b; // PIL's "L" weights
    else {
      out[i] = r;
      out[plane + i] = g;
      out[2 * plane + i] = b;
    }
  }
  return { data: out, channels, height, width };
}

/**
 * Decodes PNG or JPEG bytes (detected by signature) into planar float pixels.
 *
 * @param bytes the file
 * @param path for error messages
 * @param channels 1 (grayscale) or 3 (RGB)
 * @returns the image
 */
export function decodeImage(bytes: Uint8Array, path: string, channels: 1 | 3 = 3): Image {
  const isPng = bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47;
  const isJpeg = bytes[0] === 0xff && bytes[1] === 0xd8;
  if (!isPng && !isJpeg) {
    throw new ImageDecodeError(path, "not a PNG or JPEG file (unknown signature)");
  }
  const maxPixels = ioLimits().maxImagePixels;
  try {
    if (isPng) {
      checkSize(pngSize(bytes, path), maxPixels, path);
      const png = decodePng(bytes);
      let data: ArrayLike<number> = png.depth < 8
        ? unpackSamples(png.data as Uint8Array, png.width, png.height, png.channels, png.depth)
        : png.data;
      let inChannels = png.channels;
      if (png.palette) {
        const palette = png.palette;
        const expanded = new Uint8Array(png.width * png.height * 3);
        for (let i = 0; i < png.width * png.height; i++) {
          const entry = palette[data[i]];
          if (entry === undefined) {
            throw new ImageDecodeError(
              path,
              `pixel ${i} uses palette index ${data[i]} of a ${palette.length}-colour palette`,
            );
          }
          expanded.set(entry.slice(0, 3), 3 * i);
        }
        data = expanded;
        inChannels = 3;
      }
      const max = png.palette ? 255 : 2 ** png.depth - 1;
      return toPlanar(data, inChannels, png.height, png.width, max, channels);
    }
    const img = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: true,
      maxResolutionInMP: maxPixels / 1e6,
    });
    checkSize({ width: img.width, height: img.height }, maxPixels, path);
    return toPlanar(img.data, 4, img.height, img.width, 255, channels);
  } catch (error) {
    if (error instanceof ImageDecodeError) throw error;
    throw new ImageDecodeError(path, (error as Error).message);
  }
}

/** Width and height from a PNG's IHDR chunk, read before anything is decoded. */
function pngSize(bytes: Uint8Array, path: string): { width: number; height: number } {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.byteLength < 24 || view.getUint32(12, false) !== 0x49484452) {
    throw new ImageDecodeError(path, "PNG without an IHDR chunk first (truncated or damaged)");
  }
  return { width: view.getUint32(16, false), height: view.getUint32(20, false) };
}

function checkSize(size: { width: number; height: number }, maxPixels: number, path: string) {
  const { width, height } = size;
  if (width === 0 || height === 0) {
    throw new ImageDecodeError(path, `the image is ${width}×${height}: it has no pixels`);
  }
  if (width * height > maxPixels) {
    throw new ImageDecodeError(
      path,
      `the image is ${width}×${height} = ${
        (width * height).toLocaleString("en-US")
      } pixels, over the limit of ${
        maxPixels.toLocaleString("en-US")
      } (a decompression bomb, or raise setIoLimits({ maxImagePixels }))`,
    );
  }
}

/**
 * Samples of a PNG with 1, 2 or 4 bits per sample: each row starts on a byte boundary,
 * samples are packed from the most significant bit.
 */
function unpackSamples(
  packed: Uint8Array,
  width: number,
  height: number,
  channels: number,
  depth: number,
): Uint8Array {
  const perRow = width * channels;
  const rowBytes = Math.ceil((perRow * depth) / 8);
  const mask = (1 << depth) - 1;
  const out = new Uint8Array(perRow * height);
  for (let y = 0; y < height; y++) {
    for (let k = 0; k < perRow; k++) {
      const bit = k * depth;
      const byte = packed[y * rowBytes + (bit >> 3)];
      out[y * perRow + k] = (byte >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

/** Encodes planar float pixels in [0, 1] as an 8-bit PNG. */
export function encodeImagePng(image: Image): Uint8Array {
  const { channels, height, width } = image;
  const plane = height * width;
  const pixels = new Uint8Array(plane * channels);
  for (let i = 0; i < plane; i++) {
    for (let ch = 0; ch < channels; ch++) {
      pixels[i * channels + ch] = Math.round(
        Math.min(1, Math.max(0, image.data[ch * plane + i])) * 255,
      );
    }
  }
  return encodePng({ width, height, data: pixels, channels, depth: 8 });
}

/** Options of loadImageFolder. */
export interface ImageFolderOptions {
  /** 1 (grayscale) or 3 (RGB, default). */
  channels?: 1 | 3;
  /** Resize the shorter side to size·256/224 and centre-crop size × size (else all images must share a size). */
  size?: number;
  /** Skip files that fail to decode, reporting them through onSkip (default: fail). */
  skipBad?: boolean;
  /** Called with each skipped file and its error. */
  onSkip?: (path: string, error: Error) => void;
}

/** Resizes (bicubic) the shorter side to `short` and centre-crops `size`, as the official eval transform. */
export function resizeAndCenterCrop(image: Image, size: number): Image {
  const batch: ImageBatch = {
    data: image.data,
    shape: [1, image.channels, image.height, image.width],
  };
  let x = batch;
  if (!(image.height === size && image.width === size)) {
    const short = Math.floor((size * 256) / 224);
    const [h, w] = image.height <= image.width
      ? [short, Math.floor((image.width * short) / image.height)]
      : [Math.floor((image.height * short) / image.width), short];
    x = centerCrop(resize(batch, h, w, "bicubic"), size);
  }
  return { data: x.data, channels: image.channels, height: x.shape[2], width: x.shape[3] };
}

/**
 * Loads every PNG/JPEG under ROOT/<class>/ as one batch.
 *
 * @param root the folder
 * @param options `channels`, `size`, `skipBad`, `onSkip`
 * @returns images [N, C, H, W] (CPU), labels int32 [N], class names and file paths
 */
export async function loadImageFolder(
  root: string,
  options: ImageFolderOptions = {},
): Promise<{ images: Tensor; labels: Tensor; classes: string[]; files: string[] }> {
  const channels = options.channels ?? 3;
  let entries: Deno.DirEntry[];
  try {
    entries = [...Deno.readDirSync(root)];
  } catch (error) {
    throw new Error(`Cannot read image folder ${root}: ${(error as Error).message}`);
  }
  // Symbolic links are followed: a linked class folder or image counts as the real one.
  const kind = (dir: string, e: Deno.DirEntry): "dir" | "file" | "other" => {
    if (e.isDirectory) return "dir";
    if (e.isFile) return "file";
    if (!e.isSymlink) return "other";
    try {
      const info = Deno.statSync(`${dir}/${e.name}`);
      return info.isDirectory ? "dir" : info.isFile ? "file" : "other";
    } catch {
      return "other"; // a dangling link
    }
  };
  const classes = entries.filter((e) => kind(root, e) === "dir").map((e) => e.name).sort();
  if (classes.length === 0) {
    throw new Error(
      `Cannot read image folder ${root}: it has no class sub-folders (expected ROOT/<class>/<image>)`,
    );
  }
  const images: Image[] = [];
  const labels: number[] = [];
  const files: string[] = [];
  for (const [label, name] of classes.entries()) {
    const dir = `${root}/${name}`;
    const names = [...Deno.readDirSync(dir)].filter((e) =>
      kind(dir, e) === "file" && /\.(png|jpe?g)$/i.test(e.name)
    ).map((e) => e.name).sort();
    for (const file of names) {
      const path = `${dir}/${file}`;
      let image: Image;
      try {
        image = decodeImage(await Deno.readFile(path), path, channels);
      } catch (error) {
        if (!options.skipBad) throw error;
        options.onSkip?.(path, error as Error);
        continue;
      }
      if (options.size !== undefined) image = resizeAndCenterCrop(image, options.size);
      if (
        images.length > 0 && (image.height !== images[0].height || image.width !== images[0].width)
      ) {
        throw new Error(
          `Cannot stack ${path}: it is ${image.height}×${image.width} but ${files[0]} is ${
            images[0].height
          }×${images[0].width}; pass { size } to resize`,
        );
      }
      images.push(image);
      labels.push(label);
      files.push(path);
    }
  }
  if (images.length === 0) {
    throw new Error(`Cannot read image folder ${root}: no PNG or JPEG images found`);
  }
  const { height, width } = images[0];
  const data = new Float32Array(images.length * channels * height * width);
  images.forEach((img, i) => data.set(img.data, i * img.data.length));
  return {
    images: tensor(data, { shape: [images.length, channels, height, width], backend: "cpu" }),
    labels: tensor(Int32Array.from(labels), { backend: "cpu" }),
    classes,
    files,
  };
}
