// Blockwise masking: the count is always exact, blocks never span the grid, masks differ
// per key and are reproducible, and the statistics match the official generator's
// (2,000 masks on the 14×14 grid, fixture from the official code).

import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../../mod.ts";
import { blockwiseMasks, drawBlockwiseMask } from "../../beit/mod.ts";
import { SEED } from "../_helpers.ts";

const sum = (m: Uint8Array) => m.reduce((a, b) => a + b, 0);

Deno.test("drawBlockwiseMask() masks exactly 75 of 196 patches in 10,000 draws (as the official generator)", async () => {
  const stats = JSON.parse(
    await Deno.readTextFile(new URL("../fixtures/official/masking_stats.json", import.meta.url)),
  );
  for (let i = 0; i < 10_000; i++) {
    const { mask, blocks } = drawBlockwiseMask(T.key(i), {
      grid: stats.window,
      numMasked: stats.num_masking_patches,
      minBlock: stats.min_num_patches,
    });
    assert.equal(sum(mask), stats.mean_masked);
    for (const b of blocks) assert.ok(b.height < 14 && b.width < 14, JSON.stringify(b));
  }
});

Deno.test("drawBlockwiseMask() keeps the count exact and blocks in bounds on any grid", () => {
  fc.assert(
    fc.property(
      fc.integer({ min: 2, max: 16 }),
      fc.integer({ min: 2, max: 16 }),
      fc.double({ min: 0, max: 1, noNaN: true }),
      fc.integer({ min: 1, max: 20 }),
      fc.nat(),
      (h, w, fraction, minBlock, seed) => {
        const numMasked = Math.floor(fraction * h * w);
        const { mask, blocks } = drawBlockwiseMask(T.key(seed), {
          grid: [h, w],
          numMasked,
          minBlock,
        });
        assert.equal(mask.length, h * w);
        assert.equal(sum(mask), numMasked);
        for (const b of blocks) {
          assert.ok(b.top >= 0 && b.left >= 0 && b.top + b.height <= h && b.left + b.width <= w);
          assert.ok(b.height < h && b.width < w);
        }
      },
    ),
    { seed: SEED, numRuns: 300 },
  );
});

Deno.test("blockwiseMasks() gives one reproducible mask per image, blocky on the 7×7 grid", () => {
  const options = { grid: [7, 7] as [number, number], numMasked: 20, minBlock: 4 };
  const a = T.toArraySync(blockwiseMasks(T.key(3), 64, options));
  assert.deepEqual(a, T.toArraySync(blockwiseMasks(T.key(3), 64, options)));
  assert.notDeepEqual(a, T.toArraySync(blockwiseMasks(T.key(4), 64, options)));
  let blocky = 0;
  for (let b = 0; b < 64; b++) {
    const row = a.subarray(b * 49, (b + 1) * 49);
    assert.equal(sum(row as Uint8Array), 20);
    if (drawBlockwiseMask(T.foldIn(T.key(3), b), options).blocks.length > 0) blocky++;
  }
  assert.ok(blocky > 50, `${blocky} of 64 masks had blocks`);
  assert.throws(
    () => drawBlockwiseMask(T.key(0), { grid: [2, 2], numMasked: 5 }),
    /numMasked must be an integer in \[0, 4\]/,
  );
});
