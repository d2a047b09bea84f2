/**
 * The WebGPU backend: every kernel of the Backend interface as a WGSL compute shader,
 * run through Deno's built-in `navigator.gpu` (or a browser's). float32, int32 and bool
 * (bool stored as one u32 per element); float64 stays on the CPU.
 *
 * Ops return as soon as their dispatch is recorded; values arrive when read back
 * (`await toArray(t)`), which submits the pending work and waits for it.
 *
 * @module
 */

import type { AdamConstants, Backend, BinaryOp, ReduceOp, UnaryOp } from "../../backend.ts";
import type { DType, TypedArray } from "../../dtype.ts";
import { registerPool } from "../../memory.ts";
import { contiguousStrides, type Shape, sizeOf } from "../../shape.ts";
import { checkLive, type View } from "../../tensor.ts";
import {
  type BindingKind,
  createContext,
  type GpuContext,
  type Resource,
  TEXTURE_ROW,
} from "./context.ts";
import {
  adamStepSource,
  binarySource,
  fillSource,
  type InputPath,
  placeSource,
  unarySource,
  type ViewModes,
  whereSource,
} from "./elementwise_wgsl.ts";
import { gatherSource, scatterAddSource } from "./indexing_wgsl.ts";
import {
  type AMode,
  type BMode,
  MATMUL_WG,
  matmulPackSource,
  matmulSource,
  matmulTextureSource,
  type MatmulTextureTile,
  type MatmulTile,
} from "./matmul_wgsl.ts";
import {
  collapse,
  elementwiseGrid,
  elementwiseParams,
  grid,
  type Layout,
  MAX_RANK,
} from "./params.ts";
import { layerNormSource, type RowLayout, softmaxSource } from "./normalize_wgsl.ts";
import { columnSumSource, reduceSource } from "./reduce_wgsl.ts";
import { storageType } from "./wgsl_common.ts";

function bufferOf(x: View): GPUBuffer {
  checkLive(x);
  return x.storage.data as GPUBuffer;
}

function checkDType(dtype: DType): void {
  if (dtype === "float64") storageType(dtype); // throws the clear float64 error
}

/** Bit pattern of a fill value for a dtype's storage type. */
function valueBits(value: number, dtype: DType): number {
  if (dtype === "float32") return new Uint32Array(new Float32Array([value]).buffer)[0];
  if (dtype === "int32") return new Uint32Array(new Int32Array([value]).buffer)[0];
  return value !== 0 ? 1 : 0;
}

/** Whether an offset and strides are all multiples of 4 (vec4-aligned). */
function aligned4(offset: number, strides: readonly number[]): boolean {
  return offset % 4 === 0 && strides.every((s) => s % 4 === 0);
}

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

/**
 * How elementwise kernels read float32 inputs: "storage" from the tensors' buffers,
 * "texture" from a copy of each input buffer into a texture (a copy command, then texel
 * fetches: about 3× faster than storage loads on llvmpipe), "auto" (the default) textures
 * on CPU adapters for ops of at least TEXTURE_MIN_WORK elements.
 */
export const elementwiseTuning: { inputs: "auto" | "storage" | "texture" } = { inputs: "auto" };

/**
 * Zero fills of at least this many elements are clearBuffer commands (a compute-pass
 * break, ~70 µs on llvmpipe), smaller ones a fill kernel (unslice's zeros of a
 * [3, 64, 2, 50, 64] attention gradient: ~6 ms as a kernel).
 */
const CLEAR_MIN_ELEMENTS = 16384;

/** The least work (elements, or multiply-adds) for which "auto" reads inputs from textures. */
const TEXTURE_MIN_WORK = 8192;

