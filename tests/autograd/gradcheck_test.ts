// Gradient sweep: every differentiable op and composite, autograd's VJP against central
// finite differences in float64 on the CPU backend, fast-check over shapes, values and
// memory layouts. Agreement: |a − b| ≤ 1e-8 + 1e-6·|b| (checkGrad's defaults).
//
// Inputs stay away from kinks, where a finite difference straddles two slopes: |x| > 0.05
// for abs/relu/sign-like ops, distinct values for max/min, clip bounds away from data.
// The scalar loss is Σ out ⊙ W for a fixed, position-dependent W, so every output
// element's gradient matters and errors cannot cancel.

import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../../mod.ts";
import { broadcastPairArb, type Layout, layoutArb, makeTensor, shapeArb } from "../_arbitrary.ts";
import { SEED } from "../_helpers.ts";
import { type Ref, size } from "../_reference.ts";

/** Values in [lo, hi] with |v| ≥ gap (when gap > 0). */
function valuesAway(shape: number[], lo = -2, hi = 2, gap = 0): fc.Arbitrary<Ref> {
  const v = fc.double({ min: lo, max: hi, noNaN: true, noDefaultInfinity: true })
    .map((x) => (gap > 0 && Math.abs(x) < gap ? (x < 0 ? -gap - Math.abs(x) : gap + x) : x));
  return fc.array(v, { minLength: size(shape), maxLength: size(shape) }).map((data) => ({
    shape,
    data,
  }));
}

/**
 * Values on a shuffled grid of spacing 0.17, shifted by 0.0123 + j (j ∈ [0, 0.05]): no two
 * are equal, no two have equal magnitude, and none is within 0.0123 of zero — so max,
 * min, |x| and √(variance) have no kinks nearby.
 */
function distinctValues(shape: number[]): fc.Arbitrary<Ref> {
  const n = size(shape);
  return fc.tuple(
    fc.shuffledSubarray(Array.from({ length: n }, (_, i) => i), { minLength: n, maxLength: n }),
    fc.double({ min: 0, max: 0.05, noNaN: true }),
  ).map(([perm, j]) => ({ shape, data: perm.map((p) => p * 0.17 - n * 0.085 + 0.0123 + j) }));
}

/** A fixed weight for each output element, so the loss Σ out·W sees every element. */
function weighted(out: T.Tensor): T.Tensor {
  const w = Array.from({ length: out.size }, (_, i) => Math.sin(1.3 * i + 0.7) + 0.1);
  return T.sum(T.mul(out, T.tensor(w, { shape: out.shape, dtype: "float64" })));
}

interface Case {
  refs: Ref[];
  layout: Layout;
  /** The op applied to the differentiable inputs (constants are closed over). */
  op: (...xs: T.Tensor[]) => T.Tensor;
}

function sweep(name: string, caseArb: fc.Arbitrary<Case>, numRuns = 15): void {
  Deno.test(`${name}: autograd matches central finite differences (float64)`, () => {
    fc.assert(
      fc.property(caseArb, ({ refs, layout, op }) => {
        const inputs = refs.map((r, i) =>
          makeTensor(r, "float64", i === 0 ? layout : "contiguous")
        );
        const result = T.checkGrad((...xs) => weighted(op(...xs)), inputs);
        if (!result.ok) {
          assert.fail(`${name}: worst element ${JSON.stringify(result.worst)}`);
        }
      }),
      { seed: SEED, numRuns },
    );
  });
}

/** One input of a random shape. */
function unary(name: string, op: (x: T.Tensor) => T.Tensor, lo = -2, hi = 2, gap = 0): void {
  sweep(
    name,
    fc.tuple(shapeArb({ maxDim: 3 }).chain((s) => valuesAway(s, lo, hi, gap)), layoutArb)
      .map(([r, layout]) => ({ refs: [r], layout, op })),
  );
}

unary("neg", T.neg);
unary("abs", T.abs, -2, 2, 0.05);
unary("exp", T.exp);
unary("log", T.log, 0.1, 3);
unary("log1p", T.log1p, -0.8, 3);
unary("sqrt", T.sqrt, 0.1, 3);
unary("rsqrt", T.rsqrt, 0.1, 3);
unary("square", T.square);
unary("reciprocal", T.reciprocal, -2, 2, 0.2);
unary("sin", T.sin);
unary("cos", T.cos);
unary("tanh", T.tanh);
unary("sigmoid", T.sigmoid, -4, 4);
unary("relu", T.relu, -2, 2, 0.05);
unary("erf", T.erf);
unary("gelu", (x) => T.gelu(x), -3, 3);
unary("gelu tanh", (x) => T.gelu(x, { approximate: "tanh" }), -3, 3);
unary("cast float64→float64", (x) => T.cast(x, "float64"));
unary("clip", (x) => T.clip(x, -1, 1), -2, 2, 0); // kinks at ±1 are hit with probability ~0

