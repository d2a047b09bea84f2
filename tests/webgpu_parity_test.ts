// CPU/WebGPU parity: every op of the op table, forward and gradient, on random shapes,
// values and layouts (fast-check), run on both backends through one helper and compared
// in float32. The CPU backend is the oracle.
//
// Tolerances: |gpu − cpu| ≤ atol + rtol·|cpu|, one entry per op family, each justified
// where it is defined below. Most ops agree to the last bit or within an ulp or two.

import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../mod.ts";
import {
  broadcastPairArb,
  type Layout,
  layoutArb,
  makeTensor,
  refArb,
  shapeArb,
  valuesArb,
} from "./_arbitrary.ts";
import { HAS_WEBGPU } from "./_backends.ts";
import { assertClose, SEED, type Tolerance } from "./_helpers.ts";
import type { Ref } from "./_reference.ts";
import { elementwiseTuning, type GpuContext, matmulTuning } from "../tensor/backend/webgpu/mod.ts";

/** Bit-identical: both backends compute these exactly (one correctly rounded f32 op, or none). */
const EXACT: Tolerance = { atol: 0, rtol: 0 };
/** A few ulps: division and sqrt may be 1–2.5 ulp on GPUs (WGSL allows 2.5 ulp for /). */
const ULPS: Tolerance = { atol: 1e-7, rtol: 1e-6 };
/**
 * Our WGSL exp/log/log1p/tanh/erf/gelu/sigmoid/pow: relative accuracy ~1e-7 by
 * construction (see wgsl_common.ts) on top of llvmpipe's exp/log/exp2/log2, so the check
 * is relative all the way down to tiny values (tanh(1e-6) must be right to 4e-6, not to
 * an absolute 1e-6).
 */
const TRANSCENDENTAL: Tolerance = { atol: 1e-30, rtol: 4e-6 };
/** llvmpipe's sin/cos on |x| ≤ 4: absolute error ~1e-7. */
const TRIG: Tolerance = { atol: 1e-6, rtol: 2e-6 };
/** Sums in a different order: error ~n·ε·Σ|x| for rows of ≤ 64 elements of magnitude ≤ 3. */
const SUMS: Tolerance = { atol: 2e-5, rtol: 1e-5 };
/** Gradients chain several ops of the above: a few times their tolerance. */
const GRADS: Tolerance = { atol: 5e-5, rtol: 5e-5 };

interface Input {
  ref: Ref;
  dtype: T.DType;
  layout: Layout;
}

interface Row {
  name: string;
  inputs: fc.Arbitrary<Input[]>;
  op: (...xs: T.Tensor[]) => T.Tensor;
  tol: Tolerance;
  /** Compare gradients with respect to the float inputs too (default true for float outputs). */
  grad?: boolean;
  /** How WebGPU matmuls read their operands in this row (default: the adapter's choice). */
  matmulPath?: "storage" | "texture";
  /** How elementwise kernels and reductions read float32 inputs (default: the adapter's). */
  inputPath?: "storage" | "texture";
}

/** Rows of fused kernels, once per way of reading inputs (storage buffers, textures). */
const perInputPath = (rows: Row[]): Row[] =>
  rows.flatMap((row) =>
    (["storage", "texture"] as const).map((path) => ({
      ...row,
      name: `${row.name} [${path} inputs]`,
      inputPath: path,
    }))
  );

/** The matmul rows, once per way of reading operands (both run on every adapter). */
const perMatmulPath = (rows: Row[]): Row[] =>
  rows.flatMap((row) =>
    (["storage", "texture"] as const).map((path) => ({
      ...row,
      name: `${row.name}, ${path} operands`,
      matmulPath: path,
    }))
  );

const f32 = (ref: Ref, layout: Layout = "contiguous"): Input => ({ ref, dtype: "float32", layout });
const i32 = (ref: Ref): Input => ({ ref, dtype: "int32", layout: "contiguous" });

function one(lo = -3, hi = 3, minRank = 0): fc.Arbitrary<Input[]> {
  return fc.tuple(refArb({ lo, hi, minRank, maxDim: 5 }), layoutArb).map(([r, l]) => [f32(r, l)]);
}

function pair(lo = -3, hi = 3, lo2 = lo, hi2 = hi): fc.Arbitrary<Input[]> {
  return fc.tuple(
    broadcastPairArb().chain(([a, b]) => fc.tuple(valuesArb(a, lo, hi), valuesArb(b, lo2, hi2))),
    layoutArb,
  ).map(([[a, b], l]) => [f32(a, l), f32(b)]);
}

