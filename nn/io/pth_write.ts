// Writing PyTorch `.pth` files without Python: the ZIP container `torch.save` writes
// (stored entries `<name>/data.pkl`, `<name>/data/<storage key>`, `<name>/version`, each
// entry's data aligned to 64 bytes as PyTorch aligns it) holding a protocol-2 pickle.
//
// The pickle is a small program for Python's unpickler: dicts are built with EMPTY_DICT
// and SETITEMS; a state dict is a `collections.OrderedDict` (built by calling the class
// with no arguments, then SETITEMS); a tensor is a call of
// `torch._utils._rebuild_tensor_v2(storage, offset, size, stride, requires_grad, hooks)`
// whose storage comes through a persistent id `("storage", torch.FloatStorage, key,
// "cpu", numel)` that `torch.load` resolves to the archive's `data/<key>` entry.

import type { RawTensor } from "./safetensors.ts";
import { crc32 } from "./zip.ts";

export { crc32 };

/** A value `encodePth` can write: what a checkpoint holds. */
export type PthValue =
  | null
  | boolean
  | number
  | string
  | PthTensor
  | PthValue[]
  | PthStateDict
  | { [key: string]: PthValue };

/** A tensor to write: contiguous little-endian bytes with a safetensors dtype code. */
export interface PthTensor {
  /** Marks the object as a tensor. */
  kind: "pth-tensor";
  /** The tensor's dtype, shape and bytes. */
  raw: RawTensor;
}

/** A state dict (`collections.OrderedDict` of tensors, in the given order). */
export class PthStateDict {
  /** Wraps name → tensor entries, written in this order. */
  constructor(readonly entries: ReadonlyMap<string, RawTensor>) {}
}

/** The tensor value for a raw tensor record. */
export function pthTensor(raw: RawTensor): PthTensor {
  return { kind: "pth-tensor", raw };
}

/** PyTorch's storage class and element size for each dtype we write. */
const STORAGES: Record<string, [string, number]> = {
  F32: ["FloatStorage", 4],
  F64: ["DoubleStorage", 8],
  F16: ["HalfStorage", 2],
  I64: ["LongStorage", 8],
  I32: ["IntStorage", 4],
  I16: ["ShortStorage", 2],
  I8: ["CharStorage", 1],
  U8: ["ByteStorage", 1],
  BOOL: ["BoolStorage", 1],
};

/** The protocol-2 opcodes we emit. */
const OP = {
  PROTO: 0x80,
  EMPTY_DICT: 0x7d, // }
  EMPTY_TUPLE: 0x29, // )
  EMPTY_LIST: 0x5d, // ]
  MARK: 0x28, // (
  SETITEMS: 0x75, // u
  APPENDS: 0x65, // e
  TUPLE: 0x74, // t
  BINUNICODE: 0x58, // X
  BININT: 0x4a, // J
  LONG1: 0x8a,
  BINFLOAT: 0x47, // G
  NONE: 0x4e, // N
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  GLOBAL: 0x63, // c
  REDUCE: 0x52, // R
  BINPERSID: 0x51, // Q
  STOP: 0x2e, // .
} as const;

/** Builds the pickle bytes, collecting the storages it refers to. */
class PickleWriter {
  #bytes: number[] = [];
  readonly storages: [string, Uint8Array][] = [];
  readonly #encoder = new TextEncoder();

  op(code: number): void {
    this.#bytes.push(code);
  }

  string(s: string): void {
    const utf8 = this.#encoder.encode(s);
    this.op(OP.BINUNICODE);
    this.uint32(utf8.length);
    for (const b of utf8) this.#bytes.push(b);
  }

  uint32(n: number): void {
    this.#bytes.push(n & 255, (n >>> 8) & 255, (n >>> 16) & 255, (n >>> 24) & 255);
  }

  int(n: number): void {
    if (n >= -(2 ** 31) && n < 2 ** 31) {
      this.op(OP.BININT);
      this.uint32(n >>> 0);
      return;
    }
    // LONG1: little-endian two's complement in as few bytes as it takes.
    let v = BigInt(n);
    const bytes: number[] = [];
    while (true) {
      const byte = Number(v & 255n);
      bytes.push(byte);
      v >>= 8n;
      if ((v === 0n && byte < 128) || (v === -1n && byte >= 128)) break;
    }
    this.op(OP.LONG1);
    this.#bytes.push(bytes.length, ...bytes);
  }

  float(x: number): void {
    this.op(OP.BINFLOAT);
    const b = new Uint8Array(8);
    new DataView(b.buffer).setFloat64(0, x, false); // big-endian, as pickle stores it
    this.#bytes.push(...b);
  }

