/**
 * The WebGPU backend: every kernel of the Backend interface as a WGSL compute shader,
 * run through Deno's built-in `navigator.gpu` (or a browser's). float32, int32 and bool
 * (bool stored as one u32 per element); float64 stays on the CPU.
 *
 * Ops return as soon as their dispatch is recorded; values arrive when read back
 * (`await toArray(t)`), which submits the pending work and waits for it. The ops live in
 * files by family (elementwise, matmul, rows, reduce, indexing), each beside the WGSL
 * it generates (`*_wgsl.ts`); this file assembles them.
 *
 * @module
 */

import type { Backend } from "../../backend.ts";
import type { DType, TypedArray } from "../../dtype.ts";
import { registerPool } from "../../memory.ts";
import { isRowMajor, sizeOf } from "../../shape.ts";
import type { View } from "../../tensor.ts";
import { createContext, type GpuContext } from "./context.ts";
import { adamStep, binary, contiguousCopy, fill, unary, where } from "./elementwise.ts";
import { concat, gather, scatterAdd, unslice } from "./indexing.ts";
import { matmul } from "./matmul.ts";
import { reduce } from "./reduce.ts";
import { layerNorm, layerNormGrad, softmax, softmaxGrad } from "./rows.ts";
import { bufferOf, checkDType, createRuntime, type Runtime, valueBits } from "./runtime.ts";

export { elementwiseTuning } from "./elementwise.ts";
export { chooseMatmulTile, chooseTextureTile, matmulTuning } from "./matmul.ts";
export { isCpuAdapter } from "./runtime.ts";

/** The WebGPU Backend object built around an open device context. */
export function createWebGPUBackend(ctx: GpuContext): Backend & { readonly context: GpuContext } {
  const rt = createRuntime(ctx);
  const backend = {
    name: "webgpu",
    context: ctx,
    elementBytes: () => 4,
    release(data: unknown): void {
      ctx.release(data as GPUBuffer);
    },
    scalar(value: number, dtype: DType): GPUBuffer {
      checkDType(dtype);
      return ctx.constant(valueBits(value, dtype)) ?? fill(rt, 1, value, dtype);
    },
    upload(data: TypedArray, dtype: DType): GPUBuffer {
      checkDType(dtype);
      const words = dtype === "bool" ? Uint32Array.from(data as Uint8Array) : data;
      const out = rt.alloc(data.length);
      ctx.upload(out, new Uint8Array(words.buffer, words.byteOffset, words.byteLength));
      return out;
    },
    read: (x: View) => read(rt, x),
    fill: (size: number, value: number, dtype: DType) => fill(rt, size, value, dtype),
    unary: (...args: Parameters<Backend["unary"]>) => unary(rt, ...args),
    binary: (...args: Parameters<Backend["binary"]>) => binary(rt, ...args),
    where: (...args: Parameters<Backend["where"]>) => where(rt, ...args),
    reduce: (...args: Parameters<Backend["reduce"]>) => reduce(rt, ...args),
    matmul: (...args: Parameters<Backend["matmul"]>) => matmul(rt, ...args),
    layerNorm: (...args: Parameters<Backend["layerNorm"]>) => layerNorm(rt, ...args),
    layerNormGrad: (...args: Parameters<Backend["layerNormGrad"]>) => layerNormGrad(rt, ...args),
    adamStep: (...args: Parameters<Backend["adamStep"]>) => adamStep(rt, ...args),
    softmax: (...args: Parameters<Backend["softmax"]>) => softmax(rt, ...args),
    softmaxGrad: (...args: Parameters<Backend["softmaxGrad"]>) => softmaxGrad(rt, ...args),
    gather: (...args: Parameters<Backend["gather"]>) => gather(rt, ...args),
    scatterAdd: (...args: Parameters<Backend["scatterAdd"]>) => scatterAdd(rt, ...args),
    concat: (...args: Parameters<Backend["concat"]>) => concat(rt, ...args),
    unslice: (...args: Parameters<Backend["unslice"]>) => unslice(rt, ...args),
  };
  registerPool(() => ctx.poolBytes, () => ctx.drainPool());
  return backend satisfies Backend;
}

/** Reads a view back to the host (a contiguous copy first unless it is a whole buffer). */
async function read(rt: Runtime, x: View): Promise<TypedArray> {
  const n = sizeOf(x.shape);
  if (n === 0) return emptyArray(x.dtype);
  const whole = x.offset === 0 && isRowMajor(x.shape, x.strides);
  const source = whole ? bufferOf(x) : contiguousCopy(rt, x);
  const bytes = await rt.ctx.read(source, n * 4);
  if (source !== x.storage.data) rt.ctx.release(source);
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
