// A minimal ZIP reader: enough for the archives `torch.save` writes (stored entries,
// optionally zip64), plus deflated entries through the runtime's DecompressionStream.
// Every member's CRC-32 is checked, and inflation stops at the member's declared size
// (and at the byte limit of data/limits.ts): a damaged or lying archive gives a ZipError.
//
// Layout read: the End Of Central Directory record at the end of the file points at the
// central directory; each of its entries gives a name, sizes, a compression method and
// the offset of a local header, after which the entry's bytes begin.

import { formatBytes, ioLimits } from "../../data/limits.ts";
import { inflateBounded } from "../../data/inflate.ts";

/** One archive member. */
export interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
  /** The CRC-32 of the uncompressed bytes, from the central directory. */
  crc: number;
}

/** Why a file is not a readable ZIP archive. */
export class ZipError extends Error {
  /** Makes the error, saying what is wrong. */
  constructor(reason: string) {
    super(reason);
    this.name = "ZipError";
  }
}

/** Lists the entries of a ZIP archive from its central directory. */
export function listZipEntries(bytes: Uint8Array): ZipEntry[] {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let eocd = -1;
  for (let i = bytes.byteLength - 22; i >= Math.max(0, bytes.byteLength - 22 - 65535); i--) {
    if (view.getUint32(i, true) === 0x06054b50) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) {
    throw new ZipError("no end-of-central-directory record (truncated or not a zip archive)");
  }
  let count = view.getUint16(eocd + 10, true);
  let dirOffset = view.getUint32(eocd + 16, true);
  // zip64: the locator sits right before the EOCD record.
  if (
    (dirOffset === 0xffffffff || count === 0xffff) && eocd >= 20 &&
    view.getUint32(eocd - 20, true) === 0x07064b50
  ) {
    const record = Number(view.getBigUint64(eocd - 12, true));
    if (record + 56 > bytes.byteLength || view.getUint32(record, true) !== 0x06064b50) {
      throw new ZipError("damaged zip64 end-of-central-directory record");
    }
    count = Number(view.getBigUint64(record + 32, true));
    dirOffset = Number(view.getBigUint64(record + 48, true));
  }
  const entries: ZipEntry[] = [];
  let at = dirOffset;
  for (let i = 0; i < count; i++) {
    if (at + 46 > bytes.byteLength || view.getUint32(at, true) !== 0x02014b50) {
      throw new ZipError(`damaged central directory at byte ${at}`);
    }
    const method = view.getUint16(at + 10, true);
    const crc = view.getUint32(at + 16, true);
    let compressedSize = view.getUint32(at + 20, true);
    let size = view.getUint32(at + 24, true);
    const nameLength = view.getUint16(at + 28, true);
    const extraLength = view.getUint16(at + 30, true);
    const commentLength = view.getUint16(at + 32, true);
    let localHeaderOffset = view.getUint32(at + 42, true);
    const name = new TextDecoder().decode(bytes.subarray(at + 46, at + 46 + nameLength));
    // zip64 extra field (id 1): 64-bit values for the fields that overflowed, in order.
    let extra = at + 46 + nameLength;
    const extraEnd = extra + extraLength;
    while (extra + 4 <= extraEnd) {
      const id = view.getUint16(extra, true);
      const length = view.getUint16(extra + 2, true);
      if (id === 1) {
        let field = extra + 4;
        const next = () => {
          const v = Number(view.getBigUint64(field, true));
          field += 8;
          return v;
        };
        if (size === 0xffffffff) size = next();
        if (compressedSize === 0xffffffff) compressedSize = next();
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = next();
      }
      extra += 4 + length;
    }
    entries.push({ name, method, compressedSize, size, localHeaderOffset, crc });
    at = extraEnd + commentLength;
  }
  return entries;
}

/**
 * The bytes of one entry (inflating deflated entries), checked against the entry's size
 * and CRC-32.
 */
export async function readZipEntry(bytes: Uint8Array, entry: ZipEntry): Promise<Uint8Array> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const at = entry.localHeaderOffset;
  if (at + 30 > bytes.byteLength || view.getUint32(at, true) !== 0x04034b50) {
    throw new ZipError(`damaged local header for ${entry.name}`);
  }
  const start = at + 30 + view.getUint16(at + 26, true) + view.getUint16(at + 28, true);
  const end = start + entry.compressedSize;
  if (end > bytes.byteLength) {
    throw new ZipError(`entry ${entry.name} runs past the end of the file (truncated)`);
  }
  const limit = ioLimits().maxBytes;
  if (entry.size > limit) {
    throw new ZipError(
      `entry ${entry.name} declares ${formatBytes(entry.size)}, more than the limit of ${
        formatBytes(limit)
      } (setIoLimits({ maxBytes }) raises it)`,
    );
  }
  const raw = bytes.subarray(start, end);
  let data: Uint8Array;
  if (entry.method === 0) {
    if (entry.compressedSize !== entry.size) {
      throw new ZipError(
        `stored entry ${entry.name} holds ${entry.compressedSize} bytes but declares ${entry.size}`,
      );
    }
    data = raw;
  } else if (entry.method === 8) {
    data = await inflateRaw(raw, entry.size, entry.name);
  } else {
    throw new ZipError(`entry ${entry.name} uses unsupported compression method ${entry.method}`);
  }
  const actual = crc32(data);
  if (actual !== entry.crc) {
    throw new ZipError(
      `entry ${entry.name} is damaged: CRC-32 ${hex(actual)} where the archive records ${
        hex(entry.crc)
      }`,
    );
  }
  return data;
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, "0")}`;
}

/**
 * Inflates a raw deflate stream of exactly `size` bytes, reading chunk by chunk and
 * stopping as soon as the output would pass `size` (a deflate bomb never gets allocated).
 */
export async function inflateRaw(raw: Uint8Array, size: number, name: string): Promise<Uint8Array> {
  return await inflateBounded(
    raw,
    "deflate-raw",
    size,
    (reason) => new ZipError(`entry ${name} ${reason}`),
  );
}

/**
 * CRC-32 (IEEE 802.3, the ZIP checksum). Pass the CRC of the bytes before these as `crc`
 * to checksum a sequence of chunks without joining them.
 */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let table = crcTable;
  if (table === undefined) {
    table = crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      table[n] = c >>> 0;
    }
  }
  let c = (crc ^ 0xffffffff) >>> 0;
  for (let i = 0; i < bytes.length; i++) c = table[(c ^ bytes[i]) & 255] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}
let crcTable: Uint32Array | undefined;
