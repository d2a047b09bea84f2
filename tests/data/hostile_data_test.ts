// Damaged and hostile data files: gzip streams that are corrupt or inflate without bound,
// PNGs of every bit depth against Pillow's values (tests/fixtures/png, made by
// tools/golden/png_depths.py), images with no pixels or too many, symbolic links in image
// folders, and fuzzing of the IDX, PNG and JPEG readers.

import assert from "node:assert/strict";
import fc from "fast-check";
import { encode as encodePng } from "fast-png";
import jpeg from "jpeg-js";
import {
  decodeImage,
  encodeIdx,
  gzip,
  IdxError,
  ImageDecodeError,
  loadFashionMnistRaw,
  loadImageFolder,
  parseIdx,
} from "../../data/mod.ts";
import { setIoLimits } from "../../nn/mod.ts";
import { toArraySync } from "../../mod.ts";

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;

/** A folder holding the four Fashion-MNIST files, the train images replaced by `images`. */
async function dataFolder(images: Uint8Array): Promise<string> {
  const dir = await Deno.makeTempDir();
  const labels = await gzip(encodeIdx([2], new Uint8Array([1, 2])));
  const pixels = await gzip(encodeIdx([2, 28, 28], new Uint8Array(2 * 784)));
  await Deno.writeFile(`${dir}/train-images-idx3-ubyte.gz`, images);
  await Deno.writeFile(`${dir}/train-labels-idx1-ubyte.gz`, labels);
  await Deno.writeFile(`${dir}/t10k-images-idx3-ubyte.gz`, pixels);
  await Deno.writeFile(`${dir}/t10k-labels-idx1-ubyte.gz`, labels);
  return dir;
}

