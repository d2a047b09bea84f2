// The whole kernel module as WebAssembly text: the shared memory import, the math
// functions and every kernel family. tools/wasm/build.ts assembles it twice, with and
// without relaxed-SIMD fused multiply-adds, into kernels_bytes.ts.

import { adamKernels } from "./adam_wat.ts";
import { elementwiseKernels } from "./elementwise_wat.ts";
import { indexingKernels } from "./indexing_wat.ts";
import { matmulKernels } from "./matmul_wat.ts";
import { reduceKernels } from "./reduce_wat.ts";
import { rowKernels } from "./rows_wat.ts";

/**
 * The module's WAT text.
 *
 * @param options.fma use `f32x4.relaxed_madd` in the matmul micro-kernel
 * @returns the text, ready for wabt's parseWat (features: simd, threads, relaxed_simd)
 */
export function kernelModuleText(options: { fma: boolean }): string {
  return `(module
  ;; the heap (heap.ts): shared between the threads of the pool, at most 4 GiB
  (import "env" "memory" (memory 1 65536 shared))
  ${elementwiseKernels()}
  ${indexingKernels()}
  ${matmulKernels(options.fma)}
  ${reduceKernels()}
  ${rowKernels()}
  ${adamKernels()}
)
`;
}
