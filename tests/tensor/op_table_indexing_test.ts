// Op table, indexing and matmul: gather, scatterAdd, take, embedding, oneHot and
// batched, broadcasting matmul against the references; the two CPU matmul kernels
// against each other.

import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../../mod.ts";
import { matmulBlocked, matmulNaive } from "../../tensor/backend/cpu/matmul.ts";
import { cpuBackend } from "../../tensor/backend/wasm/mod.ts";
import { layoutArb, makeTensor, refArb, valuesArb } from "../_arbitrary.ts";
import { assertClose, F64, SEED, values } from "../_helpers.ts";
import * as R from "../_reference.ts";

/** x and an index tensor for gather along `axis`: same rank, other axes no larger. */
const gatherCaseArb = refArb({ minRank: 1, minDim: 1, maxDim: 4 }).chain((r) =>
  fc.integer({ min: 0, max: r.shape.length - 1 }).chain((axis) =>
    fc.tuple(
      ...r.shape.map((d, i) => fc.integer({ min: i === axis ? 0 : 1, max: i === axis ? 4 : d })),
    )
      .chain((ishape) =>
        fc.tuple(
          fc.constant(r),
          fc.constant(axis),
          fc.array(fc.integer({ min: -r.shape[axis], max: r.shape[axis] - 1 }), {
            minLength: R.size(ishape),
            maxLength: R.size(ishape),
          }).map((data) => ({ shape: ishape, data })),
        )
      )
  )
);

Deno.test("gather() picks along an axis, with negative indices, as take_along_axis", () => {
  fc.assert(
    fc.property(gatherCaseArb, layoutArb, ([r, axis, index], layout) => {
      const out = T.gather(makeTensor(r, "float64", layout), makeTensor(index, "int32", layout), {
        axis,
      });
      const expected = R.gather(r, index, axis);
      assert.deepEqual(out.shape, expected.shape);
      assert.deepEqual(values(out), expected.data);
    }),
    { seed: SEED, numRuns: 80 },
  );
});

Deno.test("scatterAdd() accumulates repeated indices", () => {
  fc.assert(
    fc.property(gatherCaseArb, layoutArb, ([r, axis, index], layout) => {
      const updates = R.ref(index.shape, (_, i) => i + 1);
      const out = T.scatterAdd(
        makeTensor(r, "float64", layout),
        makeTensor(index, "int32"),
        makeTensor(updates, "float64", layout),
        { axis },
      );
      const expected = R.scatterAdd(r, index, updates, axis);
      assertClose(values(out), expected.data, F64, "scatterAdd");
    }),
    { seed: SEED, numRuns: 80 },
  );
});

Deno.test("take() and embedding() index rows, keeping the index shape", () => {
  const table = T.tensor([[0, 1], [10, 11], [20, 21]]);
  const ids = T.tensor([[2, 0], [1, -1]], { dtype: "int32" });
  const rows = T.embedding(table, ids);
  assert.deepEqual(rows.shape, [2, 2, 2]);
  assert.deepEqual(values(rows), [20, 21, 0, 1, 10, 11, 20, 21]);
  const cols = T.take(table, T.tensor([1, 1, 0], { dtype: "int32" }), { axis: 1 });
  assert.deepEqual(cols.shape, [3, 3]);
  assert.deepEqual(values(cols), [1, 1, 0, 11, 11, 10, 21, 21, 20]);
  assert.deepEqual(values(T.take(table, T.tensor([5, 0], { dtype: "int32" }))), [21, 0]); // flattened
});

Deno.test("oneHot() encodes ids on a new last axis; out-of-range ids give zero rows", () => {
  const out = T.oneHot(T.tensor([[0, 2], [3, 1]], { dtype: "int32" }), 3);
  assert.deepEqual(out.shape, [2, 2, 3]);
  assert.deepEqual(values(out), [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0]);
  assert.equal(out.dtype, "float32");
  assert.equal(T.oneHot(T.tensor([1], { dtype: "int32" }), 2, { dtype: "int32" }).dtype, "int32");
});

