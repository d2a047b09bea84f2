// safetensors: a tiny, safe tensor file format (huggingface/safetensors).
//
//   [u64 little-endian N][N bytes of JSON header][data]
//   header: { name: { dtype, shape, data_offsets: [begin, end] }, "__metadata__": {...} }
//
// Offsets are relative to the start of the data section. We check every claim the
// header makes (sizes, bounds, overlaps) before reading a byte of data, so a corrupt or
// lying file gives one clear error and no partial result.

/** A decoded tensor record: host data, shape and its safetensors dtype. */
export interface RawTensor {
  /** The safetensors dtype code (F32, I64, BOOL, …). */
  dtype: string;
  /** Sizes per axis. */
  shape: number[];
  /** The raw little-endian bytes. */
  data: Uint8Array;
}

/** Bytes per element of each safetensors dtype we read or write. */
export const SAFETENSORS_DTYPE_BYTES: Readonly<Record<string, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** The largest header the safetensors library accepts (100 MB). */
const MAX_HEADER_BYTES = 100_000_000;

/** Why a file is not valid safetensors. */
export class SafetensorsError extends Error {
  /** Makes the error for the file at `path`, saying what is wrong. */
  constructor(path: string, reason: string) {
    super(`Cannot read safetensors file ${path}: ${reason}`);
    this.name = "SafetensorsError";
  }
}

/**
 * Parses a safetensors file's bytes into records in data order, after validating the
 * whole header.
 *
 * @param bytes the file
 * @param path for error messages
 * @returns tensors by name (in order of their data) and the metadata
 */
export function parseSafetensors(
  bytes: Uint8Array,
  path = "<memory>",
): { tensors: Map<string, RawTensor>; metadata: Record<string, string> } {
  if (bytes.byteLength < 8) {
    throw new SafetensorsError(
      path,
      `file is ${bytes.byteLength} bytes, shorter than the 8-byte header length`,
    );
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES) {
    throw new SafetensorsError(
      path,
      `header length ${headerLength} is over the format's limit of ${MAX_HEADER_BYTES} bytes (not safetensors, or hostile)`,
    );
  }
  if (headerLength > bytes.byteLength - 8) {
    throw new SafetensorsError(
      path,
      `header length ${headerLength} exceeds the file size (${bytes.byteLength} bytes): the file is truncated or not safetensors`,
    );
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(
      new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(8, 8 + headerLength)),
    );
  } catch (error) {
    throw new SafetensorsError(path, `header is not valid JSON (${(error as Error).message})`);
  }
  if (header === null || typeof header !== "object" || Array.isArray(header)) {
    throw new SafetensorsError(path, "header is not a JSON object");
  }
  const dataStart = 8 + headerLength;
  const dataLength = bytes.byteLength - dataStart;
  const metadata = (header.__metadata__ ?? {}) as Record<string, string>;
  const entries: [string, { dtype: string; shape: number[]; begin: number; end: number }][] = [];
  for (const [name, value] of Object.entries(header)) {
    if (name === "__metadata__") continue;
    const v = value as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    const size = SAFETENSORS_DTYPE_BYTES[String(v?.dtype)];
    if (size === undefined) {
      throw new SafetensorsError(
        path,
        `tensor "${name}" has unsupported dtype ${JSON.stringify(v?.dtype)}`,
      );
    }
    if (!Array.isArray(v.shape) || !v.shape.every((d) => Number.isInteger(d) && d >= 0)) {
      throw new SafetensorsError(
        path,
        `tensor "${name}" has an invalid shape ${JSON.stringify(v.shape)}`,
      );
    }
    const offsets = v.data_offsets;
    if (
      !Array.isArray(offsets) || offsets.length !== 2 ||
      !offsets.every((o) => Number.isInteger(o) && o >= 0)
    ) {
      throw new SafetensorsError(
        path,
        `tensor "${name}" has invalid data_offsets ${JSON.stringify(offsets)}`,
      );
    }
    const [begin, end] = offsets as number[];
    const expected = (v.shape as number[]).reduce((a, b) => a * b, 1) * size;
    if (end < begin || end - begin !== expected) {
      throw new SafetensorsError(
        path,
        `tensor "${name}" claims ${end - begin} bytes but ${v.dtype} ${
          JSON.stringify(v.shape)
        } needs ${expected}`,
      );
    }
    if (end > dataLength) {
      throw new SafetensorsError(
        path,
        `tensor "${name}" ends at byte ${end} of a ${dataLength}-byte data section: the file is truncated or its header lies`,
      );
    }
    entries.push([name, { dtype: String(v.dtype), shape: v.shape as number[], begin, end }]);
  }
  // As the safetensors library requires: sorted by offset, the entries tile the data
  // section exactly — no overlap (zero-length entries cannot hide one), no gap, no tail.
  entries.sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let covered = 0;
  let previous = "the start of the data section";
  for (const [name, e] of entries) {
    if (e.begin < covered) {
      throw new SafetensorsError(
        path,
        `tensors ${previous} and "${name}" overlap in the data section (bytes ${e.begin}–${covered})`,
      );
    }
    if (e.begin > covered) {
      throw new SafetensorsError(
        path,
        `the data section has ${
          e.begin - covered
        } unclaimed bytes before tensor "${name}" (damaged or hand-edited header)`,
      );
    }
    covered = e.end;
    if (e.end > e.begin) previous = `"${name}"`;
  }
  if (covered !== dataLength) {
    throw new SafetensorsError(
      path,
      `the header accounts for ${covered} bytes of a ${dataLength}-byte data section (damaged, or trailing bytes)`,
    );
  }
  const tensors = new Map<string, RawTensor>();
  for (const [name, e] of entries) {
    tensors.set(name, {
      dtype: e.dtype,
      shape: e.shape,
      data: bytes.slice(dataStart + e.begin, dataStart + e.end),
    });
  }
  return { tensors, metadata };
}

/**
 * Serialises records to safetensors bytes, in the given order, with the header padded
 * by spaces to a multiple of 8 bytes.
 *
 * @param tensors records by name
 * @param metadata string metadata
 * @returns the file's bytes
 */
export function serializeSafetensors(
  tensors: ReadonlyMap<string, RawTensor>,
  metadata: Record<string, string> = {},
): Uint8Array {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length > 0) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    header[name] = {
      dtype: t.dtype,
      shape: t.shape,
      data_offsets: [offset, offset + t.data.byteLength],
    };
    offset += t.data.byteLength;
  }
  let json = JSON.stringify(header);
  const encoder = new TextEncoder();
  while (encoder.encode(json).byteLength % 8 !== 0) json += " ";
  const headerBytes = encoder.encode(json);
  const out = new Uint8Array(8 + headerBytes.byteLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerBytes.byteLength), true);
  out.set(headerBytes, 8);
  let at = 8 + headerBytes.byteLength;
  for (const t of tensors.values()) {
    out.set(t.data, at);
    at += t.data.byteLength;
  }
  return out;
}
