// Limits that keep a small or hostile file from claiming unbounded memory: every loader
// checks what a file asks for (tensor sizes, inflated sizes, image pixels) against them
// before allocating. The defaults fit every official BEiT v2 checkpoint and data set;
// raise them with setIoLimits for larger files.

/** The limits every file loader checks before allocating. */
export interface IoLimits {
  /**
   * Most bytes one file may decode to: the tensors of a `.pth` or safetensors file
   * together, one inflated ZIP member, one inflated gzip stream (default 4 GiB).
   */
  maxBytes: number;
  /** Most pixels (width × height) of one decoded image (default 178,956,970, Pillow's limit). */
  maxImagePixels: number;
}

const DEFAULTS: IoLimits = { maxBytes: 2 ** 32, maxImagePixels: 178_956_970 };
let current: IoLimits = { ...DEFAULTS };

/** The limits in force. */
export function ioLimits(): Readonly<IoLimits> {
  return current;
}

/**
 * Changes the limits (a partial update; `setIoLimits({})` keeps them, `setIoLimits(null)`
 * restores the defaults).
 *
 * @param limits the limits to change
 * @returns the limits in force before the call, to restore them later
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { ioLimits, setIoLimits } from "@tessella/tessella/nn";
 * const before = setIoLimits({ maxBytes: 16 * 2 ** 30 }); // 16 GiB checkpoints
 * assert.equal(ioLimits().maxBytes, 16 * 2 ** 30);
 * setIoLimits(before);
 * ```
 */
export function setIoLimits(limits: Partial<IoLimits> | null): IoLimits {
  const before = current;
  const next = limits === null ? { ...DEFAULTS } : { ...current, ...limits };
  for (const [name, value] of Object.entries(next)) {
    if (!(Number.isSafeInteger(value) && value > 0)) {
      throw new Error(
        `Cannot set the I/O limits: ${name} must be a positive integer (got ${value})`,
      );
    }
  }
  current = next;
  return before;
}

/** Formats a byte count for messages (e.g. "4.0 GiB"). */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} bytes`;
  const units = ["KiB", "MiB", "GiB", "TiB", "PiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u++;
  }
  return `${v.toFixed(1)} ${units[u]}`;
}

/** The product of sizes, or Infinity when it is not a safe integer. */
export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    n *= d;
    if (!Number.isSafeInteger(n)) return Infinity;
  }
  return n;
}
