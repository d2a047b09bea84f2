// What every WebGPU op family shares: the device context, buffers of a view, the dtype
// check, fill-value bits, and the choice to read inputs from textures on CPU adapters.

import type { DType } from "../../dtype.ts";
import { checkLive, type View } from "../../tensor.ts";
import type { BindingKind, GpuContext, Resource } from "./context.ts";
import { storageType } from "./wgsl_common.ts";

/** An open device and what the op families need of it. */
export interface Runtime {
  /** The device context. */
  readonly ctx: GpuContext;
  /** The most workgroups along one grid dimension. */
  readonly limit: number;
  /** Whether the adapter is a CPU rasteriser (llvmpipe), where textures pay. */
  readonly cpuAdapter: boolean;
  /** A new buffer of `elements` 4-byte words. */
  alloc(elements: number): GPUBuffer;
  /** Records a kernel's dispatch (its pipeline built on first use, cached under `key`). */
  run(
    key: string,
    bindings: BindingKind[],
    source: () => string,
    buffers: Resource[],
    params: Uint32Array,
    groups: [number, number?, number?],
  ): void;
}

/** The runtime around an open device context. */
export function createRuntime(ctx: GpuContext): Runtime {
  return {
    ctx,
    limit: ctx.maxWorkgroupsPerDimension,
    cpuAdapter: isCpuAdapter(ctx.adapterInfo),
    alloc: (elements) => ctx.allocate(elements * 4),
    run(key, bindings, source, buffers, params, groups) {
      ctx.dispatch(ctx.kernel(key, bindings, source), buffers, params, groups);
    },
  };
}

/**
 * Records a kernel that reads `inputs` straight from their storage buffers (bindings
 * 0 … k − 1) and writes `out` (binding k).
 */
export function runOnViews(
  rt: Runtime,
  key: string,
  source: () => string,
  inputs: readonly View[],
  out: GPUBuffer,
  params: Uint32Array,
  groups: [number, number?, number?],
): void {
  const bindings: BindingKind[] = [...inputs.map(() => "read" as const), "write"];
  rt.run(key, bindings, source, [...inputs.map(bufferOf), out], params, groups);
}

/** Whether an adapter is a CPU rasteriser (Mesa's llvmpipe, also called lavapipe). */
export function isCpuAdapter(info: GPUAdapterInfo): boolean {
  const text = [info.vendor, info.architecture, info.device, info.description].join(" ");
  return /llvmpipe|lavapipe/i.test(text);
}

/** The buffer behind a view (which must not be disposed). */
export function bufferOf(x: View): GPUBuffer {
  checkLive(x);
  return x.storage.data as GPUBuffer;
}

/** Refuses float64, which stays on the CPU, with a clear error. */
export function checkDType(dtype: DType): void {
  if (dtype === "float64") storageType(dtype); // throws the clear float64 error
}

/** Bit pattern of a fill value for a dtype's storage type. */
export function valueBits(value: number, dtype: DType): number {
  if (dtype === "float32") return new Uint32Array(new Float32Array([value]).buffer)[0];
  if (dtype === "int32") return new Uint32Array(new Int32Array([value]).buffer)[0];
  return value !== 0 ? 1 : 0;
}

/** The least work (elements, or multiply-adds) for which "auto" reads inputs from textures. */
export const TEXTURE_MIN_WORK = 8192;

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
 * Whether a kernel doing `work` reads `buffers` from texture copies, by a tuning setting:
 * "auto" on CPU adapters when it pays, always or never when forced; and only where the
 * buffers fit a texture.
 */
export function readsTextures(
  rt: Runtime,
  setting: "auto" | "storage" | "texture",
  work: number,
  buffers: readonly GPUBuffer[],
): boolean {
  const chosen = setting === "auto"
    ? rt.cpuAdapter && worthTextures(work, buffers)
    : setting === "texture";
  return chosen && buffers.every((b) => rt.ctx.fitsTexture(b));
}