function withAxes(lo = -3, hi = 3): fc.Arbitrary<[Input, number[] | undefined, boolean]> {
  return fc.tuple(
    refArb({ lo, hi, minDim: 1, maxDim: 5 }).chain((r) =>
      fc.tuple(
        fc.constant(r),
        fc.option(fc.subarray(r.shape.map((_, i) => i)), { nil: undefined }),
        fc.boolean(),
      )
    ),
    layoutArb,
  ).map(([[r, axes, keep], l]) => [f32(r, l), axes, keep]);
}

const ROWS: Row[] = [];
const unary = (
  name: string,
  op: (x: T.Tensor) => T.Tensor,
  tol: Tolerance,
  lo = -3,
  hi = 3,
  grad = true,
) => ROWS.push({ name, inputs: one(lo, hi), op, tol, grad });

unary("neg", T.neg, EXACT);
unary("abs", T.abs, EXACT);
unary("exp", T.exp, TRANSCENDENTAL);
unary("log", T.log, TRANSCENDENTAL, 0.01, 5);
unary("log1p", T.log1p, TRANSCENDENTAL, -0.9, 5);
unary("sqrt", T.sqrt, ULPS, 0, 5);
unary("rsqrt", T.rsqrt, ULPS, 0.01, 5);
unary("square", T.square, EXACT);
unary("reciprocal", T.reciprocal, ULPS, 0.1, 5);
unary("sin", T.sin, TRIG, -4, 4);
unary("cos", T.cos, TRIG, -4, 4);
unary("tanh", T.tanh, TRANSCENDENTAL, -5, 5);
unary("sigmoid", T.sigmoid, TRANSCENDENTAL, -8, 8);
unary("relu", T.relu, EXACT);
unary("erf", T.erf, TRANSCENDENTAL);
unary("gelu", (x) => T.gelu(x), TRANSCENDENTAL, -5, 5);
unary("gelu tanh", (x) => T.gelu(x, { approximate: "tanh" }), TRANSCENDENTAL, -5, 5);
unary("sign", T.sign, EXACT, -3, 3, false);
unary("floor", T.floor, EXACT, -3, 3, false);
unary("ceil", T.ceil, EXACT, -3, 3, false);
unary("round", T.round, EXACT, -3, 3, false);
unary("isFinite", T.isFinite, EXACT, -3, 3, false);
unary("logicalNot", (x) => T.logicalNot(T.round(x)), EXACT, -1, 1, false);
unary("cast to int32", (x) => T.cast(x, "int32"), EXACT, -5, 5, false);
unary("cast to bool", (x) => T.cast(T.round(x), "bool"), EXACT, -1, 1, false);
unary("clip", (x) => T.clip(x, -1, 1), EXACT);

const binary = (
  name: string,
  op: (a: T.Tensor, b: T.Tensor) => T.Tensor,
  tol: Tolerance,
  ranges: number[] = [-3, 3],
  grad = true,
) => ROWS.push({ name, inputs: pair(...ranges), op, tol, grad });

binary("add", T.add, EXACT);
binary("sub", T.sub, EXACT);
binary("mul", T.mul, EXACT);
binary("div", T.div, ULPS, [-3, 3, 0.5, 3]);
binary("pow", T.pow, TRANSCENDENTAL, [0.1, 3, -2, 2]);
binary("maximum", T.maximum, EXACT);
binary("minimum", T.minimum, EXACT);
for (
  const [name, op] of [
    ["equal", T.equal],
    ["notEqual", T.notEqual],
    ["less", T.less],
    ["lessEqual", T.lessEqual],
    ["greater", T.greater],
    ["greaterEqual", T.greaterEqual],
  ] as const
) {
  binary(name, (a, b) => op(T.round(a), T.round(b)), EXACT, [-2, 2], false);
}
binary("logicalAnd", (a, b) => T.logicalAnd(T.round(a), T.round(b)), EXACT, [-1, 1], false);
binary("logicalOr", (a, b) => T.logicalOr(T.round(a), T.round(b)), EXACT, [-1, 1], false);
binary("where", (a, b) => T.where(T.greater(a, 0), a, b), EXACT);
binary(
  "int32 arithmetic",
  (a, b) =>
    T.cast(
      T.add(T.mul(T.cast(a, "int32"), T.cast(b, "int32")), T.cast(T.neg(b), "int32")),
      "float32",
    ),
  EXACT,
  [-50, 50],
  false,
);

