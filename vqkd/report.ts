// Looking inside a tokenizer (the paper's evidence that codes are semantic): a token map
// per image, a codebook-usage histogram (SVG), and for the most used codes a grid of the
// image patches assigned to them (PNG).
// Legend: N patches · P patch size · K codes

import type { Image } from "../data/image_folder.ts";

/** A colour per code (a fixed hash, so the same code always has the same colour). */
export function codeColor(code: number): [number, number, number] {
  let h = Math.imul(code + 1, 2654435761) >>> 0;
  const r = (h & 255) / 255;
  h >>>= 8;
  const g = (h & 255) / 255;
  h >>>= 8;
  return [r, g, (h & 255) / 255];
}

/** A grid × grid RGB image with patch i coloured by its code (scaled up 8×). */
export function tokenMap(tokens: readonly number[], grid: number, scale = 8): Image {
  const size = grid * scale;
  const data = new Float32Array(3 * size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const [r, g, b] = codeColor(tokens[Math.floor(y / scale) * grid + Math.floor(x / scale)]);
      const i = y * size + x;
      data[i] = r;
      data[size * size + i] = g;
      data[2 * size * size + i] = b;
    }
  }
  return { data, channels: 3, height: size, width: size };
}

/** An SVG bar chart of code usage, codes sorted by frequency. */
export function usageHistogramSvg(histogram: ArrayLike<number>, title: string): string {
  const counts = Array.from(histogram).sort((a, b) => b - a);
  const width = 640;
  const height = 220;
  const top = Math.max(1, counts[0]);
  const bar = width / counts.length;
  const used = counts.filter((c) => c > 0).length;
  const bars = counts.map((c, i) => {
    const h = (170 * c) / top;
    return `<rect x="${(i * bar).toFixed(2)}" y="${(190 - h).toFixed(1)}" width="${
      Math.max(bar, 0.5).toFixed(2)
    }" height="${h.toFixed(1)}" fill="#4269d0"/>`;
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">
<text x="4" y="14">${title}: ${used} of ${counts.length} codes used (${
    ((100 * used) / counts.length).toFixed(1)
  } %), sorted by use</text>
${bars.join("\n")}
<line x1="0" y1="190" x2="${width}" y2="190" stroke="#333"/>
</svg>
`;
}

/**
 * A grid of patches per code: one row per code (the `codes` given), up to `perCode`
 * patches from the images assigned to it, separated by white lines.
 *
 * @param images grayscale or RGB images [B, C, H, W] (host, [0, 1])
 * @param tokens codes [B, N] (host)
 * @param shape images' [B, C, H, W]
 * @param patch patch size
 * @param codes the codes to show (e.g. the 16 most used)
 * @param perCode patches per row
 * @returns the grid image
 */
export function codePatchGrid(
  images: Float32Array,
  tokens: Int32Array,
  shape: [number, number, number, number],
  patch: number,
  codes: readonly number[],
  perCode = 16,
): Image {
  const [b, c, h, w] = shape;
  const grid = w / patch;
  const n = (h / patch) * grid;
  const cell = patch * 2 + 1; // patches drawn 2× with a 1-pixel gap
  const height = codes.length * cell;
  const width = perCode * cell;
  const data = new Float32Array(c * height * width).fill(1);
  codes.forEach((code, row) => {
    let placed = 0;
    for (let i = 0; i < b * n && placed < perCode; i++) {
      if (tokens[i] !== code) continue;
      const [img, p] = [Math.floor(i / n), i % n];
      const [py, px] = [Math.floor(p / grid) * patch, (p % grid) * patch];
      for (let ch = 0; ch < c; ch++) {
        for (let y = 0; y < 2 * patch; y++) {
          for (let x = 0; x < 2 * patch; x++) {
            const v = images[((img * c + ch) * h + py + (y >> 1)) * w + px + (x >> 1)];
            data[(ch * height + row * cell + y) * width + placed * cell + x] = v;
          }
        }
      }
      placed++;
    }
  });
  return { data, channels: c, height, width };
}
