// Loading the kernel module: picks the variant with fused multiply-adds where the runtime
// has relaxed SIMD, and adapts the memory import where shared memory is unavailable (a
// browser page without cross-origin isolation: one thread, an unshared memory).

import { KERNELS_FMA_BASE64, KERNELS_PLAIN_BASE64 } from "./kernels_bytes.ts";

/** The compiled module and what it was built with. */
export interface KernelModule {
  module: WebAssembly.Module;
  /** Whether the matmul micro-kernel uses fused multiply-adds (relaxed SIMD). */
  fma: boolean;
  /** Whether the module imports a shared memory (threads possible). */
  shared: boolean;
  /** Export names of the kernels, in module order (a kernel's number is its index here). */
  kernelNames: string[];
}

function decode(base64: string): Uint8Array<ArrayBuffer> {
  return Uint8Array.from(atob(base64), (ch) => ch.charCodeAt(0));
}

/** Whether this runtime can create a shared WebAssembly.Memory. */
export function sharedMemoryAvailable(): boolean {
  try {
    new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return true;
  } catch {
    return false;
  }
}

/** Reads an unsigned LEB128 number at `at`; returns [value, next position]. */
function leb(bytes: Uint8Array, at: number): [number, number] {
  let value = 0;
  let shift = 0;
  for (;;) {
    const byte = bytes[at++];
    value += (byte & 0x7f) * 2 ** shift;
    if ((byte & 0x80) === 0) return [value, at];
    shift += 7;
  }
}

/**
 * The same module with its memory import declared unshared: the limits flag byte 0x03
 * (shared, with maximum) becomes 0x01 (with maximum), in the import section (id 2).
 */
function withUnsharedMemory(bytes: Uint8Array<ArrayBuffer>): Uint8Array<ArrayBuffer> {
  const out = bytes.slice();
  let at = 8; // magic and version
  while (at < out.length) {
    const id = out[at];
    const [size, body] = leb(out, at + 1);
    if (id === 2) {
      let [count, p] = leb(out, body);
      while (count-- > 0) {
        for (let name = 0; name < 2; name++) {
          const [length, next] = leb(out, p);
          p = next + length;
        }
        const kind = out[p++];
        if (kind === 2 && out[p] === 0x03) {
          out[p] = 0x01;
          return out;
        }
        throw new Error("Cannot adapt the kernel module: its first import is not a shared memory");
      }
    }
    at = body + size;
  }
  throw new Error("Cannot adapt the kernel module: no memory import found");
}

/** Compiles the kernel module for this runtime. */
export function loadKernelModule(shared: boolean): KernelModule {
  const fmaBytes = decode(KERNELS_FMA_BASE64);
  const fma = WebAssembly.validate(fmaBytes);
  let bytes = fma ? fmaBytes : decode(KERNELS_PLAIN_BASE64);
  if (!shared) bytes = withUnsharedMemory(bytes);
  const module = new WebAssembly.Module(bytes);
  const kernelNames = WebAssembly.Module.exports(module)
    .filter((e) => e.kind === "function")
    .map((e) => e.name);
  return { module, fma, shared, kernelNames };
}
