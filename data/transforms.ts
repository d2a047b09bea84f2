// Image transforms as pure functions of (key, batch): the same key always gives the same
// result. Batches are host float32 arrays [B, C, H, W] in [0, 1] (before normalisation).
//
// Why on the host: at the sizes this project trains on (28–32 px) a whole batch's crops
// and flips take a few milliseconds in JavaScript, while every GPU round trip costs ~11 ms
// on llvmpipe; the loader prepares the next batch while the GPU runs the current step.
//
// Resampling follows PIL (what the official code's torchvision transforms call on PIL
// images): separable filters evaluated at pixel centres, widened by the scale factor when
// shrinking (antialiasing), weights normalised per output pixel; bilinear is the triangle
// filter, bicubic Keys' cubic with a = −0.5; results are clipped to [0, 1] as 8-bit PIL
// images would be.
// Legend: B batch · C channels · H, W height, width

import { type Key, randomWords, roundHalfEvenScalar, splitKey } from "../tensor/mod.ts";

/** A batch of images on the host: row-major [B, C, H, W]. */
export interface ImageBatch {
  /** Pixels, row-major [B, C, H, W]. */
  data: Float32Array;
  /** The batch's shape [B, C, H, W]. */
  shape: [number, number, number, number];
}

/** A crop rectangle in pixels. */
export interface Box {
  /** Top edge (row). */
  top: number;
  /** Left edge (column). */
  left: number;
  /** Height in pixels. */
  height: number;
  /** Width in pixels. */
  width: number;
}

/** Resampling filter of resize: PIL's bilinear or bicubic (with antialiasing when shrinking). */
export type Interpolation = "bilinear" | "bicubic";

/** n uniforms in [0, 1) from a key (float64 precision). */
export function hostUniforms(k: Key, n: number): Float64Array {
  const words = randomWords(k, 2 * n);
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    out[i] = ((words[i] >>> 5) * 2 ** 26 + (words[n + i] >>> 6)) / 2 ** 53;
  }
  return out;
}

function checkBatch(batch: ImageBatch, op: string): void {
  const [b, c, h, w] = batch.shape;
  if (batch.data.length !== b * c * h * w) {
    throw new Error(
      `Cannot ${op}: data holds ${batch.data.length} values, shape [${batch.shape}] needs ${
        b * c * h * w
      }`,
    );
  }
}

/**
 * Samples RandomResizedCrop boxes exactly as torchvision's `get_params`: up to 10 tries
 * of an area fraction ~ U(scale) and a log-uniform aspect ratio, else a centre crop.
 *
 * @param k the key
 * @param count number of images
 * @param height image height
 * @param width image width
 * @param options `scale` ([0.08, 1]) and `ratio` ([3/4, 4/3])
 * @returns one box per image
 */
export function sampleResizedCropBoxes(
  k: Key,
  count: number,
  height: number,
  width: number,
  options: { scale?: [number, number]; ratio?: [number, number] } = {},
): Box[] {
  const [s0, s1] = options.scale ?? [0.08, 1];
  const [r0, r1] = options.ratio ?? [3 / 4, 4 / 3];
  const u = hostUniforms(k, count * 40);
  const area = height * width;
  const boxes: Box[] = [];
  for (let n = 0; n < count; n++) {
    let box: Box | null = null;
    for (let attempt = 0; attempt < 10 && box === null; attempt++) {
      const r = u.subarray(n * 40 + attempt * 4, n * 40 + attempt * 4 + 4);
      const target = area * (s0 + (s1 - s0) * r[0]);
      const aspect = Math.exp(Math.log(r0) + (Math.log(r1) - Math.log(r0)) * r[1]);
      const w = roundHalfEvenScalar(Math.sqrt(target * aspect));
      const h = roundHalfEvenScalar(Math.sqrt(target / aspect));
      if (w > 0 && w <= width && h > 0 && h <= height) {
        box = {
          top: Math.floor(r[2] * (height - h + 1)),
          left: Math.floor(r[3] * (width - w + 1)),
          height: h,
          width: w,
        };
      }
    }
    if (box === null) {
      const ratio = width / height;
      let w = width;
      let h = height;
      if (ratio < Math.min(r0, r1)) h = roundHalfEvenScalar(w / Math.min(r0, r1));
      else if (ratio > Math.max(r0, r1)) w = roundHalfEvenScalar(h * Math.max(r0, r1));
      box = {
        top: Math.floor((height - h) / 2),
        left: Math.floor((width - w) / 2),
        height: h,
        width: w,
      };
    }
    boxes.push(box);
  }
  return boxes;
}

