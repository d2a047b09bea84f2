/**
 * The JavaScript CPU backend, "cpu-js": the reference ("oracle") implementation of every
 * kernel, in plain loops over typed arrays, accumulating in float64. It supports
 * float32, float64, int32 and bool. The default CPU backend ("cpu", backend/wasm/) runs
 * its hot kernels in WebAssembly and these for everything else; tests check the one
 * against the other.
 *
 * @module
 */

import type { Backend } from "../../backend.ts";
import { allocArray, type TypedArray } from "../../dtype.ts";
import { binary, fill, unary, where } from "./elementwise.ts";
import { concat, gather, scatterAdd, unslice } from "./indexing.ts";
import { matmulBlocked } from "./matmul.ts";
import { layerNorm, layerNormGrad, softmax, softmaxGrad } from "./normalize.ts";
import { adamStep } from "./adam.ts";
import { reduce } from "./reduce.ts";
import { readView } from "./strided.ts";

/** The JavaScript backend object; `satisfies Backend` makes the compiler list any missing kernel. */
export const cpuJsBackend: Backend = {
  name: "cpu-js",
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
  matmul(a, b, bias): TypedArray {
    const out = matmulBlocked(a, b);
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
