// Running a test body with a given number of CPU threads; with more than one, every
// kernel is split among the threads however small it is (the thresholds that keep small
// kernels on the calling thread set to 0), so small test tensors exercise the split.

import * as T from "../mod.ts";
import { cpuTuning } from "../tensor/backend/wasm/mod.ts";

/** Runs `fn` with `threads` CPU threads, restoring the thread count and thresholds after. */
export async function withThreads<R>(threads: number, fn: () => R | Promise<R>): Promise<R> {
  const before = T.getNumThreads();
  const tuning = { ...cpuTuning };
  T.setNumThreads(threads);
  if (threads > 1) {
    cpuTuning.minParallelElements = 0;
    cpuTuning.minParallelMacs = 0;
    cpuTuning.minParallelRowElements = 0;
  }
  try {
    return await fn();
  } finally {
    Object.assign(cpuTuning, tuning);
    T.setNumThreads(before);
  }
}