const FILTERS: Record<Interpolation, { support: number; fn: (x: number) => number }> = {
  bilinear: { support: 1, fn: (x) => Math.max(0, 1 - Math.abs(x)) },
  bicubic: {
    support: 2,
    fn: (x) => {
      const a = -0.5;
      const t = Math.abs(x);
      if (t < 1) return ((a + 2) * t - (a + 3)) * t * t + 1;
      if (t < 2) return (((t - 5) * t + 8) * t - 4) * a;
      return 0;
    },
  },
};

/** Per output pixel: the first source index and normalised weights (PIL's coefficients). */
function resampleWeights(
  start: number,
  length: number,
  inSize: number,
  outSize: number,
  interpolation: Interpolation,
) {
  const { support, fn } = FILTERS[interpolation];
  const scale = length / outSize;
  const widen = Math.max(scale, 1);
  const reach = support * widen;
  const firsts = new Int32Array(outSize);
  const weights: Float64Array[] = [];
  for (let o = 0; o < outSize; o++) {
    const center = start + (o + 0.5) * scale;
    const lo = Math.max(0, Math.floor(center - reach));
    const hi = Math.min(inSize, Math.ceil(center + reach));
    const w = new Float64Array(Math.max(0, hi - lo));
    let total = 0;
    for (let j = lo; j < hi; j++) {
      w[j - lo] = fn((j + 0.5 - center) / widen);
      total += w[j - lo];
    }
    if (total !== 0) { for (let j = 0; j < w.length; j++) w[j] /= total; }
    firsts[o] = lo;
    weights.push(w);
  }
  return { firsts, weights };
}

/**
 * Crops each image to its box and resizes the crop to outH × outW (one box per image).
 *
 * @param batch the images
 * @param boxes one box per image
 * @param outH output height
 * @param outW output width
 * @param interpolation "bilinear" or "bicubic"
 * @returns the resized crops [B, C, outH, outW]
 */
export function resizedCrop(
  batch: ImageBatch,
  boxes: readonly Box[],
  outH: number,
  outW: number,
  interpolation: Interpolation = "bilinear",
): ImageBatch {
  checkBatch(batch, "resize");
  const [b, c, h, w] = batch.shape;
  if (boxes.length !== b) throw new Error(`Cannot resize: ${boxes.length} boxes for ${b} images`);
  const out = new Float32Array(b * c * outH * outW);
  const rows = new Float64Array(outH * w); // after the vertical pass, one channel
  for (let n = 0; n < b; n++) {
    const box = boxes[n];
    const vertical = resampleWeights(box.top, box.height, h, outH, interpolation);
    const horizontal = resampleWeights(box.left, box.width, w, outW, interpolation);
    for (let ch = 0; ch < c; ch++) {
      const src = (n * c + ch) * h * w;
      rows.fill(0);
      for (let y = 0; y < outH; y++) {
        const wy = vertical.weights[y];
        const y0 = vertical.firsts[y];
        for (let t = 0; t < wy.length; t++) {
          const line = src + (y0 + t) * w;
          const weight = wy[t];
          for (let x = 0; x < w; x++) rows[y * w + x] += weight * batch.data[line + x];
        }
      }
      const dst = (n * c + ch) * outH * outW;
      for (let y = 0; y < outH; y++) {
        for (let x = 0; x < outW; x++) {
          const wx = horizontal.weights[x];
          const x0 = horizontal.firsts[x];
          let acc = 0;
          for (let t = 0; t < wx.length; t++) acc += wx[t] * rows[y * w + x0 + t];
          out[dst + y * outW + x] = Math.min(1, Math.max(0, acc));
        }
      }
    }
  }
  return { data: out, shape: [b, c, outH, outW] };
}

