// Transforms: fast-check properties (crops stay in bounds, flip twice is the identity,
// normalise/denormalise round trip, resizing to the same size is the identity, colours
// stay in [0, 1]) and the BEiT two-view transform's shared crop.

import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../../mod.ts";
import {
  beitTwoViews,
  centerCrop,
  colorJitter,
  denormalize,
  horizontalFlip,
  type ImageBatch,
  normalize,
  randomCropWithPadding,
  resize,
  resizedCrop,
  sampleResizedCropBoxes,
} from "../../data/mod.ts";
import { assertClose, SEED } from "../_helpers.ts";

const batchArb = fc.tuple(
  fc.integer({ min: 1, max: 3 }),
  fc.constantFrom(1, 3),
  fc.integer({ min: 4, max: 12 }),
  fc.integer({ min: 4, max: 12 }),
)
  .chain(([b, c, h, w]) =>
    fc.array(fc.double({ min: 0, max: 1, noNaN: true }), {
      minLength: b * c * h * w,
      maxLength: b * c * h * w,
    })
      .map((d) => ({ data: Float32Array.from(d), shape: [b, c, h, w] }) as ImageBatch)
  );

Deno.test("sampleResizedCropBoxes() keeps boxes inside the image with area and ratio in range", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 0, max: 1e6 }),
      fc.integer({ min: 2, max: 64 }),
      fc.integer({ min: 2, max: 64 }),
      (seed, h, w) => {
        for (
          const box of sampleResizedCropBoxes(T.key(seed), 8, h, w, {
            scale: [0.2, 1],
            ratio: [3 / 4, 4 / 3],
          })
        ) {
          assert.ok(box.top >= 0 && box.left >= 0 && box.height >= 1 && box.width >= 1);
          assert.ok(
            box.top + box.height <= h && box.left + box.width <= w,
            JSON.stringify({ box, h, w }),
          );
        }
      },
    ),
    { seed: SEED, numRuns: 200 },
  );
  const same = (k: number) => JSON.stringify(sampleResizedCropBoxes(T.key(k), 4, 28, 28));
  assert.equal(same(1), same(1));
  assert.notEqual(same(1), same(2));
});

Deno.test("horizontalFlip() twice is the identity; p = 1 flips every image", () => {
  fc.assert(
    fc.property(batchArb, (batch) => {
      const once = horizontalFlip(null, batch, 1);
      assert.deepEqual(horizontalFlip(null, once, 1).data, batch.data);
      const [, , , w] = batch.shape;
      assert.equal(once.data[0], batch.data[w - 1]);
    }),
    { seed: SEED, numRuns: 50 },
  );
});

Deno.test("normalize() and denormalize() round-trip", () => {
  fc.assert(
    fc.property(batchArb, (batch) => {
      const c = batch.shape[1];
      const mean = Array.from({ length: c }, (_, i) => 0.2 + 0.1 * i);
      const std = Array.from({ length: c }, (_, i) => 0.3 + 0.05 * i);
      assertClose(denormalize(normalize(batch, mean, std), mean, std).data, batch.data, {
        atol: 1e-6,
        rtol: 0,
      });
    }),
    { seed: SEED, numRuns: 50 },
  );
  assert.throws(
    () => normalize({ data: new Float32Array(4), shape: [1, 1, 2, 2] }, [0, 0], [1, 1]),
    /1 channels but 2 means/,
  );
});

Deno.test("resizing to the same size is the identity; crops and pads stay in bounds and in range", () => {
  fc.assert(
    fc.property(batchArb, fc.integer({ min: 0, max: 1e6 }), (batch, seed) => {
      const [b, c, h, w] = batch.shape;
      assertClose(resize(batch, h, w, "bilinear").data, batch.data, { atol: 1e-6, rtol: 0 });
      assertClose(resize(batch, h, w, "bicubic").data, batch.data, { atol: 1e-6, rtol: 0 });
      const size = Math.min(h, w);
      const cropped = randomCropWithPadding(T.key(seed), batch, size, 2);
      assert.deepEqual(cropped.shape, [b, c, size, size]);
      const boxes = sampleResizedCropBoxes(T.key(seed), b, h, w);
      for (const interpolation of ["bilinear", "bicubic"] as const) {
        const out = resizedCrop(batch, boxes, 7, 9, interpolation);
        assert.deepEqual(out.shape, [b, c, 7, 9]);
        assert.ok(out.data.every((v) => v >= 0 && v <= 1));
      }
      const jittered = colorJitter(T.key(seed), batch, {
        brightness: 0.4,
        contrast: 0.4,
        saturation: 0.4,
        hue: 0.1,
      });
      assert.ok(jittered.data.every((v) => v >= 0 && v <= 1));
    }),
    { seed: SEED, numRuns: 40 },
  );
});

