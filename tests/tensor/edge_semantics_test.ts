// Edge semantics that must agree with NumPy / PyTorch on every backend: NaN through the
// safe square root (norm, std, l2Normalize), variance with too few elements, broadcasting
// before cosineSimilarity's norms, weakly typed numbers meeting bool tensors, NaN counted
// as true, and powers of −∞. Expected values are PyTorch's (torch 1.13, checked by hand).

import assert from "node:assert/strict";
import * as T from "../../mod.ts";
import { assertClose, F32 } from "../_helpers.ts";
import { testOnBackends } from "../_backends.ts";

const f = (data: number[], shape?: number[]) => T.tensor(data, { shape: shape ?? [data.length] });
const bools = (data: boolean[]) => T.tensor(Uint8Array.from(data, Number), { dtype: "bool" });
const read = async (t: T.Tensor) => Array.from(await T.toArray(t));

testOnBackends("cosineSimilarity broadcasts its operands before taking their norms", async () => {
  const a = f([1, 2, 3]);
  const b = f([1]);
  // PyTorch: cosine_similarity([1, 2, 3], [1], dim=0) = 6 / (√14·√3)
  const expected = 6 / (Math.sqrt(14) * Math.sqrt(3));
  assertClose(await read(T.cosineSimilarity(a, b, { axis: 0 })), [expected], F32, "value");
  // Gradients: as if `b` were [1, 1, 1], its gradient summed over the broadcast axis. That
  // sum is 0 here (the similarity does not change with the scale of b).
  const cos = ([x, y]: T.Tensor[]) => T.cosineSimilarity(x, y, { axis: 0 });
  const [ga, gb] = T.grad(cos)([a, b]);
  const [gaFull, gbFull] = T.grad(cos)([a, f([1, 1, 1])]);
  assertClose(await read(ga), await read(gaFull), F32, "grad a");
  assertClose(await read(gb), [0], { atol: 1e-6, rtol: 0 }, "grad b");
  assertClose(await read(gb), await read(T.sum(gbFull, { keepDims: true })), F32, "grad b sum");
  // Rows of a matrix against one vector, broadcast along the leading axis.
  const rows = f([1, 0, 0, 1, 3, 4], [3, 2]);
  assertClose(
    await read(T.cosineSimilarity(rows, f([0, 1]), { axis: -1 })),
    [0, 1, 0.8],
    F32,
    "rows",
  );
});

testOnBackends(
  "norm, std and l2Normalize keep NaN (the safe square root only catches 0)",
  async () => {
    assert.ok(Number.isNaN((await read(T.norm(f([NaN, 1]))))[0]), "norm([NaN, 1])");
    assert.ok(Number.isNaN((await read(T.std(f([NaN, 1]))))[0]), "std([NaN, 1])");
    assert.ok(Number.isNaN((await read(T.std(f([Infinity, 1]))))[0]), "std([inf, 1])");
    assert.ok(Number.isNaN((await read(T.std(f([3]), { ddof: 1 })))[0]), "std([3], ddof 1)");
    const normalized = await read(T.l2Normalize(f([NaN, 1])));
    assert.ok(normalized.every(Number.isNaN), `l2Normalize([NaN, 1]) = ${normalized}`);
    // The zero vector still has norm 0 and gradient 0 (not NaN).
    const zero = f([0, 0]);
    assert.deepEqual(await read(T.norm(zero)), [0]);
    assert.deepEqual(await read(T.grad((x: T.Tensor) => T.norm(x))(zero)), [0, 0]);
    assert.deepEqual(await read(T.grad((x: T.Tensor) => T.std(x))(f([2, 2]))), [0, 0]);
    // Finite values are unchanged by the fix.
    assertClose(await read(T.std(f([1, 2, 3, 4]), { ddof: 1 })), [1.2909944], F32, "std");
  },
);

