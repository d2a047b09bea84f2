// The CPU backend's WebAssembly kernels beyond the op-table parity rows: results that are
// bit-identical for any number of threads, large matmuls in every operand layout, NaN,
// ±Inf, −0 and subnormal values, empty tensors, storages that live outside the heap (the
// JavaScript path), and the module variant for runtimes without shared memory.

import assert from "node:assert/strict";
import * as T from "../../../../mod.ts";
import { Heap } from "../../../../tensor/backend/wasm/heap.ts";
import { ELEMENTWISE, PARAMS_ADDRESS } from "../../../../tensor/backend/wasm/layouts.ts";
import { loadKernelModule } from "../../../../tensor/backend/wasm/module.ts";
import { splitTasks } from "../../../../tensor/backend/wasm/threads.ts";
import { assertClose } from "../../../_helpers.ts";
import { withThreads } from "../../../_threads.ts";

const oracle = (t: T.Tensor) => T.toBackend(t, "cpu-js");

/** Every hot kernel on inputs large enough to split, in several layouts; values as arrays. */
function workload(): Float32Array[] {
  const k = (i: number) => T.key(100 + i);
  const x = T.normal(k(1), [37, 129]);
  const xt = T.transpose(T.normal(k(2), [129, 37]));
  const w = T.normal(k(3), [65, 129]);
  const b = T.normal(k(4), [65]);
  const q = T.normal(k(5), [3, 50, 2, 16]);
  const heads = T.permute(q, [0, 2, 1, 3]); // [3, 2, 50, 16], a strided view
  const g = T.normal(k(6), [37, 65]);
  const outs = [
    T.gelu(x),
    T.exp(xt),
    T.add(x, T.reshape(T.normal(k(7), [129]), [1, 129])),
    T.mul(xt, T.normal(k(8), [37, 1])),
    T.linear(x, w, b),
    T.linear(xt, w, b),
    T.matmul(T.matrixTranspose(g), x), // a weight gradient: Aᵀ read in place
    T.matmul(x, T.normal(k(12), [129, 64])), // B's rows read in place (N a multiple of 8)
    T.matmul(heads, T.matrixTranspose(heads)), // attention scores over [B, H] views
    T.sum(x, { axis: 0 }),
    T.sum(xt, { axis: 1 }),
    T.sum(x),
    T.layerNorm(x, T.normal(k(9), [129]), T.normal(k(10), [129])),
    T.softmax(xt),
  ];
  const grads = T.grad((p: T.Tensor) =>
    T.sum(T.mul(T.softmax(T.layerNorm(T.gelu(p), null, null)), T.normal(k(11), [37, 129])))
  )(x);
  const { update, mu, nu } = T.adamStep(x, xt, T.square(x), T.neg(x), {
    b1: 0.9,
    b2: 0.999,
    c1: 0.271,
    c2: 0.003,
    eps: 1e-8,
    learningRate: 1e-3,
    weightDecay: 0.05,
  });
  return [...outs, grads, update, mu, nu].map((t) => T.toArraySync(t) as Float32Array);
}

Deno.test("cpu kernels give bit-identical results on 1, 2 and 3 threads", async () => {
  const one = await withThreads(1, workload);
  for (const threads of [2, 3]) {
    const many = await withThreads(threads, workload);
    many.forEach((values, i) =>
      assert.deepEqual(values, one[i], `output ${i}, ${threads} threads`)
    );
  }
});

Deno.test("splitTasks() covers the tasks once, in order, with boundaries on the grain", () => {
  for (const [tasks, parts, grain] of [[100, 3, 16], [5, 4, 1], [1000, 7, 64], [10, 2, 64]]) {
    const ranges = splitTasks(tasks, parts, grain);
    assert.equal(ranges.length, parts);
    assert.equal(ranges[0][0], 0);
    assert.equal(ranges[parts - 1][1], tasks);
    for (let i = 0; i < parts; i++) {
      assert.ok(ranges[i][0] <= ranges[i][1]);
      if (i > 0) assert.equal(ranges[i][0], ranges[i - 1][1]);
      if (i < parts - 1) assert.ok(ranges[i][1] % grain === 0 || ranges[i][1] === tasks);
    }
  }
});

