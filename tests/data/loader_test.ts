// The loader: every index exactly once per epoch, deterministic per key, different
// across epochs, drop-last, resuming mid-epoch, transforms with named views.

import assert from "node:assert/strict";
import * as T from "../../mod.ts";
import { dataLoader, type HostDataset } from "../../data/mod.ts";

const data: HostDataset = {
  pixels: Uint8Array.from({ length: 23 * 4 }, (_, i) => Math.floor(i / 4)), // image i is all i
  labels: Uint8Array.from({ length: 23 }, (_, i) => i % 10),
  shape: [23, 1, 2, 2],
};

Deno.test("dataLoader() yields every index exactly once per epoch, in a key-determined order", async () => {
  for (const dropLast of [true, false]) {
    const loader = dataLoader(data, { batchSize: 5, key: T.key(1), dropLast });
    assert.equal(loader.batchesPerEpoch, dropLast ? 4 : 5);
    const seen: number[] = [];
    for await (const batch of loader.epoch(0)) {
      const images = T.toArraySync(batch.views.images);
      batch.indices.forEach((index, k) => {
        assert.equal(images[k * 4], Math.fround(index / 255)); // the pixels belong to that index
        assert.equal(T.toArraySync(batch.labels)[k], index % 10);
      });
      seen.push(...batch.indices);
    }
    if (!dropLast) {
      assert.deepEqual(
        [...seen].sort((a, b) => a - b),
        Array.from({ length: 23 }, (_, i) => i),
      );
    } else assert.equal(new Set(seen).size, 20);
  }
  const a = dataLoader(data, { batchSize: 5, key: T.key(1) });
  const b = dataLoader(data, { batchSize: 5, key: T.key(1) });
  assert.deepEqual(a.order(3), b.order(3));
  assert.notDeepEqual(a.order(0), a.order(1));
  assert.notDeepEqual(a.order(0), dataLoader(data, { batchSize: 5, key: T.key(2) }).order(0));
});

Deno.test("dataLoader() resumes mid-epoch and applies transforms with their own keys", async () => {
  const loader = dataLoader(data, {
    batchSize: 4,
    key: T.key(7),
    transform: (_k, batch) => ({
      a: batch,
      b: { data: batch.data.map((v) => v * 2), shape: batch.shape },
    }),
  });
  const all = [];
  for await (const batch of loader.epoch(2)) all.push(batch);
  const tail = [];
  for await (const batch of loader.epoch(2, 3)) tail.push(batch);
  assert.deepEqual(
    tail.map((b) => Array.from(b.indices)),
    all.slice(3).map((b) => Array.from(b.indices)),
  );
  assert.deepEqual(T.toArraySync(all[0].views.b), T.toArraySync(T.mul(all[0].views.a, 2)));
  assert.ok(loader.stats.images > 0 && loader.stats.seconds >= 0);
  assert.throws(
    () => dataLoader(data, { batchSize: 0, key: T.key(0) }),
    /batchSize must be a positive integer/,
  );
  assert.throws(
    () => dataLoader({ ...data, labels: new Uint8Array(3) }, { batchSize: 2, key: T.key(0) }),
    /labels 3 for shape/,
  );
});
