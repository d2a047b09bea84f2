// The elementwise op family on WebGPU: fills, unary and binary ops, where, the fused AdamW
// step, and placing a view into a strided part of a buffer (concat, unslice); also the
// contiguous copies other families make of their inputs.

import type { AdamConstants, BinaryOp, UnaryOp } from "../../backend.ts";
import type { DType } from "../../dtype.ts";
import { isRowMajor, sizeOf } from "../../shape.ts";
import type { View } from "../../tensor.ts";
import {
  ADAM_PARAMS,
  adamStepSource,
  binarySource,
  FILL_PARAMS,
  fillSource,
  type InputPath,
  placeSource,
  unarySource,
  type ViewModes,
  whereSource,
} from "./elementwise_wgsl.ts";
import { elementwiseGrid, elementwiseParams, grid, type Layout, viewModes } from "./params.ts";
import {
  bufferOf,
  checkDType,
  readsTextures,
  runOnViews,
  type Runtime,
  valueBits,
} from "./runtime.ts";

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

/** Whether elementwise kernels and reductions read these inputs from textures. */
export function texturedInputs(
  rt: Runtime,
  dtype: DType,
  views: readonly View[],
  work: number,
): boolean {
  return dtype === "float32" &&
    readsTextures(rt, elementwiseTuning.inputs, work, views.map(bufferOf));
}

/** How an elementwise kernel over `views` (n outputs) reads them (see InputPath). */
function inputPath(
  rt: Runtime,
  dtype: DType,
  modes: ViewModes,
  views: readonly View[],
  n: number,
): InputPath {
  if (!texturedInputs(rt, dtype, views, n)) return "storage";
  const texel = views.every((v, k) => modes[k] === 3 || (modes[k] === 1 && v.offset % 4 === 0));
  return texel ? "texel" : "texture";
}

/** A new buffer of `size` elements, all `value`. */
export function fill(rt: Runtime, size: number, value: number, dtype: DType): GPUBuffer {
  checkDType(dtype);
  const out = rt.alloc(size);
  const bits = valueBits(value, dtype);
  if (bits === 0 && size >= CLEAR_MIN_ELEMENTS) {
    rt.ctx.clear(out, size * 4); // zeros at memset speed (a kernel's stores are lane by lane)
  } else if (size > 0) {
    rt.run(
      "fill",
      ["write"],
      fillSource,
      [out],
      FILL_PARAMS.pack({ n: size, bits }),
      elementwiseGrid(size, rt.limit),
    );
  }
  return out;
}

/** A unary op into a new contiguous buffer. */
export function unary(rt: Runtime, op: UnaryOp, x: View, outDtype: DType): GPUBuffer {
  checkDType(x.dtype);
  checkDType(outDtype);
  const n = sizeOf(x.shape);
  const out = rt.alloc(n);
  if (n > 0) {
    const params = elementwiseParams(x.shape, [x]);
    const modes = viewModes(params, 1);
    const path = inputPath(rt, x.dtype, modes, [x], n);
    const tex = path !== "storage";
    rt.run(
      `unary:${op}:${x.dtype}:${outDtype}:${modes.join("")}:${path}`,
      [tex ? "texture" : "read", "write"],
      () => unarySource(op, x.dtype, outDtype, modes, path),
      [tex ? rt.ctx.textureOf(bufferOf(x), "x0") : bufferOf(x), out],
      params,
      elementwiseGrid(n, rt.limit),
    );
  }
  return out;
}

/** Copies a view into a new contiguous buffer (same dtype). */
export function contiguousCopy(rt: Runtime, x: View): GPUBuffer {
  return unary(rt, "copy", x, x.dtype);
}

/**
 * A view's elements as row-major contiguous data at (buffer, offset): its own buffer
 * where the view is contiguous, else a copy, added to `temporaries` (to release once
 * the kernel reading it is recorded).
 */
