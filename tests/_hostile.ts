// Helpers for the damaged- and hostile-file tests: rebuilding a ZIP archive after editing
// its members (so that the CRC-32 and sizes are right again and the damage reaches the
// parser behind the container), and writing small pickles opcode by opcode.

import { crc32, listZipEntries, type ZipEntry } from "../nn/io/zip.ts";
import { zipStored } from "../nn/io/pth_write.ts";

/** The stored bytes of an entry, without any check. */
export function storedBytes(bytes: Uint8Array, entry: ZipEntry): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = entry.localHeaderOffset;
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  return bytes.subarray(start, start + entry.compressedSize);
}

/** Re-zips a stored archive after `edit` (which may return a new member body). */
export function rezip(
  bytes: Uint8Array,
  edit: (name: string, data: Uint8Array) => Uint8Array,
): Uint8Array {
  return zipStored(
    listZipEntries(bytes).map((e) => [e.name, edit(e.name, storedBytes(bytes, e).slice())]),
  );
}

/** A .pth archive holding `pickle` as its data.pkl and the given storages. */
export function pthWith(pickle: Uint8Array, storages: Record<string, Uint8Array> = {}): Uint8Array {
  return zipStored([
    ["archive/data.pkl", pickle],
    ...Object.entries(storages).map(([k, v]) => [`archive/data/${k}`, v] as [string, Uint8Array]),
    ["archive/version", new TextEncoder().encode("3\n")],
  ]);
}

/** A tiny pickle assembler: strings are SHORT_BINUNICODE, numbers BININT, arrays of opcodes. */
export class Pickle {
  #bytes: number[] = [0x80, 2];
  /** Raw opcodes and bytes. */
  op(...bytes: number[]): this {
    this.#bytes.push(...bytes);
    return this;
  }
  /** A string (SHORT_BINUNICODE). */
  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.op(0x8c, b.length, ...b);
  }
  /** A signed 32-bit integer (BININT). */
  int(n: number): this {
    const b = new Uint8Array(4);
    new DataView(b.buffer).setInt32(0, n, true);
    return this.op(0x4a, ...b);
  }
  /** A global (GLOBAL "module\nname\n"). */
  global(module: string, name: string): this {
    return this.op(0x63, ...new TextEncoder().encode(`${module}\n${name}\n`));
  }
  /** MARK. */
  mark(): this {
    return this.op(0x28);
  }
  /** TUPLE (from the last MARK). */
  tuple(): this {
    return this.op(0x74);
  }
  /** NONE. */
  none(): this {
    return this.op(0x4e);
  }
  /** REDUCE. */
  reduce(): this {
    return this.op(0x52);
  }
  /** BINPERSID. */
  persid(): this {
    return this.op(0x51);
  }
  /** `{}` then SETITEM-ready. */
  dict(): this {
    return this.op(0x7d);
  }
  /** SETITEM. */
  setitem(): this {
    return this.op(0x73);
  }
  /** STOP, and the bytes. */
  done(): Uint8Array {
    return Uint8Array.from([...this.#bytes, 0x2e]);
  }
}

/**
 * A pickle of `{name: tensor}` where the tensor is `_rebuild_tensor_v2(storage, offset,
 * size, stride)`, storage ('storage', FloatStorage, "0", "cpu", numel); `size`/`stride`
 * may be anything the assembler can write (numbers, null, nested arrays as tuples).
 */
export function tensorPickle(
  name: string,
  args: { offset: unknown; size: unknown; stride: unknown; numel?: number },
): Uint8Array {
  const p = new Pickle().dict().str(name);
  p.global("torch._utils", "_rebuild_tensor_v2").mark();
  p.mark().str("storage").global("torch", "FloatStorage").str("0").str("cpu").int(
    args.numel ?? 4,
  ).tuple().persid();
  const value = (v: unknown): void => {
    if (v === null || v === undefined) p.none();
    else if (typeof v === "number") p.int(v);
    else if (typeof v === "string") p.str(v);
    else if (Array.isArray(v)) {
      p.mark();
      v.forEach(value);
      p.tuple();
    }
  };
  value(args.offset);
  value(args.size);
  value(args.stride);
  p.op(0x89).global("collections", "OrderedDict").op(0x29).reduce(); // requires_grad, hooks
  p.tuple().reduce().setitem();
  return p.done();
}

/**
 * A ZIP archive whose members are deflated, with the sizes and CRC-32 the caller gives
 * (defaults: the true ones), so that tests can make archives that lie.
 */
export async function zipDeflated(
  entries: { name: string; data: Uint8Array; size?: number; crc?: number; raw?: Uint8Array }[],
): Promise<Uint8Array> {
  const encoder = new TextEncoder();
  const locals: Uint8Array[] = [];
  const centrals: Uint8Array[] = [];
  let offset = 0;
  for (const e of entries) {
    const body = e.raw ?? await deflateRaw(e.data);
    const name = encoder.encode(e.name);
    const crc = e.crc ?? crc32(e.data);
    const size = e.size ?? e.data.byteLength;
    const local = new Uint8Array(30 + name.length + body.length);
    const lv = new DataView(local.buffer);
    lv.setUint32(0, 0x04034b50, true);
    lv.setUint16(4, 20, true);
    lv.setUint16(8, 8, true);
    lv.setUint32(14, crc, true);
    lv.setUint32(18, body.length, true);
    lv.setUint32(22, size, true);
    lv.setUint16(26, name.length, true);
    local.set(name, 30);
    local.set(body, 30 + name.length);
    const central = new Uint8Array(46 + name.length);
    const cv = new DataView(central.buffer);
    cv.setUint32(0, 0x02014b50, true);
    cv.setUint16(4, 20, true);
    cv.setUint16(6, 20, true);
    cv.setUint16(10, 8, true);
    cv.setUint32(16, crc, true);
    cv.setUint32(20, body.length, true);
    cv.setUint32(24, size, true);
    cv.setUint16(28, name.length, true);
    cv.setUint32(42, offset, true);
    central.set(name, 46);
    locals.push(local);
    centrals.push(central);
    offset += local.length;
  }
  const dirSize = centrals.reduce((n, c) => n + c.length, 0);
  const eocd = new Uint8Array(22);
  const ev = new DataView(eocd.buffer);
  ev.setUint32(0, 0x06054b50, true);
  ev.setUint16(8, entries.length, true);
  ev.setUint16(10, entries.length, true);
  ev.setUint32(12, dirSize, true);
  ev.setUint32(16, offset, true);
  const parts = [...locals, ...centrals, eocd];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Raw deflate (no header) of `data`. */
export async function deflateRaw(data: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([data.slice()]).stream().pipeThrough(
    new CompressionStream("deflate-raw"),
  );
  return new Uint8Array(await new Response(stream).arrayBuffer());
}