const REDUCTIONS: [
  string,
  (x: T.Tensor, o: { axis?: number[]; keepDims: boolean }) => T.Tensor,
  Tolerance,
  boolean,
][] = [
  ["sum", (x, o) => T.sum(x, o), SUMS, true],
  ["mean", (x, o) => T.mean(x, o), SUMS, true],
  ["max", (x, o) => T.max(x, o), EXACT, true],
  ["min", (x, o) => T.min(x, o), EXACT, true],
  ["logSumExp", (x, o) => T.logSumExp(x, o), SUMS, true],
  ["variance", (x, o) => T.variance(x, o), SUMS, true],
  ["norm", (x, o) => T.norm(x, o), SUMS, true],
  ["argmax", (x, o) => T.argmax(x, { axis: o.axis?.[0], keepDims: o.keepDims }), EXACT, false],
  ["argmin", (x, o) => T.argmin(x, { axis: o.axis?.[0], keepDims: o.keepDims }), EXACT, false],
];

/** Runs `op` on one backend and returns its output and (optionally) input gradients. */
function evaluate(
  row: Row,
  inputs: Input[],
  backend: string,
): { out: T.Tensor; grads: T.Tensor[] } {
  const tensors = inputs.map((x) => makeTensor(x.ref, x.dtype, x.layout, backend));
  const out = row.op(...tensors);
  if (!(row.grad ?? true) || out.dtype !== "float32") return { out, grads: [] };
  const floats = tensors.map((t, i) => [t, i] as const).filter(([t]) => t.dtype === "float32");
  const weights = T.tensor(Array.from({ length: out.size }, (_, i) => Math.sin(1.3 * i + 0.7)), {
    shape: out.shape,
    backend,
  });
  const { grads } = T.valueAndGrad((xs: T.Tensor[]) => {
    const all = [...tensors];
    floats.forEach(([, i], k) => (all[i] = xs[k]));
    return T.sum(T.mul(row.op(...all), weights));
  })(floats.map(([t]) => t));
  return { out, grads };
}

async function compare(row: Row, inputs: Input[]): Promise<void> {
  const cpu = evaluate(row, inputs, "cpu");
  const gpu = evaluate(row, inputs, "webgpu");
  assert.equal(gpu.out.backend, "webgpu");
  assert.deepEqual(gpu.out.shape, cpu.out.shape, `${row.name}: shape`);
  assert.equal(gpu.out.dtype, cpu.out.dtype, `${row.name}: dtype`);
  const [gOut, ...gGrads] = await Promise.all([gpu.out, ...gpu.grads].map((t) => T.toArray(t)));
  assertClose(gOut, T.toArraySync(cpu.out), row.tol, `${row.name} output`);
  cpu.grads.forEach((g, i) => {
    const tol = {
      atol: Math.max(row.tol.atol, GRADS.atol),
      rtol: Math.max(row.tol.rtol, GRADS.rtol),
    };
    assertClose(gGrads[i], T.toArraySync(g), tol, `${row.name} gradient ${i}`);
  });
  T.dispose([cpu, gpu]);
}

