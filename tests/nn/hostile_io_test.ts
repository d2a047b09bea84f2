// Damaged and hostile weight files: every kind of failure seen when the loaders were tried
// as a careless or hostile user would, one regression test each (each fails on a loader
// that lets an engine error escape, allocates what the file asks for, or returns wrong
// values), then fast-check fuzzing of the parsers: random mutations of valid files either
// load the right values or throw the format's own error, quickly.

import assert from "node:assert/strict";
import fc from "fast-check";
import { deflateRaw, Pickle, pthWith, rezip, tensorPickle, zipDeflated } from "../_hostile.ts";
import * as T from "../../mod.ts";
import {
  CheckpointError,
  loadCheckpoint,
  loadCheckpointOrNull,
  loadStateDict,
  parseSafetensors,
  PickleError,
  PthError,
  readPth,
  readRawStateDict,
  SafetensorsError,
  saveCheckpoint,
  serializeSafetensors,
  setIoLimits,
  ZipError,
} from "../../nn/mod.ts";
import { unpickle } from "../../nn/io/pickle.ts";
import { listZipEntries, readZipEntry } from "../../nn/io/zip.ts";

const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;
const floats = (...v: number[]) => new Uint8Array(new Float32Array(v).buffer);
const rejectsPth = (bytes: Uint8Array, pattern: RegExp) =>
  assert.rejects(() => readPth(bytes, "hostile.pth"), (error: Error) => {
    assert.ok(error instanceof PthError, `${error.name}: ${error.message}`);
    assert.match(error.message, /^Cannot read PyTorch checkpoint hostile\.pth: /);
    assert.match(error.message, pattern);
    return true;
  });

/** Runs `f` with lower I/O limits, restoring them after. */
async function withLimits<R>(limits: Parameters<typeof setIoLimits>[0], f: () => Promise<R>) {
  const before = setIoLimits(limits);
  try {
    return await f();
  } finally {
    setIoLimits(before);
  }
}

// --- pickles ----------------------------------------------------------------------------

Deno.test("pickle: a very long APPENDS is a plain loop, not a spread that overflows the stack", async () => {
  const n = 300_000;
  const p = new Pickle().op(0x5d).mark();
  for (let i = 0; i < n; i++) p.none();
  const bytes = p.op(0x65).done(); // [None] * n
  const list = unpickle(bytes, () => null) as unknown[];
  assert.equal(list.length, n);
  // Inside a .pth it is a clear "not a state dict", not a RangeError.
  await rejectsPth(pthWith(bytes), /the pickle holds object, not a state dict/);
});

Deno.test("pickle: APPEND onto a dict, and a stack that runs dry, are PickleErrors", () => {
  assert.throws(
    () => unpickle(new Pickle().dict().none().op(0x61).done(), () => null),
    (e: Error) => e instanceof PickleError && /APPEND onto a dict, not a list/.test(e.message),
  );
  assert.throws(
    () => unpickle(new Pickle().reduce().done(), () => null),
    (e: Error) => e instanceof PickleError && /stack underflow at byte 2/.test(e.message),
  );
  assert.throws(
    () => unpickle(new Pickle().global("a", "b").none().reduce().done(), () => null),
    (e: Error) => e instanceof PickleError && /REDUCE with None as arguments/.test(e.message),
  );
});

