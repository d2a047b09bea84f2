// The matrix product on WebGPU: choosing between the storage kernels and the texture path
// (CPU adapters), the register block and vec4 load modes, and packing operands whose
// layout the texture kernel cannot read in place. The kernels are in matmul_wgsl.ts.

import { sizeOf } from "../../shape.ts";
import type { View } from "../../tensor.ts";
import { TEXTURE_ROW } from "./context.ts";
import { denseInput, fill, unary } from "./elementwise.ts";
import {
  type AMode,
  type BMode,
  MATMUL_MAX_BATCH_RANK,
  MATMUL_PARAMS,
  MATMUL_WG,
  matmulPackSource,
  matmulSource,
  matmulTextureSource,
  type MatmulTextureTile,
  type MatmulTile,
  PACK_PARAMS,
  TEXTURE_MATMUL_PARAMS,
} from "./matmul_wgsl.ts";
import { collapse } from "./params.ts";
import { bufferOf, readsTextures, type Runtime } from "./runtime.ts";

/**
 * Matmul tuning. `force` overrides the register block per invocation (for experiments
 * that compare block sizes). `path` picks how operands are read: "storage" straight from
 * the tensors' buffers, "texture" from texture copies or packed textures (several times
 * faster on llvmpipe, see matmul_wgsl.ts), "auto" (the default) textures on CPU adapters
 * for products of at least TEXTURE_MIN_WORK multiply-adds.
 */
export const matmulTuning: {
  force: { tm: number; tn: number } | null;
  path: "auto" | "storage" | "texture";
  /** Overrides the workgroup shape of the texture path (invocations along n, along m). */
  workgroup: { wgx: number; wgy: number } | null;
} = { force: null, path: "auto", workgroup: null };

/** Whether an offset and strides are all multiples of 4 (vec4-aligned). */
function aligned4(offset: number, strides: readonly number[]): boolean {
  return offset % 4 === 0 && strides.every((s) => s % 4 === 0);
}

/**
 * The register block and workgroup of the texture path: as large as the output allows. On
 * llvmpipe here, 1024²: 16×8 blocks in 16×4 workgroups 12.5–15 GFLOP/s, in 8×8 workgroups
 * 11.3–11.8; 8×8 blocks ≈ 10; 4×8 ≈ 7.5. Medium outputs (attention's 50×50 and 50×64)
 * use 8-column blocks with as few padded rows and columns as possible: 10×8 blocks in
 * 7×5 or 8×5 workgroups (one workgroup covers a 50-row matrix) gave 4.5–5.2 GFLOP/s
 * against 4.0–4.1 for 8×8 in 8×8 (a 64×64 cover) on [128, 50, 64]·[128, 64, 50]
 * (a scratch sweep with `matmulTuning.force`/`workgroup`: wall time of 8 chained
 * products; the bench's attention rows measure the choice).
 */
export function chooseTextureTile(m: number, n: number): MatmulTextureTile {
  const vecOut = n % 4 === 0;
  const padded = (size: number, block: number) => Math.ceil(size / block) * block;
  const tile = m >= 128 && n >= 64
    ? { tm: 16, tn: 8, wgx: 16, wgy: 4 }
    : m < 32 || n < 32
    ? { tm: 4, tn: 4, wgx: 8, wgy: 8 }
    : padded(m, 50) <= padded(m, 64)
    ? { tm: 10, tn: 8, wgx: Math.min(8, Math.ceil(n / 8)), wgy: 5 }
    : { tm: 8, tn: 8, wgx: Math.min(8, Math.ceil(n / 8)), wgy: 8 };
  return { ...tile, ...matmulTuning.force, ...matmulTuning.workgroup, vecOut };
}

/** Picks vec4 load modes from the operands' layouts, and the register block from the sizes. */
export function chooseMatmulTile(
  m: number,
  k: number,
  n: number,
  a: { offset: number; row: number; col: number; batch: readonly number[] },
  b: { offset: number; row: number; col: number; batch: readonly number[] },
): MatmulTile {
  const aMode: AMode = a.col === 1 && k % 4 === 0 && aligned4(a.offset, [a.row, ...a.batch])
    ? "k4"
    : a.row === 1 && m % 4 === 0 && aligned4(a.offset, [a.col, ...a.batch])
    ? "m4"
    : "s";
  const bMode: BMode = b.col === 1 && n % 4 === 0 && aligned4(b.offset, [b.row, ...b.batch])
    ? "n4"
    : b.row === 1 && k % 4 === 0 && aligned4(b.offset, [b.col, ...b.batch])
    ? "k4"
    : "s";
  // On llvmpipe every float an invocation loads costs ~40 multiply-adds (loads are done
  // lane by lane), so the block is as large as the matrix allows: a TM×TN block does
  // TM·TN multiply-adds per TM + TN loads (tools/experiments/wgsl_matmul_minimal.ts).
  const block = matmulTuning.force ??
    (m >= 128 && n >= 128
      ? { tm: 16, tn: 16 }
      : m >= 16 && n >= 16
      ? { tm: 8, tn: 8 }
      : { tm: 4, tn: 4 });
  return { ...block, a: aMode, b: bMode };
}

