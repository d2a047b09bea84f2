// Counter-based pseudo-random numbers with explicit keys (the JAX model).
//
// A key is two 32-bit words. Nothing is hidden or global: every random function takes a
// key and returns the same numbers for the same key, on every backend and run. To get
// fresh randomness, split a key into new keys (`splitKey`) or derive one from an integer
// (`foldIn`); never use one key twice.
//
// The generator is Threefry-2x32 with 20 rounds (Salmon et al., "Parallel random numbers:
// as easy as 1, 2, 3", SC 2011): a keyed bijection on pairs of 32-bit words. Random bits
// are Threefry applied to counters 0, 1, 2, …, so any element can be computed
// independently of the others — on a GPU, each thread computes its own. Splitting,
// folding in and bit generation follow the layout of JAX's original (non-partitionable)
// threefry implementation; we check the algorithm against the published known-answer
// vectors of Random123 (tests/tensor/random_test.ts).
//
// Bits → numbers: a float32 uniform takes the top 23 bits of a word as the mantissa of a
// number in [1, 2) and subtracts 1, so it lies in [0, 1) on a grid of 2^-23; float64
// uniforms take 52 bits from two words. Normals are √2·erfinv(u) for u uniform in
// (−1, 1), computed in float64 on the host and rounded to the requested dtype.

import { type CreateOptions, tensor } from "./create.ts";
import { allocArray, type DType } from "./dtype.ts";
import { erfinvScalar, erfScalar } from "./special_math.ts";
import { checkShape, sizeOf } from "./shape.ts";
import type { Tensor } from "./tensor.ts";
import { div, less, where } from "./binary.ts";
import type { TensorLike } from "./_core.ts";

/** A PRNG key: two unsigned 32-bit words. Immutable; pass it, split it, never reuse it. */
export class Key {
  /** Makes a key from two words (use `key(seed)` instead). */
  constructor(
    /** High word. */
    readonly hi: number,
    /** Low word. */
    readonly lo: number,
  ) {
    Object.freeze(this);
  }

  /** `Key(hi, lo)` in hexadecimal. */
  toString(): string {
    const hex = (w: number) => w.toString(16).padStart(8, "0");
    return `Key(0x${hex(this.hi)}, 0x${hex(this.lo)})`;
  }
}

const ROTATIONS = [13, 15, 26, 6, 17, 29, 16, 24];

/**
 * Threefry-2x32 with 20 rounds: maps counter (c0, c1) under key (k0, k1) to two
 * pseudo-random words. Five groups of four add-rotate-xor rounds; between groups, a
 * word of the extended key schedule and the group number are injected.
 *
 * @param k0 key word 0
 * @param k1 key word 1
 * @param c0 counter word 0
 * @param c1 counter word 1
 * @returns the two output words
 */
export function threefry2x32(k0: number, k1: number, c0: number, c1: number): [number, number] {
  const ks = [k0 >>> 0, k1 >>> 0, (0x1bd11bda ^ k0 ^ k1) >>> 0];
  let x0 = (c0 + ks[0]) >>> 0;
  let x1 = (c1 + ks[1]) >>> 0;
  for (let group = 0; group < 5; group++) {
    for (let r = 0; r < 4; r++) {
      const rot = ROTATIONS[(group % 2) * 4 + r];
      x0 = (x0 + x1) >>> 0;
      x1 = ((x1 << rot) | (x1 >>> (32 - rot))) >>> 0;
      x1 = (x1 ^ x0) >>> 0;
    }
    const i = group + 1; // key injection number
    x0 = (x0 + ks[i % 3]) >>> 0;
    x1 = (x1 + ks[(i + 1) % 3] + i) >>> 0;
  }
  return [x0, x1];
}

/**
 * A key from an integer seed.
 *
 * @param seed a safe integer
 * @returns the key `(hi, lo)` holding the seed's two's-complement 64-bit words
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { key, normal, toArray } from "@tessella/tessella";
 * const a = await toArray(normal(key(0), [3]));
 * const b = await toArray(normal(key(0), [3]));
 * assert.deepEqual(a, b); // same key, same numbers
 * ```
 */
export function key(seed: number): Key {
  if (!Number.isSafeInteger(seed)) {
    throw new Error(`Cannot make a key: the seed must be a safe integer (got ${seed})`);
  }
  const lo = seed >>> 0;
  const hi = seed < 0 ? (Math.floor(seed / 2 ** 32) >>> 0) : Math.floor(seed / 2 ** 32);
  return new Key(hi >>> 0, lo);
}

function checkKey(k: unknown, op: string): Key {
  if (!(k instanceof Key)) {
    throw new TypeError(`Cannot ${op}: the first argument must be a Key (make one with key(seed))`);
  }
  return k;
}

/**
 * Threefry over the counters 0 … n−1, JAX layout: counters are cut into two halves that
 * form the (c0, c1) pairs, and the outputs are the two result halves in sequence.
 */
