// CPU/WebGPU parity: every op of the op table (tests/_parity.ts), forward and gradient, on
// random shapes, values and layouts, run on WebGPU and compared with the JavaScript oracle
// in float32, once per way WebGPU kernels read their inputs (storage buffers, textures).

import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../mod.ts";
import { HAS_WEBGPU } from "./_backends.ts";
import { assertClose, SEED } from "./_helpers.ts";
import {
  compare,
  ELEMENTWISE_ROWS,
  MORE_ROWS,
  reductionProperty,
  REDUCTIONS,
  type Row,
} from "./_parity.ts";
import { elementwiseTuning, type GpuContext, matmulTuning } from "../tensor/backend/webgpu/mod.ts";

function parityTest(row: Row, numRuns = 8): void {
  Deno.test({
    name: `webgpu parity: ${row.name} matches the JavaScript oracle${
      (row.grad ?? true) ? " (value and gradient)" : ""
    }`,
    ignore: !HAS_WEBGPU,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      matmulTuning.path = row.matmulPath ?? "auto";
      elementwiseTuning.inputs = row.inputPath ?? "auto";
      try {
        await fc.assert(fc.asyncProperty(row.inputs, (inputs) => compare(row, inputs, "webgpu")), {
          seed: SEED,
          numRuns,
        });
      } finally {
        matmulTuning.path = "auto";
        elementwiseTuning.inputs = "auto";
      }
    },
  });
}

// Every row twice: float32 inputs read from storage buffers, and from texture copies (the
// choice on CPU adapters, see tensor/backend/webgpu/mod.ts elementwiseTuning).
ELEMENTWISE_ROWS.forEach((row) => {
  parityTest({ ...row, name: `${row.name} [storage inputs]`, inputPath: "storage" });
  parityTest({ ...row, name: `${row.name} [texture inputs]`, inputPath: "texture" });
});

for (
  const [[name, op, tol, grad], path] of REDUCTIONS.flatMap((r) =>
    (["storage", "texture"] as const).map((path) => [r, path] as const)
  )
) {
  Deno.test({
    name: `webgpu parity: ${name} [${path} inputs] matches the CPU oracle over random axes${
      grad ? " (value and gradient)" : ""
    }`,
    ignore: !HAS_WEBGPU,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      elementwiseTuning.inputs = path;
      try {
        await reductionProperty(name, op, tol, grad, "webgpu");
      } finally {
        elementwiseTuning.inputs = "auto";
      }
    },
  });
}

// Rows whose kernels read operands two ways run once per way.
MORE_ROWS.flatMap((row) =>
  row.gpuPaths === "matmul"
    ? (["storage", "texture"] as const).map((path) => ({
      ...row,
      name: `${row.name}, ${path} operands`,
      matmulPath: path,
    }))
    : row.gpuPaths === "inputs"
    ? (["storage", "texture"] as const).map((path) => ({
      ...row,
      name: `${row.name} [${path} inputs]`,
      inputPath: path,
    }))
    : [row]
).forEach((row) => parityTest(row));