testOnBackends("variance with n ≤ ddof is NaN, an empty axis too", async () => {
  const empty = T.zeros([2, 0]);
  const v = await read(T.variance(empty, { axis: 1, ddof: 1 }));
  assert.equal(v.length, 2);
  assert.ok(v.every(Number.isNaN), `variance(zeros([2, 0]), axis 1, ddof 1) = ${v}`);
  assert.ok(v.every(Number.isNaN));
  const ddof0 = await read(T.variance(empty, { axis: 1 }));
  assert.ok(ddof0.every(Number.isNaN), `ddof 0 over an empty axis = ${ddof0}`);
  assert.ok(Number.isNaN((await read(T.variance(f([5]), { ddof: 2 })))[0]), "ddof > n");
  assert.deepEqual(await read(T.variance(f([5]))), [0]);
});

testOnBackends("a plain integer meeting a bool tensor counts in int32", async () => {
  const b = bools([true, false]);
  const add = T.add(b, 2);
  assert.equal(add.dtype, "int32");
  assert.deepEqual(await read(add), [3, 2]);
  assert.deepEqual(await read(T.mul(b, 3)), [3, 0]);
  const max = T.maximum(b, -1);
  assert.equal(max.dtype, "int32");
  assert.deepEqual(await read(max), [1, 0]);
  assert.deepEqual(await read(T.less(b, 2)), [1, 1]);
  assert.deepEqual(await read(T.equal(b, 2)), [0, 0]);
  assert.deepEqual(await read(T.div(-1, b)), [-1, -Infinity]);
  assert.deepEqual(await read(T.sub(3, b)), [2, 3]);
  // A fraction makes float32; a boolean keeps bool; a tensor's own dtype wins over a number's.
  const half = T.add(b, 0.5);
  assert.equal(half.dtype, "float32");
  assert.deepEqual(await read(half), [1.5, 0.5]);
  assert.equal(T.logicalAnd(b, true).dtype, "bool");
  assert.equal(T.add(T.tensor([1, 2], { dtype: "int32" }), 2).dtype, "int32");
  assert.equal(T.add(f([1]), 2).dtype, "float32");
});

testOnBackends("NaN is true in logic, comparisons and where", async () => {
  const nan = f([NaN]);
  assert.deepEqual(await read(T.notEqual(nan, nan)), [1]);
  assert.deepEqual(await read(T.notEqual(nan, f([1]))), [1]);
  assert.deepEqual(await read(T.equal(nan, nan)), [0]);
  assert.deepEqual(await read(T.logicalOr(nan, f([0]))), [1]);
  assert.deepEqual(await read(T.logicalAnd(nan, f([1]))), [1]);
  assert.deepEqual(await read(T.logicalNot(nan)), [0]);
  assert.deepEqual(await read(T.cast(f([NaN, 0, -0, 1e-40]), "bool")), [1, 0, 0, 1]);
  assert.deepEqual(await read(T.where(f([NaN, 0]), 1, 0)), [1, 0]);
});

testOnBackends("powers of −∞ and −0 follow C's pow", async () => {
  assert.deepEqual(await read(T.pow(f([-Infinity, -Infinity]), f([0.5, -0.5]))), [Infinity, 0]);
  assert.deepEqual(await read(T.pow(f([-Infinity, -Infinity]), f([3, 2]))), [-Infinity, Infinity]);
  const negZero = await read(T.pow(f([-Infinity]), f([-3])));
  assert.ok(Object.is(negZero[0], -0), `(−∞)^−3 = ${negZero[0]}`);
  assert.ok(Number.isNaN((await read(T.pow(f([-2]), f([0.5]))))[0]), "(−2)^0.5");
  // −0 keeps its sign under odd integer powers: (−0)^−1 = −∞, (−0)^3 = −0.
  const zero = await read(T.pow(f([-0, -0, -0, -0, -0]), f([-1, 3, -2, 0.5, -0.5])));
  assert.deepEqual(zero.map((v) => Object.is(v, -0) ? "-0" : v), [
    -Infinity,
    "-0",
    Infinity,
    0,
    Infinity,
  ]);
});
