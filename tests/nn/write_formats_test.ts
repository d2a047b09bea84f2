// Writers of other libraries' formats: NumPy's .npy and PyTorch's .pth (ZIP + pickle),
// read back by our readers (CI); tools/golden/export_roundtrip.py checks torch.load.

import assert from "node:assert/strict";
import { encodeNpy, parseNpy } from "../../nn/io/npy.ts";
import { crc32, encodePth, PthStateDict, pthTensor, zipStored } from "../../nn/io/pth_write.ts";
import { readPth } from "../../nn/io/pth.ts";
import { listZipEntries, readZipEntry } from "../../nn/io/zip.ts";
import { readPthPickle } from "../_pth.ts";

Deno.test("encodeNpy() writes NumPy 1.0 headers aligned to 64 bytes; parseNpy() reads them back", () => {
  for (
    const [values, shape] of [
      [new Float32Array([1.5, -2, 3, 4, 5, 6]), [2, 3]],
      [new Float64Array([Math.PI]), [1]],
      [new Int32Array([-7, 8]), [2]],
      [new Uint8Array([1, 0, 1, 1]), [2, 2]],
      [new Float32Array([42]), []],
    ] as const
  ) {
    const bytes = encodeNpy(values, shape);
    const headerLength = new DataView(bytes.buffer).getUint16(8, true);
    assert.equal((10 + headerLength) % 64, 0);
    assert.equal(bytes[10 + headerLength - 1], 0x0a); // the header ends with a newline
    const back = parseNpy(bytes);
    assert.deepEqual(back.shape, [...shape]);
    assert.deepEqual(back.values, values);
  }
  const header = new TextDecoder().decode(encodeNpy(new Float32Array(3), [3]).subarray(10, 70));
  assert.match(header, /^\{'descr': '<f4', 'fortran_order': False, 'shape': \(3,\), \}/);
  assert.throws(() => encodeNpy(new Float32Array(5), [2, 3]), /needs 6 elements/);
  assert.throws(() => parseNpy(new Uint8Array(20)), /bad magic/);
  const truncated = encodeNpy(new Float32Array(16), [16]).subarray(0, 140); // data from 128
  assert.throws(() => parseNpy(truncated), /needs 64 bytes of data, the file has 12/);
});

Deno.test("crc32() is the ZIP checksum and zipStored() aligns every entry's data to 64 bytes", async () => {
  assert.equal(crc32(new TextEncoder().encode("123456789")), 0xcbf43926);
  // Chunk by chunk, the same checksum.
  const enc = new TextEncoder();
  assert.equal(crc32(enc.encode("56789"), crc32(enc.encode("1234"))), 0xcbf43926);
  assert.equal(crc32(new Uint8Array(0)), 0);
  const files: [string, Uint8Array][] = [
    ["a/data.pkl", new Uint8Array([1, 2, 3])],
    ["a/data/0", new Uint8Array(100).fill(7)],
    ["a/a-much-longer-name/version", new TextEncoder().encode("3\n")],
  ];
  const zip = zipStored(files);
  const entries = listZipEntries(zip);
  assert.deepEqual(entries.map((e) => e.name), files.map(([n]) => n));
  for (const [i, entry] of entries.entries()) {
    assert.deepEqual(await readZipEntry(zip, entry), files[i][1]);
    const view = new DataView(zip.buffer);
    const at = entry.localHeaderOffset;
    const dataStart = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
    assert.equal(dataStart % 64, 0, entry.name);
  }
});

Deno.test("encodePth() writes dicts, numbers, strings, lists and state dicts that readPth reads", async () => {
  const f32 = new Float32Array([1, 2, 3, 4, 5, 6]);
  const index = new BigInt64Array([0n, 1n, 2n, -1n]);
  const state = new Map([
    ["a.weight", { dtype: "F32", shape: [2, 3], data: new Uint8Array(f32.buffer) }],
    ["a.relative_position_index", {
      dtype: "I64",
      shape: [2, 2],
      data: new Uint8Array(index.buffer),
    }],
    ["mask", { dtype: "BOOL", shape: [3], data: new Uint8Array([1, 0, 1]) }],
    ["scale", { dtype: "F32", shape: [], data: new Uint8Array(new Float32Array([7]).buffer) }],
  ]);
  const bytes = encodePth({
    model: new PthStateDict(state),
    epoch: 5,
    step: 2 ** 40,
    lr: 1.5e-3,
    args: null,
    done: true,
    names: ["x", -3],
    extra: pthTensor({ dtype: "I32", shape: [1], data: new Uint8Array(4) }),
  }, "ckpt");
  const back = await readPth(bytes, "ckpt.pth");
  assert.deepEqual([...back.keys()], [...state.keys()]);
  for (const [key, raw] of state) {
    assert.equal(back.get(key)!.dtype, raw.dtype);
    assert.deepEqual(back.get(key)!.shape, raw.shape);
    assert.deepEqual(back.get(key)!.data, raw.data);
  }
  const root = await readPthPickle(bytes, "ckpt") as Map<string, unknown>;
  assert.equal(root.get("epoch"), 5);
  assert.equal(Number(root.get("step")), 2 ** 40);
  assert.equal(root.get("lr"), 1.5e-3);
  assert.equal(root.get("args"), null);
  assert.equal(root.get("done"), true);
  assert.deepEqual(root.get("names"), ["x", -3]);
});
