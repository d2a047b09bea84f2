// Op table, movement: reshape, transpose/permute, expand, squeeze, unsqueeze, flatten,
// slice (with steps, negative too), flip, pad, concat, stack, split, repeat, tile,
// against index-arithmetic references, on generated shapes and layouts.

import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../../mod.ts";
import { layoutArb, makeTensor, refArb } from "../_arbitrary.ts";
import { SEED, values } from "../_helpers.ts";
import * as R from "../_reference.ts";

const vals = (r: R.Ref) => r.data;

Deno.test("reshape() keeps row-major order and infers one −1 axis", () => {
  fc.assert(
    fc.property(refArb({ minDim: 1 }), layoutArb, (r, layout) => {
      const x = makeTensor(r, "float64", layout);
      const flat = T.reshape(x, [-1]);
      assert.deepEqual(flat.shape, [R.size(r.shape)]);
      assert.deepEqual(values(flat), vals(r));
      const back = T.reshape(flat, r.shape);
      assert.deepEqual(values(back), vals(r));
    }),
    { seed: SEED, numRuns: 60 },
  );
  assert.deepEqual(T.reshape(T.zeros([2, 6]), [3, -1, 2]).shape, [3, 2, 2]);
  assert.deepEqual(T.reshape(T.zeros([0, 3]), [3, 0]).shape, [3, 0]);
});

Deno.test("reshape() of a strided view is a view where the layout allows, else a copy", () => {
  // Regroup the axes of a permuted, sliced view in every way: the result must read the
  // elements in row-major order whether reshape made a view or copied.
  fc.assert(
    fc.property(
      refArb({ minRank: 1, maxRank: 4, minDim: 1, maxDim: 4 }),
      layoutArb,
      fc.integer({ min: 0, max: 1000 }),
      (r, layout, seed) => {
        const x = makeTensor(r, "float64", layout);
        // A target shape: the prime factors of the size, grouped at random, 1s inserted.
        const factors: number[] = [];
        for (let n = R.size(r.shape), p = 2; n > 1;) {
          if (n % p === 0) {
            factors.push(p);
            n /= p;
          } else p++;
        }
        const target: number[] = [];
        let rnd = seed;
        for (const f of factors) {
          rnd = (rnd * 1103515245 + 12345) % 2147483648;
          if (target.length > 0 && rnd % 3 === 0) target[target.length - 1] *= f;
          else target.push(f);
          if (rnd % 5 === 0) target.push(1);
        }
        const y = T.reshape(x, target);
        assert.deepEqual(y.shape, target);
        assert.deepEqual(values(y), vals(r));
      },
    ),
    { seed: SEED, numRuns: 200 },
  );
  // Dropping or adding axes of size 1 never copies, whatever the strides.
  const x = T.slice(
    T.permute(T.reshape(T.arange(24, { dtype: "float64" }), [2, 3, 4]), [2, 0, 1]),
    [
      [0, 4, 2],
    ],
  ); // [2, 2, 3], strided
  const y = T.reshape(x, [2, 1, 2, 3]);
  assert.equal(y.storage, x.storage);
  assert.deepEqual(values(y), values(x));
  assert.equal(T.reshape(T.unsqueeze(x, 0), [2, 2, 3]).storage, x.storage);
});

Deno.test("permute() and transpose() match the reference for every permutation", () => {
  fc.assert(
    fc.property(
      refArb({ maxRank: 4 }).chain((r) =>
        fc.tuple(
          fc.constant(r),
          fc.shuffledSubarray(r.shape.map((_, i) => i), { minLength: r.shape.length }),
        )
      ),
      layoutArb,
      ([r, perm], layout) => {
        const x = makeTensor(r, "float64", layout);
        const out = T.permute(x, perm);
        const expected = R.permute(r, perm);
        assert.deepEqual(out.shape, expected.shape);
        assert.deepEqual(values(out), vals(expected));
        const rev = r.shape.map((_, i) => r.shape.length - 1 - i);
        assert.deepEqual(values(T.transpose(x)), vals(R.permute(r, rev)));
      },
    ),
    { seed: SEED, numRuns: 60 },
  );
});