Deno.test("cpu matmul agrees with the JavaScript oracle on large products in every layout", async () => {
  const view = (t: T.Tensor, flip: boolean) => (flip ? T.matrixTranspose(t) : t);
  for (const threads of [1, 2]) {
    await withThreads(threads, async () => {
      // N a multiple of 8 reads B's rows in place when they are contiguous; others pack B.
      const sizes = [[300, 600, 264], [257, 129, 131], [4, 1000, 3], [1, 64, 700], [33, 515, 16]];
      for (const [m, k, n] of sizes) {
        for (const ta of [false, true]) {
          for (const tb of [false, true]) {
            const a0 = T.normal(T.key(m + k), ta ? [k, m] : [m, k]);
            const b0 = T.normal(T.key(n + k), tb ? [n, k] : [k, n]);
            const got = T.toArraySync(T.matmul(view(a0, ta), view(b0, tb)));
            const want = T.toArraySync(
              T.matmul(view(await oracle(a0), ta), view(await oracle(b0), tb)),
            );
            // Sums of k ≤ 1000 products of N(0,1) values in float32: error ~1e-6·√k·|terms|.
            assertClose(
              got,
              want,
              { atol: 3e-4, rtol: 1e-5 },
              `${m}×${k}×${n} ${ta} ${tb} ×${threads}`,
            );
          }
        }
      }
    });
  }
});

Deno.test("cpu kernels treat NaN, ±Inf, −0 and subnormals as the JavaScript oracle does", async () => {
  const special = [
    NaN,
    Infinity,
    -Infinity,
    0,
    -0,
    1e-40,
    -1e-40,
    3e38,
    -3e38,
    1,
    -2.5,
    88.7,
    -104,
    120,
    -120,
  ];
  const x = T.tensor(special);
  const y = T.tensor([...special].reverse());
  const [xj, yj] = [await oracle(x), await oracle(y)];
  const unary: [string, (t: T.Tensor) => T.Tensor][] = [
    ["neg", T.neg],
    ["abs", T.abs],
    ["square", T.square],
    ["sqrt", T.sqrt],
    ["rsqrt", T.rsqrt],
    ["reciprocal", T.reciprocal],
    ["relu", T.relu],
    ["floor", T.floor],
    ["ceil", T.ceil],
    ["round", T.round],
    ["exp", T.exp],
    ["erf", T.erf],
    ["gelu", (t) => T.gelu(t)],
  ];
  for (const [name, op] of unary) {
    // Transcendentals to ~1e-6 relative; exp of subnormal results may flush (atol).
    assertClose(T.toArraySync(op(x)), T.toArraySync(op(xj)), { atol: 1e-37, rtol: 4e-6 }, name);
  }
  const binary: [string, (a: T.Tensor, b: T.Tensor) => T.Tensor][] = [
    ["add", T.add],
    ["sub", T.sub],
    ["mul", T.mul],
    ["div", T.div],
    ["maximum", T.maximum],
    ["minimum", T.minimum],
  ];
  for (const [name, op] of binary) {
    assert.deepEqual(T.toArraySync(op(x, y)), T.toArraySync(op(xj, yj)), name);
  }
  assertClose(
    T.toArraySync(T.softmax(x)),
    T.toArraySync(T.softmax(xj)),
    { atol: 0, rtol: 0 },
    "softmax",
  );
  assertClose(T.toArraySync(T.sum(x)), T.toArraySync(T.sum(xj)), { atol: 0, rtol: 0 }, "sum");
  const finite = T.tensor([[1e-40, 3e38, -3e38, 0], [1, 2, 3, 4]]);
  assertClose(
    T.toArraySync(T.layerNorm(finite, null, null)),
    T.toArraySync(T.layerNorm(await oracle(finite), null, null)),
    { atol: 1e-6, rtol: 1e-5 },
    "layerNorm",
  );
});

Deno.test("cpu kernels accept empty tensors", () => {
  const e = T.zeros([0, 5]);
  assert.deepEqual(T.gelu(e).shape, [0, 5]);
  assert.deepEqual(T.add(e, T.ones([5])).shape, [0, 5]);
  assert.deepEqual(T.toArraySync(T.sum(e, { axis: 0 })), new Float32Array(5));
  assert.deepEqual(T.matmul(e, T.ones([5, 3])).shape, [0, 3]);
  assert.deepEqual(T.toArraySync(T.matmul(T.ones([2, 0]), T.ones([0, 3]))), new Float32Array(6));
  assert.deepEqual(
    T.toArraySync(T.linear(T.ones([2, 0]), T.ones([3, 0]), T.ones([3]))),
    new Float32Array(6).fill(1),
  );
  assert.deepEqual(T.softmax(T.zeros([3, 0])).shape, [3, 0]);
  assert.deepEqual(T.layerNorm(T.zeros([0, 4]), null, null).shape, [0, 4]);
});