export function randomWords(k: Key, n: number): Uint32Array {
  const half = Math.ceil(n / 2);
  const out = new Uint32Array(2 * half);
  for (let j = 0; j < half; j++) {
    const c1 = j + half < n ? j + half : 0; // an odd count is padded with a zero counter
    const [y0, y1] = threefry2x32(k.hi, k.lo, j, c1);
    out[j] = y0;
    out[half + j] = y1;
  }
  return n === out.length ? out : out.slice(0, n);
}

/**
 * Splits a key into `n` new independent keys.
 *
 * @param k the key to split (do not use it afterwards)
 * @param n how many keys (default 2)
 * @returns the new keys
 * @example
 * ```ts
 * import { key, normal, splitKey } from "@tessella/tessella";
 * const [k1, k2] = splitKey(key(42));
 * const w = normal(k1, [4, 4]);
 * const b = normal(k2, [4]);
 * ```
 */
export function splitKey(k: Key, n: number = 2): Key[] {
  checkKey(k, "splitKey");
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`Cannot splitKey: n must be a non-negative integer (got ${n})`);
  }
  const words = randomWords(k, 2 * n);
  return Array.from({ length: n }, (_, i) => new Key(words[2 * i], words[2 * i + 1]));
}

/**
 * Derives a new key from a key and an integer (a step number, a layer index…).
 *
 * @param k the key
 * @param data a non-negative integer below 2^32
 * @returns the derived key
 */
export function foldIn(k: Key, data: number): Key {
  checkKey(k, "foldIn");
  if (!Number.isInteger(data) || data < 0 || data >= 2 ** 32) {
    throw new Error(`Cannot foldIn: data must be an integer in [0, 2^32) (got ${data})`);
  }
  const [hi, lo] = threefry2x32(k.hi, k.lo, 0, data);
  return new Key(hi, lo);
}

/** Options of the random number functions. */
export interface RandomOptions extends CreateOptions {
  /** float32 (default) or float64. */
  dtype?: DType;
}

function floatDType(options: RandomOptions, op: string): "float32" | "float64" {
  const dtype = options.dtype ?? "float32";
  if (dtype !== "float32" && dtype !== "float64") {
    throw new Error(`Cannot ${op}: dtype must be float32 or float64 (got ${dtype})`);
  }
  return dtype;
}

/** n uniform numbers in [0, 1) as float64 values on the float32 or float64 grid. */
function unitUniforms(k: Key, n: number, dtype: "float32" | "float64"): Float64Array {
  const out = new Float64Array(n);
  if (dtype === "float32") {
    const words = randomWords(k, n);
    for (let i = 0; i < n; i++) out[i] = (words[i] >>> 9) / 2 ** 23;
  } else {
    const words = randomWords(k, 2 * n);
    for (let i = 0; i < n; i++) out[i] = ((words[i] >>> 12) * 2 ** 32 + words[n + i]) / 2 ** 52;
  }
  return out;
}

function finish(
  values: ArrayLike<number>,
  shape: number[],
  dtype: DType,
  options: RandomOptions,
): Tensor {
  const flat = allocArray(dtype, values.length);
  flat.set(values);
  return tensor(flat, { shape, dtype, backend: options.backend });
}

/**
 * Uniform random numbers in `[minval, maxval)`.
 *
 * @param k the key
 * @param shape the shape
 * @param options `minval` (0), `maxval` (1), `dtype`, `backend`
 * @returns the samples
 */
export function uniform(
  k: Key,
  shape: readonly number[],
  options: RandomOptions & { minval?: number; maxval?: number } = {},
): Tensor {
  checkKey(k, "uniform");
  const dims = checkShape(shape, "uniform");
  const dtype = floatDType(options, "uniform");
  const lo = options.minval ?? 0;
  const hi = options.maxval ?? 1;
  const u = unitUniforms(k, sizeOf(dims), dtype);
  for (let i = 0; i < u.length; i++) u[i] = Math.max(lo, u[i] * (hi - lo) + lo);
  return finish(u, dims, dtype, options);
}

/**
 * Standard normal samples (mean 0, std 1): √2·erfinv(u) for u uniform in (−1, 1).
 *
 * @param k the key
 * @param shape the shape
 * @param options `dtype`, `backend`
 * @returns the samples
 */
export function normal(k: Key, shape: readonly number[], options: RandomOptions = {}): Tensor {
  checkKey(k, "normal");
  const dims = checkShape(shape, "normal");
  const dtype = floatDType(options, "normal");
  const u = unitUniforms(k, sizeOf(dims), dtype);
  const lo = dtype === "float32" ? -1 + 2 ** -24 : -1 + 2 ** -53; // the number after −1
  for (let i = 0; i < u.length; i++) {
    u[i] = Math.SQRT2 * erfinvScalar(Math.max(lo, u[i] * (1 - lo) + lo));
  }
  return finish(u, dims, dtype, options);
}