Deno.test("resizedCrop() of a constant image is constant; downscaling averages (antialiasing)", () => {
  const flat = { data: new Float32Array(16).fill(0.25), shape: [1, 1, 4, 4] } as ImageBatch;
  assert.ok(resize(flat, 3, 5, "bicubic").data.every((v) => Math.abs(v - 0.25) < 1e-6));
  // Halving [1, 0, 1, 0]: the triangle filter widens to 3 taps (0.75, 0.75, 0.25 / 1.75).
  const stripes = {
    data: Float32Array.from({ length: 16 }, (_, i) => (i % 2 === 0 ? 1 : 0)),
    shape: [1, 1, 4, 4],
  } as ImageBatch;
  assertClose(resize(stripes, 4, 2, "bilinear").data.slice(0, 2), [1 / 1.75, 0.75 / 1.75], {
    atol: 1e-6,
    rtol: 0,
  });
  const center = centerCrop({
    data: Float32Array.from({ length: 16 }, (_, i) => i),
    shape: [1, 1, 4, 4],
  }, 2);
  assert.deepEqual(Array.from(center.data), [5, 6, 9, 10]);
});

Deno.test("resizedCrop() matches PIL's bilinear and bicubic resampling (golden fixture)", async () => {
  const fixture = JSON.parse(
    await Deno.readTextFile(new URL("../fixtures/golden_resize.json", import.meta.url)),
  );
  for (const c of fixture.cases) {
    const input = {
      data: Float32Array.from(c.input.data),
      shape: [1, 1, ...c.input.shape],
    } as ImageBatch;
    const out = resizedCrop(input, [c.box], c.size[0], c.size[1], c.interpolation);
    assertClose(
      out.data,
      c.output,
      { atol: 1e-6, rtol: 0 },
      `${c.interpolation} ${JSON.stringify(c.box)} → ${c.size}`,
    );
  }
});

Deno.test("colorJitter() on grayscale changes only brightness and contrast", () => {
  const gray = {
    data: Float32Array.from({ length: 16 }, (_, i) => i / 16),
    shape: [1, 1, 4, 4],
  } as ImageBatch;
  const onlySatHue = colorJitter(T.key(3), gray, { saturation: 0.9, hue: 0.5 });
  assert.deepEqual(onlySatHue.data, gray.data);
  assert.notDeepEqual(colorJitter(T.key(3), gray, { brightness: 0.5 }).data, gray.data);
});

Deno.test("beitTwoViews() renders one crop twice: same content in both views", () => {
  const batch = {
    data: Float32Array.from({ length: 2 * 28 * 28 }, (_, i) => (i % 29) / 29),
    shape: [2, 1, 28, 28],
  } as ImageBatch;
  const { backbone, tokenizer } = beitTwoViews(T.key(4), batch, {
    size: 28,
    mean: [0.286],
    std: [0.353],
    colorJitter: null,
  });
  assert.deepEqual(backbone.shape, [2, 1, 28, 28]);
  assertClose(denormalize(backbone, [0.286], [0.353]).data, tokenizer.data, {
    atol: 1e-6,
    rtol: 0,
  });
  const small = beitTwoViews(T.key(4), batch, {
    size: 28,
    tokenizerSize: 14,
    mean: [0.286],
    std: [0.353],
    colorJitter: null,
  });
  assert.deepEqual(small.tokenizer.shape, [2, 1, 14, 14]);
});