Deno.test("expand() broadcasts size-1 and new leading axes", () => {
  fc.assert(
    fc.property(
      refArb({ maxRank: 3 }).chain((r) =>
        fc.tuple(
          fc.constant(r),
          fc.array(fc.integer({ min: 0, max: 3 }), { maxLength: 2 }),
          fc.array(fc.integer({ min: 0, max: 3 }), {
            minLength: r.shape.length,
            maxLength: r.shape.length,
          }),
        )
      ),
      ([r, lead, grow]) => {
        const src = { shape: r.shape.map((d, i) => (grow[i] > 1 ? 1 : d)), data: [] as number[] };
        src.data = R.ref(src.shape, (_, i) => i + 0.5).data;
        const target = [...lead, ...src.shape.map((d, i) => (d === 1 ? grow[i] : d))];
        const out = T.expand(T.tensor(src.data, { shape: src.shape, dtype: "float64" }), target);
        assert.deepEqual(out.shape, target);
        assert.deepEqual(values(out), R.ref(target, (idx) => R.broadcastAt(src, idx)).data);
      },
    ),
    { seed: SEED, numRuns: 60 },
  );
  assert.deepEqual(T.broadcastTo(T.zeros([3]), [2, 3]).shape, [2, 3]);
});

Deno.test("squeeze(), unsqueeze() and flatten() only change the shape", () => {
  const x = T.tensor([[[1], [2]]]); // [1, 2, 1]
  assert.deepEqual(T.squeeze(x).shape, [2]);
  assert.deepEqual(T.squeeze(x, { axis: -1 }).shape, [1, 2]);
  assert.deepEqual(T.unsqueeze(x, 0).shape, [1, 1, 2, 1]);
  assert.deepEqual(T.unsqueeze(x, -1).shape, [1, 2, 1, 1]);
  assert.deepEqual(T.flatten(T.zeros([2, 3, 4]), { startAxis: 1 }).shape, [2, 12]);
  assert.deepEqual(T.flatten(T.zeros([2, 3, 4]), { endAxis: 1 }).shape, [6, 4]);
  assert.deepEqual(T.flatten(T.tensor(5)).shape, [1]);
  assert.deepEqual(values(T.squeeze(x)), [1, 2]);
});

const sliceEntryArb = (n: number) =>
  fc.oneof(
    fc.constant(null),
    fc.tuple(
      fc.option(fc.integer({ min: -n - 2, max: n + 2 })),
      fc.option(fc.integer({ min: -n - 2, max: n + 2 })),
      fc.option(fc.integer({ min: -3, max: 3 }).filter((s) => s !== 0)),
    ),
  );

Deno.test("slice() follows NumPy's rules for bounds, negative indices and steps", () => {
  fc.assert(
    fc.property(
      refArb({ maxRank: 3, maxDim: 5 }).chain((r) =>
        fc.tuple(fc.constant(r), fc.tuple(...r.shape.map((n) => sliceEntryArb(n))))
      ),
      layoutArb,
      ([r, specs], layout) => {
        const positions = r.shape.map((n, d) => {
          const s = specs[d];
          return s === null
            ? R.slicePositions(n, null, null, 1)
            : R.slicePositions(n, s[0], s[1], s[2] ?? 1);
        });
        const expected = R.select(r, positions);
        const out = T.slice(makeTensor(r, "float64", layout), specs as T.SliceSpec[]);
        assert.deepEqual(out.shape, expected.shape);
        assert.deepEqual(values(out), vals(expected));
      },
    ),
    { seed: SEED, numRuns: 100 },
  );
});

Deno.test("flip() reverses the chosen axes", () => {
  fc.assert(
    fc.property(
      refArb({ maxRank: 3 }).chain((r) =>
        fc.tuple(fc.constant(r), fc.subarray(r.shape.map((_, i) => i)))
      ),
      layoutArb,
      ([r, axes], layout) => {
        const positions = r.shape.map((n, d) =>
          Array.from({ length: n }, (_, i) => (axes.includes(d) ? n - 1 - i : i))
        );
        const out = T.flip(makeTensor(r, "float64", layout), { axis: axes });
        assert.deepEqual(values(out), vals(R.select(r, positions)));
      },
    ),
    { seed: SEED, numRuns: 60 },
  );
});

