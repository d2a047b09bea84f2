// Pytrees: flatten/unflatten round trips, maps over several trees, dotted paths.

import assert from "node:assert/strict";
import * as T from "../../mod.ts";

Deno.test("treeFlatten() and treeUnflatten() round-trip nested objects and arrays", () => {
  const tree = { b: [1, { c: 2 }], a: 3, n: null, k: T.key(0) };
  const { leaves, treedef } = T.treeFlatten(tree);
  assert.deepEqual(leaves.slice(0, 4), [1, 2, 3, null]);
  assert.ok(leaves[4] instanceof T.Key); // class instances are leaves
  assert.deepEqual(T.treeUnflatten(treedef, leaves), tree);
  assert.throws(() => T.treeUnflatten(treedef, [1]), /expected 5 leaves, got 1/);
});

Deno.test("treeMap() maps corresponding leaves and rejects different structures", () => {
  const out = T.treeMap((a: number, b: number) => a * b, { x: [1, 2] }, { x: [3, 4] });
  assert.deepEqual(out, { x: [3, 8] });
  assert.throws(() => T.treeMap((a: number) => a, { x: 1 }, { y: 1 }), /different structure/);
  const paths = T.treeMapWithPath((p: string, v: number) => `${p}=${v}`, { a: { b: 1 }, c: [2] });
  assert.deepEqual(paths, { a: { b: "a.b=1" }, c: ["c.0=2"] });
});

Deno.test("treeFlattenWithPath() gives PyTorch state-dict keys in insertion order", () => {
  const params = {
    cls_token: 1,
    blocks: [{ attn: { qkv: { weight: 2 } } }, { attn: { qkv: { weight: 3 } } }],
    encode_task_layer: { "0": { weight: 4 }, "2": { weight: 5 } },
  };
  assert.deepEqual(T.treeFlattenWithPath(params).map(([p]) => p), [
    "cls_token",
    "blocks.0.attn.qkv.weight",
    "blocks.1.attn.qkv.weight",
    "encode_task_layer.0.weight",
    "encode_task_layer.2.weight",
  ]);
  assert.equal(T.treeLeaves([[1], [2, [3]]]).length, 3);
});