/** Two broadcast-compatible inputs. */
function binary(
  name: string,
  op: (a: T.Tensor, b: T.Tensor) => T.Tensor,
  a: [number, number, number] = [-2, 2, 0],
  b: [number, number, number] = [-2, 2, 0],
): void {
  sweep(
    name,
    fc.tuple(
      broadcastPairArb({ maxRank: 3, minDim: 1 }).chain(([sa, sb]) =>
        fc.tuple(valuesAway(sa, ...a), valuesAway(sb, ...b))
      ),
      layoutArb,
    ).map(([[ra, rb], layout]) => ({ refs: [ra, rb], layout, op })),
  );
}

binary("add", T.add);
binary("sub", T.sub);
binary("mul", T.mul);
binary("div", T.div, [-2, 2, 0], [0.3, 2, 0]);
binary("pow", T.pow, [0.2, 2, 0], [-2, 2, 0]);
binary("maximum", T.maximum, [0.1, 2, 0], [-2, -0.1, 0]); // disjoint ranges: no ties
binary("minimum", T.minimum, [0.1, 2, 0], [-2, -0.1, 0]);
binary("where", (a, b) => T.where(T.greater(a, 0), a, b), [-2, 2, 0.05]);

/** Reductions over a random axis subset, with and without keepDims. */
function reduction(
  name: string,
  op: (x: T.Tensor, o: { axis?: number[]; keepDims: boolean }) => T.Tensor,
  values: (s: number[]) => fc.Arbitrary<Ref> = (s) => valuesAway(s),
): void {
  sweep(
    name,
    fc.tuple(
      shapeArb({ minDim: 1, maxDim: 3 }).chain((s) =>
        fc.tuple(
          values(s),
          fc.option(fc.subarray(s.map((_, i) => i)), { nil: undefined }),
          fc.boolean(),
        )
      ),
      layoutArb,
    ).map(([[r, axis, keepDims], layout]) => ({
      refs: [r],
      layout,
      op: (x) => op(x, { axis, keepDims }),
    })),
  );
}

reduction("sum", (x, o) => T.sum(x, o));
reduction("mean", (x, o) => T.mean(x, o));
reduction("max", (x, o) => T.max(x, o), distinctValues);
reduction("min", (x, o) => T.min(x, o), distinctValues);
reduction("logSumExp", (x, o) => T.logSumExp(x, o));
reduction("variance", (x, o) => T.variance(x, o), distinctValues);
reduction("std", (x, o) => T.std(x, o), distinctValues);
reduction("norm", (x, o) => T.norm(x, o), distinctValues);
reduction("norm ord 1", (x, o) => T.norm(x, { ...o, ord: 1 }), (s) => valuesAway(s, -2, 2, 0.05));
reduction("norm ord 3", (x, o) => T.norm(x, { ...o, ord: 3 }), (s) => valuesAway(s, -2, 2, 0.05));
reduction("norm ord ∞", (x, o) => T.norm(x, { ...o, ord: Infinity }), distinctValues);

/** Movement ops on a random-shaped input with an op built from the shape. */
function movement(
  name: string,
  build: (shape: number[]) => fc.Arbitrary<(x: T.Tensor) => T.Tensor>,
  minRank = 0,
): void {
  sweep(
    name,
    fc.tuple(
      shapeArb({ minRank, maxDim: 3 }).chain((s) => fc.tuple(valuesAway(s), build(s))),
      layoutArb,
    ).map(([[r, op], layout]) => ({ refs: [r], layout, op })),
  );
}

