// The WebAssembly runtime behind the CPU backend, created on first use: the heap (one
// shared memory), the kernel module instantiated on it, and the thread pool. Also the
// public thread-count setting and the tuning knobs of when work is split among threads.

import { registerPool } from "../../memory.ts";
import { Heap } from "./heap.ts";
import type { Layout } from "./layouts.ts";
import { PARAMS_ADDRESS } from "./layouts.ts";
import { loadKernelModule, sharedMemoryAvailable } from "./module.ts";
import { type KernelFn, MAX_THREADS, ThreadPool } from "./threads.ts";

/**
 * When the CPU backend splits a kernel among threads: below these sizes the wake-up of
 * the workers (~10–40 µs) costs more than it saves, so the calling thread does it alone.
 * Measured with `deno task bench` (the per-op rows); tests set them to 0 to run every
 * kernel split.
 */
export const cpuTuning = {
  /** Elements (elementwise, copies, AdamW) below which a kernel runs on one thread. */
  minParallelElements: 32768,
  /** Multiply-adds (matmul) below which a product runs on one thread. */
  minParallelMacs: 262144,
  /** Row elements (layer norm, softmax, sums) below which a row kernel runs on one thread. */
  minParallelRowElements: 32768,
};

/** What the backend's kernels need. */
export interface Runtime {
  heap: Heap;
  pool: ThreadPool;
  /** Whether the matmul micro-kernel uses fused multiply-adds. */
  fma: boolean;
  /** The kernel's number (for the pool) by export name. */
  kernel(name: string): number;
  /**
   * Writes a parameter block at PARAMS_ADDRESS: the listed i32 and f32 fields (the rest
   * are zero).
   */
  setParams<F extends string>(
    layout: Layout<F>,
    ints: Partial<Record<F, number>>,
    floats?: Partial<Record<F, number>>,
  ): void;
}

let runtime: Runtime | undefined;
let requestedThreads: number | undefined;

/** The default thread count: TESSELLA_THREADS where set and readable, else the cores. */
function defaultThreads(): number {
  const deno = (globalThis as {
    Deno?: {
      permissions: { querySync?(d: { name: "env"; variable: string }): { state: string } };
      env: { get(name: string): string | undefined };
    };
  }).Deno;
  let value: string | undefined;
  try {
    const allowed = deno?.permissions.querySync?.({ name: "env", variable: "TESSELLA_THREADS" });
    if (allowed?.state === "granted") value = deno?.env.get("TESSELLA_THREADS");
  } catch {
    // no permission API (a browser): use the cores
  }
  if (value !== undefined && value !== "") {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS) {
      throw new Error(`TESSELLA_THREADS must be an integer in 1…${MAX_THREADS}, got "${value}"`);
    }
    return n;
  }
  return Math.max(1, navigator.hardwareConcurrency ?? 1);
}

/** The runtime if it has been created (releasing a host array needs no runtime). */
export function startedWasmRuntime(): Runtime | undefined {
  return runtime;
}

/** The runtime, created on first call. */
export function wasmRuntime(): Runtime {
  if (runtime !== undefined) return runtime;
  const shared = sharedMemoryAvailable();
  const heap = new Heap(shared);
  const loaded = loadKernelModule(shared);
  const instance = new WebAssembly.Instance(loaded.module, { env: { memory: heap.memory } });
  const fns = loaded.kernelNames.map((name) => instance.exports[name] as KernelFn);
  const numbers = new Map(loaded.kernelNames.map((name, i) => [name, i]));
  const size = requestedThreads ?? defaultThreads();
  const pool = new ThreadPool(loaded.module, heap.memory, fns, shared ? size : 1);
  registerPool(() => heap.freeBytes);
  let words = heap.i32;
  let floats = heap.f32;
  runtime = {
    heap,
    pool,
    fma: loaded.fma,
    kernel(name) {
      const n = numbers.get(name);
      if (n === undefined) throw new Error(`No CPU kernel named "${name}"`);
      return n;
    },
    setParams(layout, ints, floats32) {
      if (words.buffer.byteLength !== heap.capacity) {
        words = heap.i32;
        floats = heap.f32;
      }
      const base = PARAMS_ADDRESS / 4;
      const offsets = layout as Record<string, number>;
      words.fill(0, base, base + layout.words);
      for (const field in ints) {
        words[base + offsets[field] / 4] = (ints as Record<string, number>)[field];
      }
      for (const field in floats32) {
        floats[base + offsets[field] / 4] = (floats32 as Record<string, number>)[field];
      }
    },
  };
  return runtime;
}

/**
 * Sets the number of threads the CPU backend splits large kernels among (counting the
 * calling thread). The default is the number of cores, or the `TESSELLA_THREADS`
 * environment variable where it is set (and readable: `--allow-env`). Results do not
 * depend on it: every thread count gives bit-identical values.
 *
 * @param n threads, from 1 (everything on the calling thread) to 64
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { getNumThreads, setNumThreads } from "@tessella/tessella";
 * const before = getNumThreads();
 * setNumThreads(1);
 * assert.equal(getNumThreads(), 1);
 * setNumThreads(before);
 * ```
 */
export function setNumThreads(n: number): void {
  if (!Number.isInteger(n) || n < 1 || n > MAX_THREADS) {
    throw new RangeError(
      `Cannot set the number of threads to ${n}: expected an integer in 1…${MAX_THREADS}`,
    );
  }
  requestedThreads = n;
  runtime?.pool.resize(n);
}

/**
 * The number of threads the CPU backend uses (1 where the runtime cannot start worker
 * threads, e.g. a browser page without cross-origin isolation).
 *
 * @returns threads, counting the calling thread
 */
export function getNumThreads(): number {
  return wasmRuntime().pool.size;
}