/** Whether an adapter is a CPU rasteriser (Mesa's llvmpipe, also called lavapipe). */
export function isCpuAdapter(info: GPUAdapterInfo): boolean {
  const text = [info.vendor, info.architecture, info.device, info.description].join(" ");
  return /llvmpipe|lavapipe/i.test(text);
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

/** The WebGPU Backend object built around an open device context. */
export function createWebGPUBackend(ctx: GpuContext): Backend & { readonly context: GpuContext } {
  const limit = ctx.maxWorkgroupsPerDimension;

  const alloc = (elements: number): GPUBuffer => ctx.allocate(elements * 4);
  const cpuAdapter = isCpuAdapter(ctx.adapterInfo);

  /**
   * Whether it pays to copy these buffers into textures for `work` elements of work: on
   * llvmpipe a copy and the compute-pass break around it cost ~70 µs, which storage loads
   * make up from ~10,000 elements on (measured: a product of two 16K vectors 0.40 ms from
   * storage, 0.36 from textures; 256K: 4.8 vs 1.2 ms; 8² matmul 0.24 vs 0.31, 32² 0.55 vs
   * 0.44). A view of a small part of a large buffer would copy all of it: not worth it.
   */
  function worthTextures(work: number, buffers: readonly GPUBuffer[]): boolean {
    // Buffers of at most 16 elements per element of work (64 bytes).
    return work >= TEXTURE_MIN_WORK && buffers.every((b) => b.size <= 64 * work);
  }

  /**
   * Whether a kernel doing `work` reads `buffers` from texture copies, by a tuning
   * setting: "auto" on CPU adapters when it pays, always or never when forced; and only
   * where the buffers fit a texture.
   */
  function readsTextures(
    setting: "auto" | "storage" | "texture",
    work: number,
    buffers: readonly GPUBuffer[],
  ): boolean {
    const chosen = setting === "auto"
      ? cpuAdapter && worthTextures(work, buffers)
      : setting === "texture";
    return chosen && buffers.every((b) => ctx.fitsTexture(b));
  }

  /** Whether elementwise kernels and reductions read these inputs from textures. */
  function texturedInputs(dtype: DType, views: readonly View[], work: number): boolean {
    return dtype === "float32" &&
      readsTextures(elementwiseTuning.inputs, work, views.map(bufferOf));
  }

  /** How an elementwise kernel over `views` (n outputs) reads them (see InputPath). */
  function inputPath(
    dtype: DType,
    modes: ViewModes,
    views: readonly View[],
    n: number,
  ): InputPath {
    if (!texturedInputs(dtype, views, n)) return "storage";
    const texel = views.every((v, k) => modes[k] === 3 || (modes[k] === 1 && v.offset % 4 === 0));
    return texel ? "texel" : "texture";
  }

  /**
   * Whether a product takes the texture path: chosen for this adapter, and every texture
   * fits (texture copies of the operands' buffers, and packed operands).
   */
  function texturePath(
    m: number,
    k: number,
    n: number,
    batches: number,
    operands: readonly View[],
  ): boolean {
    if (!readsTextures(matmulTuning.path, m * n * k, operands.map(bufferOf))) return false;
    const rowsNeeded = (texels: number) => Math.ceil(texels / TEXTURE_ROW);
    const largest = batches * Math.max(m * Math.ceil(k / 4), k * Math.ceil(n / 4));
    // The pack kernel has one invocation row per packed row (8 per workgroup).
    const packRows = Math.ceil((batches * Math.max(m, k)) / MATMUL_WG);
    return rowsNeeded(largest) <= ctx.maxTextureSide && packRows <= limit;
  }
  function run(
    key: string,
    bindings: BindingKind[],
    source: () => string,
    buffers: Resource[],
    params: Uint32Array,
    groups: [number, number?, number?],
  ): void {
    ctx.dispatch(ctx.kernel(key, bindings, source), buffers, params, groups);
  }

  function fill(size: number, value: number, dtype: DType): GPUBuffer {
    checkDType(dtype);
    const out = alloc(size);
    const bits = valueBits(value, dtype);
    if (bits === 0 && size >= CLEAR_MIN_ELEMENTS) {
      ctx.clear(out, size * 4); // zeros at memset speed (a kernel's stores are lane by lane)
    } else if (size > 0) {
      run(
        "fill",
        ["write"],
        fillSource,
        [out],
        new Uint32Array([size, bits]),
        elementwiseGrid(size, limit),
      );
    }
    return out;
  }

  function unary(op: UnaryOp, x: View, outDtype: DType): GPUBuffer {
    checkDType(x.dtype);
    checkDType(outDtype);
    const n = sizeOf(x.shape);
    const out = alloc(n);
    if (n > 0) {
      const params = elementwiseParams(x.shape, [x]);
      const modes = viewModes(params, 1);
      const path = inputPath(x.dtype, modes, [x], n);
      const tex = path !== "storage";
      run(
        `unary:${op}:${x.dtype}:${outDtype}:${modes.join("")}:${path}`,
        [tex ? "texture" : "read", "write"],
        () => unarySource(op, x.dtype, outDtype, modes, path),
        [tex ? ctx.textureOf(bufferOf(x), "x0") : bufferOf(x), out],
        params,
        elementwiseGrid(n, limit),
      );
    }
    return out;
  }

  /** Copies a view into a new contiguous buffer (same dtype). */
  function contiguousCopy(x: View): GPUBuffer {
    return unary("copy", x, x.dtype);
  }

  /** Whether a view is row-major contiguous from its offset. */
  function isDenseView(x: View): boolean {
    const expected = contiguousStrides(x.shape);
    return x.shape.every((d, i) => d === 1 || x.strides[i] === expected[i]);
  }

  /**
   * A view's elements as row-major contiguous data at (buffer, offset): its own buffer
   * where the view is contiguous, else a copy, added to `temporaries` (to release once
   * the kernel reading it is recorded).
   */
  function denseInput(v: View, temporaries: GPUBuffer[]): { buffer: GPUBuffer; offset: number } {
    if (isDenseView(v)) return { buffer: bufferOf(v), offset: v.offset };
    const copy = contiguousCopy(v);
    temporaries.push(copy);
    return { buffer: copy, offset: 0 };
  }

  /**
   * A row kernel (normalize_wgsl.ts): one invocation per row of the last axis, over one
   * or two row inputs of the same shape (x; or y/x and a cotangent g) and optional `[D]`
   * parameters (weight, bias). Inputs that are not contiguous are copied first. Parameter
   * words: 0 rows, 1 D, 2 and 3 offsets of the row inputs, 4 weight and 5 bias offsets,
   * 6 eps.
   */
  function rowKernel(
    name: string,
    inputs: readonly View[],
    params: { weight?: View | null; bias?: View | null; eps?: number },
    source: (layout: RowLayout) => string,
  ): GPUBuffer {
    const x = inputs[0];
    checkDType(x.dtype);
    const n = sizeOf(x.shape);
    const d = x.shape[x.shape.length - 1];
    const out = alloc(n);
    if (n === 0) return out;
    const temporaries: GPUBuffer[] = [];
    const dense = (v: View | null | undefined) => (v ? denseInput(v, temporaries) : null);
    const rowInputs = inputs.map((v) => denseInput(v, temporaries));
    const [ws, bs] = [dense(params.weight), dense(params.bias)];
    const layout: RowLayout = {
      textured: readsTextures(elementwiseTuning.inputs, n, rowInputs.map((r) => r.buffer)),
      vec4: d % 4 === 0 && [...rowInputs, ws, bs].every((r) => r === null || r.offset % 4 === 0),
    };
    const rows = n / d;
    const words = new Uint32Array(7);
    words[0] = rows;
    words[1] = d;
    rowInputs.forEach((r, i) => (words[2 + i] = r.offset));
    words[4] = ws?.offset ?? 0;
    words[5] = bs?.offset ?? 0;
    words[6] = valueBits(params.eps ?? 0, "float32");
    const parameters = [ws, bs].filter((r) => r !== null);
    run(
      `${name}:${layout.textured}:${layout.vec4}`,
      [
        ...rowInputs.map(() => (layout.textured ? "texture" : "read") as BindingKind),
        ...parameters.map(() => "read" as const),
        "write",
      ],
      () => source(layout),
      [
        ...rowInputs.map((r, i) => layout.textured ? ctx.textureOf(r.buffer, `x${i}`) : r.buffer),
        ...parameters.map((r) => r!.buffer),
        out,
      ],
      words,
      grid(rows, limit),
    );
    for (const t of temporaries) ctx.release(t);
    return out;
  }

  function isWhole(x: View): boolean {
    return x.offset === 0 && isDenseView(x);
  }

  async function read(x: View): Promise<TypedArray> {
    const n = sizeOf(x.shape);
    if (n === 0) return emptyArray(x.dtype);
    const source = isWhole(x) ? bufferOf(x) : contiguousCopy(x);
    const bytes = await ctx.read(source, n * 4);
    if (source !== x.storage.data) ctx.release(source);
    switch (x.dtype) {
      case "float32":
        return new Float32Array(bytes);
      case "int32":
        return new Int32Array(bytes);
      case "bool":
        return Uint8Array.from(new Uint32Array(bytes));
      case "float64":
        throw new Error("Internal error: float64 tensor on WebGPU");
    }
  }

  const backend = {
    name: "webgpu",
    context: ctx,
    elementBytes: () => 4,
    release(data: unknown): void {
      ctx.release(data as GPUBuffer);
    },
    scalar(value: number, dtype: DType): GPUBuffer {
      checkDType(dtype);
      return ctx.constant(valueBits(value, dtype)) ?? fill(1, value, dtype);
    },
    upload(data: TypedArray, dtype: DType): GPUBuffer {
      checkDType(dtype);
      const words = dtype === "bool" ? Uint32Array.from(data as Uint8Array) : data;
      const out = alloc(data.length);
      ctx.upload(out, new Uint8Array(words.buffer, words.byteOffset, words.byteLength));
      return out;
    },
    read,
    fill,
    unary,
    binary(op: BinaryOp, a: View, b: View, outDtype: DType): GPUBuffer {
      checkDType(a.dtype);
      const n = sizeOf(a.shape);
      const out = alloc(n);
      if (n > 0) {
        const params = elementwiseParams(a.shape, [a, b]);
        const modes = viewModes(params, 2);
        const path = inputPath(a.dtype, modes, [a, b], n);
        const tex = path !== "storage";
        run(
          `binary:${op}:${a.dtype}:${outDtype}:${modes.join("")}:${path}`,
          [tex ? "texture" : "read", tex ? "texture" : "read", "write"],
          () => binarySource(op, a.dtype, outDtype, modes, path),
          tex
            ? [ctx.textureOf(bufferOf(a), "x0"), ctx.textureOf(bufferOf(b), "x1"), out]
            : [bufferOf(a), bufferOf(b), out],
          params,
          elementwiseGrid(n, limit),
        );
      }
      return out;
    },
    where(cond: View, a: View, b: View): GPUBuffer {
      checkDType(a.dtype);
      const n = sizeOf(a.shape);
      const out = alloc(n);
      if (n > 0) {
        const params = elementwiseParams(a.shape, [cond, a, b]);
        const modes = viewModes(params, 3);
        run(
          `where:${a.dtype}:${modes.join("")}`,
          ["read", "read", "read", "write"],
          () => whereSource(a.dtype, modes),
          [bufferOf(cond), bufferOf(a), bufferOf(b), out],
          params,
          elementwiseGrid(n, limit),
        );
      }
      return out;
    },
    reduce(op: ReduceOp, x: View, count: number, outDtype: DType): GPUBuffer {
      checkDType(x.dtype);
      const split = x.shape.length - count;
      const outerShape = x.shape.slice(0, split);
      const innerShape = x.shape.slice(split);
      const outputs = sizeOf(outerShape);
      const rowLength = sizeOf(innerShape);
      const out = alloc(outputs);
      if (outputs === 0) return out;
      const outer = collapse(outerShape, [x.strides.slice(0, split)]);
      const inner = collapse(innerShape, [x.strides.slice(split)]);
      if (outer.shape.length > MAX_RANK || inner.shape.length > MAX_RANK) {
        throw new Error(`Cannot reduce on WebGPU: more than ${MAX_RANK} non-trivial axes`);
      }
      const words = new Uint32Array(37);
      const ints = new Int32Array(words.buffer);
      words[0] = outputs;
      words[1] = rowLength;
      words[2] = outer.shape.length;
      words[3] = Math.max(1, inner.shape.length);
      words[4] = x.offset;
      outer.shape.forEach((d, i) => (words[5 + i] = d));
      outer.strides[0].forEach((s, i) => (ints[13 + i] = s));
      if (inner.shape.length === 0) {
        words[21] = 1;
        ints[29] = 0;
      } else {
        inner.shape.forEach((d, i) => (words[21 + i] = d));
        inner.strides[0].forEach((s, i) => (ints[29 + i] = s));
      }
      const tex = texturedInputs(x.dtype, [x], outputs * rowLength);
      if (
        tex && op === "sum" && outer.shape.length === 1 && outer.strides[0][0] === 1 &&
        inner.shape.length === 1 && inner.strides[0][0] % 4 === 0 && outputs % 4 === 0 &&
        x.offset % 4 === 0 && outputs / 4 <= 8 * limit
      ) {
        // Column sums (Σ over rows of a row-major matrix): whole texels, 4 columns each.
        run(
          "reduce:sum:columns",
          ["texture", "write"],
          columnSumSource,
          [ctx.textureOf(bufferOf(x), "x0"), out],
          new Uint32Array([outputs / 4, rowLength, x.offset / 4, inner.strides[0][0] / 4]),
          [Math.ceil(outputs / 4 / 8)],
        );
        return out;
      }
      const schedule = rowLength <= 512 && outputs >= 256 ? "thread" : "group";
      const groups: [number, number] = schedule === "thread"
        ? grid(outputs, limit)
        : [Math.min(outputs, limit), Math.ceil(outputs / limit)];
      run(
        `reduce:${op}:${x.dtype}:${outDtype}:${schedule}:${tex}`,
        [tex ? "texture" : "read", "write"],
        () => reduceSource(op, x.dtype, outDtype, schedule, tex),
        [tex ? ctx.textureOf(bufferOf(x), "x0") : bufferOf(x), out],
        words,
        groups,
      );
      return out;
    },
    matmul(a: View, b: View, bias?: View | null): GPUBuffer {
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
        if (!bias) return fill(batches * m * n, 0, "float32");
        const rows: View = {
          storage: bias.storage,
          shape: [batches * m, n],
          strides: [0, bias.strides[0]],
          offset: bias.offset,
          dtype: bias.dtype,
        };
        return unary("copy", rows, "float32");
      }
      const out = alloc(batches * m * n);
      if (batches * m * n === 0) return out;
      const temporaries: GPUBuffer[] = [];
      const biasInput = bias ? denseInput(bias, temporaries) : null;
      const biasBuffer = biasInput?.buffer ?? null;
      const biasOffset = biasInput?.offset ?? 0;
      const done = () => {
        for (const t of temporaries) ctx.release(t);
        return out;
      };
      if (batch.shape.length > 6 || batches > limit) {
        throw new Error(
          `Cannot matmul on WebGPU: batch of ${batches} over ${batch.shape.length} axes is too large`,
        );
      }
      const words = new Uint32Array(29);
      const ints = new Int32Array(words.buffer);
      words[0] = m;
      words[1] = k;
      words[2] = n;
      words[3] = batch.shape.length;
      words[4] = a.offset;
      words[5] = b.offset;
      ints[6] = a.strides[r - 2];
      ints[7] = a.strides[r - 1];
      ints[8] = b.strides[r - 2];
      ints[9] = b.strides[r - 1];
      batch.shape.forEach((d, i) => (words[10 + i] = d));
      batch.strides[0].forEach((s, i) => (ints[16 + i] = s));
      batch.strides[1].forEach((s, i) => (ints[22 + i] = s));
      if (texturePath(m, k, n, batches, [a, b])) {
        // Each operand as texels of 4 consecutive values: a texture copy of its buffer
        // where its rows (natural layout) or its columns (transposed layout: Wᵀ, gᵀ) are
        // contiguous and 4-aligned, else packed into the natural layout.
        const tile = chooseTextureTile(m, n);
        const operand = (
          x: View,
          slot: string,
          rows: number,
          cols: number,
          strides: number[],
          transposable: boolean,
        ) => {
          const shared = strides.every((s) => s === 0);
          const rowStride = x.strides[r - 2];
          const colStride = x.strides[r - 1];
          // Up to two batch axes are addressed directly (attention's [B, H] of views)
          const batchAligned = shared || (strides.length <= 2 && strides.every((s) => s % 4 === 0));
          const batchWords = shared ? [0, 0] : [strides[0] / 4, (strides[1] ?? 0) / 4];
          if (x.offset % 4 === 0 && batchAligned) {
            if (colStride === 1 && cols % 4 === 0 && rowStride % 4 === 0) {
              return {
                texture: ctx.textureOf(bufferOf(x), slot),
                words: [x.offset / 4, rowStride / 4, ...batchWords],
                layout: "natural" as const,
              };
            }
            if (transposable && rowStride === 1 && rows % 4 === 0 && colStride % 4 === 0) {
              return {
                texture: ctx.textureOf(bufferOf(x), slot),
                words: [x.offset / 4, colStride / 4, ...batchWords],
                layout: "transposed" as const,
              };
            }
          }
          const rowTexels = Math.ceil(cols / 4);
          const packedRows = (shared ? 1 : batches) * rows;
          const texels = packedRows * rowTexels;
          const texture = ctx.scratchTexture(
            `${slot}-packed`,
            Math.min(texels, TEXTURE_ROW),
            Math.ceil(texels / TEXTURE_ROW),
          );
          const p = new Uint32Array(22);
          const pi = new Int32Array(p.buffer);
          p[0] = rows;
          p[1] = cols;
          p[2] = shared ? 0 : batch.shape.length;
          p[3] = x.offset;
          pi[4] = rowStride;
          pi[5] = x.strides[r - 1];
          p[6] = packedRows;
          if (!shared) {
            batch.shape.forEach((d, i) => (p[10 + i] = d));
            strides.forEach((s, i) => (pi[16 + i] = s));
          }
          run(
            "matmul-pack",
            ["texture", "texture-write"],
            matmulPackSource,
            [ctx.textureOf(bufferOf(x), "x0"), texture],
            p,
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
            layout: "natural" as const,
          };
        };
        // The workgroup's z is the batch index: (outer, inner) = (z / innerSize, z % innerSize)
        const innerSize = batch.shape.length === 2 ? batch.shape[1] : 1;
        const ta = operand(a, "a", m, k, batch.strides[0], tile.tm % 4 === 0);
        const tb = operand(b, "b", k, n, batch.strides[1], true);
        const variant = { ...tile, a: ta.layout, b: tb.layout, bias: biasBuffer !== null };
        run(
          `matmul-texture:${tile.tm}x${tile.tn}:${tile.vecOut}:${tile.wgx}x${tile.wgy}:${ta.layout}:${tb.layout}:${variant.bias}`,
          ["texture", "texture", "write", ...(biasBuffer ? ["read" as const] : [])],
          () => matmulTextureSource(variant),
          [ta.texture, tb.texture, out, ...(biasBuffer ? [biasBuffer] : [])],
          new Uint32Array([m, k, n, ...ta.words, ...tb.words, biasOffset, innerSize]),
          [Math.ceil(n / (tile.wgx * tile.tn)), Math.ceil(m / (tile.wgy * tile.tm)), batches],
        );
        return done();
      }
      const tile = chooseMatmulTile(
        m,
        k,
        n,
        { offset: a.offset, row: a.strides[r - 2], col: a.strides[r - 1], batch: batch.strides[0] },
        { offset: b.offset, row: b.strides[r - 2], col: b.strides[r - 1], batch: batch.strides[1] },
      );
      words[28] = biasOffset;
      const variant = { ...tile, bias: biasBuffer !== null };
      run(
        `matmul:${tile.tm}x${tile.tn}:${tile.a}:${tile.b}:${variant.bias}`,
        ["read", "read", "write", ...(biasBuffer ? ["read" as const] : [])],
        () => matmulSource(variant),
        [bufferOf(a), bufferOf(b), out, ...(biasBuffer ? [biasBuffer] : [])],
        words,
        [Math.ceil(n / (MATMUL_WG * tile.tn)), Math.ceil(m / (MATMUL_WG * tile.tm)), batches],
      );
      return done();
    },
    layerNorm(x: View, weight: View | null, bias: View | null, eps: number): GPUBuffer {
      const kind = { kind: "forward", hasWeight: weight !== null, hasBias: bias !== null } as const;
      return rowKernel(
        `layernorm:forward:${kind.hasWeight}:${kind.hasBias}`,
        [x],
        { weight, bias, eps },
        (layout) => layerNormSource({ ...kind, ...layout }),
      );
    },
    layerNormGrad(x: View, weight: View | null, g: View, eps: number): GPUBuffer {
      const kind = { kind: "grad", hasWeight: weight !== null, hasBias: false } as const;
      return rowKernel(
        `layernorm:grad:${kind.hasWeight}`,
        [x, g],
        { weight, eps },
        (layout) => layerNormSource({ ...kind, ...layout }),
      );
    },
    adamStep(g: View, m: View, v: View, p: View, c: AdamConstants): GPUBuffer {
      checkDType(g.dtype);
      const n = sizeOf(g.shape);
      const out = alloc(3 * n);
      if (n === 0) return out;
      const temporaries: GPUBuffer[] = [];
      const inputs = [g, m, v, p].map((x) => denseInput(x, temporaries));
      const words = new Uint32Array(14);
      words[0] = n;
      inputs.forEach((x, i) => (words[1 + i] = x.offset));
      [c.b1, c.b2, c.c1, c.c2, c.eps, c.learningRate, c.weightDecay, 1 - c.b1, 1 - c.b2]
        .forEach((value, i) => words[5 + i] = valueBits(value, "float32"));
      run(
        "adam-step",
        ["read", "read", "read", "read", "write"],
        adamStepSource,
        [...inputs.map((x) => x.buffer), out],
        words,
        grid(n, limit),
      );
      for (const t of temporaries) ctx.release(t);
      return out;
    },
    softmax(x: View): GPUBuffer {
      return rowKernel(
        "softmax",
        [x],
        {},
        (layout) => softmaxSource({ kind: "forward", ...layout }),
      );
    },
    softmaxGrad(y: View, g: View): GPUBuffer {
      return rowKernel(
        "softmax:grad",
        [y, g],
        {},
        (layout) => softmaxSource({ kind: "grad", ...layout }),
      );
    },
    gather(x: View, index: View, axis: number): GPUBuffer {
      checkDType(x.dtype);
      const n = sizeOf(index.shape);
      const out = alloc(n);
      if (n === 0) return out;
      const xWithoutAxis = {
        strides: x.strides.map((s, d) => (d === axis ? 0 : s)),
        offset: x.offset,
      };
      const words = elementwiseParams(index.shape, [index, xWithoutAxis], [
        x.shape[axis],
        x.strides[axis],
      ]);
      run(
        `gather:${x.dtype}`,
        ["read", "read", "write"],
        () => gatherSource(x.dtype),
        [bufferOf(index), bufferOf(x), out],
        words,
        grid(n, limit),
      );
      return out;
    },
    scatterAdd(x: View, index: View, updates: View, axis: number): GPUBuffer {
      checkDType(x.dtype);
      const out = contiguousCopy(x);
      const n = sizeOf(x.shape);
      if (n === 0 || sizeOf(index.shape) === 0) return out;
      if (x.shape.length > MAX_RANK) {
        throw new Error(`Cannot scatterAdd on WebGPU: rank above ${MAX_RANK}`);
      }
      const words = new Uint32Array(37);
      const ints = new Int32Array(words.buffer);
      words[0] = n;
      words[1] = x.shape.length;
      words[2] = axis;
      words[3] = index.offset;
      words[4] = updates.offset;
      x.shape.forEach((d, i) => (words[5 + i] = d));
      index.shape.forEach((d, i) => (words[13 + i] = d));
      index.strides.forEach((s, i) => (ints[21 + i] = s));
      updates.strides.forEach((s, i) => (ints[29 + i] = s));
      run(
        `scatterAdd:${x.dtype}`,
        ["read", "read", "write"],
        () => scatterAddSource(x.dtype),
        [bufferOf(index), bufferOf(updates), out],
        words,
        grid(n, limit),
      );
      return out;
    },
    concat(xs: readonly View[], axis: number, outShape: Shape): GPUBuffer {
      const dtype = xs[0].dtype;
      checkDType(dtype);
      const out = alloc(sizeOf(outShape));
      const outStrides = contiguousStrides(outShape);
      let start = 0;
      for (const x of xs) {
        const target = { strides: outStrides, offset: start * outStrides[axis] };
        place(x, target, out);
        start += x.shape[axis];
      }
      return out;
    },
    unslice(
      x: View,
      outShape: Shape,
      starts: readonly number[],
      steps: readonly number[],
    ): GPUBuffer {
      checkDType(x.dtype);
      const out = fill(sizeOf(outShape), 0, x.dtype);
      const outStrides = contiguousStrides(outShape);
      let base = 0;
      for (let d = 0; d < outShape.length; d++) base += starts[d] * outStrides[d];
      const target = { strides: outStrides.map((s, d) => s * steps[d]), offset: base };
      place(x, target, out);
      return out;
    },
  };

  /** Writes view x into `out` at the positions of `target` (a view of out with x's shape). */
  function place(x: View, target: Layout, out: GPUBuffer): void {
    const n = sizeOf(x.shape);
    if (n === 0) return;
    const params = elementwiseParams(x.shape, [x, target]);
    const modes = viewModes(params, 2);
    run(
      `place:${x.dtype}:${modes.join("")}`,
      ["read", "write"],
      () => placeSource(x.dtype, modes),
      [bufferOf(x), out],
      params,
      elementwiseGrid(n, limit),
    );
  }

  registerPool(() => ctx.poolBytes, () => ctx.drainPool());
  return backend satisfies Backend;
}

/** The mode words of the first `views` views in elementwise params (see ViewModes). */
function viewModes(params: Uint32Array, views: number): number[] {
  return Array.from({ length: views }, (_, k) => params[11 + 10 * k]);
}

function emptyArray(dtype: DType): TypedArray {
  switch (dtype) {
    case "float32":
      return new Float32Array(0);
    case "int32":
      return new Int32Array(0);
    case "bool":
      return new Uint8Array(0);
    case "float64":
      return new Float64Array(0);
  }
}

/** Opens the default WebGPU device and builds the backend (see `useBackend("webgpu")`). */
export async function initWebGPU(): Promise<Backend & { readonly context: GpuContext }> {
  return createWebGPUBackend(await createContext());
}

export type { GpuContext };
