/**
 * The CPU backend: the reference ("oracle") implementation of every kernel, in plain
 * loops over typed arrays. It supports float32, float64, int32 and bool.
 *
 * @module
 */

import type { Backend } from "../../backend.ts";
import { allocArray, type TypedArray } from "../../dtype.ts";
import { binary, fill, unary, where } from "./elementwise.ts";
import { concat, gather, scatterAdd, unslice } from "./indexing.ts";
import { matmulBlocked } from "./matmul.ts";
import { matmulWasm, wasmMatmulAvailable } from "./matmul_wasm.ts";
import { layerNorm, layerNormGrad, softmax, softmaxGrad } from "./normalize.ts";
import { adamStep } from "./adam.ts";
import { reduce } from "./reduce.ts";
import { readView } from "./strided.ts";

/** The CPU backend object; `satisfies Backend` makes the compiler list any missing kernel. */
export const cpuBackend: Backend = {
  name: "cpu",
  upload(data, dtype): TypedArray {
    const copy = allocArray(dtype, data.length);
    copy.set(data);
    return copy;
  },
  read(x): Promise<TypedArray> {
    return Promise.resolve(readView(x));
  },
  readSync: readView,
  fill,
  unary,
  binary,
  where,
  reduce,
  // float32 through the WebAssembly SIMD kernel (7× the JavaScript one); float64 stays in JS.
  matmul(a, b, bias): TypedArray {
    const out = a.dtype === "float32" && wasmMatmulAvailable()
      ? matmulWasm(a, b)
      : matmulBlocked(a, b);
    if (bias) {
      const values = readView(bias); // [N], added to every row
      const n = values.length;
      for (let i = 0; i < out.length; i += n) {
        for (let j = 0; j < n; j++) out[i + j] = (out[i + j] as number) + (values[j] as number);
      }
    }
    return out;
  },
  gather,
  scatterAdd,
  concat,
  unslice,
  layerNorm,
  layerNormGrad,
  softmax,
  softmaxGrad,
  adamStep,
} satisfies Backend;