Deno.test("cpu ops on storages outside the heap run the JavaScript kernels and agree", async () => {
  const cpu = T.getBackend("cpu");
  const values = Float32Array.from({ length: 24 }, (_, i) => Math.sin(i));
  const outside = new T.Tensor(
    new T.Storage(cpu, values.slice(), "float32", 24),
    [4, 6],
    "float32",
  );
  const inside = T.tensor(values, { shape: [4, 6] });
  const ops: ((t: T.Tensor) => T.Tensor)[] = [
    (t) => T.gelu(t),
    (t) => T.matmul(t, T.transpose(t)),
    (t) => T.sum(t, { axis: 0 }),
    (t) => T.softmax(t),
    (t) => T.add(t, inside),
  ];
  for (const op of ops) {
    assertClose(T.toArraySync(op(outside)), T.toArraySync(op(inside)), { atol: 1e-6, rtol: 1e-5 });
  }
  await Promise.resolve();
});

Deno.test("the kernel module runs on an unshared memory (one thread, no cross-origin isolation)", () => {
  const { module, shared } = loadKernelModule(false);
  assert.equal(shared, false);
  const heap = new Heap(false, 1 << 20);
  const instance = new WebAssembly.Instance(module, { env: { memory: heap.memory } });
  const x = heap.allocate("float32", 6)!;
  const out = heap.allocate("float32", 6)!;
  x.set([1, -2, 3, -4, 5, -6]);
  const words = heap.i32;
  const base = PARAMS_ADDRESS / 4;
  words.fill(0, base, base + ELEMENTWISE.words);
  const set = (
    field: keyof typeof ELEMENTWISE,
    v: number,
  ) => (words[base + ELEMENTWISE[field] / 4] = v);
  set("out", out.byteOffset);
  set("x", x.byteOffset);
  for (const f of ["n1", "n2"] as const) set(f, 1);
  set("n3", 6);
  set("out3", 1);
  set("x3", 1);
  (instance.exports.unary_neg as (p: number, s: number, e: number, t: number) => void)(
    PARAMS_ADDRESS,
    0,
    6,
    0,
  );
  assert.deepEqual(Array.from(out), [-1, 2, -3, 4, -5, 6]);
});

Deno.test("cpu gather and scatterAdd take negative indices and report ones out of range", () => {
  const x = T.tensor([[1, 2, 3], [4, 5, 6]]);
  const index = T.tensor([[-1, 0], [2, -3]], { dtype: "int32" });
  assert.deepEqual(T.toArraySync(T.gather(x, index, { axis: 1 })), new Float32Array([3, 1, 6, 4]));
  const added = T.scatterAdd(T.zeros([2, 3]), index, T.ones([2, 2]), { axis: 1 });
  assert.deepEqual(T.toArraySync(added), new Float32Array([1, 0, 1, 1, 0, 1]));
  const bad = T.tensor([[0, 3]], { dtype: "int32" });
  assert.throws(
    () => T.gather(x, bad, { axis: 1 }),
    /Cannot gather: index 3 is out of range for axis 1 of size 3/,
  );
  assert.throws(
    () => T.scatterAdd(T.zeros([2, 3]), bad, T.ones([1, 2]), { axis: 1 }),
    /Cannot scatterAdd: index 3 is out of range for axis 1 of size 3/,
  );
});

Deno.test("cpu math stays accurate at tiny and large arguments (relative 4e-6 of the oracle)", async () => {
  const xs = [1e-7, -1e-6, 3e-5, 1e-3, -0.01, 0.3, -0.54, 0.56, -0.7, 2, -6, 12];
  const cases: [string, (x: T.Tensor) => T.Tensor, number[]][] = [
    ["tanh", T.tanh, xs],
    ["exp", T.exp, [...xs, 80, -80, 88.5, -100]],
    ["erf", T.erf, xs],
    ["gelu", (x) => T.gelu(x), xs],
    ["softmax", (x) => T.softmax(x), xs],
  ];
  for (const [name, op, values] of cases) {
    const got = T.toArraySync(op(T.tensor(values)));
    const want = T.toArraySync(op(await oracle(T.tensor(values))));
    assertClose(got, want, { atol: 1e-30, rtol: 4e-6 }, name);
  }
});