/**
 * Whether a product takes the texture path: chosen for this adapter, and every texture
 * fits (texture copies of the operands' buffers, and packed operands).
 */
function texturePath(
  rt: Runtime,
  m: number,
  k: number,
  n: number,
  batches: number,
  operands: readonly View[],
): boolean {
  if (!readsTextures(rt, matmulTuning.path, m * n * k, operands.map(bufferOf))) return false;
  const rowsNeeded = (texels: number) => Math.ceil(texels / TEXTURE_ROW);
  const largest = batches * Math.max(m * Math.ceil(k / 4), k * Math.ceil(n / 4));
  // The pack kernel has one invocation row per packed row (8 per workgroup).
  const packRows = Math.ceil((batches * Math.max(m, k)) / MATMUL_WG);
  return rowsNeeded(largest) <= rt.ctx.maxTextureSide && packRows <= rt.limit;
}

/** The batch axes of a product, collapsed: their shape and each operand's strides. */
type Batch = { shape: number[]; strides: number[][] };

/** a·b (+ bias in every row) over float32 views [batch…, M, K] and [batch…, K, N]. */
export function matmul(rt: Runtime, a: View, b: View, bias?: View | null): GPUBuffer {
  if (a.dtype !== "float32" || b.dtype !== "float32") {
    throw new Error(`Cannot matmul on WebGPU: float32 only (got ${a.dtype} and ${b.dtype})`);
  }
  const r = a.shape.length;
  const m = a.shape[r - 2];
  const k = a.shape[r - 1];
  const n = b.shape[r - 1];
  const batchShape = a.shape.slice(0, r - 2);
  const batch = collapse(batchShape, [a.strides.slice(0, r - 2), b.strides.slice(0, r - 2)]);
  const batches = sizeOf(batchShape);
  if (k === 0 && batches * m * n > 0) {
    // An empty sum (the kernels would read clamped addresses of empty operands): zeros,
    // or the bias in every row.
    if (!bias) return fill(rt, batches * m * n, 0, "float32");
    const rows: View = {
      storage: bias.storage,
      shape: [batches * m, n],
      strides: [0, bias.strides[0]],
      offset: bias.offset,
      dtype: bias.dtype,
    };
    return unary(rt, "copy", rows, "float32");
  }
  const out = rt.alloc(batches * m * n);
  if (batches * m * n === 0) return out;
  if (batch.shape.length > MATMUL_MAX_BATCH_RANK || batches > rt.limit) {
    throw new Error(
      `Cannot matmul on WebGPU: batch of ${batches} over ${batch.shape.length} axes is too large`,
    );
  }
  const temporaries: GPUBuffer[] = [];
  const biasInput = bias ? denseInput(rt, bias, temporaries) : null;
  if (texturePath(rt, m, k, n, batches, [a, b])) {
    textureMatmul(rt, a, b, biasInput, out, { m, k, n, batches, batch });
  } else {
    const tile = chooseMatmulTile(
      m,
      k,
      n,
      { offset: a.offset, row: a.strides[r - 2], col: a.strides[r - 1], batch: batch.strides[0] },
      { offset: b.offset, row: b.strides[r - 2], col: b.strides[r - 1], batch: batch.strides[1] },
    );
    const variant = { ...tile, bias: biasInput !== null };
    rt.run(
      `matmul:${tile.tm}x${tile.tn}:${tile.a}:${tile.b}:${variant.bias}`,
      ["read", "read", "write", ...(biasInput ? ["read" as const] : [])],
      () => matmulSource(variant),
      [bufferOf(a), bufferOf(b), out, ...(biasInput ? [biasInput.buffer] : [])],
      MATMUL_PARAMS.pack({
        m,
        k,
        n,
        batchRank: batch.shape.length,
        aOffset: a.offset,
        bOffset: b.offset,
        aRow: a.strides[r - 2],
        aCol: a.strides[r - 1],
        bRow: b.strides[r - 2],
        bCol: b.strides[r - 1],
        batchShape: batch.shape,
        aBatch: batch.strides[0],
        bBatch: batch.strides[1],
        biasOffset: biasInput?.offset ?? 0,
      }),
      [Math.ceil(n / (MATMUL_WG * tile.tn)), Math.ceil(m / (MATMUL_WG * tile.tm)), batches],
    );
  }
  for (const t of temporaries) rt.ctx.release(t);
  return out;
}

