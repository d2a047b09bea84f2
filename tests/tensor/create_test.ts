// Creation and readback: tensor() from every input form, fills, ranges, eye, and the
// async/sync/nested readers.

import assert from "node:assert/strict";
import * as T from "../../mod.ts";
import { values } from "../_helpers.ts";

Deno.test("tensor() infers shape and dtype from numbers, booleans, nested and typed arrays", () => {
  assert.deepEqual(T.tensor(2.5).shape, []);
  assert.equal(T.tensor(2.5).dtype, "float32");
  assert.equal(T.tensor(true).dtype, "bool");
  assert.deepEqual(T.tensor([[1, 2, 3], [4, 5, 6]]).shape, [2, 3]);
  assert.deepEqual(T.tensor([[true], [false]]).shape, [2, 1]);
  assert.equal(T.tensor(new Float64Array(4)).dtype, "float64");
  assert.equal(T.tensor(new Int32Array(4)).dtype, "int32");
  assert.equal(T.tensor(new Uint8Array(4), { dtype: "bool" }).dtype, "bool");
  assert.deepEqual(T.tensor([]).shape, [0]);
  assert.deepEqual(T.tensor([[], []]).shape, [2, 0]);
});

Deno.test("tensor() converts with an explicit dtype and reshapes with an explicit shape", () => {
  const t = T.tensor([1.5, 2.5, 3.5, 4.5], { dtype: "int32", shape: [2, 2] });
  assert.equal(t.dtype, "int32");
  assert.deepEqual(t.shape, [2, 2]);
  assert.deepEqual(values(t), [1, 2, 3, 4]);
  const u = T.tensor(new Uint16Array([1, 2]), { dtype: "float32" });
  assert.deepEqual(values(u), [1, 2]);
  assert.deepEqual(values(T.tensor(7, { shape: [2] })), [7, 7]);
});

Deno.test("tensor() keeps the values of integer typed arrays: uint8 bytes become int32", () => {
  const bytes = T.tensor(new Uint8Array([0, 128, 255]));
  assert.equal(bytes.dtype, "int32");
  assert.deepEqual(values(bytes), [0, 128, 255]);
  for (const data of [new Uint8ClampedArray([0, 255]), new Int8Array([-128, 127])]) {
    assert.equal(T.tensor(data).dtype, "int32");
    assert.deepEqual(values(T.tensor(data)), Array.from(data));
  }
  assert.deepEqual(values(T.tensor(new Int16Array([-32768, 32767]))), [-32768, 32767]);
  assert.deepEqual(values(T.tensor(new Uint16Array([65535]))), [65535]);
  // A Uint32Array may not fit in int32: it needs an explicit dtype.
  assert.throws(() => T.tensor(new Uint32Array([4294967295])), /pass \{ dtype \}/);
  assert.deepEqual(
    values(T.tensor(new Uint32Array([4294967295]), { dtype: "float64" })),
    [4294967295],
  );
  // As a mask, any non-zero byte is true, and the storage holds 0/1.
  const mask = T.tensor(new Uint8Array([0, 2, 255, 1]), { dtype: "bool" });
  assert.deepEqual(values(mask), [0, 1, 1, 1]);
  assert.deepEqual(values(T.sum(mask)), [3]);
  assert.deepEqual(values(T.tensor([NaN, 0, 2, -0], { dtype: "bool" })), [1, 0, 1, 0]);
  assert.deepEqual(values(T.tensor(NaN, { dtype: "bool" })), [1]);
  assert.deepEqual(values(T.tensor(new Float32Array([0, -0.5, NaN]), { dtype: "bool" })), [
    0,
    1,
    1,
  ]);
});

Deno.test("tensor() copies its input, so later changes to the array do not leak in", () => {
  const data = new Float32Array([1, 2]);
  const t = T.tensor(data);
  data[0] = 99;
  assert.deepEqual(values(t), [1, 2]);
});

Deno.test("zeros(), ones(), full() and the *Like variants fill shapes", () => {
  assert.deepEqual(values(T.zeros([2, 2])), [0, 0, 0, 0]);
  assert.deepEqual(values(T.ones([3], { dtype: "int32" })), [1, 1, 1]);
  assert.deepEqual(values(T.full([2], 0.5, { dtype: "float64" })), [0.5, 0.5]);
  const like = T.fullLike(T.zeros([2], { dtype: "float64" }), 3);
  assert.equal(like.dtype, "float64");
  assert.deepEqual(values(T.onesLike(like)), [1, 1]);
  assert.deepEqual(values(T.zerosLike(like, { dtype: "int32" })), [0, 0]);
  assert.deepEqual(T.zeros([0, 3]).shape, [0, 3]);
});

Deno.test("arange(), linspace() and eye() follow NumPy", () => {
  assert.deepEqual(values(T.arange(4)), [0, 1, 2, 3]);
  assert.equal(T.arange(4).dtype, "int32");
  assert.deepEqual(values(T.arange(1, 2, 0.25)), [1, 1.25, 1.5, 1.75]);
  assert.equal(T.arange(1, 2, 0.25).dtype, "float32");
  assert.deepEqual(values(T.arange(5, 0, -2)), [5, 3, 1]);
  assert.deepEqual(values(T.arange(0)), []);
  assert.deepEqual(values(T.linspace(0, 1, 5)), [0, 0.25, 0.5, 0.75, 1]);
  assert.deepEqual(values(T.linspace(0, 1, 4, { endpoint: false })), [0, 0.25, 0.5, 0.75]);
  assert.deepEqual(values(T.eye(2)), [1, 0, 0, 1]);
  assert.deepEqual(values(T.eye(2, { m: 3, k: 1 })), [0, 1, 0, 0, 0, 1]);
});

Deno.test("toArray(), toArraySync(), toNested() and item() read values back", async () => {
  const t = T.tensor([[1, 2], [3, 4]]);
  assert.deepEqual(await T.toArray(t), new Float32Array([1, 2, 3, 4]));
  assert.deepEqual(T.toArraySync(t), new Float32Array([1, 2, 3, 4]));
  assert.deepEqual(await T.toNested(t), [[1, 2], [3, 4]]);
  assert.deepEqual(await T.toNested(T.tensor([true, false])), [true, false]);
  assert.equal(await T.toNested(T.tensor(5)), 5);
  assert.equal(await T.item(T.tensor([[5]])), 5);
  assert.deepEqual(await T.toArray(T.tensor(3)), new Float32Array([3]));
});

Deno.test("Tensor exposes shape, dtype, backend, size and rank, and is immutable", () => {
  const t = T.tensor([[1, 2, 3]]);
  assert.equal(t.size, 3);
  assert.equal(t.rank, 2);
  assert.equal(t.backend, "cpu");
  assert.equal(String(t), "Tensor([[1., 2., 3.]], float32 [1, 3] cpu)");
  assert.throws(() => (t.shape as number[]).push(1), TypeError);
  assert.ok(Object.isFrozen(t.strides));
});

Deno.test("useBackend() selects the default backend for creation functions", async () => {
  await T.useBackend("cpu");
  assert.equal(T.zeros([1]).backend, "cpu");
  assert.ok(T.listBackends().includes("cpu"));
});
