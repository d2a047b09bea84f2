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

import type { Backend, BinaryOp, ReduceOp, UnaryOp } from "../../backend.ts";
import type { DType, TypedArray } from "../../dtype.ts";
import { registerPool } from "../../memory.ts";
import { contiguousStrides, type Shape, sizeOf } from "../../shape.ts";
import { checkLive, type View } from "../../tensor.ts";
import { createContext, type GpuContext } from "./context.ts";
import {
  binarySource,
  fillSource,
  placeSource,
  unarySource,
  whereSource,
} from "./elementwise_wgsl.ts";
import { gatherSource, scatterAddSource } from "./indexing_wgsl.ts";
import { type AMode, type BMode, MATMUL_WG, matmulSource, type MatmulTile } from "./matmul_wgsl.ts";
import {
  collapse,
  elementwiseGrid,
  elementwiseParams,
  grid,
  type Layout,
  MAX_RANK,
} from "./params.ts";
import { reduceSource } from "./reduce_wgsl.ts";
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
 * Matmul tuning: the register block per invocation. `force` overrides the choice (for
 * experiments that compare block sizes).
 */
export const matmulTuning: { force: { tm: number; tn: number } | null } = { force: null };

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

  function run(
    key: string,
    bindings: ("read" | "write")[],
    source: () => string,
    buffers: GPUBuffer[],
    params: Uint32Array,
    groups: [number, number?, number?],
  ): void {
    ctx.dispatch(ctx.kernel(key, bindings, source), buffers, params, groups);
  }

  function fill(size: number, value: number, dtype: DType): GPUBuffer {
    checkDType(dtype);
    const out = alloc(size);
    if (size > 0) {
      run(
        "fill",
        ["write"],
        fillSource,
        [out],
        new Uint32Array([size, valueBits(value, dtype)]),
        grid(size, limit),
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
      const dense = isDense(params, 1);
      run(
        `unary:${op}:${x.dtype}:${outDtype}:${dense}`,
        ["read", "write"],
        () => unarySource(op, x.dtype, outDtype, dense),
        [bufferOf(x), out],
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

  function isWhole(x: View): boolean {
    if (x.offset !== 0) return false;
    const expected = contiguousStrides(x.shape);
    return x.shape.every((d, i) => d === 1 || x.strides[i] === expected[i]);
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
        const dense = isDense(params, 2);
        run(
          `binary:${op}:${a.dtype}:${outDtype}:${dense}`,
          ["read", "read", "write"],
          () => binarySource(op, a.dtype, outDtype, dense),
          [bufferOf(a), bufferOf(b), out],
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
        const dense = isDense(params, 3);
        run(
          `where:${a.dtype}:${dense}`,
          ["read", "read", "read", "write"],
          () => whereSource(a.dtype, dense),
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
      const schedule = rowLength <= 512 && outputs >= 256 ? "thread" : "group";
      const groups: [number, number] = schedule === "thread"
        ? grid(outputs, limit)
        : [Math.min(outputs, limit), Math.ceil(outputs / limit)];
      run(
        `reduce:${op}:${x.dtype}:${outDtype}:${schedule}`,
        ["read", "write"],
        () => reduceSource(op, x.dtype, outDtype, schedule),
        [bufferOf(x), out],
        words,
        groups,
      );
      return out;
    },
    matmul(a: View, b: View): GPUBuffer {
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
      const out = alloc(batches * m * n);
      if (batches * m * n === 0) return out;
      if (k === 0) {
        // An empty sum: zeros (the kernel would read clamped addresses of empty operands).
        run(
          "fill",
          ["write"],
          fillSource,
          [out],
          new Uint32Array([batches * m * n, 0]),
          grid(batches * m * n, limit),
        );
        return out;
      }
      if (batch.shape.length > 6 || batches > limit) {
        throw new Error(
          `Cannot matmul on WebGPU: batch of ${batches} over ${batch.shape.length} axes is too large`,
        );
      }
      const words = new Uint32Array(28);
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
      const tile = chooseMatmulTile(
        m,
        k,
        n,
        { offset: a.offset, row: a.strides[r - 2], col: a.strides[r - 1], batch: batch.strides[0] },
        { offset: b.offset, row: b.strides[r - 2], col: b.strides[r - 1], batch: batch.strides[1] },
      );
      run(
        `matmul:${tile.tm}x${tile.tn}:${tile.a}:${tile.b}`,
        ["read", "read", "write"],
        () => matmulSource(tile),
        [bufferOf(a), bufferOf(b), out],
        words,
        [Math.ceil(n / (MATMUL_WG * tile.tn)), Math.ceil(m / (MATMUL_WG * tile.tm)), batches],
      );
      return out;
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
    run(
      `place:${x.dtype}`,
      ["read", "write"],
      () => placeSource(x.dtype),
      [bufferOf(x), out],
      elementwiseParams(x.shape, [x, target]),
      elementwiseGrid(n, limit),
    );
  }

  registerPool(() => ctx.poolBytes);
  return backend satisfies Backend;
}

/** Whether all `views` views in elementwise params are contiguous (their flag words). */
function isDense(params: Uint32Array, views: number): boolean {
  for (let k = 0; k < views; k++) if (params[11 + 10 * k] !== 1) return false;
  return true;
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
