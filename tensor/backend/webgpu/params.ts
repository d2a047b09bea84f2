// Host-side helpers that turn views into kernel parameters: dimension collapsing (so a
// contiguous tensor is one long row and most broadcasts are two axes), the word layout
// that VIEW_INDEX in wgsl_common.ts reads, and `paramLayout`, which describes every other
// kernel's parameter words once for both the TypeScript that writes them and the WGSL
// that reads them.

import type { Shape } from "../../shape.ts";
import { ELEMENTS_PER_INVOCATION } from "./wgsl_common.ts";

/** Where a view's elements live: what the index arithmetic needs of a view. */
export interface Layout {
  readonly strides: readonly number[];
  readonly offset: number;
}

/** The most axes a WebGPU kernel indexes after collapsing. */
export const MAX_RANK = 8;

/**
 * Merges adjacent axes that every view walks contiguously together, and drops size-1
 * axes. Returns the collapsed shape and each view's collapsed strides.
 */
export function collapse(
  shape: Shape,
  stridesList: readonly (readonly number[])[],
): { shape: number[]; strides: number[][] } {
  const dims: number[] = [];
  const strides: number[][] = stridesList.map(() => []);
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = dims.length - 1;
    const mergeable = last >= 0 &&
      stridesList.every((s, k) => strides[k][last] === s[d] * shape[d]);
    if (mergeable) {
      dims[last] *= shape[d];
      stridesList.forEach((s, k) => (strides[k][last] = s[d]));
    } else {
      dims.push(shape[d]);
      stridesList.forEach((s, k) => strides[k].push(s[d]));
    }
  }
  return { shape: dims, strides };
}

/** The first word after the elementwise parameters of `views` views (where `extra` goes). */
export function elementwiseExtra(views: number): number {
  return 10 + 10 * views;
}

/** The mode words of the first `views` views in elementwise params (see ViewModes). */
export function viewModes(params: Uint32Array, views: number): number[] {
  return Array.from({ length: views }, (_, k) => params[11 + 10 * k]);
}

/**
 * Parameter words for an elementwise kernel over `shape` reading `views` (all of that
 * shape): 0 n, 1 rank, 2–9 shape, then per view: offset, contiguous flag, 8 strides.
 * `extra` words follow the views (from `elementwiseExtra(views.length)` on).
 */
export function elementwiseParams(
  shape: Shape,
  views: readonly Layout[],
  extra: readonly number[] = [],
): Uint32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const { shape: dims, strides } = collapse(shape, views.map((v) => v.strides));
  if (dims.length > MAX_RANK) {
    throw new Error(
      `Cannot run a WebGPU kernel on a view with more than ${MAX_RANK} non-trivial axes`,
    );
  }
  const words = new Uint32Array(elementwiseExtra(views.length) + extra.length);
  words[0] = n;
  words[1] = dims.length;
  dims.forEach((d, i) => (words[2 + i] = d));
  const asInt = new Int32Array(words.buffer);
  views.forEach((v, k) => {
    const base = 10 + 10 * k;
    words[base] = v.offset;
    const block = broadcastBlock(dims, strides[k]);
    // Contiguous: a block that is the whole output (whether or not its axes collapsed).
    const contiguous = dims.length === 0 || (block !== null && block.d === 1 && block.m === n);
    // Modes: 1 contiguous, 2 a broadcast block, 3 one value broadcast, 0 strided, 4
    // strided with rows a multiple of ELEMENTS_PER_INVOCATION long (an invocation's
    // outputs then share a row: one walk over the axes, then steps of the last stride).
    const rowsAligned = dims.length > 0 && dims[dims.length - 1] % ELEMENTS_PER_INVOCATION === 0;
    words[base + 1] = contiguous ? 1 : block ? (block.m === 1 ? 3 : 2) : rowsAligned ? 4 : 0;
    if (block) {
      words[base + 2] = block.d;
      words[base + 3] = block.m;
    } else {
      strides[k].forEach((s, i) => (asInt[base + 2 + i] = s));
    }
  });
  words.set(extra, elementwiseExtra(views.length));
  return words;
}

/**
 * A view that is one contiguous block broadcast over leading and trailing axes (a bias
 * [C] against [N, C]: d 1, m C; a row statistic [N, 1] against [N, C]: d C, m N): its
 * element for output index i is at offset + ⌊i / d⌋ mod m, which kernels compute without
 * walking the axes (VIEW_INDEX mode 2; mode 3 when m = 1: a single value). Null for any
 * other layout.
 */