/**
 * Standard normal samples truncated to `[lower, upper]`, by inverting the CDF on a
 * uniform draw between CDF(lower) and CDF(upper) (as `jax.random.truncated_normal`).
 *
 * @param k the key
 * @param shape the shape
 * @param options `lower` (−2), `upper` (2), `dtype`, `backend`
 * @returns the samples
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { key, max, abs, truncatedNormal, item } from "@tessella/tessella";
 * // BEiT's pretraining init: std 0.02 truncated at ±1σ
 * const w = truncatedNormal(key(0), [1000], { lower: -1, upper: 1 });
 * assert.ok(await item(max(abs(w))) <= 1);
 * ```
 */
export function truncatedNormal(
  k: Key,
  shape: readonly number[],
  options: RandomOptions & { lower?: number; upper?: number } = {},
): Tensor {
  checkKey(k, "truncatedNormal");
  const dims = checkShape(shape, "truncatedNormal");
  const dtype = floatDType(options, "truncatedNormal");
  const lower = options.lower ?? -2;
  const upper = options.upper ?? 2;
  if (!(lower < upper)) {
    throw new Error(`Cannot truncatedNormal: lower (${lower}) must be below upper (${upper})`);
  }
  const a = erfScalar(lower / Math.SQRT2);
  const b = erfScalar(upper / Math.SQRT2);
  const u = unitUniforms(k, sizeOf(dims), dtype);
  for (let i = 0; i < u.length; i++) {
    const z = Math.SQRT2 * erfinvScalar(Math.max(a, u[i] * (b - a) + a));
    u[i] = Math.min(Math.max(z, lower), upper);
  }
  return finish(u, dims, dtype, options);
}

/**
 * Bernoulli samples: true with probability `p`.
 *
 * @param k the key
 * @param p probability of true (a number or a tensor broadcastable to `shape`)
 * @param shape the shape
 * @returns a bool tensor
 */
export function bernoulli(
  k: Key,
  p: TensorLike,
  shape: readonly number[],
  options: CreateOptions = {},
): Tensor {
  const u = uniform(k, shape, { backend: options.backend });
  return less(u, p);
}

/**
 * Uniform random integers in `[minval, maxval)`, as int32.
 *
 * @param k the key
 * @param shape the shape
 * @param minval the smallest value
 * @param maxval one past the largest value
 * @returns the samples
 */
export function randint(
  k: Key,
  shape: readonly number[],
  minval: number,
  maxval: number,
  options: CreateOptions = {},
): Tensor {
  checkKey(k, "randint");
  const dims = checkShape(shape, "randint");
  if (!Number.isInteger(minval) || !Number.isInteger(maxval) || maxval <= minval) {
    throw new Error(`Cannot randint: need integers minval < maxval (got ${minval}, ${maxval})`);
  }
  const u = unitUniforms(k, sizeOf(dims), "float64");
  const values = new Int32Array(u.length);
  for (let i = 0; i < u.length; i++) values[i] = minval + Math.floor(u[i] * (maxval - minval));
  return tensor(values, { shape: dims, backend: options.backend });
}

/**
 * A random permutation of `0 … n−1` (Fisher–Yates with keyed uniforms), as int32.
 *
 * @param k the key
 * @param n the length
 * @returns the permutation
 */
export function permutation(k: Key, n: number, options: CreateOptions = {}): Tensor {
  checkKey(k, "permutation");
  return tensor(permutationArray(k, n), { backend: options.backend });
}

/** `permutation` as a host Int32Array (for data loaders that index on the CPU). */
export function permutationArray(k: Key, n: number): Int32Array {
  if (!Number.isInteger(n) || n < 0) {
    throw new Error(`Cannot permutation: n must be a non-negative integer (got ${n})`);
  }
  const perm = new Int32Array(n);
  for (let i = 0; i < n; i++) perm[i] = i;
  const u = unitUniforms(k, n, "float64");
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(u[i] * (i + 1));
    const t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  return perm;
}

/**
 * Inverted dropout: zeroes each element with probability `rate` and scales the rest by
 * 1/(1 − rate), so the expected value is unchanged.
 *
 * @param k the key
 * @param x the tensor
 * @param options `rate` in [0, 1)
 * @returns the dropped-out tensor (`x` itself when rate is 0)
 */
export function dropout(k: Key, x: Tensor, options: { rate: number }): Tensor {
  const rate = options.rate;
  if (!(rate >= 0 && rate < 1)) {
    throw new Error(`Cannot dropout: rate must be in [0, 1) (got ${rate})`);
  }
  if (rate === 0) return x;
  const keep = bernoulli(k, 1 - rate, x.shape, { backend: x.backend });
  return where(keep, div(x, 1 - rate), 0);
}
