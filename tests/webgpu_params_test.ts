// Host-side parameter logic of the WebGPU backend (no adapter needed): how views are
// classified for elementwise kernels, and which adapters take the texture paths.

import assert from "node:assert/strict";
import { broadcastBlock, collapse, elementwiseParams } from "../tensor/backend/webgpu/params.ts";
import { isCpuAdapter } from "../tensor/backend/webgpu/mod.ts";

Deno.test("broadcastBlock finds a contiguous block broadcast over leading and trailing axes", () => {
  // A bias [C] against [N, C]: element i of the output reads i mod C.
  assert.deepEqual(broadcastBlock([3200, 128], [0, 1]), { d: 1, m: 128 });
  // A row statistic [N, 1] against [N, C]: element i reads ⌊i / C⌋.
  assert.deepEqual(broadcastBlock([3200, 128], [1, 0]), { d: 128, m: 3200 });
  // [1, N, 1] against [B, N, C]: ⌊i / C⌋ mod N.
  assert.deepEqual(broadcastBlock([64, 50, 128], [0, 1, 0]), { d: 128, m: 50 });
  // A scalar: one value (m = 1).
  assert.deepEqual(broadcastBlock([64, 50, 128], [0, 0, 0]), { d: 64 * 50 * 128, m: 1 });
  // Blocks of several axes must be contiguous among themselves.
  assert.deepEqual(broadcastBlock([4, 5, 6], [0, 6, 1]), { d: 1, m: 30 });
  assert.equal(broadcastBlock([4, 5, 6], [0, 7, 1]), null);
  // A transposed view, or a broadcast in the middle, is not a block.
  assert.equal(broadcastBlock([5, 6], [1, 5]), null);
  assert.equal(broadcastBlock([4, 5, 6], [6, 0, 1]), null);
});

Deno.test("elementwiseParams gives each view its mode: contiguous, block, one value, strided", () => {
  const shape = [8, 16];
  const words = elementwiseParams(shape, [
    { offset: 0, strides: [16, 1] },
    { offset: 3, strides: [0, 1] },
    { offset: 5, strides: [0, 0] },
    { offset: 0, strides: [1, 8] },
  ]);
  const mode = (k: number) => words[11 + 10 * k];
  // The transposed view is strided; its rows (16 long) hold whole invocations (4 outputs).
  assert.deepEqual([0, 1, 2, 3].map(mode), [1, 2, 3, 4]);
  const odd = elementwiseParams([8, 6], [{ offset: 0, strides: [1, 8] }]);
  assert.equal(odd[11], 0); // rows of 6: an invocation's outputs may straddle two rows
  assert.deepEqual([words[22], words[23]], [1, 16]); // view 1: d, m
  assert.equal(words[20], 3); // view 1's offset
  // Collapsing merges axes only where every view allows it.
  assert.deepEqual(collapse([8, 16], [[16, 1], [0, 0]]).shape, [128]);
  assert.deepEqual(collapse([8, 16], [[16, 1], [0, 1]]).shape, [8, 16]);
});

Deno.test("isCpuAdapter recognises Mesa's llvmpipe and no hardware adapter", () => {
  const info = (description: string, vendor = "") =>
    ({ vendor, architecture: "", device: "", description }) as GPUAdapterInfo;
  assert.equal(isCpuAdapter(info("llvmpipe (LLVM 15.0.6, 256 bits)")), true);
  assert.equal(isCpuAdapter(info("", "lavapipe")), true);
  assert.equal(isCpuAdapter(info("NVIDIA H100 80GB HBM3", "nvidia")), false);
});
