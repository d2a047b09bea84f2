// Bad input: every documented error, triggered, with its message checked. Messages name
// the op and show the values involved.

import assert from "node:assert/strict";
import * as T from "../mod.ts";

const i32 = (data: number[], shape?: number[]) => T.tensor(data, { dtype: "int32", shape });

const CASES: [string, () => unknown, RegExp][] = [
  // creation
  [
    "tensor: ragged nested array",
    () => T.tensor([[1, 2], [3]]),
    /ragged nested array \(expected length 2 at depth 1, got 1\)/,
  ],
  [
    "tensor: array where a number belongs",
    () => T.tensor([1, [2]] as unknown as number[]),
    /ragged nested array/,
  ],
  [
    "tensor: shape/data size mismatch",
    () => T.tensor([1, 2, 3], { shape: [2, 2] }),
    /shape \[2, 2\] needs 4 elements, the data has 3/,
  ],
  [
    "tensor: typed array size mismatch",
    () => T.tensor(new Float32Array(3), { shape: [2] }),
    /shape \[2\] needs 2 elements, the array has 3/,
  ],
  [
    "tensor: unknown typed array without dtype",
    () => T.tensor(new Uint32Array(2)),
    /Cannot create tensor from a Uint32Array: pass \{ dtype \}/,
  ],
  [
    "tensor: unknown dtype",
    () => T.tensor([1], { dtype: "float16" as T.DType }),
    /unknown dtype "float16"/,
  ],
  [
    "tensor: not an array",
    () => T.tensor("abc" as unknown as number[]),
    /Cannot create tensor from string/,
  ],
  [
    "zeros: negative size",
    () => T.zeros([2, -1]),
    /shape entries must be non-negative integers \(got \[2, -1\]\)/,
  ],
  [
    "zeros: not an array",
    () => T.zeros(3 as unknown as number[]),
    /shape must be an array of integers/,
  ],
  ["arange: zero step", () => T.arange(0, 5, 0), /step must be finite and non-zero/],
  ["arange: bad arguments", () => T.arange(), /expected \(stop\), \(start, stop\)/],
  ["linspace: bad num", () => T.linspace(0, 1, -1), /num must be a non-negative integer/],
  [
    "backend: unknown name",
    () => T.getBackend("tpu"),
    /Unknown backend "tpu": available backends are cpu/,
  ],
  // elementwise
  [
    "add: shapes do not broadcast",
    () => T.add(T.zeros([2, 3]), T.zeros([4])),
    /Cannot add tensors: shapes \[2, 3\] and \[4\] do not broadcast \(axis -1: 3 vs 4\)/,
  ],
  [
    "mul: non-tensor operand",
    () => T.mul(T.zeros([1]), "2" as unknown as number),
    /Expected a tensor or a number, got string 2/,
  ],
  [
    "gelu: bad approximate",
    () => T.gelu(T.zeros([1]), { approximate: "fast" as "tanh" }),
    /approximate must be "none" or "tanh"/,
  ],
  [
    "cast: bad dtype",
    () => T.cast(T.zeros([1]), "uint8" as T.DType),
    /Cannot cast: unknown dtype "uint8"/,
  ],
  // reductions
  [
    "sum: axis out of range",
    () => T.sum(T.zeros([2, 3]), { axis: 2 }),
    /Cannot sum: axis 2 is out of range for a tensor of rank 2/,
  ],
  [
    "sum: repeated axis",
    () => T.sum(T.zeros([2, 3]), { axis: [1, -1] }),
    /Cannot sum: repeated axis in \[1, -1\]/,
  ],
  [
    "max: empty axis",
    () => T.max(T.zeros([0, 2]), { axis: 0 }),
    /Cannot max over an empty axis of a tensor of shape \[0, 2\]/,
  ],
  ["argmax: empty axis", () => T.argmax(T.zeros([0])), /Cannot argmax over an empty axis/],
  [
    "norm: bad ord",
    () => T.norm(T.zeros([2]), { ord: -1 }),
    /ord must be a positive number or Infinity/,
  ],
  // movement
  [
    "reshape: size mismatch",
    () => T.reshape(T.zeros([2, 3]), [4, 2]),
    /Cannot reshape tensor of shape \[2, 3\] into \[4, 2\]: sizes differ \(6 vs 8\)/,
  ],
  ["reshape: two -1", () => T.reshape(T.zeros([6]), [-1, -1]), /only one axis may be -1/],
  [
    "reshape: -1 does not divide",
    () => T.reshape(T.zeros([6]), [4, -1]),
    /6 elements do not divide evenly/,
  ],
  ["permute: wrong length", () => T.permute(T.zeros([2, 3]), [0]), /expected 2 axes, got \[0\]/],
  [
    "permute: not a permutation",
    () => T.permute(T.zeros([2, 3]), [0, 0]),
    /\[0, 0\] is not a permutation/,
  ],
  ["matrixTranspose: rank 1", () => T.matrixTranspose(T.zeros([3])), /rank < 2/],
  [
    "expand: incompatible",
    () => T.expand(T.zeros([2, 3]), [2, 4]),
    /Cannot expand tensor of shape \[2, 3\] to \[2, 4\]/,
  ],
  ["slice: too many specs", () => T.slice(T.zeros([2]), [null, null]), /2 specs for 1 axes/],
  [
    "slice: zero step",
    () => T.slice(T.zeros([4]), [[0, 4, 0]]),
    /step must be a non-zero integer \(got 0\)/,
  ],
  [
    "slice: fractional bound",
    () => T.slice(T.zeros([4]), [[0.5]]),
    /bounds must be integers \(got 0.5\)/,
  ],
  [
    "pad: wrong number of pairs",
    () => T.pad(T.zeros([2, 2]), [[1, 1]]),
    /expected 2 \[before, after\] pairs, got 1/,
  ],
  [
    "pad: negative width",
    () => T.pad(T.zeros([2]), [[-1, 0]]),
    /widths must be non-negative integers/,
  ],
  ["concat: no tensors", () => T.concat([]), /expected at least one tensor/],
  [
    "concat: mismatched shapes",
    () => T.concat([T.zeros([2, 3]), T.zeros([2, 4])]),
    /Cannot concat tensors of shapes \[2, 3\] and \[2, 4\] along axis 0/,
  ],
  ["stack: no tensors", () => T.stack([]), /Cannot stack: expected at least one tensor/],
  [
    "stack: different shapes",
    () => T.stack([T.zeros([2]), T.zeros([3])]),
    /Cannot stack tensors of different shapes \(\[2\] vs \[3\]\)/,
  ],
  [
    "split: uneven sections",
    () => T.split(T.zeros([5]), 2),
    /Cannot split axis 0 of size 5 into 2 equal parts/,
  ],
  ["squeeze: axis not size 1", () => T.squeeze(T.zeros([2, 1]), { axis: 0 }), /its size is not 1/],
  [
    "unsqueeze: axis out of range",
    () => T.unsqueeze(T.zeros([2]), 3),
    /Cannot unsqueeze: axis 3 is out of range/,
  ],
  [
    "flatten: end before start",
    () => T.flatten(T.zeros([2, 3, 4]), { startAxis: 2, endAxis: 1 }),
    /endAxis 1 is before startAxis 2/,
  ],
  ["repeat: negative", () => T.repeat(T.zeros([2]), -1), /repeats must be a non-negative integer/],
  ["tile: bad reps", () => T.tile(T.zeros([2]), [1.5]), /reps must be non-negative integers/],
  // indexing
  [
    "gather: float indices",
    () => T.gather(T.zeros([3]), T.zeros([1]), {}),
    /Cannot gather: indices must be int32 \(got float32\)/,
  ],
  [
    "gather: index rank",
    () => T.gather(T.zeros([3, 2]), i32([0]), {}),
    /index of shape \[1\] does not fit tensor of shape \[3, 2\]/,
  ],
  [
    "gather: index out of range",
    () => T.gather(T.zeros([3]), i32([3]), {}),
    /Cannot gather: index 3 is out of range for axis 0 of size 3/,
  ],
  [
    "scatterAdd: updates shape",
    () => T.scatterAdd(T.zeros([3]), i32([0, 1]), T.zeros([3])),
    /updates of shape \[3\] must match index shape \[2\]/,
  ],
  [
    "scatterAdd: index out of range",
    () => T.scatterAdd(T.zeros([3]), i32([-4]), T.zeros([1])),
    /index -4 is out of range for axis 0 of size 3/,
  ],
  [
    "take: float indices",
    () => T.take(T.zeros([3]), T.zeros([1])),
    /Cannot take: indices must be int32/,
  ],
  ["oneHot: float ids", () => T.oneHot(T.zeros([2]), 3), /Cannot oneHot: indices must be int32/],
  // matmul
  [
    "matmul: inner dimensions",
    () => T.matmul(T.zeros([2, 768]), T.zeros([512, 4])),
    /Cannot matmul tensors: inner dimensions differ \(768 vs 512\)/,
  ],
  [
    "matmul: integer operands",
    () => T.matmul(i32([1, 2]), i32([1, 2])),
    /expected float dtypes \(got int32 and int32\)/,
  ],
  [
    "matmul: scalar operand",
    () => T.matmul(T.tensor(1), T.zeros([2])),
    /operands must have at least one axis/,
  ],
  [
    "matmul: batch dims",
    () => T.matmul(T.zeros([2, 1, 3]), T.zeros([3, 3, 1])),
    /Cannot matmul tensors: shapes \[2\] and \[3\] do not broadcast/,
  ],
  // composites
  [
    "crossEntropy: shapes",
    () => T.crossEntropy(T.zeros([2, 3]), i32([0])),
    /expected logits \[N, C\] and labels \[N\] \(got \[2, 3\] and \[1\]\)/,
  ],
  [
    "crossEntropy: float labels",
    () => T.crossEntropy(T.zeros([1, 3]), T.zeros([1])),
    /labels must be int32 \(got float32\)/,
  ],
  [
    "crossEntropy: smoothing range",
    () => T.crossEntropy(T.zeros([1, 3]), i32([0]), { labelSmoothing: 2 }),
    /labelSmoothing must be in \[0, 1\]/,
  ],
  [
    "dropout: rate range",
    () => T.dropout(T.key(0), T.zeros([1]), { rate: 1 }),
    /rate must be in \[0, 1\) \(got 1\)/,
  ],
  // random
  ["key: unsafe seed", () => T.key(0.5), /the seed must be a safe integer \(got 0.5\)/],
  [
    "normal: not a key",
    () => T.normal(0 as unknown as T.Key, [2]),
    /the first argument must be a Key/,
  ],
  ["splitKey: bad n", () => T.splitKey(T.key(0), -1), /n must be a non-negative integer/],
  ["foldIn: bad data", () => T.foldIn(T.key(0), -1), /data must be an integer in \[0, 2\^32\)/],
  [
    "uniform: int dtype",
    () => T.uniform(T.key(0), [2], { dtype: "int32" }),
    /dtype must be float32 or float64 \(got int32\)/,
  ],
  [
    "truncatedNormal: empty interval",
    () => T.truncatedNormal(T.key(0), [2], { lower: 1, upper: 1 }),
    /lower \(1\) must be below upper \(1\)/,
  ],
  ["randint: empty range", () => T.randint(T.key(0), [2], 3, 3), /need integers minval < maxval/],
  ["permutation: bad n", () => T.permutation(T.key(0), -2), /n must be a non-negative integer/],
  // readback and trees
  ["item: not one element", () => T.item(T.zeros([2])), /the tensor has 2 elements, not 1/],
  [
    "treeUnflatten: leaf count",
    () => T.treeUnflatten(T.treeFlatten([1, 2]).treedef, [1]),
    /expected 2 leaves, got 1/,
  ],
  [
    "treeMap: structures differ",
    () => T.treeMap((a: number) => a, [1], [1, 2]),
    /tree 1 has a different structure/,
  ],
  // autograd
  [
    "grad: non-scalar output",
    () => T.grad((x: T.Tensor) => x)(T.zeros([2])),
    /must return a 0-d tensor \(got shape \[2\]\)/,
  ],
  [
    "grad: non-tensor output",
    () => T.grad(() => 3 as unknown as T.Tensor)(T.zeros([1])),
    /must return a 0-d tensor \(got number\)/,
  ],
  [
    "vjp: non-tensor output",
    () => T.vjp(() => 3 as unknown as T.Tensor, T.zeros([1])),
    /Cannot vjp: f must return a tensor/,
  ],
  [
    "checkGrad: non-scalar f",
    () => T.checkGrad((x) => x, [T.zeros([2], { dtype: "float64" })]),
    /must return a 0-d tensor|must return one element/,
  ],
];

for (const [name, thunk, pattern] of CASES) {
  Deno.test(`errors: ${name}`, async () => {
    await assert.rejects(async () => await thunk(), pattern);
  });
}

Deno.test("errors: toArraySync() explains how to read a tensor without a sync reader", () => {
  const fakeBackend = { ...T.getBackend("cpu"), name: "fake", readSync: undefined };
  const t = new T.Tensor(
    new T.Storage(fakeBackend, new Float32Array(1), "float32", 1),
    [1],
    "float32",
  );
  assert.throws(
    () => T.toArraySync(t),
    /Cannot read a fake tensor synchronously: use await toArray\(t\) instead/,
  );
});

Deno.test("errors: ops refuse tensors from different backends", () => {
  const fakeBackend = { ...T.getBackend("cpu"), name: "fake" };
  const t = new T.Tensor(
    new T.Storage(fakeBackend, new Float32Array(1), "float32", 1),
    [1],
    "float32",
  );
  assert.throws(
    () => T.add(t, T.zeros([1])),
    /they live on different backends \(fake vs cpu\); move one with toBackend\(\)/,
  );
});
