// State I/O: the PyTorch .pth fixture and its safetensors twin (every dtype, shared
// views, an empty tensor), round trips, fromStateDict's strict and lenient modes, and
// bad input (corrupt, truncated or lying files) giving clear errors.

import assert from "node:assert/strict";
import { rezip } from "../_hostile.ts";
import * as T from "../../mod.ts";
import {
  fromStateDict,
  type LoadReport,
  loadStateDict,
  parseSafetensors,
  saveStateDict,
  serializeSafetensors,
} from "../../nn/mod.ts";

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;
const values = (t: T.Tensor) => Array.from(T.toArraySync(t));

Deno.test("loadStateDict() reads the .pth fixture exactly like its safetensors twin", async () => {
  const pth = await loadStateDict(fixture("interop/tiny_state.pth"));
  const st = await loadStateDict(fixture("interop/tiny_state.safetensors"));
  assert.equal(pth.size, 45);
  assert.deepEqual([...pth.keys()].sort(), [...st.keys()].sort());
  for (const [name, t] of pth) {
    const u = st.get(name)!;
    assert.equal(t.dtype, u.dtype, name);
    assert.deepEqual(t.shape, u.shape, name);
    assert.deepEqual(T.toArraySync(t), T.toArraySync(u), name);
  }
});

Deno.test("loadStateDict() follows the dtype rules and handles views, ties, scalars and empties", async () => {
  const sd = await loadStateDict(fixture("interop/tiny_state.pth"));
  assert.equal(sd.get("bn.num_batches_tracked")!.dtype, "int32"); // I64 → int32
  assert.deepEqual(values(sd.get("bn.num_batches_tracked")!), [7]);
  assert.deepEqual(sd.get("bn.num_batches_tracked")!.shape, []);
  assert.equal(sd.get("extra.f64")!.dtype, "float64"); // stays float64 on the CPU
  assert.equal(sd.get("extra.f16")!.dtype, "float32");
  assert.equal(sd.get("extra.bf16")!.dtype, "float32");
  assert.equal(sd.get("extra.u8")!.dtype, "int32");
  assert.deepEqual(values(sd.get("extra.i32")!), [-3, -2, -1, 0, 1, 2]);
  assert.deepEqual(values(sd.get("extra.bool")!), [1, 0, 1]);
  assert.deepEqual(values(sd.get("extra.scalar_f32")!), [3.5]);
  assert.deepEqual(sd.get("extra.empty")!.shape, [0, 70000]);
  assert.deepEqual(values(sd.get("extra.tied")!), values(sd.get("codebook.weight")!));
  // extra.transposed is base.t() and extra.slice is base[1:3], from one shared storage.
  const t = sd.get("extra.transposed")!; // [6, 4]
  const s = sd.get("extra.slice")!; // [2, 6]
  assert.deepEqual(values(T.transpose(T.slice(t, [null, [1, 3]]))), values(s));
  // Keys come in the state dict's order.
  assert.deepEqual([...sd.keys()].slice(0, 3), ["cls_token", "pos_embed", "patch_embed.weight"]);
});

Deno.test("saveStateDict() and loadStateDict() round-trip every dtype, in tree order", async () => {
  const path = await Deno.makeTempFile({ suffix: ".safetensors" });
  const tree = {
    a: { weight: T.tensor([[1.5, -2], [3, 4]]) },
    b: [T.tensor([1, 2, 3], { dtype: "int32" }), T.tensor([true, false])],
    c: T.tensor([0.1], { dtype: "float64" }),
    skip: null,
  };
  await saveStateDict(path, tree);
  const back = await loadStateDict(path);
  assert.deepEqual([...back.keys()], ["a.weight", "b.0", "b.1", "c"]);
  assert.deepEqual(values(back.get("a.weight")!), [1.5, -2, 3, 4]);
  assert.equal(back.get("b.0")!.dtype, "int32");
  assert.equal(back.get("b.1")!.dtype, "bool");
  assert.deepEqual(values(back.get("c")!), [0.1]);
  const restored = fromStateDict({ a: { weight: T.zeros([2, 2]) } }, back, { strict: false });
  assert.deepEqual(values(restored.a.weight), [1.5, -2, 3, 4]);
  await Deno.remove(path);
});

Deno.test("fromStateDict() lists every problem in strict mode and reports them otherwise", () => {
  const template = { w: T.zeros([2, 3]), b: T.zeros([3]), head: { weight: T.zeros([4, 3]) } };
  const flat = new Map<string, T.Tensor>([
    ["w", T.ones([2, 3])],
    ["head.weight", T.ones([10, 3])],
    ["extra.thing", T.ones([1])],
    ["blocks.0.attn.relative_position_index", T.zeros([2, 2], { dtype: "int32" })],
  ]);
  assert.throws(
    () => fromStateDict(template, flat),
    (e: Error) =>
      /3 problem\(s\)/.test(e.message) && /missing: b/.test(e.message) &&
      /unexpected: extra\.thing/.test(e.message) &&
      /shape mismatch: head\.weight expects \[4,3\], found \[10,3\]/.test(e.message) &&
      !/relative_position_index/.test(e.message),
  );
  let report: LoadReport | undefined;
  const out = fromStateDict(template, flat, { strict: false, onReport: (r) => (report = r) });
  assert.deepEqual(report!.missing, ["b"]);
  assert.deepEqual(report!.unexpected, ["extra.thing"]);
  assert.equal(report!.mismatched[0].key, "head.weight");
  assert.deepEqual(values(out.w), [1, 1, 1, 1, 1, 1]);
  assert.equal(out.head.weight, template.head.weight); // kept from the template
  // Values take the template's dtype.
  const cast = fromStateDict(
    { x: T.zeros([2]) },
    new Map([["x", T.tensor([1, 2], { dtype: "float64" })]]),
  );
  assert.equal(cast.x.dtype, "float32");
});