  global(module: string, name: string): void {
    this.op(OP.GLOBAL);
    for (const b of this.#encoder.encode(`${module}\n${name}\n`)) this.#bytes.push(b);
  }

  tuple(items: (() => void)[]): void {
    if (items.length === 0) return this.op(OP.EMPTY_TUPLE);
    this.op(OP.MARK);
    items.forEach((f) => f());
    this.op(OP.TUPLE);
  }

  /** `collections.OrderedDict()`. */
  orderedDict(): void {
    this.global("collections", "OrderedDict");
    this.op(OP.EMPTY_TUPLE);
    this.op(OP.REDUCE);
  }

  tensor(raw: RawTensor): void {
    const storage = STORAGES[raw.dtype];
    if (storage === undefined) throw new Error(`Cannot write a ${raw.dtype} tensor to .pth`);
    const [cls, size] = storage;
    const numel = raw.data.byteLength / size;
    const key = String(this.storages.length);
    this.storages.push([key, raw.data]);
    const strides = raw.shape.map((_, i) => raw.shape.slice(i + 1).reduce((a, b) => a * b, 1));
    this.global("torch._utils", "_rebuild_tensor_v2");
    this.tuple([
      () => {
        this.tuple([
          () => this.string("storage"),
          () => this.global("torch", cls),
          () => this.string(key),
          () => this.string("cpu"),
          () => this.int(numel),
        ]);
        this.op(OP.BINPERSID);
      },
      () => this.int(0),
      () => this.tuple(raw.shape.map((d) => () => this.int(d))),
      () => this.tuple(strides.map((s) => () => this.int(s))),
      () => this.op(OP.NEWFALSE),
      () => this.orderedDict(),
    ]);
    this.op(OP.REDUCE);
  }

  value(v: PthValue): void {
    if (v === null) return this.op(OP.NONE);
    if (typeof v === "boolean") return this.op(v ? OP.NEWTRUE : OP.NEWFALSE);
    if (typeof v === "number") return Number.isInteger(v) ? this.int(v) : this.float(v);
    if (typeof v === "string") return this.string(v);
    if (Array.isArray(v)) {
      this.op(OP.EMPTY_LIST);
      if (v.length === 0) return;
      this.op(OP.MARK);
      v.forEach((x) => this.value(x));
      return this.op(OP.APPENDS);
    }
    if (v instanceof PthStateDict) {
      this.orderedDict();
      return this.items([...v.entries].map(([k, raw]) => [k, () => this.tensor(raw)]));
    }
    if ((v as PthTensor).kind === "pth-tensor") return this.tensor((v as PthTensor).raw);
    this.op(OP.EMPTY_DICT);
    const dict = v as { [key: string]: PthValue };
    this.items(Object.keys(dict).map((k) => [k, () => this.value(dict[k])]));
  }

  items(pairs: [string, () => void][]): void {
    if (pairs.length === 0) return;
    this.op(OP.MARK);
    for (const [k, write] of pairs) {
      this.string(k);
      write();
    }
    this.op(OP.SETITEMS);
  }

  finish(): Uint8Array {
    return Uint8Array.from([OP.PROTO, 2, ...this.#bytes, OP.STOP]);
  }
}

/**
 * A ZIP archive of stored (uncompressed) entries, each entry's data starting at a multiple
 * of 64 bytes (padding goes in the local header's extra field, as PyTorch writes it).
 */
export function zipStored(entries: readonly [string, Uint8Array][]): Uint8Array {
  const encoder = new TextEncoder();
  const parts: Uint8Array[] = [];
  const central: Uint8Array[] = [];
  let offset = 0;
  for (const [name, data] of entries) {
    const nameBytes = encoder.encode(name);
    if (data.byteLength >= 0xffffffff) throw new Error(`Cannot write ${name}: over 4 GiB`);
    const crc = crc32(data);
    const headerSize = 30 + nameBytes.length;
    // An extra field needs at least its 4-byte header.
    let pad = (64 - ((offset + headerSize) % 64)) % 64;
    if (pad > 0 && pad < 4) pad += 64;
    const local = new Uint8Array(headerSize + pad);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true); // local file header
    lv.setUint16(4, 20, true); // version needed
    lv.setUint16(6, 0, true); // flags
    lv.setUint16(8, 0, true); // stored
    lv.setUint32(14, crc, true);
    lv.setUint32(18, data.byteLength, true);
    lv.setUint32(22, data.byteLength, true);
    lv.setUint16(26, nameBytes.length, true);
    lv.setUint16(28, pad, true);
    local.set(nameBytes, 30);
    if (pad > 0) {
      lv.setUint16(headerSize, 0x4246, true); // "FB": PyTorch's padding field
      lv.setUint16(headerSize + 2, pad - 4, true);
    }
    const dir = new Uint8Array(46 + nameBytes.length);
    const dv = new DataView(dir.buffer);
    dv.setUint32(0, 0x02014b50, true); // central directory header
    dv.setUint16(4, 20, true);
    dv.setUint16(6, 20, true);
    dv.setUint32(16, crc, true);
    dv.setUint32(20, data.byteLength, true);
    dv.setUint32(24, data.byteLength, true);
    dv.setUint16(28, nameBytes.length, true);
    dv.setUint32(42, offset, true);
    dir.set(nameBytes, 46);
    parts.push(local, data);
    central.push(dir);
    offset += local.length + data.byteLength;
  }
  const dirSize = central.reduce((n, c) => n + c.length, 0);
  const end = new Uint8Array(22);
  const ev = new DataView(end.buffer);
  ev.setUint32(0, 0x06054b50, true); // end of central directory
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, dirSize, true);
  ev.setUint32(16, offset, true);
  const out = new Uint8Array(offset + dirSize + 22);
  let at = 0;
  for (const p of [...parts, ...central, end]) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/**
 * Encodes a checkpoint as a `.pth` file that `torch.load` reads (PyTorch ≥ 1.6's ZIP
 * format), e.g. `{ model: new PthStateDict(tensors) }` as the official scripts save it.
 *
 * @param value the checkpoint: dicts, lists, numbers, strings, tensors, state dicts
 * @param name the archive's folder name (torch.save uses the file's stem)
 * @returns the file's bytes
 */
export function encodePth(value: PthValue, name = "archive"): Uint8Array {
  const pickle = new PickleWriter();
  pickle.value(value);
  const data = pickle.finish();
  return zipStored([
    [`${name}/data.pkl`, data],
    ...pickle.storages.map(([key, bytes]) =>
      [`${name}/data/${key}`, bytes] as [string, Uint8Array]
    ),
    [`${name}/version`, new TextEncoder().encode("3\n")],
  ]);
}