Deno.test("pad() surrounds each axis with the fill value", () => {
  fc.assert(
    fc.property(
      refArb({ maxRank: 3 }).chain((r) =>
        fc.tuple(
          fc.constant(r),
          fc.tuple(...r.shape.map(() =>
            fc.tuple(fc.integer({ min: 0, max: 2 }), fc.integer({ min: 0, max: 2 }))
          )),
          fc.constantFrom(0, -1.5),
        )
      ),
      layoutArb,
      ([r, widths, value], layout) => {
        const expected = R.pad(r, widths as [number, number][], value);
        const out = T.pad(makeTensor(r, "float64", layout), widths, { value });
        assert.deepEqual(out.shape, expected.shape);
        assert.deepEqual(values(out), vals(expected));
      },
    ),
    { seed: SEED, numRuns: 60 },
  );
});

Deno.test("concat() and stack() join along an axis; split() undoes concat()", () => {
  fc.assert(
    fc.property(
      fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 3 }).chain((shape) =>
        fc.tuple(
          fc.constant(shape),
          fc.integer({ min: 0, max: shape.length - 1 }),
          fc.array(fc.integer({ min: 0, max: 3 }), { minLength: 1, maxLength: 4 }),
        )
      ),
      layoutArb,
      ([shape, axis, sizes], layout) => {
        const parts = sizes.map((n, k) =>
          R.ref(shape.map((d, i) => (i === axis ? n : d)), (_, i) => 100 * k + i)
        );
        const out = T.concat(parts.map((p) => makeTensor(p, "float64", layout)), { axis });
        const expected = R.concat(parts, axis);
        assert.deepEqual(out.shape, expected.shape);
        assert.deepEqual(values(out), vals(expected));
        const bounds = sizes.slice(0, -1).map((_, i) =>
          sizes.slice(0, i + 1).reduce((a, b) => a + b, 0)
        );
        const pieces = T.split(out, bounds, { axis });
        assert.equal(pieces.length, parts.length);
        pieces.forEach((p, k) => assert.deepEqual(values(p), vals(parts[k])));
      },
    ),
    { seed: SEED, numRuns: 60 },
  );
  const a = T.tensor([[1, 2]]);
  const b = T.tensor([[3, 4]]);
  assert.deepEqual(values(T.stack([a, b], { axis: 1 })), [1, 2, 3, 4]);
  assert.deepEqual(T.stack([a, b], { axis: 1 }).shape, [1, 2, 2]);
  assert.deepEqual(T.stack([a, b], { axis: -1 }).shape, [1, 2, 2]);
  assert.deepEqual(values(T.stack([a, b], { axis: -1 })), [1, 3, 2, 4]);
  assert.deepEqual(T.split(T.zeros([6, 2]), 3).map((t) => t.shape), [[2, 2], [2, 2], [2, 2]]);
});

Deno.test("repeat() repeats elements and tile() repeats blocks, as NumPy", () => {
  const x = T.tensor([[1, 2], [3, 4]]);
  assert.deepEqual(values(T.repeat(x, 2, { axis: 0 })), [1, 2, 1, 2, 3, 4, 3, 4]);
  assert.deepEqual(values(T.repeat(x, 2, { axis: 1 })), [1, 1, 2, 2, 3, 3, 4, 4]);
  assert.deepEqual(values(T.repeat(x, 2)), [1, 1, 2, 2, 3, 3, 4, 4]);
  assert.deepEqual(T.repeat(x, 2).shape, [8]);
  assert.deepEqual(values(T.tile(x, [2])), [1, 2, 1, 2, 3, 4, 3, 4]);
  assert.deepEqual(T.tile(x, [2, 1]).shape, [4, 2]);
  assert.deepEqual(values(T.tile(x, [2, 1])), [1, 2, 3, 4, 1, 2, 3, 4]);
  assert.deepEqual(T.tile(T.tensor([1, 2]), [2, 2]).shape, [2, 4]);
});

Deno.test("contiguous() copies views into row-major order", () => {
  const t = T.transpose(T.tensor([[1, 2, 3], [4, 5, 6]]));
  assert.equal(t.isContiguous, false);
  const c = T.contiguous(t);
  assert.equal(c.isContiguous, true);
  assert.deepEqual(values(c), [1, 4, 2, 5, 3, 6]);
});
