// Blockwise masking (BEiT; the official `MaskingGenerator`): mask rectangles of random area and aspect ratio
// until the target count is reached, then top up with random single patches so that
// every mask has exactly the requested number of masked patches.
//
// Per block, up to 10 tries: area s ~ U(min, cap) with cap = min(remaining, maxBlock);
// aspect a = exp(U(ln minAspect, ln maxAspect)); h = round(√(s·a)), w = round(√(s/a))
// (round half to even); the geometry is accepted only if w < W and h < H (a block never
// spans the whole grid); top ~ U{0 … H − h}, left ~ U{0 … W − w}; the rectangle is taken
// if it masks between 1 and cap new patches. When no try succeeds, block placement stops.
// docs/course/06_mim.md draws some masks (figures/masks.svg).
// Legend: H, W grid · N = H·W patches

import {
  foldIn,
  type Key,
  randomWords,
  roundHalfEvenScalar,
  type Tensor,
  tensor,
} from "../tensor/mod.ts";

/** Options of the blockwise mask generator (official defaults for a 14×14 grid). */
export interface MaskingOptions {
  /** Grid [H, W] (14×14 for 224 px and patch 16; 7×7 for Fashion-MNIST with patch 4). */
  grid: [number, number];
  /** Exactly this many patches are masked (75 of 196 officially; 20 of 49 here). */
  numMasked: number;
  /** Smallest block area (16 officially; 4 for a 7×7 grid). */
  minBlock?: number;
  /** Largest block area (default: numMasked). */
  maxBlock?: number;
  /** Smallest aspect ratio (height / width) of a block (default 0.3). */
  minAspect?: number;
  /** Largest aspect ratio (default 1 / minAspect). */
  maxAspect?: number;
}

/** A stream of uniforms in [0, 1) from a key (Threefry counters, refilled in chunks). */
class UniformStream {
  #chunk = 0;
  #words: Uint32Array = new Uint32Array(0);
  #at = 0;
  constructor(readonly key: Key) {}
  next(): number {
    if (this.#at + 2 > this.#words.length) {
      this.#words = randomWords(foldIn(this.key, this.#chunk++), 512);
      this.#at = 0;
    }
    const hi = this.#words[this.#at++] >>> 5;
    const lo = this.#words[this.#at++] >>> 6;
    return (hi * 2 ** 26 + lo) / 2 ** 53;
  }
  /** Python's random.uniform(a, b) (bounds may be reversed). */
  uniform(a: number, b: number): number {
    return a + (b - a) * this.next();
  }
  /** Python's random.randint(a, b): inclusive. */
  randint(a: number, b: number): number {
    return a + Math.floor(this.next() * (b - a + 1));
  }
}

/** One mask and the blocks that made it (for tests). */
export interface MaskDraw {
  /** The mask over the grid, row-major: 1 for a masked patch. */
  mask: Uint8Array;
  /** The blocks in the order they were drawn (rows and columns on the grid). */
  blocks: { top: number; left: number; height: number; width: number }[];
}

/**
 * Draws one blockwise mask.
 *
 * @param k the key
 * @param options grid, count and block limits
 * @returns the mask (row-major, 1 = masked) and the accepted blocks
 */
export function drawBlockwiseMask(k: Key, options: MaskingOptions): MaskDraw {
  const [height, width] = options.grid;
  const total = options.numMasked;
  const minBlock = options.minBlock ?? 16;
  const maxBlock = options.maxBlock ?? total;
  const logAspect = [
    Math.log(options.minAspect ?? 0.3),
    Math.log(options.maxAspect ?? 1 / (options.minAspect ?? 0.3)),
  ];
  if (!Number.isInteger(total) || total < 0 || total > height * width) {
    throw new Error(
      `Cannot draw a mask: numMasked must be an integer in [0, ${height * width}] (got ${total})`,
    );
  }
  const rng = new UniformStream(k);
  const mask = new Uint8Array(height * width);
  const blocks: MaskDraw["blocks"] = [];
  let count = 0;
  while (count < total) {
    const cap = Math.min(total - count, maxBlock);
    let delta = 0;
    for (let attempt = 0; attempt < 10 && delta === 0; attempt++) {
      const area = rng.uniform(minBlock, cap);
      const aspect = Math.exp(rng.uniform(logAspect[0], logAspect[1]));
      const h = roundHalfEvenScalar(Math.sqrt(area * aspect));
      const w = roundHalfEvenScalar(Math.sqrt(area / aspect));
      if (w >= width || h >= height) continue;
      const top = rng.randint(0, height - h);
      const left = rng.randint(0, width - w);
      let already = 0;
      for (let i = top; i < top + h; i++) {
        for (let j = left; j < left + w; j++) already += mask[i * width + j];
      }
      const fresh = h * w - already;
      if (fresh > 0 && fresh <= cap) {
        for (let i = top; i < top + h; i++) {
          for (let j = left; j < left + w; j++) mask[i * width + j] = 1;
        }
        delta = fresh;
        blocks.push({ top, left, height: h, width: w });
      }
    }
    if (delta === 0) break;
    count += delta;
  }
  // Top up with random unmasked patches (new in BEiT v2): exactly `total` in the end.
  if (count < total) {
    const free: number[] = [];
    mask.forEach((m, i) => m === 0 && free.push(i));
    for (let i = 0; i < total - count; i++) {
      const j = i + Math.floor(rng.next() * (free.length - i));
      [free[i], free[j]] = [free[j], free[i]];
      mask[free[i]] = 1;
    }
  }
  return { mask, blocks };
}

/**
 * A batch of blockwise masks as a bool tensor [B, N] (one independent mask per image).
 *
 * @param k the key
 * @param batch number of masks
 * @param options grid, count and block limits
 * @param backend backend of the result (default: the current one)
 * @returns masks, true where a patch is masked
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { key, sum, toArray } from "@tessella/tessella";
 * import { blockwiseMasks } from "@tessella/tessella/beit";
 * const masks = blockwiseMasks(key(0), 4, { grid: [7, 7], numMasked: 20, minBlock: 4 });
 * assert.deepEqual(await toArray(sum(masks, { axis: 1 })), new Int32Array([20, 20, 20, 20]));
 * ```
 */
export function blockwiseMasks(
  k: Key,
  batch: number,
  options: MaskingOptions,
  backend?: string,
): Tensor {
  const n = options.grid[0] * options.grid[1];
  const out = new Uint8Array(batch * n);
  for (let b = 0; b < batch; b++) out.set(drawBlockwiseMask(foldIn(k, b), options).mask, b * n);
  return tensor(out, { shape: [batch, n], dtype: "bool", backend });
}