Deno.test({
  name: "webgpu parity: large matmuls (largest register blocks) in every operand layout and path",
  ignore: !HAS_WEBGPU,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const view = (t: T.Tensor, flip: boolean) => {
      const axes = t.shape.map((_, i) => i);
      axes.push(...axes.splice(-2).reverse()); // the last two axes swapped
      return flip ? T.transpose(t, axes) : t;
    };
    const check = async (a0: T.Tensor, b0: T.Tensor, ta: boolean, tb: boolean, what: string) => {
      const cpu = T.toArraySync(T.matmul(view(a0, ta), view(b0, tb)));
      const [ga, gb] = await Promise.all([T.toBackend(a0, "webgpu"), T.toBackend(b0, "webgpu")]);
      const gpu = await T.toArray(T.matmul(view(ga, ta), view(gb, tb)));
      // Sums of k ≤ 200 products of N(0,1) values: float32 rounding error ~1e-5·√k.
      assertClose(gpu, cpu, { atol: 2e-4, rtol: 1e-5 }, what);
    };
    const ctx = (T.getBackend("webgpu") as unknown as { context: GpuContext }).context;
    try {
      for (const path of ["storage", "texture"] as const) {
        matmulTuning.path = path;
        for (const [m, k, n] of [[300, 200, 260], [257, 129, 131], [128, 64, 128]]) {
          for (const ta of [false, true]) {
            for (const tb of [false, true]) {
              const a0 = T.normal(T.key(m + k), ta ? [k, m] : [m, k]);
              const b0 = T.normal(T.key(n + k), tb ? [n, k] : [k, n]);
              await check(a0, b0, ta, tb, `${path} matmul ${m}×${k}×${n} ${ta} ${tb}`);
            }
          }
        }
        // Attention-like batches, and transposed operands read in place (Kᵀ of attention
        // scores, gᵀ of a weight gradient): keys and shapes of A and B, which is transposed.
        const batched: [number, number[], number, number[], boolean, boolean, string][] = [
          [1, [6, 50, 33], 2, [6, 50, 33], false, true, "batched"],
          [7, [6, 50, 32], 8, [6, 50, 32], false, true, "batched, B transposed in place"],
          [9, [6, 40, 52], 10, [6, 40, 36], true, false, "batched, A transposed in place"],
        ];
        for (const [ka, sa, kb, sb, ta, tb, what] of batched) {
          await check(T.normal(T.key(ka), sa), T.normal(T.key(kb), sb), ta, tb, `${path} ${what}`);
        }
        // Two batch axes of views, as attention's heads of [B, T, H, d]: q·kᵀ and p·v.
        const heads = (t: T.Tensor) => T.permute(t, [0, 2, 1, 3]); // [B, H, T, d]
        const [q, kk, v] = [11, 12, 13].map((s) => T.normal(T.key(s), [2, 50, 3, 16]));
        const p = T.softmax(T.normal(T.key(14), [2, 3, 50, 50]));
        const onGpu = (t: T.Tensor) => T.toBackend(t, "webgpu");
        assertClose(
          await T.toArray(
            T.matmul(heads(await onGpu(q)), T.matrixTranspose(heads(await onGpu(kk)))),
          ),
          T.toArraySync(T.matmul(heads(q), T.matrixTranspose(heads(kk)))),
          { atol: 2e-4, rtol: 1e-5 },
          `${path} q·kᵀ over [B, H] views`,
        );
        assertClose(
          await T.toArray(T.matmul(await onGpu(p), heads(await onGpu(v)))),
          T.toArraySync(T.matmul(p, heads(v))),
          { atol: 2e-4, rtol: 1e-5 },
          `${path} p·v over [B, H] views`,
        );
        await check(
          T.normal(T.key(3), [4, 70, 24]),
          T.normal(T.key(4), [24, 36]),
          false,
          false,
          `${path} shared B`,
        );
        // More rows than a texture has texels a side: the texture path falls back to storage.
        const tall = ctx.maxTextureSide + 5;
        await check(
          T.normal(T.key(5), [tall, 3]),
          T.normal(T.key(6), [3, 5]),
          false,
          false,
          `${path} tall`,
        );
      }
    } finally {
      matmulTuning.path = "auto";
    }
  },
});

Deno.test({
  name: "webgpu parity: accurate math at tiny and large arguments, where WGSL built-ins are loose",
  ignore: !HAS_WEBGPU,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const xs = [1e-7, -1e-6, 3e-5, 1e-3, -0.01, 0.3, -0.7, 2, -6, 12];
    const cases: [string, (x: T.Tensor) => T.Tensor, number[]][] = [
      ["tanh", T.tanh, xs],
      ["log1p", T.log1p, xs.filter((x) => x > -1)],
      ["log", T.log, [1 + 1e-6, 1 - 1e-6, 1 + 2e-7, 0.9, 1.5, 3, 1e-20, 1e20]],
      ["exp", T.exp, [...xs, 80, -80]],
      ["erf", T.erf, xs],
      ["gelu", (x) => T.gelu(x), xs],
      ["gelu tanh", (x) => T.gelu(x, { approximate: "tanh" }), xs],
      ["sigmoid", T.sigmoid, [...xs, -30, 30]],
      ["pow", (x) => T.pow(T.abs(x), 1.5), xs],
      ["sqrt", T.sqrt, xs.map(Math.abs)],
    ];
    for (const [name, op, values] of cases) {
      const cpu = T.toArraySync(op(T.tensor(values, { backend: "cpu-js" }))); // float32 inputs on both sides
      const gpu = await T.toArray(op(T.tensor(values, { backend: "webgpu" })));
      assertClose(gpu, cpu, { atol: 1e-30, rtol: 4e-6 }, name);
    }
  },
});

