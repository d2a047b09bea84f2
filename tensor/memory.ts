// Explicit memory management, for backends whose buffers the garbage collector cannot
// see (a GPU buffer stays allocated until someone destroys it).
//
// Every tensor is a view that holds one reference to its storage; a storage's buffer is
// released when the last live view of it is disposed. `tidy(fn)` disposes every tensor
// created while fn runs, except those it returns (and those `keep` marked), the habit
// tfjs made familiar. On the CPU the same bookkeeping runs, so code and leak tests
// behave alike on every backend.

import type { Storage, Tensor } from "./tensor.ts";
import { treeLeaves } from "./tree.ts";

const scopes: Tensor[][] = [];
const disposed = new WeakSet<Tensor>();
const kept = new WeakSet<Tensor>();
let liveTensors = 0;
const liveBytes = new Map<string, number>();

/** Called by the Tensor constructor: counts the tensor and adds it to the open scope. */
export function trackTensor(t: Tensor): void {
  liveTensors++;
  t.storage.refs++;
  scopes[scopes.length - 1]?.push(t);
}

/** Called by the Storage constructor: counts its bytes as live. */
export function trackStorage(s: Storage): void {
  const name = s.backend.name;
  liveBytes.set(name, (liveBytes.get(name) ?? 0) + s.bytes);
}

/** Whether `t` has been disposed. */
export function isDisposed(t: object): boolean {
  return disposed.has(t as Tensor);
}

function disposeTensor(t: Tensor): void {
  if (disposed.has(t)) return;
  disposed.add(t);
  liveTensors--;
  const s = t.storage;
  s.refs--;
  if (s.refs === 0 && !s.released) {
    s.released = true;
    const name = s.backend.name;
    liveBytes.set(name, (liveBytes.get(name) ?? 0) - s.bytes);
    s.backend.release?.(s.data, s.bytes);
  }
}

/**
 * Frees every tensor in a pytree (a tensor, an array, an object of tensors…). Using a
 * disposed tensor afterwards is an error. Disposing twice is harmless.
 *
 * @param tree tensors to free; non-tensor leaves are ignored
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dispose, ones } from "@tessella/tessella";
 * const t = ones([2]);
 * dispose({ t });
 * assert.equal(t.disposed, true);
 * ```
 */
export function dispose(tree: unknown): void {
  for (const leaf of treeLeaves(tree)) {
    if (leaf !== null && typeof leaf === "object" && "storage" in leaf && "shape" in leaf) {
      disposeTensor(leaf as Tensor);
    }
  }
}

/**
 * Marks a tensor to survive the `tidy` scopes it was created in (it can still be freed
 * with `dispose`).
 *
 * @param t the tensor
 * @returns the same tensor
 */
export function keep<T extends Tensor>(t: T): T {
  kept.add(t);
  return t;
}

/**
 * Runs `fn` and frees every tensor it created except the tensors in its result (any
 * pytree) and kept ones. Returned tensors move to the enclosing scope. `fn` must be
 * synchronous.
 *
 * @param fn the computation
 * @returns fn's result
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { add, memoryStats, mul, ones, tidy } from "@tessella/tessella";
 * const before = memoryStats().liveTensors;
 * const y = tidy(() => add(mul(ones([3]), 2), 1)); // the intermediates are freed
 * assert.equal(memoryStats().liveTensors, before + 1);
 * ```
 */
export function tidy<T>(fn: () => T): T {
  const scope: Tensor[] = [];
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
  } catch (error) {
    scopes.pop();
    for (const t of scope) if (!kept.has(t)) disposeTensor(t);
    throw error;
  }
  scopes.pop();
  if (result instanceof Promise) {
    throw new Error("Cannot tidy an async function: tidy(fn) needs fn to return synchronously");
  }
  const keepers = new Set(treeLeaves(result));
  const parent = scopes[scopes.length - 1];
  for (const t of scope) {
    if (keepers.has(t)) parent?.push(t);
    else if (!kept.has(t)) disposeTensor(t);
  }
  return result;
}

/** Counts of live (created, not yet disposed) tensors and bytes, and pooled bytes. */
export interface MemoryStats {
  /** Tensors (views) not yet disposed, on all backends. */
  liveTensors: number;
  /** Bytes of storages with at least one live view, on all backends. */
  liveBytes: number;
  /** Live bytes per backend name. */
  liveBytesByBackend: Record<string, number>;
  /** Bytes held in backend buffer pools for reuse (not live). */
  poolBytes: number;
}

const pools: { bytes: () => number; empty?: () => void }[] = [];

/** Lets a backend report the bytes its pool holds, and free them on `emptyCache()`. */
export function registerPool(bytes: () => number, empty?: () => void): void {
  pools.push({ bytes, empty });
}

/**
 * Frees the buffers that backends keep pooled for reuse (PyTorch's
 * `torch.cuda.empty_cache()`): live tensors are untouched, later ops allocate afresh. A
 * training step leaves its peak's intermediates pooled (hundreds of MB for a ViT step
 * on WebGPU); call this between phases that use different shapes, or before handing the
 * memory to something else. (The CPU backend's free blocks, counted in `poolBytes`, stay:
 * they merge and serve allocations of any size, and a WebAssembly memory cannot shrink.)
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { dispose, emptyCache, memoryStats, ones } from "@tessella/tessella";
 * dispose(ones([1000]));
 * emptyCache();
 * assert.ok(memoryStats().poolBytes < 1_000_000);
 * ```
 */
export function emptyCache(): void {
  for (const pool of pools) pool.empty?.();
}

/**
 * Current memory use.
 *
 * @returns live tensors, live bytes (total and per backend) and pool bytes
 */
export function memoryStats(): MemoryStats {
  const byBackend = Object.fromEntries(liveBytes);
  return {
    liveTensors,
    liveBytes: [...liveBytes.values()].reduce((a, b) => a + b, 0),
    liveBytesByBackend: byBackend,
    poolBytes: pools.reduce((n, pool) => n + pool.bytes(), 0),
  };
}

/**
 * Disposes the tensors of `previous` that `next` no longer holds: the safe way to drop an
 * old state when the new one shares unchanged leaves with it (e.g. an optimizer or
 * quantizer state where only some entries were replaced).
 *
 * @param previous the old tree
 * @param next the new tree (its tensors are kept)
 * @param spare tensors that stay alive even if `next` no longer holds them (a set of tensors
 *   the caller lent)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { disposeReplaced, ones } from "@tessella/tessella";
 * const old = { a: ones([1]), b: ones([1]) };
 * const next = { a: old.a, b: ones([2]) };
 * disposeReplaced(old, next);
 * assert.ok(!old.a.disposed && old.b.disposed);
 * ```
 */
export function disposeReplaced(
  previous: unknown,
  next: unknown,
  spare?: ReadonlySet<unknown>,
): void {
  if (previous === next) return;
  const keepers = new Set(treeLeaves(next));
  dispose(treeLeaves(previous).filter((leaf) => !keepers.has(leaf) && !spare?.has(leaf)));
}
