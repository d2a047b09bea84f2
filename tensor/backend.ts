// The Backend interface: every kernel an op may call, and the registry of backends.
//
// Ops (tensor/*.ts) do the shape and dtype logic, record gradients and then call one of
// these kernels. A kernel receives views (storage + shape + strides + offset) and returns
// a new buffer handle holding a contiguous row-major result. The CPU backend
// (backend/cpu/) is the reference implementation of every kernel.

import type { DType, TypedArray } from "./dtype.ts";
import type { Shape } from "./shape.ts";
import type { View } from "./tensor.ts";
import { cpuJsBackend } from "./backend/cpu/mod.ts";
import { cpuBackend } from "./backend/wasm/mod.ts";

/** Elementwise functions of one argument (`copy` makes a contiguous copy, or casts). */
export type UnaryOp =
  | "copy"
  | "neg"
  | "abs"
  | "exp"
  | "log"
  | "log1p"
  | "sqrt"
  | "rsqrt"
  | "square"
  | "reciprocal"
  | "sin"
  | "cos"
  | "tanh"
  | "sigmoid"
  | "relu"
  | "gelu"
  | "geluTanh"
  | "geluDerivative"
  | "erf"
  | "sign"
  | "floor"
  | "ceil"
  | "round"
  | "logicalNot"
  | "isFinite";

/** Elementwise functions of two same-shaped arguments. */
export type BinaryOp =
  | "add"
  | "sub"
  | "mul"
  | "div"
  | "pow"
  | "maximum"
  | "minimum"
  | "equal"
  | "notEqual"
  | "less"
  | "lessEqual"
  | "greater"
  | "greaterEqual"
  | "logicalAnd"
  | "logicalOr";

/**
 * The constants of one AdamW step (Loshchilov & Hutter 2019, optax's adamw): moment
 * decays b1, b2; bias corrections c1 = 1 − b1^t, c2 = 1 − b2^t; eps; the learning rate;
 * the decoupled weight decay (0 for parameters that do not decay).
 */
export interface AdamConstants {
  /** Decay of the first moment (0.9). */
  b1: number;
  /** Decay of the second moment (0.999). */
  b2: number;
  /** Bias correction of the first moment, 1 − b1^t at step t (from 1). */
  c1: number;
  /** Bias correction of the second moment, 1 − b2^t. */
  c2: number;
  /** Added to √v̂ (1e-8). */
  eps: number;
  /** This step's learning rate. */
  learningRate: number;
  /** Decoupled weight decay of this parameter (0 where it does not decay). */
  weightDecay: number;
}

/** Reductions over the trailing axes of a view. */
export type ReduceOp = "sum" | "max" | "min" | "argmax" | "argmin";

/**
 * Everything a backend implements. Handles returned by kernels are opaque to the ops:
 * a typed array on the CPU, a GPU buffer on WebGPU.
 */