/**
 * The texture path: each operand as texels of 4 consecutive values, a texture copy of its
 * buffer where its rows (natural layout) or its columns (transposed layout: Wᵀ, gᵀ) are
 * contiguous and 4-aligned, else packed into the natural layout.
 */
function textureMatmul(
  rt: Runtime,
  a: View,
  b: View,
  bias: { buffer: GPUBuffer; offset: number } | null,
  out: GPUBuffer,
  size: { m: number; k: number; n: number; batches: number; batch: Batch },
): void {
  const { m, k, n, batches, batch } = size;
  const tile = chooseTextureTile(m, n);
  // The workgroup's z is the batch index: (outer, inner) = (z / innerSize, z % innerSize)
  const innerSize = batch.shape.length === 2 ? batch.shape[1] : 1;
  const ta = textureOperand(rt, a, "a", m, k, batch, 0, tile.tm % 4 === 0, innerSize, batches);
  const tb = textureOperand(rt, b, "b", k, n, batch, 1, true, innerSize, batches);
  const variant = { ...tile, a: ta.layout, b: tb.layout, bias: bias !== null };
  rt.run(
    `matmul-texture:${tile.tm}x${tile.tn}:${tile.vecOut}:${tile.wgx}x${tile.wgy}:${ta.layout}:${tb.layout}:${variant.bias}`,
    ["texture", "texture", "write", ...(bias ? ["read" as const] : [])],
    () => matmulTextureSource(variant),
    [ta.texture, tb.texture, out, ...(bias ? [bias.buffer] : [])],
    TEXTURE_MATMUL_PARAMS.pack({
      m,
      k,
      n,
      a: ta.words,
      b: tb.words,
      biasOffset: bias?.offset ?? 0,
      innerSize,
    }),
    [Math.ceil(n / (tile.wgx * tile.tn)), Math.ceil(m / (tile.wgy * tile.tm)), batches],
  );
}

/**
 * One operand of the texture path ([batch…, rows, cols]; `which` 0 for A, 1 for B): its
 * texture, its four words of TEXTURE_MATMUL_PARAMS and its texel layout.
 */
function textureOperand(
  rt: Runtime,
  x: View,
  slot: string,
  rows: number,
  cols: number,
  batch: Batch,
  which: number,
  transposable: boolean,
  innerSize: number,
  batches: number,
): { texture: GPUTexture; words: number[]; layout: "natural" | "transposed" } {
  const r = x.shape.length;
  const strides = batch.strides[which];
  const shared = strides.every((s) => s === 0);
  const rowStride = x.strides[r - 2];
  const colStride = x.strides[r - 1];
  // Up to two batch axes are addressed directly (attention's [B, H] of views)
  const batchAligned = shared || (strides.length <= 2 && strides.every((s) => s % 4 === 0));
  const batchWords = shared ? [0, 0] : [strides[0] / 4, (strides[1] ?? 0) / 4];
  if (x.offset % 4 === 0 && batchAligned) {
    if (colStride === 1 && cols % 4 === 0 && rowStride % 4 === 0) {
      return {
        texture: rt.ctx.textureOf(bufferOf(x), slot),
        words: [x.offset / 4, rowStride / 4, ...batchWords],
        layout: "natural",
      };
    }
    if (transposable && rowStride === 1 && rows % 4 === 0 && colStride % 4 === 0) {
      return {
        texture: rt.ctx.textureOf(bufferOf(x), slot),
        words: [x.offset / 4, colStride / 4, ...batchWords],
        layout: "transposed",
      };
    }
  }
  const rowTexels = Math.ceil(cols / 4);
  const packedRows = (shared ? 1 : batches) * rows;
  const texels = packedRows * rowTexels;
  const texture = rt.ctx.scratchTexture(
    `${slot}-packed`,
    Math.min(texels, TEXTURE_ROW),
    Math.ceil(texels / TEXTURE_ROW),
  );
  rt.run(
    "matmul-pack",
    ["texture", "texture-write"],
    matmulPackSource,
    [rt.ctx.textureOf(bufferOf(x), "x0"), texture],
    PACK_PARAMS.pack({
      rows,
      cols,
      batchRank: shared ? 0 : batch.shape.length,
      offset: x.offset,
      rowStride,
      colStride,
      packedRows,
      ...(shared ? {} : { batchShape: batch.shape, batchStrides: strides }),
    }),
    [Math.ceil(rowTexels / MATMUL_WG), Math.ceil(packedRows / MATMUL_WG)],
  );
  return {
    texture,
    // packed batches are consecutive: batch (outer, inner) starts at
    // (outer · innerSize + inner) · rows · rowTexels
    words: shared ? [0, rowTexels, 0, 0] : [
      0,
      rowTexels,
      innerSize * rows * rowTexels,
      rows * rowTexels,
    ],
    layout: "natural",
  };
}
