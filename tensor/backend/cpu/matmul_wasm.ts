// float32 matrix products on the CPU through a WebAssembly SIMD kernel
// (tools/wasm/matmul.wat): the operands are packed into the module's memory (A in blocks
// of 4 rows, B in panels of 8 columns, both zero-padded), the kernel computes 4×8 blocks
// of C in SIMD registers, and the valid part of C is copied out. Packing is O(MK + KN),
// the product O(MKN), so the copies are cheap for all but tiny matrices. Accumulation is
// in float32 (the JavaScript kernels accumulate in float64; float64 tensors keep them).
// Legend: M, K, N matrix sizes · M4, N8 padded sizes

import { allocArray, type TypedArray } from "../../dtype.ts";
import type { View } from "../../tensor.ts";
import { MATMUL_WASM_BASE64 } from "./matmul_wasm_bytes.ts";
import { arrayOf, elementOffsets } from "./strided.ts";

interface Kernel {
  memory: WebAssembly.Memory;
  gemm: (a: number, b: number, c: number, m: number, k: number, n: number) => void;
}

let kernel: Kernel | null | undefined;

/** The instantiated kernel, or null where WebAssembly SIMD is unavailable. */
function load(): Kernel | null {
  if (kernel !== undefined) return kernel;
  try {
    const bytes = Uint8Array.from(atob(MATMUL_WASM_BASE64), (ch) => ch.charCodeAt(0));
    const instance = new WebAssembly.Instance(new WebAssembly.Module(bytes));
    kernel = instance.exports as unknown as Kernel;
  } catch {
    kernel = null;
  }
  return kernel;
}

/** Whether the WebAssembly kernel can run here. */
export function wasmMatmulAvailable(): boolean {
  return load() !== null;
}

/** Batched float32 matmul through the WebAssembly kernel (same contract as matmulBlocked). */
export function matmulWasm(a: View, b: View): TypedArray {
  const wasm = load();
  if (wasm === null) throw new Error("WebAssembly SIMD is not available in this runtime");
  const r = a.shape.length;
  const m = a.shape[r - 2];
  const k = a.shape[r - 1];
  const n = b.shape[r - 1];
  const batchShape = a.shape.slice(0, r - 2);
  const batchA = elementOffsets(batchShape, a.strides.slice(0, r - 2), a.offset);
  const batchB = elementOffsets(batchShape, b.strides.slice(0, r - 2), b.offset);
  const [aRow, aCol, bRow, bCol] = [
    a.strides[r - 2],
    a.strides[r - 1],
    b.strides[r - 2],
    b.strides[r - 1],
  ];
  const m4 = Math.ceil(m / 4) * 4;
  const n8 = Math.ceil(n / 8) * 8;
  const aFloats = m4 * k;
  const bFloats = k * n8;
  const needed = 4 * (aFloats + bFloats + m4 * n8);
  const have = wasm.memory.buffer.byteLength;
  if (needed > have) wasm.memory.grow(Math.ceil((needed - have) / 65536));
  const heap = new Float32Array(wasm.memory.buffer);
  const aPtr = 0;
  const bPtr = aFloats;
  const cPtr = aFloats + bFloats;
  const A = arrayOf(a);
  const B = arrayOf(b);
  const out = allocArray(a.dtype, batchA.length * m * n);
  for (let batch = 0; batch < batchA.length; batch++) {
    // Pack A: packedA[(i >> 2)·4K + 4p + (i & 3)] = a[i, p], rows past M are zero.
    heap.fill(0, aPtr, bPtr);
    for (let i = 0; i < m; i++) {
      const dst = aPtr + (i >> 2) * 4 * k + (i & 3);
      let src = batchA[batch] + i * aRow;
      for (let p = 0; p < k; p++, src += aCol) heap[dst + 4 * p] = A[src];
    }
    // Pack B: packedB[(j >> 3)·8K + 8p + (j & 7)] = b[p, j], columns past N are zero.
    heap.fill(0, bPtr, cPtr);
    for (let p = 0; p < k; p++) {
      let src = batchB[batch] + p * bRow;
      for (let j = 0; j < n; j++, src += bCol) {
        heap[bPtr + (j >> 3) * 8 * k + 8 * p + (j & 7)] = B[src];
      }
    }
    wasm.gemm(4 * aPtr, 4 * bPtr, 4 * cPtr, m4, k, n8);
    const base = batch * m * n;
    for (let i = 0; i < m; i++) {
      out.set(heap.subarray(cPtr + i * n8, cPtr + i * n8 + n), base + i * n);
    }
  }
  return out;
}
