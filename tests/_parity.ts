// Backend parity, the shared part: every op of the op table as rows (forward and
// gradient, random shapes, values and layouts from fast-check), tolerances per op family,
// and the comparison of a backend against the JavaScript oracle ("cpu-js"). Used by
// webgpu_parity_test.ts and cpu_parity_test.ts.
//
// Tolerances: |backend − oracle| ≤ atol + rtol·|oracle|, one entry per op family, each
// justified where it is defined below. Most ops agree to the last bit or within an ulp or two.

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
import { assertClose, SEED, type Tolerance } from "./_helpers.ts";
import type { Ref } from "./_reference.ts";

/** The backend every other is compared with. */
export const ORACLE = "cpu-js";

/** Bit-identical: both backends compute these exactly (one correctly rounded f32 op, or none). */
export const EXACT: Tolerance = { atol: 0, rtol: 0 };
/** A few ulps: division and sqrt may be 1–2.5 ulp on GPUs (WGSL allows 2.5 ulp for /). */
export const ULPS: Tolerance = { atol: 1e-7, rtol: 1e-6 };
/**
 * Our WGSL exp/log/log1p/tanh/erf/gelu/sigmoid/pow: relative accuracy ~1e-7 by
 * construction (see wgsl_common.ts) on top of llvmpipe's exp/log/exp2/log2, so the check
 * is relative all the way down to tiny values (tanh(1e-6) must be right to 4e-6, not to
 * an absolute 1e-6).
 */
export const TRANSCENDENTAL: Tolerance = { atol: 1e-30, rtol: 4e-6 };
/** llvmpipe's sin/cos on |x| ≤ 4: absolute error ~1e-7. */
export const TRIG: Tolerance = { atol: 1e-6, rtol: 2e-6 };
/** Sums in a different order: error ~n·ε·Σ|x| for rows of ≤ 64 elements of magnitude ≤ 3. */
export const SUMS: Tolerance = { atol: 2e-5, rtol: 1e-5 };
/** Gradients chain several ops of the above: a few times their tolerance. */
export const GRADS: Tolerance = { atol: 5e-5, rtol: 5e-5 };

export interface Input {
  ref: Ref;
  dtype: T.DType;
  layout: Layout;
}

export interface Row {
  name: string;
  inputs: fc.Arbitrary<Input[]>;
  op: (...xs: T.Tensor[]) => T.Tensor;
  tol: Tolerance;
  /** Compare gradients with respect to the float inputs too (default true for float outputs). */
  grad?: boolean;
  /** Which WebGPU read paths this row exercises (each is run with both, see gpuPaths). */
  gpuPaths?: "matmul" | "inputs";
  /** How WebGPU matmuls read their operands in this row (default: the adapter's choice). */
  matmulPath?: "storage" | "texture";
  /** How elementwise kernels and reductions read float32 inputs (default: the adapter's). */
  inputPath?: "storage" | "texture";
}

/** Marks rows whose WebGPU kernels read operands in two ways (webgpu_parity_test.ts runs both). */
const gpuPaths = (paths: "matmul" | "inputs", rows: Row[]): Row[] =>
  rows.map((row) => ({ ...row, gpuPaths: paths }));

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

export function withAxes(lo = -3, hi = 3): fc.Arbitrary<[Input, number[] | undefined, boolean]> {
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

/** Rows of the elementwise ops (unary, binary, comparisons, where). */
export const ELEMENTWISE_ROWS: Row[] = [];
const unary = (
  name: string,
  op: (x: T.Tensor) => T.Tensor,
  tol: Tolerance,
  lo = -3,
  hi = 3,
  grad = true,
) => ELEMENTWISE_ROWS.push({ name, inputs: one(lo, hi), op, tol, grad });

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
) => ELEMENTWISE_ROWS.push({ name, inputs: pair(...ranges), op, tol, grad });

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

/** Reductions, each run over random axes. */
export const REDUCTIONS: [
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

export function evaluate(
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

/** Runs a row on `backend` and on the oracle, and checks outputs and gradients agree. */
export async function compare(row: Row, inputs: Input[], backend: string): Promise<void> {
  const want = evaluate(row, inputs, ORACLE);
  const got = evaluate(row, inputs, backend);
  assert.equal(got.out.backend, backend);
  assert.deepEqual(got.out.shape, want.out.shape, `${row.name}: shape`);
  assert.equal(got.out.dtype, want.out.dtype, `${row.name}: dtype`);
  const [gOut, ...gGrads] = await Promise.all([got.out, ...got.grads].map((t) => T.toArray(t)));
  assertClose(gOut, T.toArraySync(want.out), row.tol, `${row.name} output`);
  want.grads.forEach((g, i) => {
    const tol = {
      atol: Math.max(row.tol.atol, GRADS.atol),
      rtol: Math.max(row.tol.rtol, GRADS.rtol),
    };
    assertClose(gGrads[i], T.toArraySync(g), tol, `${row.name} gradient ${i}`);
  });
  T.dispose([want, got]);
}

/** A reduction over random axes (and keepDims) on `backend` against the oracle. */
export async function reductionProperty(
  name: string,
  op: (t: T.Tensor, o: { axis?: number[]; keepDims: boolean }) => T.Tensor,
  tol: Tolerance,
  grad: boolean,
  backend: string,
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
      await compare(row, [x], backend);
    }),
    { seed: SEED, numRuns: 8 },
  );
}

/** Rows of the other ops: movement, matmul and linear, indexing, fused kernels, losses. */
export const MORE_ROWS: Row[] = [
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
  ...gpuPaths("matmul", [{
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
  ...gpuPaths("inputs", [
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
  ...gpuPaths("inputs", [{
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
    // The fused AdamW step: update, and both moments, from any layout of its four inputs.
    name: "adamStep",
    inputs: fc.tuple(
      shapeArb({ minRank: 1, minDim: 1, maxDim: 7 }),
      fc.tuple(layoutArb, layoutArb, layoutArb, layoutArb),
    ).chain(([s, layouts]) =>
      fc.tuple(valuesArb(s), valuesArb(s), valuesArb(s, 0, 2), valuesArb(s)).map((refs) =>
        refs.map((r, i) => f32(r, layouts[i]))
      )
    ),
    op: (g, m, v, p) => {
      const { update, mu, nu } = T.adamStep(g, m, v, p, {
        b1: 0.9,
        b2: 0.999,
        c1: 1 - 0.9 ** 3,
        c2: 1 - 0.999 ** 3,
        eps: 1e-8,
        learningRate: 1e-3,
        weightDecay: 0.05,
      });
      return T.stack([update, mu, nu]);
    },
    tol: ULPS,
    grad: false,
  },
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
