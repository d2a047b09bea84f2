/**
 * The CPU backend: tensors in WebAssembly memory, WebAssembly SIMD kernels, all cores.
 *
 * Storage. float32, int32 and bool storages live in one shared, growable
 * `WebAssembly.Memory` (heap.ts), so kernels read and write tensors in place. float64
 * storages are plain JavaScript arrays: float64 is the gradient-check oracle's type and
 * runs the JavaScript kernels (backend/cpu/, also available whole as the "cpu-js"
 * backend). A storage that does not fit in the 4 GiB address space is kept in a
 * JavaScript array too, and the ops that touch it run in JavaScript.
 *
 * Kernels. The hot path (matmul and linear, elementwise float32 arithmetic and
 * activations, sums, maxima and their indices, layer norm, softmax, their gradients,
 * AdamW, gather and scatterAdd, strided copies) runs in WebAssembly SIMD; every other op,
 * dtype or layout runs the JavaScript kernel, whose result is copied into the heap. The kernels are WebAssembly text written by TypeScript
 * generators (`*_wat.ts`, one per family, sharing their parameter layouts with this
 * code through layouts.ts), assembled with wabt by tools/wasm/build.ts into
 * kernels_bytes.ts (committed; nothing is compiled or downloaded at run time). Where the
 * runtime has relaxed SIMD, the matmul micro-kernel uses fused multiply-adds.
 *
 * Threads. Large kernels are split among worker threads sharing the memory
 * (threads.ts): as many as cores by default, `TESSELLA_THREADS=N` or `setNumThreads(n)`
 * to change it. Any thread count gives bit-identical results.
 *
 * @module
 */

import type { Backend } from "../../backend.ts";
import { allocArray, type TypedArray } from "../../dtype.ts";
import { contiguousStrides, sizeOf } from "../../shape.ts";
import type { View } from "../../tensor.ts";
import { cpuJsBackend } from "../cpu/mod.ts";
import { readView } from "../cpu/strided.ts";
import { BINARY_WAT, UNARY_WAT } from "./elementwise_wat.ts";
import type { HeapArray } from "./heap.ts";
import {
  adamF32,
  binaryF32,
  contiguousCopy,
  copyInto,
  reduceF32,
  rowKernel,
  unaryF32,
} from "./kernels.ts";
import { gather4, scatterAddF32 } from "./indexing.ts";
import { matmulF32 } from "./matmul.ts";
import { startedWasmRuntime, wasmRuntime } from "./runtime.ts";

export { cpuTuning, getNumThreads, setNumThreads } from "./runtime.ts";

const js = cpuJsBackend;

/**
 * A JavaScript kernel's result moved into the heap (where it fits); float64 stays a
 * JavaScript array.
 */
function adopt(result: unknown): TypedArray {
  const array = result as TypedArray;
  if (array instanceof Float64Array) return array;
  const dtype = array instanceof Float32Array
    ? "float32"
    : array instanceof Int32Array
    ? "int32"
    : "bool";
  const copy = wasmRuntime().heap.allocate(dtype, array.length);
  if (copy === null) return array;
  copy.set(array as never);
  return copy;
}

/**
 * Whether every view is float32 (the WebAssembly drivers check the rest themselves: a
 * storage outside the heap makes them return null, and the JavaScript kernel runs).
 */
function allF32(...views: (View | null)[]): boolean {
  return views.every((v) => v === null || v.dtype === "float32");
}