Deno.test("matmul() matches the reference with batch broadcasting, views and 1-D operands", () => {
  const caseArb = fc.tuple(
    fc.integer({ min: 0, max: 5 }),
    fc.integer({ min: 0, max: 5 }),
    fc.integer({ min: 0, max: 5 }),
    fc.array(fc.integer({ min: 1, max: 3 }), { maxLength: 2 }),
    fc.integer({ min: 0, max: 2 }),
    fc.integer({ min: 0, max: 2 }),
  ).chain(([m, k, n, batch, dropA, dropB]) => {
    const ba = batch.slice(Math.min(dropA, batch.length)).map((d, i) => (i % 2 === 1 ? 1 : d));
    const bb = batch.slice(Math.min(dropB, batch.length));
    return fc.tuple(valuesArb([...ba, m, k]), valuesArb([...bb, k, n]));
  });
  fc.assert(
    fc.property(caseArb, layoutArb, layoutArb, ([a, b], la, lb) => {
      const out = T.matmul(makeTensor(a, "float64", la), makeTensor(b, "float64", lb));
      const expected = R.matmul(a, b);
      assert.deepEqual(out.shape, expected.shape);
      assertClose(values(out), expected.data, F64, "matmul");
    }),
    { seed: SEED, numRuns: 80 },
  );
  const m = T.tensor([[1, 2], [3, 4]]);
  const v = T.tensor([1, 1]);
  assert.deepEqual(T.matmul(m, v).shape, [2]);
  assert.deepEqual(values(T.matmul(m, v)), [3, 7]);
  assert.deepEqual(T.matmul(v, m).shape, [2]);
  assert.deepEqual(values(T.matmul(v, m)), [4, 6]);
  assert.deepEqual(T.matmul(v, v).shape, []);
  assert.deepEqual(T.matmul(T.zeros([5, 2, 3]), T.zeros([3, 4])).shape, [5, 2, 4]);
});

Deno.test("matmulBlocked() agrees with matmulNaive() on ragged sizes and views", () => {
  fc.assert(
    fc.property(
      fc.tuple(
        fc.integer({ min: 1, max: 13 }),
        fc.integer({ min: 0, max: 13 }),
        fc.integer({ min: 1, max: 13 }),
        fc.integer({ min: 1, max: 3 }),
      )
        .chain(([m, k, n, b]) => fc.tuple(valuesArb([b, m, k]), valuesArb([b, k, n]))),
      layoutArb,
      fc.constantFrom("float32" as const, "float64" as const),
      ([a, b], layout, dtype) => {
        const ta = makeTensor(a, dtype, layout);
        const tb = makeTensor(b, dtype, layout);
        const fast = matmulBlocked(ta, tb);
        const slow = matmulNaive(ta, tb);
        assertClose(
          fast,
          slow,
          dtype === "float32" ? { atol: 1e-5, rtol: 1e-5 } : F64,
          "blocked vs naive",
        );
      },
    ),
    { seed: SEED, numRuns: 80 },
  );
});

Deno.test("the cpu backend's matmul (WebAssembly SIMD, float32) agrees with matmulNaive() on ragged sizes and views", () => {
  fc.assert(
    fc.property(
      fc.tuple(
        fc.integer({ min: 1, max: 21 }),
        fc.integer({ min: 0, max: 21 }),
        fc.integer({ min: 1, max: 21 }),
        fc.integer({ min: 1, max: 3 }),
      )
        .chain(([m, k, n, b]) => fc.tuple(valuesArb([b, m, k]), valuesArb([b, k, n]))),
      layoutArb,
      layoutArb,
      ([a, b], la, lb) => {
        const ta = makeTensor(a, "float32", la);
        const tb = makeTensor(b, "float32", lb);
        assertClose(
          cpuBackend.matmul(ta, tb) as Float32Array,
          matmulNaive(ta, tb),
          { atol: 1e-5, rtol: 1e-5 },
          "wasm vs naive",
        );
      },
    ),
    { seed: SEED, numRuns: 80 },
  );
});