Deno.test("pth: a persistent id that is not a storage tuple is named", async () => {
  const bytes = new Pickle().dict().str("w").int(7).persid().setitem().done();
  await rejectsPth(pthWith(bytes), /persistent id number, not a \('storage', type, key/);
});

Deno.test("pth: tensor sizes that are None, not integers or negative are refused", async () => {
  const storage = { "0": floats(1, 2, 3, 4) };
  for (
    const [size, stride, pattern] of [
      [null, [1], /size is None, not a tuple of integers/],
      [["a", 2], [2, 1], /size is a tuple of 2, not a tuple of integers/],
      [[-2, 2], [2, 1], /negative size \[-2,2\]/],
    ] as const
  ) {
    await rejectsPth(
      pthWith(tensorPickle("w", { offset: 0, size, stride }), storage),
      pattern,
    );
  }
});

Deno.test("pth: negative strides, short stride lists and fractional offsets are refused", async () => {
  const storage = { "0": floats(1, 2, 3, 4) };
  await rejectsPth(
    pthWith(tensorPickle("w", { offset: 3, size: [4], stride: [-1] }), storage),
    /negative stride \[-1\]/,
  );
  await rejectsPth(
    pthWith(tensorPickle("w", { offset: 0, size: [2, 2], stride: [1] }), storage),
    /1 strides for 2 sizes/,
  );
  // Offset 1.5, written as a BINFLOAT.
  const half = new Uint8Array(9);
  half[0] = 0x47;
  new DataView(half.buffer).setFloat64(1, 1.5, false);
  const p = new Pickle().dict().str("w").global("torch._utils", "_rebuild_tensor_v2").mark();
  p.mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(4).tuple()
    .persid();
  p.op(...half).mark().int(2).tuple().mark().int(1).tuple().tuple().reduce().setitem();
  await rejectsPth(pthWith(p.done(), storage), /storage offset 1\.5/);
});

Deno.test("pth: a stride-0 view expanded past the byte limit fails before allocating", async () => {
  const bytes = pthWith(
    tensorPickle("w", { offset: 0, size: [100_000, 100_000, 100], stride: [0, 0, 0] }),
    { "0": floats(1) },
  );
  // 10¹² floats from a 4-byte storage: refused by the default limit, at once.
  const t0 = performance.now();
  await rejectsPth(bytes, /takes the file's tensors past 4\.0 GiB; raise the limit/);
  assert.ok(performance.now() - t0 < 2000);
  // A small expansion still loads, with the repeated value.
  const ok = await readPth(
    pthWith(tensorPickle("w", { offset: 0, size: [2, 3], stride: [0, 0] }), { "0": floats(7) }),
    "ok.pth",
  );
  assert.deepEqual(Array.from(new Float32Array(ok.get("w")!.data.slice().buffer)), [
    7,
    7,
    7,
    7,
    7,
    7,
  ]);
});

Deno.test("pth: thousands of keys aliasing one storage share one record", async () => {
  const p = new Pickle().dict();
  for (let i = 0; i < 2000; i++) {
    p.str(`k${i}`).global("torch._utils", "_rebuild_tensor_v2").mark();
    p.mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(4).tuple()
      .persid();
    p.int(0).mark().int(2).int(2).tuple().mark().int(2).int(1).tuple().tuple().reduce()
      .setitem();
  }
  const raws = await readPth(pthWith(p.done(), { "0": floats(1, 2, 3, 4) }), "alias.pth");
  assert.equal(raws.size, 2000);
  const first = raws.get("k0")!;
  for (const raw of raws.values()) assert.equal(raw, first);
  // …and, loaded, one tensor.
  const dir = await Deno.makeTempDir();
  await Deno.writeFile(`${dir}/alias.pth`, pthWith(p.done(), { "0": floats(1, 2, 3, 4) }));
  const sd = await loadStateDict(`${dir}/alias.pth`);
  assert.equal(sd.get("k0"), sd.get("k1999"));
  assert.deepEqual(Array.from(T.toArraySync(sd.get("k5")!)), [1, 2, 3, 4]);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("pth: a view reading past its storage names the tensor and the storage", async () => {
  await rejectsPth(
    pthWith(tensorPickle("w", { offset: 2, size: [4], stride: [1] }), { "0": floats(1, 2, 3, 4) }),
    /tensor "w" \(size \[4\], stride \[1\], offset 2\) reads past the end of its 16-byte storage 0/,
  );
});

// --- zip --------------------------------------------------------------------------------

Deno.test("zip: a member whose CRC-32 does not match is reported, not used", async () => {
  const good = await Deno.readFile(fixture("interop/tiny_state.pth"));
  const entries = listZipEntries(good);
  const storage = entries.find((e) => /\/data\/\d+$/.test(e.name))!;
  const bad = good.slice();
  const view = new DataView(bad.buffer);
  const start = storage.localHeaderOffset + 30 +
    view.getUint16(storage.localHeaderOffset + 26, true) +
    view.getUint16(storage.localHeaderOffset + 28, true);
  bad[start] ^= 0x40; // one flipped bit in a weight
  await assert.rejects(
    () => readPth(bad, "flipped.pth"),
    new RegExp(`flipped\\.pth: entry ${storage.name.replace(/\//g, "\\/")} is damaged: CRC-32`),
  );
});

Deno.test("zip: a corrupt deflate stream and a deflate bomb are ZipErrors", async () => {
  const data = new TextEncoder().encode("hello, hello, hello");
  const corrupt = await zipDeflated([{
    name: "a",
    data,
    raw: Uint8Array.from([0xff, 0xff, 0xff]),
  }]);
  await assert.rejects(
    () => readZipEntry(corrupt, listZipEntries(corrupt)[0]),
    (e: Error) =>
      e instanceof ZipError && /entry a is not a valid deflate-raw stream/.test(e.message),
  );
  // 64 MiB of zeros deflate to ~64 KiB; the member claims 1,000 bytes.
  const zeros = new Uint8Array(64 * 2 ** 20);
  const bomb = await zipDeflated([{
    name: "b",
    data: zeros,
    size: 1000,
    raw: await deflateRaw(zeros),
  }]);
  await assert.rejects(
    () => readZipEntry(bomb, listZipEntries(bomb)[0]),
    (e: Error) =>
      e instanceof ZipError && /entry b inflates past its declared 1000 bytes/.test(e.message),
  );
  // A member that declares more than the limit is refused before inflating.
  const big = await zipDeflated([{ name: "c", data: zeros }]);
  await withLimits({ maxBytes: 2 ** 20 }, () =>
    assert.rejects(
      () => readZipEntry(big, listZipEntries(big)[0]),
      /entry c declares 64\.0 MiB, more than the limit of 1\.0 MiB/,
    ));
  // And an honest deflated member reads back.
  const honest = await zipDeflated([{ name: "d", data }]);
  assert.deepEqual(await readZipEntry(honest, listZipEntries(honest)[0]), data);
});

// --- safetensors ------------------------------------------------------------------------

function safetensorsWith(header: Record<string, unknown>, data: Uint8Array): Uint8Array {
  let json = JSON.stringify(header);
  while (json.length % 8) json += " ";
  const h = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + h.length + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(h.length), true);
  out.set(h, 8);
  out.set(data, 8 + h.length);
  return out;
}

Deno.test("safetensors: an overlap hidden behind a zero-length entry, gaps and tails are refused", () => {
  const data = new Uint8Array(16);
  const overlap = safetensorsWith({
    a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
    z: { dtype: "F32", shape: [0], data_offsets: [4, 4] },
    b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
    c: { dtype: "F32", shape: [1], data_offsets: [12, 16] },
  }, data);
  assert.throws(
    () => parseSafetensors(overlap, "o.safetensors"),
    (e: Error) => e instanceof SafetensorsError && /tensors "a" and "z" overlap/.test(e.message),
  );
  const gap = safetensorsWith({ a: { dtype: "F32", shape: [2], data_offsets: [8, 16] } }, data);
  assert.throws(() => parseSafetensors(gap, "g"), /8 unclaimed bytes before tensor "a"/);
  const tail = safetensorsWith({ a: { dtype: "F32", shape: [2], data_offsets: [0, 8] } }, data);
  assert.throws(
    () => parseSafetensors(tail, "t"),
    /accounts for 8 bytes of a 16-byte data section/,
  );
  const huge = new Uint8Array(16);
  new DataView(huge.buffer).setBigUint64(0, 200_000_000n, true);
  assert.throws(() => parseSafetensors(huge, "h"), /over the format's limit of 100000000 bytes/);
});

// --- checkpoints ------------------------------------------------------------------------

Deno.test("checkpoints: flipped bytes and another configuration are refused, then recomputed", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/stage.ckpt`;
  const config = { lr: 1e-3, seed: 0 };
  await saveCheckpoint(path, { w: T.tensor([1, 2, 3, 4]), done: true }, { config });
  const ok = await loadCheckpoint<{ w: T.Tensor }>(path, { config });
  assert.deepEqual(Array.from(T.toArraySync(ok.w)), [1, 2, 3, 4]);

  await assert.rejects(
    () => loadCheckpoint(path, { config: { ...config, seed: 1 } }),
    (e: Error) =>
      e instanceof CheckpointError && e.kind === "foreign" &&
      /another configuration/.test(e.message),
  );
  const bytes = await Deno.readFile(path);
  bytes[bytes.length - 3] ^= 0x01; // in the last float's bytes
  await Deno.writeFile(path, bytes);
  await assert.rejects(
    () => loadCheckpoint(path),
    (e: Error) =>
      e instanceof CheckpointError && e.kind === "damaged" &&
      /does not match its checksum/.test(e.message),
  );
  // The pipeline's reader reports it and treats it as missing.
  const warnings: string[] = [];
  assert.equal(await loadCheckpointOrNull(path, (w) => warnings.push(w)), null);
  assert.match(warnings[0], /stage\.ckpt: its data does not match its checksum .*; recomputing it/);
  assert.equal(await loadCheckpointOrNull(`${dir}/absent.ckpt`, (w) => warnings.push(w)), null);
  assert.equal(warnings.length, 1); // a missing file is not a warning
  // Damaged metadata: a CheckpointError, not a SyntaxError.
  const st = serializeSafetensors(new Map(), {
    format: "tessella-checkpoint-1",
    treedef: "{",
    leaves: "[]",
  });
  await Deno.writeFile(path, st);
  await assert.rejects(
    () => loadCheckpoint(path),
    (e: Error) => e instanceof CheckpointError && /its tree cannot be rebuilt/.test(e.message),
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("state dicts: a huge zeros() names the allocation instead of an engine RangeError", () => {
  assert.throws(
    () => T.zeros([100_000, 100_000]),
    /Cannot allocate 10,000,000,000 float32 elements \(37\.3 GiB\)/,
  );
});

// --- fuzzing ----------------------------------------------------------------------------

/** Mutations of a valid file: byte flips, truncation, insertion. */
const mutation = (length: number) =>
  fc.oneof(
    fc.record({
      kind: fc.constant("flip" as const),
      at: fc.array(fc.nat({ max: length - 1 }), { minLength: 1, maxLength: 8 }),
      xor: fc.integer({ min: 1, max: 255 }),
    }),
    fc.record({ kind: fc.constant("cut" as const), at: fc.nat({ max: length - 1 }) }),
    fc.record({
      kind: fc.constant("insert" as const),
      at: fc.nat({ max: length - 1 }),
      bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
    }),
  );

function mutate(
  bytes: Uint8Array,
  m: { kind: "flip"; at: number[]; xor: number } | { kind: "cut"; at: number } | {
    kind: "insert";
    at: number;
    bytes: Uint8Array;
  },
): Uint8Array {
  if (m.kind === "cut") return bytes.slice(0, m.at);
  if (m.kind === "insert") {
    const out = new Uint8Array(bytes.length + m.bytes.length);
    out.set(bytes.subarray(0, m.at));
    out.set(m.bytes, m.at);
    out.set(bytes.subarray(m.at), m.at + m.bytes.length);
    return out;
  }
  const out = bytes.slice();
  for (const i of m.at) out[i] ^= m.xor;
  return out;
}

/** Every tensor of `got` equals the reference's (a mutation may leave the file valid). */
function sameRecords(
  got: Map<string, { data: Uint8Array }>,
  want: Map<string, { data: Uint8Array }>,
) {
  return [...got].every(([k, v]) => {
    const w = want.get(k);
    return w !== undefined && w.data.length === v.data.length &&
      w.data.every((b, i) => b === v.data[i]);
  });
}

Deno.test("fuzz: mutated .pth files load the right values or throw a PthError", async () => {
  const good = await Deno.readFile(fixture("interop/tiny_state.pth"));
  const want = await readPth(good, "good.pth");
  await fc.assert(
    fc.asyncProperty(mutation(good.length), async (m) => {
      const bytes = mutate(good, m);
      const t0 = performance.now();
      try {
        const got = await readPth(bytes, "fuzz.pth");
        // The CRC-32 makes a silent change of a value (nearly) impossible.
        assert.ok(sameRecords(got, want), "a mutated file loaded different values");
      } catch (error) {
        assert.ok(
          error instanceof PthError,
          `${(error as Error).name}: ${(error as Error).message}`,
        );
      }
      assert.ok(performance.now() - t0 < 2000);
    }),
    { numRuns: 300, seed: 16 },
  );
});

Deno.test("fuzz: mutated pickles (CRC fixed) throw a PthError or give a state dict", async () => {
  const good = await Deno.readFile(fixture("interop/tiny_state.pth"));
  const pkl = listZipEntries(good).find((e) => e.name.endsWith("data.pkl"))!;
  await fc.assert(
    fc.asyncProperty(mutation(pkl.size), async (m) => {
      const bytes = rezip(good, (name, data) => name === pkl.name ? mutate(data, m) : data);
      try {
        await readPth(bytes, "fuzz.pth");
      } catch (error) {
        assert.ok(
          error instanceof PthError,
          `${(error as Error).name}: ${(error as Error).message}`,
        );
      }
    }),
    { numRuns: 300, seed: 17 },
  );
});

Deno.test("fuzz: mutated safetensors files load the right values or throw a SafetensorsError", async () => {
  const good = await Deno.readFile(fixture("interop/tiny_state.safetensors"));
  const want = parseSafetensors(good).tensors;
  await fc.assert(
    fc.property(mutation(good.length), (m) => {
      try {
        const got = parseSafetensors(mutate(good, m), "fuzz.safetensors").tensors;
        // A flip inside the data section changes a value without any header claim failing:
        // safetensors has no checksum, so only the header's claims are checked.
        if (m.kind !== "flip") assert.ok(got.size <= want.size);
      } catch (error) {
        assert.ok(
          error instanceof SafetensorsError,
          `${(error as Error).name}: ${(error as Error).message}`,
        );
      }
    }),
    { numRuns: 500, seed: 18 },
  );
});

Deno.test("fuzz: mutated checkpoints load the saved tree or throw a CheckpointError", async () => {
  const dir = await Deno.makeTempDir();
  const path = `${dir}/c.ckpt`;
  await saveCheckpoint(path, { w: T.tensor([1, 2, 3]), step: 3, name: "x" });
  const good = await Deno.readFile(path);
  await fc.assert(
    fc.asyncProperty(mutation(good.length), async (m) => {
      await Deno.writeFile(path, mutate(good, m));
      try {
        const tree = await loadCheckpoint<{ w: T.Tensor; step: number }>(path);
        assert.deepEqual(Array.from(T.toArraySync(tree.w)), [1, 2, 3]);
      } catch (error) {
        assert.ok(
          error instanceof CheckpointError,
          `${(error as Error).name}: ${(error as Error).message}`,
        );
      }
    }),
    { numRuns: 200, seed: 19 },
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("readRawStateDict: a file that is neither format says so", async () => {
  const dir = await Deno.makeTempDir();
  await Deno.writeTextFile(`${dir}/x.bin`, "hello");
  await assert.rejects(() => readRawStateDict(`${dir}/x.bin`), SafetensorsError);
  await assert.rejects(
    () => loadStateDict(`${dir}/x.bin`),
    /Cannot read safetensors file .*x\.bin/,
  );
  await Deno.remove(dir, { recursive: true });
});