Deno.test("IDX: a corrupt gzip stream is an IdxError naming the file", async () => {
  const good = await gzip(encodeIdx([2, 28, 28], new Uint8Array(2 * 784)));
  const bad = good.slice();
  bad.fill(0x55, 12, 40); // inside the deflate data
  const dir = await dataFolder(bad);
  await assert.rejects(
    () => loadFashionMnistRaw({ split: "train", dataDir: dir }),
    (e: Error) =>
      e instanceof IdxError &&
      /train-images-idx3-ubyte: the gzip stream is not a valid gzip stream/.test(e.message),
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("IDX: a gzip bomb stops at the byte limit", async () => {
  // 64 MiB of zeros gzip to about 64 KiB.
  const bomb = await gzip(new Uint8Array(64 * 2 ** 20));
  const dir = await dataFolder(bomb);
  const before = setIoLimits({ maxBytes: 2 ** 20 });
  try {
    await assert.rejects(
      () => loadFashionMnistRaw({ split: "train", dataDir: dir }),
      /the gzip stream inflates past 1\.0 MiB: a decompression bomb/,
    );
  } finally {
    setIoLimits(before);
  }
  await Deno.remove(dir, { recursive: true });
});

Deno.test("PNG: 1-, 2-, 4- and 8-bit grayscale and palette images decode to Pillow's values", async () => {
  const expected = JSON.parse(await Deno.readTextFile(fixture("png/expected.json"))) as Record<
    string,
    { mode: "L" | "RGB"; width: number; height: number; values: number[] }
  >;
  assert.equal(Object.keys(expected).length, 8);
  for (const [name, want] of Object.entries(expected)) {
    const image = decodeImage(
      await Deno.readFile(fixture(`png/${name}.png`)),
      name,
      want.mode === "L" ? 1 : 3,
    );
    assert.equal(image.width, want.width, name);
    assert.equal(image.height, want.height, name);
    // Planar [C, H, W] in [0, 1] against Pillow's interleaved bytes.
    const plane = want.width * want.height;
    const channels = want.mode === "L" ? 1 : 3;
    const got = Array.from({ length: plane * channels }, (_, i) => {
      const pixel = Math.floor(i / channels);
      const c = i % channels;
      return Math.round(image.data[c * plane + pixel] * 255);
    });
    assert.deepEqual(got, want.values, name);
  }
});

Deno.test("PNG: no pixels, or more than the pixel limit, are refused before decoding", () => {
  // fast-png writes what it is given; IHDR is patched to claim the sizes.
  const png = encodePng({ width: 2, height: 2, data: new Uint8Array(4), channels: 1, depth: 8 });
  const claim = (w: number, h: number) => {
    const out = png.slice();
    const view = new DataView(out.buffer);
    view.setUint32(16, w, false);
    view.setUint32(20, h, false);
    return out;
  };
  assert.throws(
    () => decodeImage(claim(0, 0), "empty.png"),
    /empty\.png: the image is 0×0: it has no pixels/,
  );
  const t0 = performance.now();
  assert.throws(
    () => decodeImage(claim(100_000, 100_000), "bomb.png"),
    (e: Error) =>
      e instanceof ImageDecodeError &&
      /bomb\.png: the image is 100000×100000 = 10,000,000,000 pixels, over the limit of 178,956,970/
        .test(e.message),
  );
  assert.ok(performance.now() - t0 < 100);
  const before = setIoLimits({ maxImagePixels: 3 });
  try {
    assert.throws(() => decodeImage(png, "small.png"), /over the limit of 3/);
  } finally {
    setIoLimits(before);
  }
  assert.equal(decodeImage(png, "ok.png", 1).width, 2);
});

Deno.test("JPEG: more pixels than the limit is an ImageDecodeError", () => {
  const jpg = jpeg.encode({ width: 16, height: 16, data: new Uint8Array(16 * 16 * 4) }, 90).data;
  const before = setIoLimits({ maxImagePixels: 100 });
  try {
    assert.throws(() => decodeImage(new Uint8Array(jpg), "big.jpg"), ImageDecodeError);
  } finally {
    setIoLimits(before);
  }
  assert.equal(decodeImage(new Uint8Array(jpg), "ok.jpg").width, 16);
});

Deno.test("image folders follow symbolic links to images and class folders", async () => {
  const dir = await Deno.makeTempDir();
  const elsewhere = await Deno.makeTempDir();
  const png = encodePng({
    width: 4,
    height: 4,
    data: new Uint8Array(16).fill(200),
    channels: 1,
    depth: 8,
  });
  await Deno.mkdir(`${dir}/cat`);
  await Deno.writeFile(`${elsewhere}/real.png`, png);
  await Deno.symlink(`${elsewhere}/real.png`, `${dir}/cat/linked.png`);
  await Deno.mkdir(`${elsewhere}/dogs`);
  await Deno.writeFile(`${elsewhere}/dogs/d.png`, png);
  await Deno.symlink(`${elsewhere}/dogs`, `${dir}/dog`);
  await Deno.symlink(`${elsewhere}/missing.png`, `${dir}/cat/dangling.png`);
  const { labels, classes, files } = await loadImageFolder(dir, { channels: 1 });
  assert.deepEqual(classes, ["cat", "dog"]);
  assert.deepEqual(files.map((f) => f.slice(dir.length + 1)), ["cat/linked.png", "dog/d.png"]);
  assert.deepEqual(Array.from(toArraySync(labels)), [0, 1]);
  await Deno.remove(dir, { recursive: true });
  await Deno.remove(elsewhere, { recursive: true });
});

Deno.test("fuzz: mutated IDX files parse to the right size or throw an IdxError", () => {
  const good = encodeIdx([3, 4, 5], Uint8Array.from({ length: 60 }, (_, i) => i));
  fc.assert(
    fc.property(
      fc.nat({ max: good.length - 1 }),
      fc.integer({ min: 1, max: 255 }),
      fc.nat({ max: good.length }),
      (at, xor, cut) => {
        const bytes = good.slice(0, Math.max(cut, at + 1));
        bytes[at] ^= xor;
        try {
          const { dims, data } = parseIdx(bytes, "fuzz.idx");
          assert.equal(data.length, dims.reduce((a, b) => a * b, 1));
        } catch (error) {
          assert.ok(error instanceof IdxError, String(error));
        }
      },
    ),
    { numRuns: 500, seed: 20 },
  );
});

Deno.test("fuzz: mutated PNG and JPEG files decode or throw an ImageDecodeError, quickly", () => {
  const png = encodePng({
    width: 7,
    height: 5,
    data: Uint8Array.from({ length: 7 * 5 * 3 }, (_, i) => (i * 37) % 256),
    channels: 3,
    depth: 8,
  });
  const jpg = new Uint8Array(
    jpeg.encode({ width: 8, height: 8, data: new Uint8Array(256).fill(128) }, 90).data,
  );
  for (const [good, name] of [[png, "fuzz.png"], [jpg, "fuzz.jpg"]] as const) {
    fc.assert(
      fc.property(
        fc.array(fc.nat({ max: good.length - 1 }), { minLength: 1, maxLength: 6 }),
        fc.integer({ min: 1, max: 255 }),
        fc.nat({ max: good.length }),
        (at, xor, cut) => {
          const bytes = good.slice(0, Math.max(cut, 8));
          for (const i of at) if (i >= 4 && i < bytes.length) bytes[i] ^= xor;
          const t0 = performance.now();
          try {
            const image = decodeImage(bytes, name);
            assert.equal(image.data.length, 3 * image.width * image.height);
          } catch (error) {
            assert.ok(error instanceof ImageDecodeError, String(error));
          }
          assert.ok(performance.now() - t0 < 1000);
        },
      ),
      { numRuns: 300, seed: 21 },
    );
  }
});