/** Resizes whole images to outH × outW. */
export function resize(
  batch: ImageBatch,
  outH: number,
  outW: number,
  interpolation: Interpolation = "bilinear",
): ImageBatch {
  const [b, , h, w] = batch.shape;
  const whole = Array.from({ length: b }, () => ({ top: 0, left: 0, height: h, width: w }));
  return resizedCrop(batch, whole, outH, outW, interpolation);
}

/** Copies the given boxes out without resampling (all boxes the same size). */
export function crop(batch: ImageBatch, boxes: readonly Box[]): ImageBatch {
  checkBatch(batch, "crop");
  const [b, c, h, w] = batch.shape;
  const oh = boxes[0]?.height ?? 0;
  const ow = boxes[0]?.width ?? 0;
  const out = new Float32Array(b * c * oh * ow);
  boxes.forEach((box, n) => {
    if (
      box.height !== oh || box.width !== ow || box.top < 0 || box.left < 0 || box.top + oh > h ||
      box.left + ow > w
    ) {
      throw new Error(
        `Cannot crop: box ${JSON.stringify(box)} does not fit a ${h}×${w} image or differs in size`,
      );
    }
    for (let ch = 0; ch < c; ch++) {
      for (let y = 0; y < oh; y++) {
        const src = ((n * c + ch) * h + box.top + y) * w + box.left;
        out.set(batch.data.subarray(src, src + ow), ((n * c + ch) * oh + y) * ow);
      }
    }
  });
  return { data: out, shape: [b, c, oh, ow] };
}

/** Crops the centre size × size of every image. */
export function centerCrop(batch: ImageBatch, size: number): ImageBatch {
  const [b, , h, w] = batch.shape;
  const box = {
    top: Math.round((h - size) / 2),
    left: Math.round((w - size) / 2),
    height: size,
    width: size,
  };
  return crop(batch, Array.from({ length: b }, () => box));
}

/**
 * torchvision's RandomCrop(size, padding): zero-pad each side, then crop a random
 * size × size window (the official fine-tuning transform for inputs ≤ 32 px).
 */
export function randomCropWithPadding(
  k: Key,
  batch: ImageBatch,
  size: number,
  padding = 4,
): ImageBatch {
  checkBatch(batch, "randomCropWithPadding");
  const [b, c, h, w] = batch.shape;
  const ph = h + 2 * padding;
  const pw = w + 2 * padding;
  if (size > ph || size > pw) {
    throw new Error(`Cannot crop ${size}×${size} from a padded ${ph}×${pw} image`);
  }
  const padded = new Float32Array(b * c * ph * pw);
  for (let plane = 0; plane < b * c; plane++) {
    for (let y = 0; y < h; y++) {
      padded.set(
        batch.data.subarray((plane * h + y) * w, (plane * h + y + 1) * w),
        (plane * ph + y + padding) * pw + padding,
      );
    }
  }
  const u = hostUniforms(k, 2 * b);
  const boxes = Array.from({ length: b }, (_, n) => ({
    top: Math.floor(u[2 * n] * (ph - size + 1)),
    left: Math.floor(u[2 * n + 1] * (pw - size + 1)),
    height: size,
    width: size,
  }));
  return crop({ data: padded, shape: [b, c, ph, pw] }, boxes);
}

/** Mirrors images left–right: every image (p = 1) or each with probability p. */
export function horizontalFlip(k: Key | null, batch: ImageBatch, p = 0.5): ImageBatch {
  checkBatch(batch, "horizontalFlip");
  const [b, c, h, w] = batch.shape;
  const u = k === null ? null : hostUniforms(k, b);
  const out = batch.data.slice();
  for (let n = 0; n < b; n++) {
    if (u !== null && !(u[n] < p)) continue;
    for (let row = (n * c) * h; row < (n + 1) * c * h; row++) {
      for (let x = 0; x < w; x++) out[row * w + x] = batch.data[row * w + (w - 1 - x)];
    }
  }
  return { data: out, shape: batch.shape };
}

