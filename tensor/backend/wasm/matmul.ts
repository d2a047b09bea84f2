// The CPU backend's matmul driver (see kernels.ts for what a driver does, and
// matmul_wat.ts for the kernels): batch offsets, scratch for packed operands, the split of
// the product into tasks, and the two kernel runs.

import { elementOffsets } from "../cpu/strided.ts";
import { sizeOf } from "../../shape.ts";
import type { View } from "../../tensor.ts";
import type { HeapArray } from "./heap.ts";
import { address, allocate, run, withDense } from "./kernels.ts";
import { MATMUL } from "./layouts.ts";
import { MATMUL_DEPTH_PER_PASS, MATMUL_ROWS_PER_TASK } from "./matmul_wat.ts";
import { cpuTuning, wasmRuntime } from "./runtime.ts";

/**
 * Batched float32 matmul (see Backend.matmul), or null. B is packed into panels of 8
 * columns, then row blocks of A run the micro-kernel; both steps split over the pool.
 */
export function matmulF32(a: View, b: View, bias: View | null): HeapArray | null {
  const r = a.shape.length;
  const [m, k, n] = [a.shape[r - 2], a.shape[r - 1], b.shape[r - 1]];
  if (k === 0) return null;
  const aBase = address(a);
  const bBase = address(b);
  if (aBase === null || bBase === null) return null;
  const batchShape = a.shape.slice(0, r - 2);
  const batch = sizeOf(batchShape);
  const out = allocate("float32", batch * m * n);
  if (out === null || batch * m * n === 0) return out;
  const rt = wasmRuntime();
  const heap = rt.heap;
  const panels = Math.ceil(n / 8);
  const rowBlocks = Math.ceil(m / MATMUL_ROWS_PER_TASK);
  const threads = rt.pool.size;
  // Split columns too when there are few row blocks to share among the threads.
  const columnSplit = Math.min(panels, Math.ceil((4 * threads) / (batch * rowBlocks)));
  const colsPerBlock = 8 * Math.ceil(panels / Math.max(1, columnSplit));
  const colBlocks = Math.ceil(n / colsPerBlock);
  const packedAStride = MATMUL_ROWS_PER_TASK * Math.min(k, MATMUL_DEPTH_PER_PASS) * 4;
  // B's rows contiguous and whole panels of 8: the micro-kernel reads B in place. Only for
  // rows of at most 2 KB: with longer ones each k of a panel lands on a page of its own,
  // and the TLB misses cost more than packing (1024²: 42 → 25 GFLOP/s).
  const directB = b.strides[r - 1] === 1 && n % 8 === 0 && b.strides[r - 2] <= 512;
  const scratch = [
    heap.scratch(8 * batch), // batch offsets of A and B
    heap.scratch(directB ? 0 : batch * panels * k * 32), // packed B
    heap.scratch(threads * packedAStride), // packed A, per thread
  ];
  const result = withDense([bias], ([biasAddress]) => {
    if (scratch.some((s) => s === null)) return null;
    const [offsets, packedB, packedA] = scratch as number[];
    const words = heap.i32;
    words.set(elementOffsets(batchShape, a.strides.slice(0, r - 2), 0), offsets / 4);
    words.set(elementOffsets(batchShape, b.strides.slice(0, r - 2), 0), offsets / 4 + batch);
    rt.setParams(MATMUL, {
      a: aBase,
      b: bBase,
      c: out.byteOffset,
      bias: biasAddress,
      batchA: offsets,
      batchB: offsets + 4 * batch,
      m,
      k,
      n,
      aRow: a.strides[r - 2],
      aCol: a.strides[r - 1],
      bRow: b.strides[r - 2],
      bCol: b.strides[r - 1],
      packedB,
      packedA,
      packedAStride,
      rowBlocks,
      colBlocks,
      colsPerBlock,
      directB: directB ? 1 : 0,
    });
    const parallel = batch * m * n * k >= cpuTuning.minParallelMacs;
    if (!directB) run("matmul_pack_b", batch * panels, 1, parallel);
    run("matmul", batch * rowBlocks * colBlocks, 1, parallel);
    return out;
  });
  for (const s of scratch) if (s !== null) heap.freeScratch(s);
  if (result === null) heap.release(out);
  return result;
}
