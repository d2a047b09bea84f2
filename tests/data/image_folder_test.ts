// Image folders and codecs: PNG round trips, JPEG decoding, class folders, and the errors
// for undecodable files (with the option to skip them).

import assert from "node:assert/strict";
import jpeg from "jpeg-js";
import * as T from "../../mod.ts";
import {
  decodeImage,
  encodeImagePng,
  loadImageFolder,
  resizeAndCenterCrop,
} from "../../data/mod.ts";
import { assertClose } from "../_helpers.ts";

Deno.test("encodeImagePng() and decodeImage() round-trip 8-bit pixels", () => {
  for (const channels of [1, 3] as const) {
    const data = Float32Array.from({ length: channels * 5 * 7 }, (_, i) => ((i * 37) % 256) / 255);
    const png = encodeImagePng({ data, channels, height: 5, width: 7 });
    const back = decodeImage(png, "x.png", channels);
    assert.equal(back.height, 5);
    assert.equal(back.width, 7);
    assertClose(back.data, data, { atol: 1e-6, rtol: 0 });
  }
  // RGB → grayscale uses PIL's weights
  const rgb = encodeImagePng({
    data: Float32Array.from([1, 0, 0]),
    channels: 3,
    height: 1,
    width: 1,
  });
  assertClose(decodeImage(rgb, "red.png", 1).data, [0.299], { atol: 1e-6, rtol: 0 });
});

Deno.test("decodeImage() reads JPEG and rejects other files naming them", () => {
  const raw = { width: 8, height: 8, data: new Uint8Array(8 * 8 * 4).fill(128) };
  const file = jpeg.encode(raw, 95).data;
  const img = decodeImage(new Uint8Array(file), "gray.jpg", 3);
  assert.equal(img.channels, 3);
  assert.ok(img.data.every((v) => Math.abs(v - 128 / 255) < 0.03));
  assert.throws(
    () => decodeImage(new TextEncoder().encode("hello"), "notes.png"),
    /Cannot decode image notes\.png: not a PNG or JPEG/,
  );
  assert.throws(
    () => decodeImage(new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2]), "cut.png"),
    /Cannot decode image cut\.png/,
  );
});

Deno.test("loadImageFolder() labels by sorted class folder; bad files fail or are skipped", async () => {
  const root = await Deno.makeTempDir();
  const write = async (path: string, value: number) =>
    await Deno.writeFile(
      `${root}/${path}`,
      encodeImagePng({
        data: new Float32Array(4 * 4).fill(value),
        channels: 1,
        height: 4,
        width: 4,
      }),
    );
  await Deno.mkdir(`${root}/cat`);
  await Deno.mkdir(`${root}/ant`);
  await write("cat/a.png", 0.2);
  await write("ant/b.png", 0.6);
  await write("ant/c.png", 1);
  await Deno.writeTextFile(`${root}/cat/readme.txt`, "ignored");
  const { images, labels, classes, files } = await loadImageFolder(root, { channels: 1 });
  assert.deepEqual(classes, ["ant", "cat"]);
  assert.deepEqual(Array.from(T.toArraySync(labels)), [0, 0, 1]);
  assert.deepEqual(images.shape, [3, 1, 4, 4]);
  assert.equal(files.length, 3);
  await Deno.writeFile(`${root}/cat/broken.png`, new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0]));
  await assert.rejects(
    () => loadImageFolder(root, { channels: 1 }),
    /Cannot decode image .*cat\/broken\.png/,
  );
  const skipped: string[] = [];
  const ok = await loadImageFolder(root, {
    channels: 1,
    skipBad: true,
    onSkip: (p) => skipped.push(p),
  });
  assert.equal(ok.files.length, 3);
  assert.ok(skipped[0].endsWith("cat/broken.png"));
  await Deno.writeFile(
    `${root}/cat/big.png`,
    encodeImagePng({ data: new Float32Array(36), channels: 1, height: 6, width: 6 }),
  );
  await Deno.remove(`${root}/cat/broken.png`);
  await assert.rejects(
    () => loadImageFolder(root, { channels: 1 }),
    /is 6×6 but .* is 4×4; pass \{ size \}/,
  );
  const sized = await loadImageFolder(root, { channels: 1, size: 4 });
  assert.deepEqual(sized.images.shape, [4, 1, 4, 4]);
  await assert.rejects(() => loadImageFolder(`${root}/nope`), /Cannot read image folder/);
  await Deno.remove(root, { recursive: true });
});

Deno.test("resizeAndCenterCrop() follows the official eval resize (shorter side to size·256/224)", () => {
  const img = {
    data: new Float32Array(3 * 381 * 500).fill(0.5),
    channels: 3,
    height: 381,
    width: 500,
  };
  const out = resizeAndCenterCrop(img, 224);
  assert.equal(out.height, 224);
  assert.equal(out.width, 224);
  const square = { data: new Float32Array(28 * 28), channels: 1, height: 28, width: 28 };
  assert.equal(resizeAndCenterCrop(square, 28).data, square.data); // already img_size: passes unchanged
});
