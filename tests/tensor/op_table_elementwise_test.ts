// Op table, elementwise part: every unary and binary op against the plain-JS reference,
// on hand-picked values and on fast-check shapes (size-0/1 axes, broadcasting, views).

import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../../mod.ts";
import { broadcastPairArb, layoutArb, makeTensor, refArb, valuesArb } from "../_arbitrary.ts";
import { assertClose, F32, F64, SEED, type Tolerance, values } from "../_helpers.ts";
import { erfByQuadrature, map1, map2, type Ref } from "../_reference.ts";

const SQRT_HALF = Math.SQRT1_2;
const roundHalfEven = (x: number) => {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
};

interface UnaryRow {
  name: string;
  op: (x: T.Tensor) => T.Tensor;
  ref: (x: number) => number;
  lo: number;
  hi: number;
  picked: number[];
  /** Extra tolerance where the reference is itself approximate (quadrature erf). */
  tol?: Tolerance;
}

const QUAD: Tolerance = { atol: 1e-9, rtol: 1e-9 };

const UNARY: UnaryRow[] = [
  { name: "neg", op: T.neg, ref: (x) => -x, lo: -5, hi: 5, picked: [0, 1, -2.5] },
  { name: "abs", op: T.abs, ref: Math.abs, lo: -5, hi: 5, picked: [0, -1, 2.5] },
  { name: "exp", op: T.exp, ref: Math.exp, lo: -5, hi: 5, picked: [0, 1, -1, 10] },
  { name: "log", op: T.log, ref: Math.log, lo: 0.01, hi: 10, picked: [1, Math.E, 0.5] },
  { name: "log1p", op: T.log1p, ref: Math.log1p, lo: -0.9, hi: 10, picked: [0, 1e-7, -0.5] },
  { name: "sqrt", op: T.sqrt, ref: Math.sqrt, lo: 0, hi: 10, picked: [0, 4, 2] },
  {
    name: "rsqrt",
    op: T.rsqrt,
    ref: (x) => 1 / Math.sqrt(x),
    lo: 0.01,
    hi: 10,
    picked: [4, 1, 0.25],
  },
  { name: "square", op: T.square, ref: (x) => x * x, lo: -5, hi: 5, picked: [0, -3, 1.5] },
  { name: "reciprocal", op: T.reciprocal, ref: (x) => 1 / x, lo: 0.1, hi: 5, picked: [1, 4, -0.5] },
  { name: "sin", op: T.sin, ref: Math.sin, lo: -5, hi: 5, picked: [0, Math.PI / 2, -1] },
  { name: "cos", op: T.cos, ref: Math.cos, lo: -5, hi: 5, picked: [0, Math.PI, 1] },
  { name: "tanh", op: T.tanh, ref: Math.tanh, lo: -5, hi: 5, picked: [0, 1e-6, -2, 20] },
  {
    name: "sigmoid",
    op: T.sigmoid,
    ref: (x) => 1 / (1 + Math.exp(-x)),
    lo: -8,
    hi: 8,
    picked: [0, 2, -2],
  },
  { name: "relu", op: T.relu, ref: (x) => Math.max(x, 0), lo: -5, hi: 5, picked: [-1, 0, 2] },
  {
    name: "erf",
    op: T.erf,
    ref: erfByQuadrature,
    lo: -3,
    hi: 3,
    picked: [0, 0.5, -1, 2],
    tol: QUAD,
  },
  {
    name: "gelu",
    op: (x) => T.gelu(x),
    ref: (x) => 0.5 * x * (1 + erfByQuadrature(x * SQRT_HALF)),
    lo: -4,
    hi: 4,
    picked: [0, 1, -1, 3],
    tol: QUAD,
  },
  {
    name: "gelu tanh",
    op: (x) => T.gelu(x, { approximate: "tanh" }),
    ref: (x) => 0.5 * x * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (x + 0.044715 * x ** 3))),
    lo: -4,
    hi: 4,
    picked: [0, 1, -1, 3],
  },
  { name: "sign", op: T.sign, ref: Math.sign, lo: -3, hi: 3, picked: [-2, 0, 3] },
  { name: "floor", op: T.floor, ref: Math.floor, lo: -3, hi: 3, picked: [-1.5, 0.5, 2] },
  { name: "ceil", op: T.ceil, ref: Math.ceil, lo: -3, hi: 3, picked: [-1.5, 0.5, 2] },
  {
    name: "round",
    op: T.round,
    ref: roundHalfEven,
    lo: -3,
    hi: 3,
    picked: [0.5, 1.5, 2.5, -0.5, -1.5, 2.4],
  },
];

function tolFor(dtype: "float32" | "float64", row?: { tol?: Tolerance }): Tolerance {
  const base = dtype === "float32" ? F32 : F64;
  const extra = row?.tol ?? { atol: 0, rtol: 0 };
  return { atol: base.atol + extra.atol, rtol: base.rtol + extra.rtol };
}