export function denseInput(
  rt: Runtime,
  v: View,
  temporaries: GPUBuffer[],
): { buffer: GPUBuffer; offset: number } {
  if (isRowMajor(v.shape, v.strides)) return { buffer: bufferOf(v), offset: v.offset };
  const copy = contiguousCopy(rt, v);
  temporaries.push(copy);
  return { buffer: copy, offset: 0 };
}

/** A binary op of two views of the output's shape (broadcast by strides). */
export function binary(rt: Runtime, op: BinaryOp, a: View, b: View, outDtype: DType): GPUBuffer {
  checkDType(a.dtype);
  const n = sizeOf(a.shape);
  const out = rt.alloc(n);
  if (n > 0) {
    const params = elementwiseParams(a.shape, [a, b]);
    const modes = viewModes(params, 2);
    const path = inputPath(rt, a.dtype, modes, [a, b], n);
    const tex = path !== "storage";
    rt.run(
      `binary:${op}:${a.dtype}:${outDtype}:${modes.join("")}:${path}`,
      [tex ? "texture" : "read", tex ? "texture" : "read", "write"],
      () => binarySource(op, a.dtype, outDtype, modes, path),
      tex
        ? [rt.ctx.textureOf(bufferOf(a), "x0"), rt.ctx.textureOf(bufferOf(b), "x1"), out]
        : [bufferOf(a), bufferOf(b), out],
      params,
      elementwiseGrid(n, rt.limit),
    );
  }
  return out;
}

/** `cond ? a : b` elementwise. */
export function where(rt: Runtime, cond: View, a: View, b: View): GPUBuffer {
  checkDType(a.dtype);
  const n = sizeOf(a.shape);
  const out = rt.alloc(n);
  if (n > 0) {
    const params = elementwiseParams(a.shape, [cond, a, b]);
    const modes = viewModes(params, 3);
    const source = () => whereSource(a.dtype, modes);
    const groups = elementwiseGrid(n, rt.limit);
    runOnViews(rt, `where:${a.dtype}:${modes.join("")}`, source, [cond, a, b], out, params, groups);
  }
  return out;
}

/** One fused AdamW step: [update | m' | v'] in one buffer. */
export function adamStep(
  rt: Runtime,
  g: View,
  m: View,
  v: View,
  p: View,
  c: AdamConstants,
): GPUBuffer {
  checkDType(g.dtype);
  const n = sizeOf(g.shape);
  const out = rt.alloc(3 * n);
  if (n === 0) return out;
  const temporaries: GPUBuffer[] = [];
  const inputs = [g, m, v, p].map((x) => denseInput(rt, x, temporaries));
  const words = ADAM_PARAMS.pack({
    n,
    offsets: inputs.map((x) => x.offset),
    b1: c.b1,
    b2: c.b2,
    c1: c.c1,
    c2: c.c2,
    eps: c.eps,
    learningRate: c.learningRate,
    weightDecay: c.weightDecay,
    oneMinusB1: 1 - c.b1,
    oneMinusB2: 1 - c.b2,
  });
  rt.run(
    "adam-step",
    ["read", "read", "read", "read", "write"],
    adamStepSource,
    [...inputs.map((x) => x.buffer), out],
    words,
    grid(n, rt.limit),
  );
  for (const t of temporaries) rt.ctx.release(t);
  return out;
}

/** Writes view x into `out` at the positions of `target` (a view of out with x's shape). */
export function place(rt: Runtime, x: View, target: Layout, out: GPUBuffer): void {
  const n = sizeOf(x.shape);
  if (n === 0) return;
  const params = elementwiseParams(x.shape, [x, target]);
  const modes = viewModes(params, 2);
  const source = () => placeSource(x.dtype, modes);
  const groups = elementwiseGrid(n, rt.limit);
  runOnViews(rt, `place:${x.dtype}:${modes.join("")}`, source, [x], out, params, groups);
}
