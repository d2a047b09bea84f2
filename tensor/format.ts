// How a tensor prints (`String(t)`, `console.log(t)`): its values in nested brackets, aligned
// and summarised with "..." past a threshold, as PyTorch and NumPy print arrays, then dtype,
// shape and backend. Backends that can only read asynchronously (WebGPU) print how to read.

import type { DType } from "./dtype.ts";
import { fmtShape } from "./shape.ts";
import type { Tensor } from "./tensor.ts";

/** Print settings (the defaults of PyTorch's `set_printoptions`). */
export interface PrintOptions {
  /** Above this many elements, print only `edgeItems` at each end of every axis. */
  threshold: number;
  /** How many elements to print at each end of an axis when summarising. */
  edgeItems: number;
  /** Digits after the point (fixed notation) or of the mantissa (scientific). */
  precision: number;
  /** Wrap a row of numbers before this many characters. */
  lineWidth: number;
}

const options: PrintOptions = { threshold: 1000, edgeItems: 3, precision: 4, lineWidth: 80 };

/**
 * Changes how tensors print, for every tensor from now on.
 *
 * @param changes the settings to change
 * @returns the settings before the change (pass them back to restore)
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { setPrintOptions, tensor } from "@tessella/tessella";
 * const before = setPrintOptions({ precision: 2 });
 * assert.equal(String(tensor([0.123, 1.5])), "Tensor([0.12, 1.50], float32 [2] cpu)");
 * setPrintOptions(before);
 * ```
 */
export function setPrintOptions(changes: Partial<PrintOptions>): PrintOptions {
  const before = { ...options };
  for (const [name, value] of Object.entries(changes)) {
    if (!(name in options)) throw new Error(`Unknown print option "${name}"`);
    if (!Number.isInteger(value) || (value as number) < 0) {
      throw new Error(`Print option ${name} must be a non-negative integer (got ${value})`);
    }
    options[name as keyof PrintOptions] = value as number;
  }
  return before;
}

/** The indices shown along an axis of length n: all, or both ends around a gap (-1). */
function shownIndices(n: number, summarise: boolean): number[] {
  const e = options.edgeItems;
  if (!summarise || n <= 2 * e) return Array.from({ length: n }, (_, i) => i);
  return [
    ...Array.from({ length: e }, (_, i) => i),
    -1,
    ...Array.from({ length: e }, (_, i) => n - e + i),
  ];
}

/** One formatter for all shown values, so that columns line up (as NumPy chooses one). */
function numberFormatter(values: number[], dtype: DType): (x: number) => string {
  if (dtype === "bool") return (x) => (x !== 0 ? "true" : "false");
  const special = (x: number) => (Number.isNaN(x) ? "nan" : x > 0 ? "inf" : "-inf");
  if (dtype === "int32") return (x) => String(x);
  const finite = values.filter(Number.isFinite);
  const p = options.precision;
  if (finite.every(Number.isInteger) && finite.every((x) => Math.abs(x) < 1e8)) {
    return (x) => (Number.isFinite(x) ? `${x === 0 && 1 / x < 0 ? "-0" : x}.` : special(x));
  }
  const magnitudes = finite.map(Math.abs).filter((x) => x > 0);
  const big = Math.max(0, ...magnitudes);
  const small = magnitudes.length ? Math.min(...magnitudes) : 1;
  const scientific = big >= 1e8 || small < 10 ** -p || big / small > 1e6;
  // Two exponent digits, as C's printf and PyTorch write them: 1.0000e-09.
  const exp = (x: number) => x.toExponential(p).replace(/e([+-])(\d)$/, "e$10$2");
  return (x) => Number.isFinite(x) ? (scientific ? exp(x) : x.toFixed(p)) : special(x);
}

/**
 * The bracketed values of a row-major array of the given shape (the body of `String(t)`).
 *
 * @param flat the elements in row-major order
 * @param shape the array's shape
 * @param dtype how to format them
 * @param indent columns before the first bracket (continuation lines line up under it)
 * @returns the text, e.g. `[[1., 2.],\n [3., 4.]]` for indent 0
 */
export function formatValues(
  flat: ArrayLike<number>,
  shape: readonly number[],
  dtype: DType,
  indent = 0,
): string {
  const size = shape.reduce((a, b) => a * b, 1);
  const summarise = size > options.threshold;
  const strides = shape.map((_, i) => shape.slice(i + 1).reduce((a, b) => a * b, 1));
  const axes = shape.map((n) => shownIndices(n, summarise));
  // Collect the shown values first: they decide the number format and the column width.
  const shown: number[] = [];
  const collect = (axis: number, base: number) => {
    if (axis === shape.length) {
      shown.push(Number(flat[base]));
      return;
    }
    for (const i of axes[axis]) if (i >= 0) collect(axis + 1, base + i * strides[axis]);
  };
  collect(0, 0);
  const format = numberFormatter(shown, dtype);
  const width = Math.max(1, ...shown.map((x) => format(x).length));
  const cell = (x: number) => format(x).padStart(width);
  if (shape.length === 0) return format(shown[0]);
  const render = (axis: number, base: number): string => {
    const pad = " ".repeat(indent + axis + 1);
    if (axis === shape.length - 1) {
      const items = axes[axis].map((
        i,
      ) => (i < 0 ? "...".padStart(width) : cell(Number(flat[base + i * strides[axis]]))));
      // Wrap long rows: as many items per line as fit in lineWidth.
      const perLine = Math.max(
        1,
        Math.floor((options.lineWidth - indent - axis - 1) / (width + 2)),
      );
      const lines: string[] = [];
      for (let k = 0; k < items.length; k += perLine) {
        lines.push(items.slice(k, k + perLine).join(", "));
      }
      return `[${lines.join(`,\n${pad}`)}]`;
    }
    // Blocks of rank ≥ 2 are separated by blank lines, as PyTorch and NumPy do.
    const gap = ",\n" + "\n".repeat(shape.length - axis - 2) + pad;
    const parts = axes[axis].map((
      i,
    ) => (i < 0 ? "..." : render(axis + 1, base + i * strides[axis])));
    return `[${parts.join(gap)}]`;
  };
  return render(0, 0);
}

/** A tensor in one short line, for messages: `Tensor(float32 [2, 3] cpu)` (no values). */
export function describeTensor(t: Tensor): string {
  return `Tensor(${t.dtype} ${fmtShape(t.shape)} ${t.backend})`;
}

/**
 * How a tensor prints: `Tensor([[1., 2.], [3., 4.]], float32 [2, 2] cpu)` (laid out over lines).
 *
 * @param t the tensor
 * @param read reads its elements synchronously, or returns null when the backend cannot
 * @returns the text
 */
export function formatTensor(t: Tensor, read: (t: Tensor) => ArrayLike<number> | null): string {
  const tail = `${t.dtype} ${fmtShape(t.shape)} ${t.backend}`;
  if (t.disposed) return `Tensor(disposed, ${tail})`;
  const values = read(t);
  if (values === null) return `Tensor(${tail}; read its values with await toNested(t))`;
  return `Tensor(${formatValues(values, t.shape, t.dtype, "Tensor(".length)}, ${tail})`;
}
