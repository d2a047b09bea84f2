// Fashion-MNIST and IDX: the embedded subset, the full Debian set (required on CI with
// REQUIRE_DATA=1), search order, class-balanced subsets, and the documented errors.

import assert from "node:assert/strict";
import * as T from "../../mod.ts";
import {
  balancedSubset,
  encodeIdx,
  gzip,
  loadFashionMnist,
  loadFashionMnistRaw,
  parseIdx,
} from "../../data/mod.ts";
import { DEBIAN_FASHION_MNIST_DIR } from "../../data/fashion_mnist.ts";

const REQUIRE_DATA = Deno.env.get("REQUIRE_DATA") === "1";
const HAS_DEBIAN = (() => {
  try {
    return Deno.statSync(`${DEBIAN_FASHION_MNIST_DIR}/train-images-idx3-ubyte.gz`).isFile;
  } catch {
    return false;
  }
})();
if (REQUIRE_DATA && !HAS_DEBIAN) {
  throw new Error(`REQUIRE_DATA=1 but ${DEBIAN_FASHION_MNIST_DIR} has no Fashion-MNIST`);
}

const counts = (labels: Uint8Array) =>
  Array.from({ length: 10 }, (_, c) => labels.filter((y) => y === c).length);

Deno.test("parseIdx() and encodeIdx() round-trip, gzip'd or not", async () => {
  const data = Uint8Array.from({ length: 2 * 3 * 4 }, (_, i) => i * 7);
  const file = encodeIdx([2, 3, 4], data);
  const back = parseIdx(file);
  assert.deepEqual(back.dims, [2, 3, 4]);
  assert.deepEqual(back.data, data);
  const dir = await Deno.makeTempDir();
  const images = Uint8Array.from({ length: 5 * 784 }, (_, i) => i % 256);
  const labels = Uint8Array.from([3, 1, 4, 1, 5]);
  await Deno.writeFile(
    `${dir}/t10k-images-idx3-ubyte.gz`,
    await gzip(encodeIdx([5, 28, 28], images)),
  );
  await Deno.writeFile(`${dir}/t10k-labels-idx1-ubyte`, encodeIdx([5], labels)); // uncompressed works too
  const raw = await loadFashionMnistRaw({ split: "test", dataDir: dir });
  assert.equal(raw.source, "dir");
  assert.deepEqual(raw.pixels, images);
  assert.deepEqual(raw.labels, labels);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("parseIdx() rejects bad magic, unsupported types and truncated files", () => {
  assert.throws(
    () => parseIdx(new Uint8Array([1, 0, 8, 1, 0, 0, 0, 1, 5]), "x.idx"),
    /Cannot read IDX file x\.idx: bad magic number/,
  );
  assert.throws(
    () => parseIdx(new Uint8Array([0, 0, 0x0d, 1, 0, 0, 0, 1, 0, 0, 0, 0])),
    /unsupported element type 0xd/,
  );
  assert.throws(
    () => parseIdx(encodeIdx([4, 2], new Uint8Array(8)).slice(0, 14)),
    /header promises 8 values \(4×2\) but the file holds 2/,
  );
  assert.throws(() => parseIdx(new Uint8Array([0, 0, 8, 2, 0])), /file ends inside the header/);
});

Deno.test("the embedded subset loads without anything installed: 10,000 + 2,000 images, balanced", async () => {
  const train = await loadFashionMnistRaw({ split: "train", embeddedOnly: true });
  const test = await loadFashionMnistRaw({ split: "test", embeddedOnly: true });
  assert.equal(train.source, "embedded");
  assert.equal(train.count, 10_000);
  assert.equal(test.count, 2_000);
  assert.deepEqual(counts(train.labels), new Array(10).fill(1000));
  assert.deepEqual(counts(test.labels), new Array(10).fill(200));
});

Deno.test({
  name: "the full Debian Fashion-MNIST is found automatically (60,000 + 10,000 images)",
  ignore: !HAS_DEBIAN && !REQUIRE_DATA,
  fn: async () => {
    const train = await loadFashionMnistRaw({ split: "train" });
    const test = await loadFashionMnistRaw({ split: "test" });
    assert.equal(train.source, "debian");
    assert.equal(train.count, 60_000);
    assert.equal(test.count, 10_000);
    assert.deepEqual(counts(test.labels), new Array(10).fill(1000));
    // The embedded subset is exactly the first 200 test images of each class.
    const embedded = await loadFashionMnistRaw({ split: "test", embeddedOnly: true });
    assert.deepEqual(balancedSubset(test, 2000).pixels, embedded.pixels);
  },
});

Deno.test("loadFashionMnist() returns float32 [N, 1, 28, 28] in [0, 1] and int32 labels on the CPU", async () => {
  const { images, labels, source } = await loadFashionMnist({ split: "test", subset: 25 });
  assert.deepEqual(images.shape, [25, 1, 28, 28]);
  assert.equal(images.dtype, "float32");
  assert.equal(images.backend, "cpu");
  assert.equal(labels.dtype, "int32");
  assert.ok(["debian", "embedded", "dir"].includes(source));
  const px = T.toArraySync(images);
  assert.ok(px.every((v) => v >= 0 && v <= 1));
  assert.ok(px.some((v) => v > 0.5));
  const y = Array.from(T.toArraySync(labels));
  assert.deepEqual(Array.from({ length: 10 }, (_, c) => y.filter((v) => v === c).length), [
    3,
    3,
    3,
    3,
    3,
    2,
    2,
    2,
    2,
    2,
  ]);
});

Deno.test("Fashion-MNIST errors list where they looked and how to get the data", async () => {
  const empty = await Deno.makeTempDir();
  await assert.rejects(
    () => loadFashionMnistRaw({ split: "train", dataDir: empty }),
    /should hold train-images-idx3-ubyte\.gz and train-labels-idx1-ubyte\.gz/,
  );
  await assert.rejects(
    () => loadFashionMnistRaw({ split: "valid" as "train" }),
    /split must be "train" or "test"/,
  );
  await Deno.writeFile(
    `${empty}/t10k-images-idx3-ubyte.gz`,
    await gzip(encodeIdx([2, 28, 28], new Uint8Array(2 * 784))),
  );
  await Deno.writeFile(
    `${empty}/t10k-labels-idx1-ubyte.gz`,
    await gzip(encodeIdx([2], new Uint8Array([1, 12]))),
  );
  await assert.rejects(
    () => loadFashionMnistRaw({ split: "test", dataDir: empty }),
    /label 12 at index 1 is outside 0–9/,
  );
  await Deno.writeFile(
    `${empty}/t10k-labels-idx1-ubyte.gz`,
    await gzip(encodeIdx([3], new Uint8Array(3))),
  );
  await assert.rejects(
    () => loadFashionMnistRaw({ split: "test", dataDir: empty }),
    /expected 2 labels, found 3/,
  );
  await Deno.remove(empty, { recursive: true });
});

Deno.test("TESSELLA_DATA points the loader at a folder", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(
    `${dir}/t10k-images-idx3-ubyte.gz`,
    await gzip(encodeIdx([1, 28, 28], new Uint8Array(784).fill(255))),
  );
  await Deno.writeFile(
    `${dir}/t10k-labels-idx1-ubyte.gz`,
    await gzip(encodeIdx([1], new Uint8Array([7]))),
  );
  const previous = Deno.env.get("TESSELLA_DATA");
  Deno.env.set("TESSELLA_DATA", dir);
  try {
    const raw = await loadFashionMnistRaw({ split: "test" });
    assert.equal(raw.location, dir);
    assert.equal(raw.count, 1);
  } finally {
    if (previous === undefined) Deno.env.delete("TESSELLA_DATA");
    else Deno.env.set("TESSELLA_DATA", previous);
  }
  await Deno.remove(dir, { recursive: true });
});