movement("reshape", (s) => fc.constant((x: T.Tensor) => T.reshape(x, [...s].reverse())));
movement(
  "permute",
  (s) =>
    fc.shuffledSubarray(s.map((_, i) => i), { minLength: s.length }).map((p) => (x: T.Tensor) =>
      T.permute(x, p)
    ),
);
movement("transpose", () => fc.constant((x: T.Tensor) => T.transpose(x)));
movement("expand", (s) => fc.constant((x: T.Tensor) => T.expand(x, [2, ...s])));
movement(
  "squeeze/unsqueeze",
  () => fc.constant((x: T.Tensor) => T.squeeze(T.unsqueeze(T.unsqueeze(x, 0), -1), { axis: 0 })),
);
movement("flatten", () => fc.constant((x: T.Tensor) => T.flatten(x)));
movement("contiguous", () => fc.constant((x: T.Tensor) => T.contiguous(x)));
movement(
  "slice",
  (s) =>
    fc.tuple(...s.map(() =>
      fc.tuple(
        fc.integer({ min: -3, max: 3 }),
        fc.integer({ min: -4, max: 4 }),
        fc.constantFrom(1, 2, -1, -2),
      )
    ))
      .map((specs) => (x: T.Tensor) => T.slice(x, specs)),
);
movement(
  "flip",
  (s) => fc.subarray(s.map((_, i) => i)).map((axes) => (x: T.Tensor) => T.flip(x, { axis: axes })),
);
movement(
  "pad",
  (s) =>
    fc.tuple(
      ...s.map(() => fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }))),
      fc.constantFrom(0, 0.5),
    )
      .map(([...args]) => {
        const value = args.pop() as number;
        return (x: T.Tensor) => T.pad(x, args as [number, number][], { value });
      }),
);
movement(
  "repeat",
  (s) =>
    fc.integer({ min: 0, max: 3 }).map((r) => (x: T.Tensor) =>
      T.repeat(x, r, { axis: s.length > 0 ? -1 : undefined })
    ),
);
movement(
  "tile",
  (s) =>
    fc.array(fc.integer({ min: 1, max: 2 }), { minLength: s.length, maxLength: s.length + 1 }).map(
      (reps) => (x: T.Tensor) => T.tile(x, reps),
    ),
);
movement(
  "split",
  (s) =>
    fc.integer({ min: 0, max: Math.max(0, s.length - 1) }).map((axis) => (x: T.Tensor) => {
      const parts = T.split(x, [1], { axis });
      return T.concat([T.mul(parts[1], 3), parts[0]], { axis });
    }),
  1,
);

sweep(
  "concat and stack",
  fc.tuple(
    fc.array(fc.integer({ min: 1, max: 3 }), { minLength: 1, maxLength: 3 }).chain((s) =>
      fc.tuple(valuesAway(s), valuesAway(s), fc.integer({ min: 0, max: s.length - 1 }))
    ),
    layoutArb,
  ).map(([[a, b, axis], layout]) => ({
    refs: [a, b],
    layout,
    op: (x: T.Tensor, y: T.Tensor) =>
      T.add(T.sum(T.concat([x, y, x], { axis })), T.sum(T.mul(T.stack([x, y], { axis }), 2))),
  })),
);

sweep(
  "gather",
  fc.tuple(
    fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 })).chain(([n, c]) =>
      fc.tuple(
        valuesAway([n, c]),
        fc.array(fc.integer({ min: 0, max: c - 1 }), { minLength: 2 * n, maxLength: 2 * n }),
      )
    ),
    layoutArb,
  ).map(([[x, idx], layout]) => ({
    refs: [x],
    layout,
    op: (t: T.Tensor) =>
      T.gather(t, T.tensor(idx, { shape: [x.shape[0], 2], dtype: "int32" }), { axis: 1 }),
  })),
);

sweep(
  "take and embedding",
  fc.tuple(
    fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 })).chain(([v, d]) =>
      fc.tuple(
        valuesAway([v, d]),
        fc.array(fc.integer({ min: 0, max: v - 1 }), { minLength: 5, maxLength: 5 }),
      )
    ),
    layoutArb,
  ).map(([[w, ids], layout]) => ({
    refs: [w],
    layout,
    op: (t: T.Tensor) =>
      T.add(
        T.sum(T.embedding(t, T.tensor(ids, { dtype: "int32" }))),
        T.sum(T.mul(T.take(t, T.tensor([ids[0], ids[1]], { dtype: "int32" }), { axis: 0 }), 3)),
      ),
  })),
);

sweep(
  "scatterAdd",
  fc.tuple(
    fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 4 })).chain(([n, c]) =>
      fc.tuple(
        valuesAway([n, c]),
        valuesAway([n, 3]),
        fc.array(fc.integer({ min: 0, max: c - 1 }), { minLength: 3 * n, maxLength: 3 * n }),
      )
    ),
    layoutArb,
  ).map(([[x, u, idx], layout]) => ({
    refs: [x, u],
    layout,
    op: (t: T.Tensor, upd: T.Tensor) =>
      T.scatterAdd(t, T.tensor(idx, { shape: [x.shape[0], 3], dtype: "int32" }), upd, { axis: 1 }),
  })),
);

