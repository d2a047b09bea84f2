// Shared helpers of the benchmarks: medians, waiting for a backend's queued work, and a
// check of a result against the JavaScript oracle before anything is timed.

import * as T from "../mod.ts";
import type { GpuContext } from "../tensor/backend/webgpu/mod.ts";

/** The median of some numbers. */
export function median(xs: number[]): number {
  return [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
}

/** The WebGPU context (for syncs and kernel timing). */
export function gpuContext(): GpuContext {
  return (T.getBackend("webgpu") as unknown as { context: GpuContext }).context;
}

/** Waits for all queued work of a backend (WebGPU queues; the CPU backends do not). */
export async function sync(backend: string): Promise<void> {
  if (backend === "webgpu") await gpuContext().sync();
}

/** Throws unless `got` equals `want` within atol + 1e-4·|want| everywhere. */
export async function check(
  label: string,
  got: T.Tensor,
  want: T.Tensor,
  atol: number,
): Promise<void> {
  const a = await T.toArray(got);
  const b = await T.toArray(want);
  for (let i = 0; i < b.length; i++) {
    if (!(Math.abs(a[i] - b[i]) <= atol + 1e-4 * Math.abs(b[i]))) {
      throw new Error(`${label}: element ${i} is ${a[i]}, the oracle says ${b[i]}`);
    }
  }
}

/**
 * Seconds per call of `fn` (which returns tensors to free): the median of `runs` timings
 * of `repeat` calls each, after two warm-up calls (the first compiles kernels, and lets
 * WebAssembly code reach its optimising tier). On WebGPU the calls are queued and waited
 * for once per timing; elsewhere each result is freed at once (as a training loop's
 * tidy() does), so the memory in use stays that of one call.
 */
export async function secondsPerCall(
  backend: string,
  fn: () => T.Tensor,
  options: { repeat?: number; runs?: number } = {},
): Promise<number> {
  const repeat = options.repeat ?? 4;
  for (let i = 0; i < 2; i++) T.dispose(fn());
  await sync(backend);
  const samples: number[] = [];
  for (let r = 0; r < (options.runs ?? 7); r++) {
    const t0 = performance.now();
    const outs = [];
    for (let i = 0; i < repeat; i++) {
      const out = fn();
      if (backend === "webgpu") outs.push(out);
      else T.dispose(out);
    }
    await sync(backend);
    samples.push((performance.now() - t0) / repeat / 1000);
    T.dispose(outs);
  }
  return median(samples);
}