for (const row of UNARY) {
  Deno.test(`${row.name}() matches the reference on hand-picked values`, () => {
    const x = T.tensor(row.picked, { dtype: "float64" });
    assertClose(values(row.op(x)), row.picked.map(row.ref), tolFor("float64", row), row.name);
  });

  Deno.test(`${row.name}() matches the reference on generated shapes, dtypes and layouts`, () => {
    fc.assert(
      fc.property(
        refArb({ lo: row.lo, hi: row.hi }),
        fc.constantFrom("float32" as const, "float64" as const),
        layoutArb,
        (r, dtype, layout) => {
          const input = dtype === "float32" ? map1(r, Math.fround) : r;
          const out = row.op(makeTensor(input, dtype, layout));
          assert.deepEqual(out.shape, r.shape);
          assert.equal(out.dtype, dtype);
          assertClose(values(out), input.data.map(row.ref), tolFor(dtype, row), row.name);
        },
      ),
      { seed: SEED, numRuns: 40 },
    );
  });
}

Deno.test("exp(), log() and friends promote int32 input to float32", () => {
  const x = T.tensor([1, 2], { dtype: "int32" });
  assert.equal(T.exp(x).dtype, "float32");
  assert.equal(T.sqrt(x).dtype, "float32");
  assert.equal(T.neg(x).dtype, "int32");
  assert.deepEqual(values(T.abs(T.tensor([-3, 4], { dtype: "int32" }))), [3, 4]);
});

Deno.test("cast() truncates toward zero, tests non-zero for bool and maps bool to 0/1", () => {
  assert.deepEqual(values(T.cast(T.tensor([1.7, -1.7, 0.2]), "int32")), [1, -1, 0]);
  assert.deepEqual(values(T.cast(T.tensor([0, 2, -0.5, NaN]), "bool")), [0, 1, 1, 1]);
  assert.deepEqual(values(T.cast(T.tensor([true, false]), "float32")), [1, 0]);
  assert.equal(T.cast(T.tensor([0.1]), "float64").dtype, "float64");
  assertClose(
    values(T.cast(T.tensor([0.1], { dtype: "float64" }), "float32")),
    [Math.fround(0.1)],
    F64,
  );
});

Deno.test("isFinite() and logicalNot() give bool tensors", () => {
  const x = T.tensor([1, Infinity, -Infinity, NaN, 0]);
  assert.deepEqual(values(T.isFinite(x)), [1, 0, 0, 0, 1]);
  assert.deepEqual(values(T.logicalNot(x)), [0, 0, 0, 0, 1]);
  assert.equal(T.isFinite(x).dtype, "bool");
});

interface BinaryRow {
  name: string;
  op: (a: T.Tensor, b: T.Tensor) => T.Tensor;
  ref: (a: number, b: number) => number;
  lo: number;
  hi: number;
  bool?: boolean;
}

const BINARY: BinaryRow[] = [
  { name: "add", op: T.add, ref: (a, b) => a + b, lo: -5, hi: 5 },
  { name: "sub", op: T.sub, ref: (a, b) => a - b, lo: -5, hi: 5 },
  { name: "mul", op: T.mul, ref: (a, b) => a * b, lo: -5, hi: 5 },
  { name: "div", op: T.div, ref: (a, b) => a / b, lo: 0.5, hi: 5 },
  { name: "pow", op: T.pow, ref: Math.pow, lo: 0.1, hi: 3 },
  { name: "maximum", op: T.maximum, ref: Math.max, lo: -5, hi: 5 },
  { name: "minimum", op: T.minimum, ref: Math.min, lo: -5, hi: 5 },
  { name: "equal", op: T.equal, ref: (a, b) => Number(a === b), lo: -2, hi: 2, bool: true },
  { name: "notEqual", op: T.notEqual, ref: (a, b) => Number(a !== b), lo: -2, hi: 2, bool: true },
  { name: "less", op: T.less, ref: (a, b) => Number(a < b), lo: -2, hi: 2, bool: true },
  { name: "lessEqual", op: T.lessEqual, ref: (a, b) => Number(a <= b), lo: -2, hi: 2, bool: true },
  { name: "greater", op: T.greater, ref: (a, b) => Number(a > b), lo: -2, hi: 2, bool: true },
  {
    name: "greaterEqual",
    op: T.greaterEqual,
    ref: (a, b) => Number(a >= b),
    lo: -2,
    hi: 2,
    bool: true,
  },
  {
    name: "logicalAnd",
    op: T.logicalAnd,
    ref: (a, b) => Number(a !== 0 && b !== 0),
    lo: -1,
    hi: 1,
    bool: true,
  },
  {
    name: "logicalOr",
    op: T.logicalOr,
    ref: (a, b) => Number(a !== 0 || b !== 0),
    lo: -1,
    hi: 1,
    bool: true,
  },
];

