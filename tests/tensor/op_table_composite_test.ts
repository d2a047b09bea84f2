// Op table, composites: softmax, logSoftmax, layerNorm, crossEntropy (with label
// smoothing), cosineSimilarity, l2Normalize, mseLoss and dropout against plain-JS
// references written row by row.

import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../../mod.ts";
import { layoutArb, makeTensor, refArb, valuesArb } from "../_arbitrary.ts";
import { assertClose, SEED, values } from "../_helpers.ts";
import type { Ref } from "../_reference.ts";

const TOL = { atol: 1e-10, rtol: 1e-9 };

/** Splits a reference into rows along its last axis. */
function rows(r: Ref): number[][] {
  const n = r.shape[r.shape.length - 1];
  const out: number[][] = [];
  for (let i = 0; i < r.data.length; i += n) out.push(r.data.slice(i, i + n));
  return out;
}

const softmaxRow = (row: number[]) => {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

const matrixArb = refArb({ minRank: 1, maxRank: 3, minDim: 1, maxDim: 5, lo: -4, hi: 4 });

Deno.test("softmax() and logSoftmax() match the reference along the last axis", () => {
  fc.assert(
    fc.property(matrixArb, layoutArb, (r, layout) => {
      const x = makeTensor(r, "float64", layout);
      const expected = rows(r).flatMap(softmaxRow);
      assertClose(values(T.softmax(x)), expected, TOL, "softmax");
      assertClose(values(T.logSoftmax(x)), expected.map(Math.log), TOL, "logSoftmax");
    }),
    { seed: SEED, numRuns: 60 },
  );
});

Deno.test("softmax() works along any axis and survives huge logits", () => {
  const x = T.tensor([[1, 2], [3, 4]], { dtype: "float64" });
  const down = values(T.softmax(x, { axis: 0 }));
  const e = 1 / (1 + Math.exp(2));
  assertClose(down, [e, e, 1 - e, 1 - e], TOL);
  const big = values(T.softmax(T.tensor([1e4, 1e4 + Math.log(3)], { dtype: "float64" })));
  assertClose(big, [0.25, 0.75], TOL);
});

Deno.test("layerNorm() matches the reference with and without affine parameters", () => {
  fc.assert(
    fc.property(
      matrixArb.chain((r) => {
        const d = r.shape[r.shape.length - 1];
        return fc.tuple(
          fc.constant(r),
          valuesArb([d]),
          valuesArb([d]),
          fc.constantFrom(1e-5, 1e-6, 0.1),
        );
      }),
      layoutArb,
      ([r, w, b, eps], layout) => {
        const expected = rows(r).flatMap((row) => {
          const mu = row.reduce((a, v) => a + v, 0) / row.length;
          const variance = row.reduce((a, v) => a + (v - mu) ** 2, 0) / row.length;
          return row.map((v, j) => ((v - mu) / Math.sqrt(variance + eps)) * w.data[j] + b.data[j]);
        });
        const out = T.layerNorm(
          makeTensor(r, "float64", layout),
          makeTensor(w, "float64"),
          makeTensor(b, "float64"),
          { eps },
        );
        assertClose(values(out), expected, TOL, "layerNorm");
      },
    ),
    { seed: SEED, numRuns: 60 },
  );
  const plain = values(
    T.layerNorm(T.tensor([[1, 3]], { dtype: "float64" }), null, null, { eps: 0 }),
  );
  assertClose(plain, [-1, 1], TOL);
});

Deno.test("crossEntropy() matches −Σ target·log p with label smoothing", () => {
  fc.assert(
    fc.property(
      fc.tuple(fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 6 })).chain(([n, c]) =>
        fc.tuple(
          valuesArb([n, c], -5, 5),
          fc.array(fc.integer({ min: 0, max: c - 1 }), { minLength: n, maxLength: n }),
          fc.constantFrom(0, 0.1, 0.5),
        )
      ),
      layoutArb,
      ([logits, labels, eps], layout) => {
        const c = logits.shape[1];
        const perRow = rows(logits).map((row, i) => {
          const logp = softmaxRow(row).map(Math.log);
          return logp.reduce(
            (acc, lp, j) => acc - ((j === labels[i] ? 1 - eps : 0) + eps / c) * lp,
            0,
          );
        });
        const expected = perRow.reduce((a, v) => a + v, 0) / perRow.length;
        const out = T.crossEntropy(
          makeTensor(logits, "float64", layout),
          T.tensor(labels, { dtype: "int32" }),
          { labelSmoothing: eps },
        );
        assert.deepEqual(out.shape, []);
        assertClose(values(out), [expected], TOL, "crossEntropy");
      },
    ),
    { seed: SEED, numRuns: 60 },
  );
});

Deno.test("l2Normalize() and cosineSimilarity() match the reference, with eps guards", () => {
  fc.assert(
    fc.property(
      matrixArb.chain((r) => fc.tuple(fc.constant(r), valuesArb(r.shape, -4, 4))),
      layoutArb,
      ([a, b], layout) => {
        const ra = rows(a);
        const rb = rows(b);
        const nrm = (v: number[]) => Math.sqrt(v.reduce((s, x) => s + x * x, 0));
        const unit = ra.flatMap((row) => row.map((v) => v / Math.max(nrm(row), 1e-12)));
        const cos = ra.map((row, i) => {
          const dot = row.reduce((s, v, j) => s + v * rb[i][j], 0);
          return dot / (Math.max(nrm(row), 1e-8) * Math.max(nrm(rb[i]), 1e-8));
        });
        const ta = makeTensor(a, "float64", layout);
        const tb = makeTensor(b, "float64");
        assertClose(values(T.l2Normalize(ta)), unit, TOL, "l2Normalize");
        assertClose(values(T.cosineSimilarity(ta, tb)), cos, TOL, "cosineSimilarity");
      },
    ),
    { seed: SEED, numRuns: 60 },
  );
  assert.deepEqual(values(T.l2Normalize(T.zeros([1, 3]))), [0, 0, 0]);
  assert.deepEqual(values(T.cosineSimilarity(T.zeros([1, 3]), T.ones([1, 3]))), [0]);
});

Deno.test("mseLoss() is the mean squared difference, with broadcasting", () => {
  const a = T.tensor([[1, 2], [3, 4]], { dtype: "float64" });
  assertClose(
    values(T.mseLoss(a, T.tensor([1, 1], { dtype: "float64" }))),
    [(0 + 1 + 4 + 9) / 4],
    TOL,
  );
});

Deno.test("dropout() keeps about 1 − rate of the elements, scaled by 1/(1 − rate)", () => {
  const x = T.ones([20000]);
  const y = values(T.dropout(T.key(7), x, { rate: 0.25 }));
  const kept = y.filter((v) => v !== 0);
  assert.ok(kept.every((v) => Math.abs(v - 1 / 0.75) < 1e-6));
  const fraction = kept.length / y.length;
  assert.ok(Math.abs(fraction - 0.75) < 0.02, `kept fraction ${fraction}`);
  assert.equal(T.dropout(T.key(7), x, { rate: 0 }), x);
  assert.deepEqual(values(T.dropout(T.key(7), x, { rate: 0.25 })), y); // same key, same mask
});
