// Op table, reductions: sum, mean, max, min, argmax, argmin, variance, std, norm and
// logSumExp against the plain-JS reference, over random axis subsets and keepDims.

import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../../mod.ts";
import { layoutArb, makeTensor, refArb } from "../_arbitrary.ts";
import { assertClose, F64, SEED, values } from "../_helpers.ts";
import { map1, reduce, type Ref } from "../_reference.ts";

/** A random subset of axes (possibly empty, possibly with negative spellings) or undefined. */
function axesArb(rank: number): fc.Arbitrary<number[] | undefined> {
  const subset = fc.subarray(Array.from({ length: rank }, (_, i) => i))
    .chain((axes) =>
      fc.tuple(
        fc.constant(axes),
        fc.array(fc.boolean(), { minLength: axes.length, maxLength: axes.length }),
      )
    )
    .map(([axes, negative]) => axes.map((a, i) => (negative[i] ? a - rank : a)));
  return fc.oneof(fc.constant(undefined), subset);
}

const count = (r: Ref, axes: number[] | undefined) =>
  (axes ?? r.shape.map((_, i) => i)).reduce(
    (n, a) => n * r.shape[a < 0 ? a + r.shape.length : a],
    1,
  );

interface ReduceRow {
  name: string;
  op: (x: T.Tensor, o: { axis?: number[]; keepDims: boolean }) => T.Tensor;
  ref: (r: Ref, axes: number[] | undefined, keepDims: boolean) => Ref;
  nonEmpty?: boolean;
}

const ROWS: ReduceRow[] = [
  { name: "sum", op: (x, o) => T.sum(x, o), ref: (r, a, k) => reduce(r, a, k, 0, (s, v) => s + v) },
  {
    name: "mean",
    op: (x, o) => T.mean(x, o),
    ref: (r, a, k) => map1(reduce(r, a, k, 0, (s, v) => s + v), (s) => s / count(r, a)),
  },
  {
    name: "max",
    op: (x, o) => T.max(x, o),
    ref: (r, a, k) => reduce(r, a, k, -Infinity, Math.max),
    nonEmpty: true,
  },
  {
    name: "min",
    op: (x, o) => T.min(x, o),
    ref: (r, a, k) => reduce(r, a, k, Infinity, Math.min),
    nonEmpty: true,
  },
  {
    name: "logSumExp",
    op: (x, o) => T.logSumExp(x, o),
    ref: (r, a, k) => map1(reduce(r, a, k, 0, (s, v) => s + Math.exp(v)), Math.log),
  },
  {
    name: "norm",
    op: (x, o) => T.norm(x, o),
    ref: (r, a, k) => map1(reduce(r, a, k, 0, (s, v) => s + v * v), Math.sqrt),
  },
  {
    name: "norm ord 1",
    op: (x, o) => T.norm(x, { ...o, ord: 1 }),
    ref: (r, a, k) => reduce(r, a, k, 0, (s, v) => s + Math.abs(v)),
  },
  {
    name: "norm ord ∞",
    op: (x, o) => T.norm(x, { ...o, ord: Infinity }),
    ref: (r, a, k) => reduce(r, a, k, 0, (s, v) => Math.max(s, Math.abs(v))),
    nonEmpty: true,
  },
  {
    name: "variance",
    op: (x, o) => T.variance(x, o),
    ref: (r, a, k) => {
      const n = count(r, a);
      const s1 = reduce(r, a, k, 0, (s, v) => s + v).data;
      const s2 = reduce(r, a, k, 0, (s, v) => s + v * v).data;
      const shape = reduce(r, a, k, 0, (s) => s).shape;
      return { shape, data: s1.map((s, i) => s2[i] / n - (s / n) ** 2) };
    },
    nonEmpty: true,
  },
];