export function broadcastBlock(
  dims: readonly number[],
  strides: readonly number[],
): { d: number; m: number } | null {
  let end = dims.length;
  let d = 1;
  while (end > 0 && strides[end - 1] === 0) d *= dims[--end];
  let start = end;
  let m = 1;
  while (start > 0 && strides[start - 1] === m) m *= dims[--start];
  for (let j = 0; j < start; j++) if (strides[j] !== 0) return null;
  return { d, m };
}

/** Workgroup grid for n invocations of 64-wide workgroups (2-D past the dimension limit). */
export function grid(n: number, limit: number): [number, number] {
  const groups = Math.ceil(n / 64);
  if (groups <= limit) return [groups, 1];
  const x = limit;
  return [x, Math.ceil(groups / x)];
}

/** Grid for an elementwise kernel, whose invocations each handle ELEMENTS_PER_INVOCATION outputs. */
export function elementwiseGrid(n: number, limit: number): [number, number] {
  return grid(Math.ceil(n / ELEMENTS_PER_INVOCATION), limit);
}

/** A parameter field: a word's type, or a type and a number of words. */
export type FieldSpec = "u32" | "i32" | "f32" | readonly ["u32" | "i32" | "f32", number];

/**
 * A kernel's parameter words, described once: its fields in order, each one word or an
 * array of words. The host fills the words with `pack` and the kernel's WGSL reads them with
 * `read`, both by field name, so the two sides cannot disagree on where a field lives.
 */
export interface ParamLayout<F extends Record<string, FieldSpec>> {
  /** Words in all. */
  readonly words: number;
  /** The first word of every field. */
  readonly at: { readonly [K in keyof F]: number };
  /**
   * The WGSL expression reading a field (as its type: `P`, `Pi` or `Pf` of paramsBlock), or
   * entry `index` (a WGSL u32 expression) of an array field.
   */
  read(name: keyof F & string, index?: string): string;
  /** The words holding these values (fields not given are 0; arrays may be shorter). */
  pack(values: { readonly [K in keyof F]?: number | readonly number[] }): Uint32Array;
}

/**
 * The fields of a walk over up to `rank` axes: `<name>Shape` (u32 sizes) and
 * `<name>Strides` (i32 strides), for spreading into a paramLayout.
 */
export function axes<N extends string>(
  name: N,
  rank: number,
): Record<`${N}Shape`, readonly ["u32", number]> & Record<`${N}Strides`, readonly ["i32", number]> {
  return {
    [`${name}Shape`]: ["u32", rank],
    [`${name}Strides`]: ["i32", rank],
  } as
    & Record<`${N}Shape`, readonly ["u32", number]>
    & Record<`${N}Strides`, readonly ["i32", number]>;
}

/**
 * Describes a kernel's parameter words (see ParamLayout).
 *
 * @param fields the fields in word order, e.g. `{ n: "u32", eps: "f32", strides: ["i32", 8] }`
 */
export function paramLayout<F extends Record<string, FieldSpec>>(fields: F): ParamLayout<F> {
  const at: Record<string, number> = {};
  const types: Record<string, { type: "u32" | "i32" | "f32"; length: number }> = {};
  let words = 0;
  for (const [name, spec] of Object.entries(fields)) {
    const [type, length] = typeof spec === "string" ? [spec, 1] : spec;
    at[name] = words;
    types[name] = { type, length };
    words += length;
  }
  if (words > 128) {
    throw new Error(`Internal error: ${words} parameter words (paramsBlock holds 128)`);
  }
  const reader = { u32: "P", i32: "Pi", f32: "Pf" } as const;
  return {
    words,
    at: at as { [K in keyof F]: number },
    read(name, index) {
      const { type } = types[name];
      return `${reader[type]}(${at[name]}u${index === undefined ? "" : ` + ${index}`})`;
    },
    pack(values) {
      const out = new Uint32Array(words);
      const asInt = new Int32Array(out.buffer);
      const asFloat = new Float32Array(out.buffer);
      for (const [name, value] of Object.entries(values)) {
        if (value === undefined) continue;
        const { type, length } = types[name];
        const list = typeof value === "number" ? [value] : value;
        if (list.length > length) {
          throw new Error(
            `Internal error: parameter ${name} holds ${length} words, got ${list.length}`,
          );
        }
        const view = type === "u32" ? out : type === "i32" ? asInt : asFloat;
        list.forEach((v, i) => (view[at[name] + i] = v));
      }
      return out;
    },
  };
}