function parityTest(row: Row, numRuns = 8): void {
  Deno.test({
    name: `webgpu parity: ${row.name} matches the CPU oracle${
      (row.grad ?? true) ? " (value and gradient)" : ""
    }`,
    ignore: !HAS_WEBGPU,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: async () => {
      matmulTuning.path = row.matmulPath ?? "auto";
      elementwiseTuning.inputs = row.inputPath ?? "auto";
      try {
        await fc.assert(fc.asyncProperty(row.inputs, (inputs) => compare(row, inputs)), {
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
ROWS.forEach((row) => {
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
        await reductionProperty(name, op, tol, grad);
      } finally {
        elementwiseTuning.inputs = "auto";
      }
    },
  });
}

async function reductionProperty(
  name: string,
  op: (t: T.Tensor, o: { axis?: number[]; keepDims: boolean }) => T.Tensor,
  tol: Tolerance,
  grad: boolean,
): Promise<void> {
  await fc.assert(
    fc.asyncProperty(withAxes(), async ([x, axis, keepDims]) => {
      const axes = name.startsWith("arg")
        ? (axis && axis.length > 0 ? [axis[0]] : undefined)
        : axis;
      const row: Row = {
        name,
        inputs: fc.constant([]),
        op: (t) => op(t, { axis: axes, keepDims }),
        tol,
        grad,
      };
      await compare(row, [x]);
    }),
    { seed: SEED, numRuns: 8 },
  );
}

const MORE: Row[] = [
  {
    name: "reshape/permute/expand/slice/flip/pad",
    inputs: one(-3, 3, 2),
    op: (x) => {
      const p = T.permute(x, x.shape.map((_, i) => x.rank - 1 - i));
      const s = T.slice(p, [[null, null, -1], [0, null, 2]]);
      const padded = T.pad(s, s.shape.map(() => [1, 0] as [number, number]), { value: 0.5 });
      return T.add(
        T.flip(padded, { axis: 0 }),
        T.expand(T.reshape(T.sum(padded), [1]), padded.shape),
      );
    },
    tol: SUMS,
  },
  {
    name: "concat/stack/split/repeat/tile",
    inputs: one(-3, 3, 1),
    op: (x) => {
      const [p, q] = T.split(T.concat([x, T.mul(x, 2)], { axis: 0 }), 2, { axis: 0 });
      return T.stack([T.tile(p, [2]), T.repeat(q, 2, { axis: -1 })], { axis: -1 });
    },
    tol: EXACT,
  },
  ...perMatmulPath([{
    // The bias added in the product kernel, from any layout of x, W and b.
    name: "linear (x·Wᵀ + b)",
    inputs: fc.tuple(
      fc.constantFrom<number[]>([1], [3], [2, 35], [70]),
      fc.integer({ min: 1, max: 40 }),
      fc.integer({ min: 1, max: 40 }),
      fc.tuple(layoutArb, layoutArb, layoutArb),
    ).chain(([lead, k, n, [lx, lw, lb]]) =>
      fc.tuple(valuesArb([...lead, k]), valuesArb([n, k]), valuesArb([n])).map((
        [x, w, b],
      ) => [f32(x, lx), f32(w, lw), f32(b, lb)])
    ),
    op: (x, w, b) => T.linear(x, w, b),
    tol: SUMS,
  }, {
    name: "matmul (batched, broadcast, transposed views)",
    inputs: fc.tuple(
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 1, max: 9 }),
      fc.constantFrom<number[][]>([[], []], [[2], [2]], [[3], []], [[2, 1], [3]]),
      layoutArb,
    ).chain(([m, k, n, [ba, bb], l]) =>
      fc.tuple(valuesArb([...ba, m, k]), valuesArb([...bb, k, n])).map((
        [a, b],
      ) => [f32(a, l), f32(b, l)])
    ),
    op: T.matmul,
    tol: SUMS,
  }, {
    name: "matmul (vec4 path, N % 4 = 0)",
    inputs: fc.tuple(
      fc.integer({ min: 1, max: 70 }),
      fc.integer({ min: 1, max: 20 }),
      fc.integer({ min: 1, max: 18 }),
    )
      .chain(([m, k, n4]) =>
        fc.tuple(valuesArb([m, k]), valuesArb([k, 4 * n4])).map(([a, b]) => [f32(a), f32(b)])
      ),
    op: T.matmul,
    tol: SUMS,
  }]),
  {
    name: "gather/take/embedding",
    inputs: fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 4 })).chain((
      [v, d],
    ) =>
      fc.tuple(
        valuesArb([v, d]),
        fc.array(fc.integer({ min: -v, max: v - 1 }), { minLength: 6, maxLength: 6 }),
      )
        .map(([w, ids]) => [f32(w), i32({ shape: [2, 3], data: ids })])
    ),
    op: (w, ids) =>
      T.add(
        T.sum(T.embedding(w, ids), { axis: 2 }), // [2, 3]
        T.reshape(T.gather(w, T.reshape(ids, [6, 1]), { axis: 0 }), [2, 3]), // column 0 of rows ids
      ),
    tol: SUMS,
  },
  {
    name: "scatterAdd",
    inputs: fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 5 })).chain((
      [n, c],
    ) =>
      fc.tuple(
        valuesArb([n, c]),
        valuesArb([n, 3]),
        fc.array(fc.integer({ min: 0, max: c - 1 }), { minLength: 3 * n, maxLength: 3 * n }),
      )
        .map(([x, u, idx]) => [f32(x), i32({ shape: [n, 3], data: idx }), f32(u)])
    ),
    op: (x, idx, u) => T.scatterAdd(x, idx, u, { axis: 1 }),
    tol: SUMS,
  },
  {
    name: "oneHot",
    inputs: fc.array(fc.integer({ min: -1, max: 6 }), { minLength: 1, maxLength: 8 }).map((
      ids,
    ) => [i32({ shape: [ids.length], data: ids })]),
    op: (ids) => T.oneHot(ids, 5),
    tol: EXACT,
  },
  ...perInputPath([
    { name: "softmax", inputs: one(-5, 5, 1), op: (x) => T.softmax(x), tol: TRANSCENDENTAL },
    {
      // Rows of 4k (4 values per load), large logits, and softmax over a leading axis.
      name: "softmax (rows of 4k, any axis)",
      inputs: fc.tuple(
        fc.integer({ min: 1, max: 5 }),
        fc.integer({ min: 1, max: 20 }),
        layoutArb,
      ).chain(([r, k, l]) => valuesArb([r, 4 * k], -30, 30).map((x) => [f32(x, l)])),
      op: (x) => T.add(T.softmax(x), T.mul(T.softmax(x, { axis: 0 }), 2)),
      tol: TRANSCENDENTAL,
    },
  ]),
  { name: "logSoftmax", inputs: one(-5, 5, 1), op: (x) => T.logSoftmax(x), tol: TRANSCENDENTAL },
  { name: "l2Normalize", inputs: one(-3, 3, 1), op: (x) => T.l2Normalize(x), tol: ULPS },
  ...perInputPath([{
    // Σ over leading axes with the last axis kept (bias gradients): the column-sum kernel
    // where rows are 4-aligned, long enough for its blocks of 64 rows.
    name: "sum over leading axes (column sums)",
    inputs: fc.tuple(
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 150 }),
      fc.integer({ min: 1, max: 12 }),
      layoutArb,
    ).chain(([a, r, k, l]) => valuesArb([a, r, 4 * k]).map((x) => [f32(x, l)])),
    op: (x) => T.sum(x, { axis: [0, 1] }),
    tol: SUMS,
  }, {
    name: "layerNorm",
    inputs: shapeArb({ minRank: 1, minDim: 2, maxDim: 6 }).chain((s) =>
      fc.tuple(valuesArb(s), valuesArb([s[s.length - 1]]), valuesArb([s[s.length - 1]])).map((
        [x, w, b],
      ) => [f32(x), f32(w), f32(b)])
    ),
    op: (x, w, b) => T.layerNorm(x, w, b, { eps: 1e-6 }),
    tol: { atol: 2e-5, rtol: 2e-5 }, // rsqrt of a variance: SUMS amplified by 1/σ
  }, {
    // Rows of 4k (texel loads, vec4 stores) and strided views (copied first), no affine.
    name: "layerNorm (rows of 4k, views, no weight or bias)",
    inputs: fc.tuple(
      fc.integer({ min: 1, max: 6 }),
      fc.integer({ min: 1, max: 40 }),
      layoutArb,
    ).chain(([r, k, l]) => valuesArb([r, 4 * k]).map((x) => [f32(x, l)])),
    op: (x) => T.layerNorm(x, null, null),
    tol: { atol: 2e-5, rtol: 2e-5 }, // as above
  }]),
  {
    name: "crossEntropy with label smoothing",
    inputs: fc.tuple(fc.integer({ min: 1, max: 6 }), fc.integer({ min: 2, max: 7 })).chain((
      [n, c],
    ) =>
      fc.tuple(
        valuesArb([n, c], -4, 4),
        fc.array(fc.integer({ min: 0, max: c - 1 }), { minLength: n, maxLength: n }),
      )
        .map(([x, y]) => [f32(x), i32({ shape: [n], data: y })])
    ),
    op: (x, y) => T.crossEntropy(x, y, { labelSmoothing: 0.1 }),
    tol: TRANSCENDENTAL,
  },
  {
    name: "cosineSimilarity and mseLoss",
    inputs: shapeArb({ minRank: 1, minDim: 1, maxDim: 6 }).chain((s) =>
      fc.tuple(valuesArb(s), valuesArb(s)).map(([a, b]) => [f32(a), f32(b)])
    ),
    op: (a, b) => T.add(T.sum(T.cosineSimilarity(a, b)), T.mseLoss(a, b)),
    tol: SUMS,
  },
];
MORE.forEach((row) => parityTest(row));

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
        // Attention-like batches, and a shared right operand (a linear layer's weight).
        await check(
          T.normal(T.key(1), [6, 50, 33]),
          T.normal(T.key(2), [6, 50, 33]),
          false,
          true,
          `${path} batched`,
        );
        // Transposed operands read in place: Kᵀ of attention scores, gᵀ of a weight gradient.
        await check(
          T.normal(T.key(7), [6, 50, 32]),
          T.normal(T.key(8), [6, 50, 32]),
          false,
          true,
          `${path} batched, B transposed in place`,
        );
        await check(
          T.normal(T.key(9), [6, 40, 52]),
          T.normal(T.key(10), [6, 40, 36]),
          true,
          false,
          `${path} batched, A transposed in place`,
        );
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
      const cpu = T.toArraySync(op(T.tensor(values))); // float32 inputs on both sides
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
