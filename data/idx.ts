// The IDX format of MNIST-style data sets (LeCun et al.): a 4-byte magic number
// (two zero bytes, a type code, the number of dimensions), one big-endian u32 size per
// dimension, then the raw values. Only unsigned bytes (type 0x08) are used here.
// Files usually come gzip'd; Deno's DecompressionStream reads them.

import { inflateBounded } from "./inflate.ts";
import { ioLimits } from "./limits.ts";

/** An IDX array of unsigned bytes. */
export interface IdxArray {
  /** Sizes per axis. */
  dims: number[];
  /** The elements, row-major. */
  data: Uint8Array;
}

/** Why a file is not a valid IDX array. */
export class IdxError extends Error {
  /** Makes the error for the file at `path`, saying what is wrong. */
  constructor(path: string, reason: string) {
    super(`Cannot read IDX file ${path}: ${reason}`);
    this.name = "IdxError";
  }
}

/**
 * Parses an (uncompressed) IDX file of unsigned bytes, checking the magic number and that
 * the sizes match the file length.
 *
 * @param bytes the file
 * @param path for error messages
 * @returns dimensions and values
 */
export function parseIdx(bytes: Uint8Array, path = "<memory>"): IdxArray {
  if (bytes.byteLength < 4) throw new IdxError(path, `file is only ${bytes.byteLength} bytes`);
  if (bytes[0] !== 0 || bytes[1] !== 0) {
    throw new IdxError(path, "bad magic number (not an IDX file)");
  }
  if (bytes[2] !== 0x08) {
    throw new IdxError(
      path,
      `unsupported element type 0x${bytes[2].toString(16)} (expected unsigned bytes, 0x08)`,
    );
  }
  const rank = bytes[3];
  const header = 4 + 4 * rank;
  if (bytes.byteLength < header) {
    throw new IdxError(path, "file ends inside the header (truncated)");
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const dims = Array.from({ length: rank }, (_, i) => view.getUint32(4 + 4 * i, false));
  const size = dims.reduce((a, b) => a * b, 1);
  if (bytes.byteLength - header !== size) {
    throw new IdxError(
      path,
      `header promises ${size} values (${dims.join("×")}) but the file holds ${
        bytes.byteLength - header
      } (truncated or corrupt)`,
    );
  }
  return { dims, data: bytes.subarray(header) };
}

/** Writes an IDX file of unsigned bytes (uncompressed). */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  const out = new Uint8Array(4 + 4 * dims.length + data.byteLength);
  out.set([0, 0, 0x08, dims.length]);
  const view = new DataView(out.buffer);
  dims.forEach((d, i) => view.setUint32(4 + 4 * i, d, false));
  out.set(data, 4 + 4 * dims.length);
  return out;
}

async function pipe(
  bytes: Uint8Array,
  stream: CompressionStream | DecompressionStream,
): Promise<Uint8Array> {
  const out = new Blob([bytes.slice()]).stream().pipeThrough(stream);
  return new Uint8Array(await new Response(out).arrayBuffer());
}

/**
 * Inflates gzip data, stopping at the byte limit of `setIoLimits` (a decompression bomb
 * is never allocated).
 *
 * @param bytes the gzip stream
 * @param path for error messages
 * @returns the inflated bytes
 */
export function gunzip(bytes: Uint8Array, path = "<memory>"): Promise<Uint8Array> {
  return inflateBounded(
    bytes,
    "gzip",
    ioLimits().maxBytes,
    (reason) => new IdxError(path, `the gzip stream ${reason}`),
  );
}

/** Compresses data with gzip. */
export function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  return pipe(bytes, new CompressionStream("gzip"));
}

/** Whether bytes start with gzip's magic number. */
export function isGzip(bytes: Uint8Array): boolean {
  return bytes.byteLength >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b;
}