/** A valid little safetensors file to corrupt. */
function goodFile(): Uint8Array {
  return serializeSafetensors(
    new Map([
      ["a", { dtype: "F32", shape: [2], data: new Uint8Array(new Float32Array([1, 2]).buffer) }],
      ["b", { dtype: "I32", shape: [1], data: new Uint8Array(new Int32Array([3]).buffer) }],
    ]),
  );
}

function withHeader(header: unknown, dataBytes = 12): Uint8Array {
  return rawHeader(JSON.stringify(header), dataBytes);
}

function rawHeader(text: string, dataBytes = 12): Uint8Array {
  const json = new TextEncoder().encode(text);
  const out = new Uint8Array(8 + json.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  out.set(json, 8);
  return out;
}

const BAD_SAFETENSORS: [string, Uint8Array, RegExp][] = [
  ["shorter than 8 bytes", new Uint8Array(3), /shorter than the 8-byte header length/],
  ["header longer than the file", goodFile().slice(0, 20), /exceeds the file size/],
  [
    "truncated data",
    goodFile().slice(0, goodFile().byteLength - 4),
    /ends at byte 12 of a 8-byte data section/,
  ],
  ["invalid JSON", rawHeader('{"a": {"dtype": '), /header is not valid JSON/],
  ["a non-object header", withHeader([1, 2]), /header is not a JSON object/],
  [
    "size that lies",
    withHeader({ a: { dtype: "F32", shape: [4], data_offsets: [0, 12] } }),
    /claims 12 bytes but F32 \[4\] needs 16/,
  ],
  [
    "overlapping tensors",
    withHeader({
      a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
      b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
    }),
    /overlap/,
  ],
  [
    "unknown dtype",
    withHeader({ a: { dtype: "F8", shape: [1], data_offsets: [0, 1] } }),
    /unsupported dtype "F8"/,
  ],
  [
    "bad shape",
    withHeader({ a: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }),
    /invalid shape/,
  ],
  [
    "bad offsets",
    withHeader({ a: { dtype: "F32", shape: [1], data_offsets: [4] } }),
    /invalid data_offsets/,
  ],
];

for (const [name, bytes, pattern] of BAD_SAFETENSORS) {
  Deno.test(`parseSafetensors() rejects a file with ${name}, loading nothing`, () => {
    assert.throws(() => parseSafetensors(bytes, "bad.safetensors"), pattern);
  });
}

Deno.test("loadStateDict() gives clear errors for damaged .pth files and missing files", async () => {
  const good = await Deno.readFile(fixture("interop/tiny_state.pth"));
  const dir = await Deno.makeTempDir();
  const write = async (name: string, bytes: Uint8Array) => {
    const p = `${dir}/${name}`;
    await Deno.writeFile(p, bytes);
    return p;
  };
  await assert.rejects(
    () => loadStateDict(`${dir}/nope.pth`),
    /Cannot read checkpoint .*nope\.pth/,
  );
  await assert.rejects(
    async () => loadStateDict(await write("cut.pth", good.slice(0, 5000))),
    /Cannot read PyTorch checkpoint .*cut\.pth: no end-of-central-directory record/,
  );
  await assert.rejects(
    async () => loadStateDict(await write("legacy.pth", new Uint8Array([0x80, 0x02, 0x8a, 0x0a]))),
    /legacy \(pre-1\.6, non-zip\) torch\.save file/,
  );
  // Corrupt the pickle: replace the first GLOBAL opcode ('c') with an unsupported one.
  const bad = good.slice();
  const pkl = new TextEncoder().encode("collections\nOrderedDict");
  const at = findBytes(bad, pkl) - 1;
  assert.equal(bad[at], 0x63);
  bad[at] = 0x66; // 'f': not a pickle opcode we support
  // The archive's CRC-32 catches the damage first…
  await assert.rejects(
    async () => loadStateDict(await write("crc.pth", bad)),
    /crc\.pth: entry tiny_state\/data\.pkl is damaged: CRC-32 0x[0-9a-f]{8} where the archive records/,
  );
  // …and with the checksum made to match, the pickle reader names the opcode.
  await assert.rejects(
    async () => loadStateDict(await write("opcode.pth", rezip(bad, (_name, data) => data))),
    /unsupported pickle opcode 0x66 \('f'\) at byte 2/,
  );
  await Deno.remove(dir, { recursive: true });
});

function findBytes(haystack: Uint8Array, needle: Uint8Array): number {
  outer: for (let i = 0; i + needle.length <= haystack.length; i++) {
    for (let j = 0; j < needle.length; j++) if (haystack[i + j] !== needle[j]) continue outer;
    return i;
  }
  return -1;
}