export interface Backend {
  /** `"cpu"` or `"webgpu"`. */
  readonly name: string;
  /** Bytes one element of `dtype` occupies in this backend's buffers (default: host size). */
  elementBytes?(dtype: DType): number;
  /** Takes back a buffer whose last tensor was disposed (for reuse or freeing). */
  release?(data: unknown, bytes: number): void;
  /** Copies host data into a new buffer of the backend. */
  upload(data: TypedArray, dtype: DType): unknown;
  /** Reads a view back as a contiguous row-major host array (a copy). */
  read(x: View): Promise<TypedArray>;
  /** Synchronous read, where the backend can offer one (CPU). */
  readSync?(x: View): TypedArray;
  /**
   * A one-element buffer holding `value`, for scalar constants (default: `fill(1, …)`).
   * It may be shared between tensors: kernels never write to their inputs, and `release`
   * must leave a shared buffer alone.
   */
  scalar?(value: number, dtype: DType): unknown;
  /** A buffer of `size` elements all equal to `value`. */
  fill(size: number, value: number, dtype: DType): unknown;
  /** `out[i] = op(x[i])`, converting to `outDtype`. */
  unary(op: UnaryOp, x: View, outDtype: DType): unknown;
  /** `out[i] = op(a[i], b[i])` for two views of the same shape. */
  binary(op: BinaryOp, a: View, b: View, outDtype: DType): unknown;
  /** `out[i] = cond[i] ? a[i] : b[i]` for three views of the same shape. */
  where(cond: View, a: View, b: View): unknown;
  /**
   * Reduces the last `count` axes of `x`; the result has the leading axes' shape.
   * argmax/argmin index into the flattened reduced axes and return int32.
   */
  reduce(op: ReduceOp, x: View, count: number, outDtype: DType): unknown;
  /**
   * Batched matrix product: `a` is `[...batch, M, K]`, `b` is `[...batch, K, N]` with the
   * same batch shape (broadcast batch axes arrive as stride-0 views). A `bias` `[N]`, if
   * given, is added to every row of the result (a linear layer's x·Wᵀ + b in one pass).
   */
  matmul(a: View, b: View, bias?: View | null): unknown;
  /** `out[..i..] = x[.. index[..i..] ..]` along `axis`; `index` (int32) has x's rank. */
  gather(x: View, index: View, axis: number): unknown;
  /** A copy of `x` where `updates` are added at `index` along `axis`. */
  scatterAdd(x: View, index: View, updates: View, axis: number): unknown;
  /** Joins views along `axis` into a buffer of `outShape`. */
  concat(xs: readonly View[], axis: number, outShape: Shape): unknown;
  /**
   * Layer normalisation over the last axis of `x` `[..., D]` (biased variance):
   * (x − mean) / √(var + eps) · weight + bias, with `weight` and `bias` `[D]` or null.
   */
  layerNorm(x: View, weight: View | null, bias: View | null, eps: number): unknown;
  /** The gradient of layerNorm with respect to `x`, given `g`, the cotangent of its output. */
  layerNormGrad(x: View, weight: View | null, g: View, eps: number): unknown;
  /**
   * One fused AdamW step for a parameter p with gradient g and moments m, v (same shape):
   * m' = b1·m + (1 − b1)·g, v' = b2·v + (1 − b2)·g², update = −lr·((m'/c1) / (√(v'/c2) +
   * eps) + wd·p). Returns one buffer [update | m' | v'] of 3× g's size.
   */
  adamStep(g: View, m: View, v: View, p: View, constants: AdamConstants): unknown;
  /** Softmax over the last axis: e^(x − max) / Σ e^(x − max). */
  softmax(x: View): unknown;
  /** The gradient of softmax with respect to its input, from its output `y` and `g`. */
  softmaxGrad(y: View, g: View): unknown;
  /**
   * The adjoint of a strided slice: a zero buffer of `outShape` with `x` written at
   * positions `starts[d] + i·steps[d]` on each axis d.
   */
  unslice(x: View, outShape: Shape, starts: readonly number[], steps: readonly number[]): unknown;
}

const registry = new Map<string, Backend>();
let defaultBackend: Backend | undefined;

/** Makes a backend available by name; the first one registered becomes the default. */
export function registerBackend(backend: Backend): void {
  registry.set(backend.name, backend);
  defaultBackend ??= backend;
}

/**
 * Looks up a backend by name (the default backend when no name is given).
 *
 * @param name `"cpu"` or `"webgpu"`
 * @returns the backend
 */
export function getBackend(name?: string): Backend {
  if (name === undefined) {
    if (!defaultBackend) throw new Error("No backend is registered");
    return defaultBackend;
  }
  const backend = registry.get(name);
  if (!backend) {
    throw new Error(
      `Unknown backend "${name}": available backends are ${[...registry.keys()].join(", ")}`,
    );
  }
  return backend;
}

/** Backends that are opened on first use (they need asynchronous setup). */
const lazy: Record<string, () => Promise<Backend>> = {
  webgpu: async () => (await import("./backend/webgpu/mod.ts")).initWebGPU(),
};

/**
 * Opens a backend if needed (WebGPU asks for an adapter and a device on first use) and
 * returns it, without changing the default.
 *
 * @param name `"cpu"` or `"webgpu"`
 * @returns the ready backend
 */
export async function openBackend(name: string): Promise<Backend> {
  const existing = registry.get(name);
  if (existing) return existing;
  const open = lazy[name];
  if (open === undefined) {
    throw new Error(
      `Unknown backend "${name}": available backends are ${
        [...new Set([...registry.keys(), ...Object.keys(lazy)])].join(", ")
      }`,
    );
  }
  const backend = await open();
  registry.set(name, backend);
  return backend;
}

/**
 * Makes `name` the backend that creation functions use from now on, opening it first if
 * needed. Fails with an explanation (and the fix) when WebGPU has no adapter.
 *
 * @param name `"cpu"` or `"webgpu"`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { useBackend, zeros } from "@tessella/tessella";
 * await useBackend("cpu");
 * assert.equal(zeros([2]).backend, "cpu");
 * ```
 */
export async function useBackend(name: string): Promise<void> {
  defaultBackend = await openBackend(name);
}

/** The name of the backend creation functions currently use. */
export function currentBackend(): string {
  return getBackend().name;
}

/** Names of the registered backends. */
export function listBackends(): string[] {
  return [...registry.keys()];
}

registerBackend(cpuBackend);
registerBackend(cpuJsBackend);
