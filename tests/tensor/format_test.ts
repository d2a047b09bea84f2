// How tensors print: values aligned in nested brackets, summarised past a threshold, then
// dtype, shape and backend; console.log in Deno and Node prints the same.

import assert from "node:assert/strict";
import * as T from "../../mod.ts";
import { formatTensor, formatValues } from "../../tensor/format.ts";

Deno.test("String(t) prints values, dtype, shape and backend, one row per line", () => {
  assert.equal(
    String(T.tensor([[1, 2, 3], [4, 5, 6]])),
    "Tensor([[1., 2., 3.],\n        [4., 5., 6.]], float32 [2, 3] cpu)",
  );
  assert.equal(String(T.tensor(3)), "Tensor(3., float32 [] cpu)");
  assert.equal(
    String(T.tensor([0.1, -2.5, NaN, Infinity, -Infinity])),
    "Tensor([ 0.1000, -2.5000,     nan,     inf,    -inf], float32 [5] cpu)",
  );
  assert.equal(
    String(T.tensor([1e-9, 1, 1e9])),
    "Tensor([1.0000e-09, 1.0000e+00, 1.0000e+09], float32 [3] cpu)",
  );
  assert.equal(String(T.tensor([true, false])), "Tensor([ true, false], bool [2] cpu)");
  assert.equal(String(T.tensor([-0, 0])), "Tensor([-0.,  0.], float32 [2] cpu)");
  assert.equal(
    String(T.cast(T.tensor([-7, 12]), "int32")),
    "Tensor([-7, 12], int32 [2] cpu)",
  );
  // A strided view prints its own elements, not its storage's.
  assert.equal(
    String(T.transpose(T.tensor([[1, 2], [3, 4]]))),
    "Tensor([[1., 3.],\n        [2., 4.]], float32 [2, 2] cpu)",
  );
  assert.equal(String(T.zeros([0, 3])), "Tensor([], float32 [0, 3] cpu)");
});

Deno.test("blocks of rank ≥ 3 are separated by blank lines; long rows wrap", () => {
  const t = T.reshape(T.cast(T.arange(0, 8), "int32"), [2, 2, 2]);
  assert.equal(
    String(t),
    "Tensor([[[0, 1],\n         [2, 3]],\n\n        [[4, 5],\n         [6, 7]]], int32 [2, 2, 2] cpu)",
  );
  const lines = String(T.cast(T.arange(0, 30), "int32")).split("\n");
  assert.equal(lines.length, 2);
  assert.ok(lines.every((l) => l.length <= 80), lines.join("\n"));
});

Deno.test("large tensors are summarised with ... at each end of every axis", () => {
  const text = String(T.reshape(T.cast(T.arange(0, 2000), "int32"), [40, 50]));
  const lines = text.split("\n");
  assert.equal(lines.length, 7);
  assert.equal(lines[0], "Tensor([[   0,    1,    2,  ...,   47,   48,   49],");
  assert.equal(lines[3], "        ...,");
  assert.ok(lines[6].endsWith("[1950, 1951, 1952,  ..., 1997, 1998, 1999]], int32 [40, 50] cpu)"));
  const before = T.setPrintOptions({ threshold: 5000, edgeItems: 1 });
  try {
    // Under the threshold nothing is left out: 40 rows of 50 "1999."-wide items, 10 per line.
    const full = String(T.reshape(T.arange(0, 2000), [40, 50]));
    assert.doesNotMatch(full, /\.\.\./);
    assert.equal(full.split("\n").length, 40 * 5);
    assert.equal(
      formatValues(new Float32Array(10), [10], "float32"),
      "[0., 0., 0., 0., 0., 0., 0., 0., 0., 0.]",
    );
    T.setPrintOptions({ threshold: 4 });
    assert.equal(formatValues(new Int32Array([1, 2, 3, 4, 5]), [5], "int32"), "[1, ..., 5]");
  } finally {
    T.setPrintOptions(before);
  }
  assert.throws(() => T.setPrintOptions({ precision: -1 }), /non-negative integer/);
  assert.throws(() => T.setPrintOptions({ colour: 1 } as never), /Unknown print option "colour"/);
});

Deno.test("console.log prints String(t); disposed and unreadable tensors say so", () => {
  const t = T.tensor([1, 2]);
  assert.equal(Deno.inspect(t), String(t));
  assert.equal(Deno.inspect({ weight: t }), `{ weight: ${String(t)} }`);
  T.dispose(t);
  assert.equal(String(t), "Tensor(disposed, float32 [2] cpu)");
  // A backend that reads only asynchronously (WebGPU) prints how to read the values.
  assert.equal(
    formatTensor(T.tensor([1]), () => null),
    "Tensor(float32 [1] cpu; read its values with await toNested(t))",
  );
});
