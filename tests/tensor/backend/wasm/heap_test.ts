// The CPU backend's heap: blocks are aligned and disjoint, freed blocks merge and serve
// any later size, the memory grows on demand, and what cannot fit in 4 GiB is refused.

import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../../../../mod.ts";
import { ALIGN, Heap, type HeapArray, RESERVED } from "../../../../tensor/backend/wasm/heap.ts";
import { inHeap } from "../../../../tensor/backend/wasm/mod.ts";
import { wasmRuntime } from "../../../../tensor/backend/wasm/runtime.ts";
import { assertClose, SEED } from "../../../_helpers.ts";

Deno.test("Heap.allocate() gives aligned, disjoint blocks above the reserved area", () => {
  const heap = new Heap(false, 1 << 16);
  const blocks = [1, 3, 16, 17, 100, 1000].map((n) => heap.allocate("float32", n)!);
  const bool = heap.allocate("bool", 5)!;
  const spans = [...blocks, bool].map((a) => [a.byteOffset, a.byteOffset + a.byteLength]);
  for (const [start] of spans) {
    assert.ok(start >= RESERVED && start % ALIGN === 0, `block at ${start}`);
  }
  spans.sort((a, b) => a[0] - b[0]);
  for (let i = 1; i < spans.length; i++) assert.ok(spans[i][0] >= spans[i - 1][1], "overlap");
  assert.equal(blocks[1].length, 3);
  assert.ok(heap.owns(bool) && !heap.owns(new Float32Array(4)));
});

Deno.test("Heap.release() merges free neighbours, so memory freed by one size serves another", () => {
  const heap = new Heap(false, 1 << 16);
  const keep = heap.allocate("float32", 16)!; // keeps the freed run away from the top
  const parts = [heap.allocate("float32", 256)!, heap.allocate("float32", 256)!];
  const fence = heap.allocate("float32", 16)!;
  const start = parts[0].byteOffset;
  for (const p of parts) heap.release(p);
  assert.equal(heap.freeBytes, 2048);
  const joined = heap.allocate("float32", 512)!; // needs both freed blocks as one
  assert.equal(joined.byteOffset, start);
  assert.equal(heap.freeBytes, 0);
  for (const a of [keep, fence, joined]) heap.release(a);
  assert.equal(heap.usedBytes, 0);
});

Deno.test("Heap keeps its accounting over random allocate/release sequences", () => {
  fc.assert(
    fc.property(
      fc.array(fc.tuple(fc.boolean(), fc.integer({ min: 0, max: 5000 }), fc.nat()), {
        maxLength: 80,
      }),
      (script) => {
        const heap = new Heap(false, 1 << 16);
        const live: HeapArray[] = [];
        let mark = 0;
        for (const [alloc, n, pick] of script) {
          if (alloc || live.length === 0) {
            const a = heap.allocate("int32", n)!;
            a.fill(++mark); // each block marked with its own value
            live.push(a);
          } else {
            heap.release(live.splice(pick % live.length, 1)[0]);
          }
        }
        // Every live block still holds its mark: no block was handed out twice.
        const filled = live.filter((a) => a.length > 0);
        for (const a of filled) assert.ok(a.every((v) => v === a[0]));
        assert.equal(new Set(filled.map((a) => a[0])).size, filled.length);
        const used = live.reduce(
          (s, a) => s + Math.max(ALIGN, Math.ceil(a.byteLength / ALIGN) * ALIGN),
          0,
        );
        assert.equal(heap.usedBytes, used);
        for (const a of live) heap.release(a);
        assert.equal(heap.usedBytes, 0);
      },
    ),
    { seed: SEED, numRuns: 50 },
  );
});

Deno.test("Heap grows its memory on demand and refuses what exceeds 4 GiB", () => {
  const heap = new Heap(false, 1 << 16);
  const before = heap.capacity;
  const big = heap.allocate("float32", 1 << 20)!; // 4 MiB
  assert.ok(heap.capacity > before && heap.capacity >= big.byteOffset + big.byteLength);
  big.fill(1.5);
  assert.equal(big[big.length - 1], 1.5);
  assert.equal(heap.allocate("float32", 2 ** 30 + 1), null); // 4 GiB + 4 bytes
  assert.equal(heap.allocate("bool", 2 ** 32), null);
});

Deno.test("cpu tensors of float32, int32 and bool live in the heap; float64 in JavaScript arrays", () => {
  for (const dtype of ["float32", "int32", "bool"] as const) {
    assert.ok(inHeap(T.ones([3], { dtype }).storage.data), dtype);
  }
  assert.ok(!inHeap(T.ones([3], { dtype: "float64" }).storage.data));
  assert.ok(inHeap(T.exp(T.ones([5])).storage.data));
});

Deno.test("dispose() returns a tensor's block to the heap, and tidy() keeps the heap flat", () => {
  T.tidy(() => T.matmul(T.ones([64, 64]), T.ones([64, 64]))); // first use: runtime, scratch
  const used = () => T.memoryStats().liveBytesByBackend.cpu ?? 0;
  const before = used();
  for (let i = 0; i < 20; i++) {
    T.dispose(T.tidy(() => T.sum(T.gelu(T.matmul(T.ones([64, 64]), T.ones([64, 64]))))));
  }
  assert.equal(used(), before);
  const t = T.zeros([1000]);
  assert.equal(used(), before + 4000);
  T.dispose(t);
  assert.equal(used(), before);
});

Deno.test("when the 4 GiB heap is full, cpu ops run on JavaScript arrays and agree", () => {
  const x = T.normal(T.key(1), [300, 400]);
  const op = () => T.sum(T.gelu(T.matmul(x, T.transpose(x))));
  const expected = T.toArraySync(op());
  // One block filling the address space but for ~100 KB (never touched: never resident).
  const heap = wasmRuntime().heap;
  const rest = 2 ** 32 - RESERVED - heap.usedBytes - heap.freeBytes - 100_000;
  const filler = heap.allocate("bool", rest);
  assert.ok(filler !== null, "could not reserve the rest of the heap");
  try {
    const big = T.gelu(T.matmul(x, T.transpose(x))); // 360 KB: does not fit
    assert.ok(!inHeap(big.storage.data));
    // The JavaScript matmul accumulates in float64, the WebAssembly one in float32.
    assertClose(T.toArraySync(op()), expected, { atol: 0, rtol: 1e-5 }, "sum of gelu(x·xᵀ)");
    T.dispose(big);
  } finally {
    heap.release(filler);
  }
  assert.ok(inHeap(T.ones([1000]).storage.data));
});