Deno.test({
  name: "webgpu parity: PRNG bits and uniforms are identical on both backends",
  ignore: !HAS_WEBGPU,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    for (const seed of [0, 1, 42]) {
      const k = T.key(seed);
      const cpu = T.toArraySync(T.uniform(k, [1000]));
      const gpu = await T.toArray(T.uniform(k, [1000], { backend: "webgpu" }));
      assert.deepEqual(gpu, cpu);
      const n = await T.toArray(T.normal(k, [100], { backend: "webgpu" }));
      assert.deepEqual(n, T.toArraySync(T.normal(k, [100])));
    }
  },
});

Deno.test({
  name: "webgpu parity: fills of every size (kernels, and clearBuffer for large zeros) and unslice",
  ignore: !HAS_WEBGPU,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    for (const n of [1, 5, 8191, 16383, 16384, 16389, 100003]) {
      for (const value of [0, 2.5, -0]) {
        // A pooled buffer that held other values first: the fill must overwrite all of it.
        T.dispose(T.full([n], 7, { backend: "webgpu" }));
        const got = await T.toArray(T.full([n], value, { backend: "webgpu" }));
        assert.equal(got.length, n);
        assert.ok(got.every((v) => Object.is(v, value)), `full([${n}], ${value})`);
      }
    }
    // unslice (a slice's VJP): zeros of the full shape, the cotangent placed in them.
    const x = T.normal(T.key(5), [3, 40, 2, 50, 8]);
    const f = (t: T.Tensor) => T.sum(T.square(T.slice(t, [[1, 2], null, [1, 2]])));
    const cpu = T.toArraySync(T.grad(f)(x));
    const gpu = await T.toArray(T.grad(f)(await T.toBackend(x, "webgpu")));
    assert.deepEqual(gpu, cpu);
  },
});

Deno.test({
  name: "webgpu parity: values survive a round trip through toBackend()",
  ignore: !HAS_WEBGPU,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    const x = T.tensor([[1.5, -2], [3, 4]]);
    const g = await T.toBackend(x, "webgpu");
    assert.equal(g.backend, "webgpu");
    const back = await T.toBackend(T.transpose(g), "cpu");
    assert.deepEqual(T.toArraySync(back), new Float32Array([1.5, 3, -2, 4]));
    const b = await T.toBackend(T.tensor([true, false, true]), "webgpu");
    assert.deepEqual(await T.toArray(b), new Uint8Array([1, 0, 1]));
    const d = await T.toBackend(T.tensor([0.5], { dtype: "float64" }), "webgpu");
    assert.equal(d.dtype, "float32");
  },
});

Deno.test({
  name: "webgpu: timestamp queries time the kernels without changing results",
  ignore: !HAS_WEBGPU,
  sanitizeResources: false,
  sanitizeOps: false,
  fn: async () => {
    await T.openBackend("webgpu");
    const ctx = (T.getBackend("webgpu") as unknown as { context: GpuContext }).context;
    const a = T.normal(T.key(3), [64, 48], { backend: "webgpu" });
    const b = T.normal(T.key(4), [48, 32], { backend: "webgpu" });
    const want = await T.toArray(T.matmul(a, b));
    if (!ctx.canTime) {
      assert.throws(() => ctx.startTiming(), /no timestamp-query feature/);
      return;
    }
    ctx.startTiming();
    const t0 = performance.now();
    const outs = [T.matmul(a, b), T.exp(T.matmul(a, b))];
    const seconds = await ctx.stopTiming();
    const wall = (performance.now() - t0) / 1000;
    assert.ok(seconds > 0 && seconds <= wall, `kernel ${seconds} s, wall ${wall} s`);
    assert.deepEqual(await T.toArray(outs[0]), want);
    await assert.rejects(() => ctx.stopTiming(), /without startTiming/);
    T.dispose([a, b, ...outs]);
  },
});