/** Options of colorJitter: maximal relative changes, as torchvision's ColorJitter. */
export interface ColorJitterOptions {
  /** Brightness factor drawn from [max(0, 1 − b), 1 + b]. */
  brightness?: number;
  /** Contrast factor drawn from [max(0, 1 − c), 1 + c]. */
  contrast?: number;
  /** Saturation factor drawn from [max(0, 1 − s), 1 + s]. */
  saturation?: number;
  /** Hue shift drawn from [−h, h] (h ≤ 0.5). */
  hue?: number;
}

function grayscale(data: Float32Array, base: number, plane: number, c: number, i: number): number {
  return c === 1
    ? data[base + i]
    : 0.299 * data[base + i] + 0.587 * data[base + plane + i] + 0.114 * data[base + 2 * plane + i];
}

function shiftHue(r: number, g: number, b: number, shift: number): [number, number, number] {
  const max = Math.max(r, g, b);
  const min = Math.min(r, g, b);
  const v = max;
  const d = max - min;
  const s = max === 0 ? 0 : d / max;
  let h = 0;
  if (d > 0) {
    if (max === r) h = ((g - b) / d) % 6;
    else if (max === g) h = (b - r) / d + 2;
    else h = (r - g) / d + 4;
    h /= 6;
  }
  h = (((h + shift) % 1) + 1) % 1;
  const i = Math.floor(h * 6);
  const f = h * 6 - i;
  const p = v * (1 - s);
  const q = v * (1 - f * s);
  const t = v * (1 - (1 - f) * s);
  return [[v, t, p], [q, v, p], [p, v, t], [p, q, v], [t, p, v], [v, p, q]][i % 6] as [
    number,
    number,
    number,
  ];
}

/**
 * Random brightness, contrast, saturation and hue changes in a random order per image,
 * as torchvision's ColorJitter (factors ~ U[max(0, 1 − x), 1 + x], hue shift ~ U[−h, h]).
 * Grayscale images get brightness and contrast only.
 */
export function colorJitter(k: Key, batch: ImageBatch, options: ColorJitterOptions): ImageBatch {
  checkBatch(batch, "colorJitter");
  const [b, c, h, w] = batch.shape;
  const plane = h * w;
  const out = batch.data.slice();
  const u = hostUniforms(k, b * 8);
  const clamp = (v: number) => Math.min(1, Math.max(0, v));
  for (let n = 0; n < b; n++) {
    const r = u.subarray(8 * n, 8 * n + 8);
    const base = n * c * plane;
    // A random order of the four adjustments (Fisher–Yates with this image's draws).
    const order = [0, 1, 2, 3];
    for (let i = 3; i > 0; i--) {
      const j = Math.floor(r[4 + i] * (i + 1));
      [order[i], order[j]] = [order[j], order[i]];
    }
    const factor = (
      x: number | undefined,
      v: number,
    ) => (x ? Math.max(0, 1 - x) + (1 + x - Math.max(0, 1 - x)) * v : 1);
    for (const op of order) {
      if (op === 0 && options.brightness) {
        const f = factor(options.brightness, r[0]);
        for (let i = 0; i < c * plane; i++) out[base + i] = clamp(out[base + i] * f);
      } else if (op === 1 && options.contrast) {
        const f = factor(options.contrast, r[1]);
        let mean = 0;
        for (let i = 0; i < plane; i++) mean += grayscale(out, base, plane, c, i);
        mean /= plane;
        for (let i = 0; i < c * plane; i++) {
          out[base + i] = clamp(f * out[base + i] + (1 - f) * mean);
        }
      } else if (op === 2 && options.saturation && c === 3) {
        const f = factor(options.saturation, r[2]);
        for (let i = 0; i < plane; i++) {
          const g = grayscale(out, base, plane, c, i);
          for (let ch = 0; ch < 3; ch++) {
            out[base + ch * plane + i] = clamp(f * out[base + ch * plane + i] + (1 - f) * g);
          }
        }
      } else if (op === 3 && options.hue && c === 3) {
        const shift = -options.hue + 2 * options.hue * r[3];
        for (let i = 0; i < plane; i++) {
          const [rr, gg, bb] = shiftHue(
            out[base + i],
            out[base + plane + i],
            out[base + 2 * plane + i],
            shift,
          );
          out[base + i] = rr;
          out[base + plane + i] = gg;
          out[base + 2 * plane + i] = bb;
        }
      }
    }
  }
  return { data: out, shape: batch.shape };
}