/** Rounds generated values to a coarse grid so comparisons see ties and zeros. */
const coarse = (r: Ref): Ref => map1(r, (v) => Math.round(v * 2) / 2);

for (const row of BINARY) {
  Deno.test(`${row.name}() broadcasts like NumPy on generated shapes and layouts`, () => {
    fc.assert(
      fc.property(
        broadcastPairArb().chain(([sa, sb]) =>
          fc.tuple(valuesArb(sa, row.lo, row.hi), valuesArb(sb, row.lo, row.hi))
        ),
        fc.constantFrom("float32" as const, "float64" as const),
        layoutArb,
        ([ra, rb], dtype, layout) => {
          const round = row.bool
            ? coarse
            : (r: Ref) => (dtype === "float32" ? map1(r, Math.fround) : r);
          const a = round(ra);
          const b = round(rb);
          const expected = map2(a, b, row.ref);
          const out = row.op(makeTensor(a, dtype, layout), makeTensor(b, dtype));
          assert.deepEqual(out.shape, expected.shape);
          assert.equal(out.dtype, row.bool ? "bool" : dtype);
          assertClose(values(out), expected.data, dtype === "float32" ? F32 : F64, row.name);
        },
      ),
      { seed: SEED, numRuns: 40 },
    );
  });
}

Deno.test("binary ops take plain numbers as weakly typed scalars", () => {
  const x = T.tensor([1, 2, 3], { dtype: "float64" });
  assert.equal(T.add(x, 1).dtype, "float64");
  assert.equal(T.mul(2, x).dtype, "float64");
  const i = T.tensor([1, 2], { dtype: "int32" });
  assert.equal(T.add(i, 1).dtype, "int32");
  assert.equal(T.add(i, 0.5).dtype, "float32");
  assert.deepEqual(values(T.sub(10, i)), [9, 8]);
});

Deno.test("binary ops promote dtypes bool < int32 < float32 < float64", () => {
  const b = T.tensor([true, false]);
  const i = T.tensor([1, 2], { dtype: "int32" });
  const f = T.tensor([0.5, 0.5]);
  const d = T.tensor([0.5, 0.5], { dtype: "float64" });
  assert.equal(T.add(b, b).dtype, "int32");
  assert.equal(T.add(b, i).dtype, "int32");
  assert.equal(T.add(i, f).dtype, "float32");
  assert.equal(T.add(f, d).dtype, "float64");
  assert.equal(T.div(i, i).dtype, "float32");
  assert.deepEqual(values(T.div(i, T.tensor([2, 4], { dtype: "int32" }))), [0.5, 0.5]);
});

Deno.test("int32 multiplication wraps like 32-bit hardware", () => {
  const big = T.tensor([65536, 123456789], { dtype: "int32" });
  assert.deepEqual(values(T.mul(big, big)), [0, Math.imul(123456789, 123456789)]);
});

Deno.test("maximum() and minimum() propagate NaN", () => {
  const x = T.tensor([NaN, 1]);
  assert.ok(Number.isNaN(values(T.maximum(x, 0))[0]));
  assert.ok(Number.isNaN(values(T.minimum(x, 0))[0]));
});

Deno.test("where() picks with broadcasting and promotes its branches", () => {
  fc.assert(
    fc.property(
      broadcastPairArb().chain(([sa, sb]) =>
        fc.tuple(valuesArb(sa, -1, 1), valuesArb(sb, -1, 1), valuesArb(sb, -1, 1))
      ),
      layoutArb,
      ([rc, ra, rb], layout) => {
        const cond = map1(rc, (v) => Number(v > 0));
        const expectedShape = map2(cond, ra, () => 0).shape;
        const c = T.greater(makeTensor(rc, "float64", layout), 0);
        const out = T.where(c, makeTensor(ra, "float64"), makeTensor(rb, "float64", layout));
        const pick = map2(
          map2(cond, ra, (c, a) => (c ? a : NaN)),
          rb,
          (a, b) => (Number.isNaN(a) ? b : a),
        );
        assert.deepEqual(out.shape, expectedShape);
        assertClose(values(out), pick.data, F64, "where");
      },
    ),
    { seed: SEED, numRuns: 40 },
  );
  assert.equal(T.where(T.tensor([true]), T.tensor([1], { dtype: "int32" }), 0.5).dtype, "float32");
});

Deno.test("clip() limits to [min, max] and accepts a missing bound", () => {
  const x = T.tensor([-2, 0.5, 3]);
  assert.deepEqual(values(T.clip(x, 0, 1)), [0, 0.5, 1]);
  assert.deepEqual(values(T.clip(x, null, 1)), [-2, 0.5, 1]);
  assert.deepEqual(values(T.clip(x, 0, null)), [0, 0.5, 3]);
});