/** The CPU backend object; `satisfies Backend` makes the compiler list any missing kernel. */
export const cpuBackend: Backend = {
  name: "cpu",
  upload(data, dtype): TypedArray {
    if (dtype === "float64") return js.upload(data, dtype) as TypedArray;
    const copy = wasmRuntime().heap.allocate(dtype, data.length) ?? allocArray(dtype, data.length);
    copy.set(data as never);
    return copy;
  },
  read(x): Promise<TypedArray> {
    return Promise.resolve(readView(x));
  },
  readSync: readView,
  release(data): void {
    // Before the runtime exists no array can be in its heap: nothing to return.
    const heap = startedWasmRuntime()?.heap;
    if (heap?.owns(data)) heap.release(data);
  },
  fill(size, value, dtype): TypedArray {
    if (dtype === "float64") return js.fill(size, value, dtype) as TypedArray;
    const out = wasmRuntime().heap.allocate(dtype, size) ?? allocArray(dtype, size);
    out.fill(dtype === "bool" ? (value !== 0 ? 1 : 0) : value);
    return out;
  },
  unary(op, x, outDtype): TypedArray {
    if (op === "copy" && outDtype === x.dtype) {
      const copy = contiguousCopy(x);
      if (copy !== null) return copy;
    } else if (op in UNARY_WAT && outDtype === "float32" && allF32(x)) {
      const out = unaryF32(op, x);
      if (out !== null) return out;
    }
    return adopt(js.unary(op, x, outDtype));
  },
  binary(op, a, b, outDtype): TypedArray {
    if (op in BINARY_WAT && outDtype === "float32" && allF32(a, b)) {
      const out = binaryF32(op, a, b);
      if (out !== null) return out;
    }
    return adopt(js.binary(op, a, b, outDtype));
  },
  where(cond, a, b): TypedArray {
    return adopt(js.where(cond, a, b));
  },
  reduce(op, x, count, outDtype): TypedArray {
    const supported = op.startsWith("arg") ? outDtype === "int32" : outDtype === "float32";
    if (supported && allF32(x)) {
      const out = reduceF32(op, x, count);
      if (out !== null) return out;
    }
    return adopt(js.reduce(op, x, count, outDtype));
  },
  matmul(a, b, bias): TypedArray {
    if (allF32(a, b, bias ?? null)) {
      const out = matmulF32(a, b, bias ?? null);
      if (out !== null) return out;
    }
    return adopt(js.matmul(a, b, bias));
  },
  gather(x, index, axis): TypedArray {
    return gather4(x, index, axis) ?? adopt(js.gather(x, index, axis));
  },
  scatterAdd(x, index, updates, axis): TypedArray {
    const out = x.dtype === "float32" ? scatterAddF32(x, index, updates, axis) : null;
    return out ?? adopt(js.scatterAdd(x, index, updates, axis));
  },
  concat(xs, axis, outShape): TypedArray {
    const dtype = xs[0].dtype;
    if (dtype !== "float64") {
      const out = wasmRuntime().heap.allocate(dtype, sizeOf(outShape));
      if (out !== null) {
        const strides = contiguousStrides(outShape);
        let start = 0;
        let ok = true;
        for (const x of xs) {
          const target = { array: out, shape: x.shape, strides, offset: start * strides[axis] };
          ok = ok && copyInto(target, x);
          start += x.shape[axis];
        }
        if (ok) return out;
        wasmRuntime().heap.release(out);
      }
    }
    return adopt(js.concat(xs, axis, outShape));
  },
  unslice(x, outShape, starts, steps): TypedArray {
    if (x.dtype !== "float64") {
      const out = wasmRuntime().heap.allocate(x.dtype, sizeOf(outShape));
      if (out !== null) {
        out.fill(0);
        const strides = contiguousStrides(outShape);
        let offset = 0;
        for (let d = 0; d < outShape.length; d++) offset += starts[d] * strides[d];
        const target = {
          array: out,
          shape: x.shape,
          strides: strides.map((s, d) => s * steps[d]),
          offset,
        };
        if (copyInto(target, x)) return out;
        wasmRuntime().heap.release(out);
      }
    }
    return adopt(js.unslice(x, outShape, starts, steps));
  },
  layerNorm(x, weight, bias, eps): TypedArray {
    if (allF32(x, weight, bias)) {
      const out = rowKernel("layer_norm", x, null, weight, bias, eps);
      if (out !== null) return out;
    }
    return adopt(js.layerNorm(x, weight, bias, eps));
  },
  layerNormGrad(x, weight, g, eps): TypedArray {
    if (allF32(x, weight, g)) {
      const out = rowKernel("layer_norm_grad", x, g, weight, null, eps);
      if (out !== null) return out;
    }
    return adopt(js.layerNormGrad(x, weight, g, eps));
  },
  softmax(x): TypedArray {
    if (allF32(x)) {
      const out = rowKernel("softmax", x, null, null, null);
      if (out !== null) return out;
    }
    return adopt(js.softmax(x));
  },
  softmaxGrad(y, g): TypedArray {
    if (allF32(y, g)) {
      const out = rowKernel("softmax_grad", y, g, null, null);
      if (out !== null) return out;
    }
    return adopt(js.softmaxGrad(y, g));
  },
  adamStep(g, m, v, p, constants): TypedArray {
    if (allF32(g, m, v, p)) {
      const out = adamF32(g, m, v, p, constants);
      if (out !== null) return out;
    }
    return adopt(js.adamStep(g, m, v, p, constants));
  },
} satisfies Backend;

/** Whether a storage handle of the CPU backend lives in the WebAssembly heap. */
export function inHeap(data: unknown): data is HeapArray {
  return wasmRuntime().heap.owns(data);
}