/** (x − mean) / std per channel. */
export function normalize(
  batch: ImageBatch,
  mean: readonly number[],
  std: readonly number[],
): ImageBatch {
  return affine(batch, mean, std, false);
}

/** The inverse of normalize: x · std + mean per channel. */
export function denormalize(
  batch: ImageBatch,
  mean: readonly number[],
  std: readonly number[],
): ImageBatch {
  return affine(batch, mean, std, true);
}

function affine(
  batch: ImageBatch,
  mean: readonly number[],
  std: readonly number[],
  inverse: boolean,
): ImageBatch {
  checkBatch(batch, inverse ? "denormalize" : "normalize");
  const [b, c, h, w] = batch.shape;
  if (mean.length !== c || std.length !== c) {
    throw new Error(
      `Cannot normalize: ${c} channels but ${mean.length} means and ${std.length} stds`,
    );
  }
  const out = new Float32Array(batch.data.length);
  const plane = h * w;
  for (let n = 0; n < b; n++) {
    for (let ch = 0; ch < c; ch++) {
      const base = (n * c + ch) * plane;
      for (let i = 0; i < plane; i++) {
        const v = batch.data[base + i];
        out[base + i] = inverse ? v * std[ch] + mean[ch] : (v - mean[ch]) / std[ch];
      }
    }
  }
  return { data: out, shape: batch.shape };
}

/** Options of the BEiT two-view transform (the official `DataAugmentationForBEiT`). */
export interface TwoViewOptions {
  /** Backbone view size (224 official; 28 for Fashion-MNIST). */
  size: number;
  /** Tokenizer view size (same as size in the official runs). */
  tokenizerSize?: number;
  /** Area fraction range of the random resized crop (default [0.2, 1], the official BEiT setting). */
  scale?: [number, number];
  /** Aspect-ratio range of the crop (default [3/4, 4/3]). */
  ratio?: [number, number];
  /** Resampling of the backbone view (default bicubic). */
  interpolation?: Interpolation;
  /** Resampling of the tokenizer view (default bicubic). */
  secondInterpolation?: Interpolation;
  /** Colour jitter applied to both views (official: 0.4 brightness, contrast, saturation). */
  colorJitter?: ColorJitterOptions | null;
  /** Backbone normalisation per channel. */
  mean: readonly number[];
  /** Backbone normalisation's standard deviation per channel. */
  std: readonly number[];
}

/**
 * BEiT v2's pretraining augmentation: colour jitter, horizontal flip and one
 * RandomResizedCrop box rendered twice — normalised for the backbone and in [0, 1] for the
 * tokenizer — so both views show the same content.
 *
 * @param k the key
 * @param batch images in [0, 1]
 * @param options see TwoViewOptions
 * @returns `{ backbone, tokenizer }`
 */
export function beitTwoViews(
  k: Key,
  batch: ImageBatch,
  options: TwoViewOptions,
): { backbone: ImageBatch; tokenizer: ImageBatch } {
  const [kJitter, kFlip, kCrop] = splitKey(k, 3);
  let x = options.colorJitter === null ? batch : colorJitter(
    kJitter,
    batch,
    options.colorJitter ?? { brightness: 0.4, contrast: 0.4, saturation: 0.4 },
  );
  x = horizontalFlip(kFlip, x, 0.5);
  const [b, , h, w] = x.shape;
  const boxes = sampleResizedCropBoxes(kCrop, b, h, w, {
    scale: options.scale ?? [0.2, 1],
    ratio: options.ratio,
  });
  const second = options.tokenizerSize ?? options.size;
  const backbone = resizedCrop(
    x,
    boxes,
    options.size,
    options.size,
    options.interpolation ?? "bicubic",
  );
  const tokenizer = resizedCrop(x, boxes, second, second, options.secondInterpolation ?? "bicubic");
  return { backbone: normalize(backbone, options.mean, options.std), tokenizer };
}