for (const row of ROWS) {
  Deno.test(`${row.name}() matches the reference over random axes, keepDims and layouts`, () => {
    fc.assert(
      fc.property(
        refArb({ minDim: row.nonEmpty ? 1 : 0, lo: -3, hi: 3 }).chain((r) =>
          fc.tuple(fc.constant(r), axesArb(r.shape.length))
        ),
        fc.boolean(),
        layoutArb,
        ([r, axes], keepDims, layout) => {
          const expected = row.ref(r, axes, keepDims);
          const out = row.op(makeTensor(r, "float64", layout), { axis: axes, keepDims });
          assert.deepEqual(out.shape, expected.shape);
          assertClose(values(out), expected.data, { atol: 1e-10, rtol: 1e-9 }, row.name);
        },
      ),
      { seed: SEED, numRuns: 60 },
    );
  });
}

Deno.test("sum() of bool and int32 gives int32; mean() of int32 gives float32", () => {
  assert.equal(T.sum(T.tensor([true, true, false])).dtype, "int32");
  assert.deepEqual(values(T.sum(T.tensor([true, true, false]))), [2]);
  assert.equal(T.mean(T.tensor([1, 2], { dtype: "int32" })).dtype, "float32");
  assert.deepEqual(values(T.mean(T.tensor([1, 2], { dtype: "int32" }))), [1.5]);
});

Deno.test("sum() over an empty axis is 0 and mean() is NaN, as NumPy", () => {
  assert.deepEqual(values(T.sum(T.zeros([0, 3]), { axis: 0 })), [0, 0, 0]);
  assert.ok(Number.isNaN(values(T.mean(T.zeros([0])))[0]));
});

Deno.test("variance() and std() divide by n − ddof", () => {
  const x = T.tensor([1, 2, 3, 4], { dtype: "float64" });
  assertClose(values(T.variance(x)), [1.25], F64);
  assertClose(values(T.variance(x, { ddof: 1 })), [5 / 3], F64);
  assertClose(values(T.std(x, { ddof: 1 })), [Math.sqrt(5 / 3)], F64);
});

Deno.test("logSumExp() is stable for large inputs and −∞ rows", () => {
  const x = T.tensor([[1000, 1000], [-Infinity, -Infinity]], { dtype: "float64" });
  const out = values(T.logSumExp(x, { axis: 1 }));
  assertClose([out[0]], [1000 + Math.log(2)], F64);
  assert.equal(out[1], -Infinity);
});

Deno.test("max() propagates NaN", () => {
  assert.ok(Number.isNaN(values(T.max(T.tensor([1, NaN, 3])))[0]));
});

Deno.test("argmax() and argmin() return the first extreme index as int32", () => {
  fc.assert(
    fc.property(
      refArb({ minDim: 1, minRank: 1, lo: -2, hi: 2 }).map((r) => map1(r, (v) => Math.round(v)))
        .chain((r) =>
          fc.tuple(
            fc.constant(r),
            fc.integer({ min: -r.shape.length, max: r.shape.length - 1 }),
            fc.boolean(),
          )
        ),
      layoutArb,
      ([r, axis, keepDims], layout) => {
        const a = axis < 0 ? axis + r.shape.length : axis;
        const x = makeTensor(r, "float32", layout);
        for (
          const [op, better] of [[T.argmax, (v: number, b: number) => v > b], [
            T.argmin,
            (v: number, b: number) => v < b,
          ]] as const
        ) {
          const out = op(x, { axis, keepDims });
          assert.equal(out.dtype, "int32");
          const keptShape = r.shape.map((d, i) => (i === a ? 1 : d));
          const expected = reduce(
            { shape: r.shape, data: r.data.map((_, i) => i) },
            [a],
            keepDims,
            -1,
            (best, i) => (best === -1 || better(r.data[i], r.data[best]) ? i : best),
          );
          // Convert flat winners into positions along the axis.
          const stride = r.shape.slice(a + 1).reduce((p, d) => p * d, 1);
          const positions = expected.data.map((flat) => Math.floor(flat / stride) % r.shape[a]);
          assert.deepEqual(out.shape, keepDims ? keptShape : r.shape.filter((_, i) => i !== a));
          assert.deepEqual(values(out), positions);
        }
      },
    ),
    { seed: SEED, numRuns: 60 },
  );
  assert.deepEqual(values(T.argmax(T.tensor([[1, 5], [7, 2]]))), [2]);
  assert.deepEqual(T.argmax(T.tensor([[1, 5], [7, 2]]), { keepDims: true }).shape, [1, 1]);
});