sweep(
  "matmul",
  fc.tuple(
    fc.tuple(
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 3 }),
      fc.constantFrom<number[][]>([[], []], [[2], [2]], [[2], []], [[], [2]], [[1], [3]], [[2, 1], [
        3,
      ]]),
    ).chain(([m, k, n, [ba, bb]]) =>
      fc.tuple(valuesAway([...ba, m, k]), valuesAway([...bb, k, n]))
    ),
    layoutArb,
  ).map(([[a, b], layout]) => ({ refs: [a, b], layout, op: T.matmul })),
);

sweep(
  "linear (x·Wᵀ + b in one kernel)",
  fc.tuple(
    fc.tuple(
      fc.constantFrom<number[]>([], [2], [2, 3]),
      fc.integer({ min: 1, max: 3 }),
      fc.integer({ min: 1, max: 3 }),
    ).chain(([lead, k, n]) =>
      fc.tuple(valuesAway([...lead, k]), valuesAway([n, k]), valuesAway([n]))
    ),
    layoutArb,
  ).map(([[x, w, b], layout]) => ({
    refs: [x, w, b],
    layout,
    op: (x: T.Tensor, w: T.Tensor, b: T.Tensor) => T.linear(x, w, b),
  })),
);

sweep(
  "matmul with vectors",
  fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 1, max: 3 })).chain(([k, n]) =>
    fc.tuple(valuesAway([k]), valuesAway([k, n]), valuesAway([k]))
  ).map(([v, m, w]) => ({
    refs: [v, m, w],
    layout: "contiguous" as const,
    op: (x: T.Tensor, y: T.Tensor, z: T.Tensor) => T.add(T.sum(T.matmul(x, y)), T.matmul(x, z)),
  })),
);

/** Composites on a [..., D] input. */
function lastAxis(name: string, op: (x: T.Tensor) => T.Tensor): void {
  sweep(
    name,
    fc.tuple(
      shapeArb({ minRank: 1, minDim: 1, maxDim: 4 }).chain((s) => valuesAway(s, -3, 3)),
      layoutArb,
    )
      .map(([r, layout]) => ({ refs: [r], layout, op })),
  );
}

lastAxis("softmax", (x) => T.softmax(x));
lastAxis("softmax axis 0", (x) => T.softmax(x, { axis: 0 }));
lastAxis("logSoftmax", (x) => T.logSoftmax(x));
sweep(
  "l2Normalize",
  fc.tuple(
    shapeArb({ minRank: 1, minDim: 1, maxDim: 4 }).chain((s) => valuesAway(s, -3, 3, 0.1)),
    layoutArb,
  )
    .map(([r, layout]) => ({ refs: [r], layout, op: (x: T.Tensor) => T.l2Normalize(x) })),
);
lastAxis("dropout", (x) => T.dropout(T.key(3), x, { rate: 0.3 }));

sweep(
  "layerNorm",
  fc.tuple(
    shapeArb({ minRank: 1, minDim: 2, maxDim: 4 }).chain((s) => {
      const d = s[s.length - 1];
      return fc.tuple(
        distinctValues(s),
        valuesAway([d]),
        valuesAway([d]),
        fc.constantFrom(1e-5, 1e-6),
      );
    }),
    layoutArb,
  ).map(([[x, w, b, eps], layout]) => ({
    refs: [x, w, b],
    layout,
    op: (t: T.Tensor, wt: T.Tensor, bt: T.Tensor) => T.layerNorm(t, wt, bt, { eps }),
  })),
);

sweep(
  "crossEntropy with label smoothing",
  fc.tuple(
    fc.tuple(fc.integer({ min: 1, max: 4 }), fc.integer({ min: 2, max: 5 })).chain(([n, c]) =>
      fc.tuple(
        valuesAway([n, c], -3, 3),
        fc.array(fc.integer({ min: 0, max: c - 1 }), { minLength: n, maxLength: n }),
        fc.constantFrom(0, 0.1),
      )
    ),
    layoutArb,
  ).map(([[logits, labels, eps], layout]) => ({
    refs: [logits],
    layout,
    op: (t: T.Tensor) =>
      T.crossEntropy(t, T.tensor(labels, { dtype: "int32" }), { labelSmoothing: eps }),
  })),
);

sweep(
  "cosineSimilarity and mseLoss",
  fc.tuple(
    shapeArb({ minRank: 1, minDim: 1, maxDim: 4 }).chain((s) =>
      fc.tuple(valuesAway(s, -2, 2, 0.1), valuesAway(s, -2, 2, 0.1))
    ),
    layoutArb,
  ).map(([[a, b], layout]) => ({
    refs: [a, b],
    layout,
    op: (x: T.Tensor, y: T.Tensor) => T.add(T.sum(T.cosineSimilarity(x, y)), T.mseLoss(x, y)),
  })),
);
