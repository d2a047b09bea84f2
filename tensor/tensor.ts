// The Tensor value: an immutable n-dimensional array.
//
// A tensor is a *view* (shape, strides, offset) onto a *storage* (a flat buffer owned by a
// backend). Movement ops such as transpose, expand, slice and flip make new views of the
// same storage without copying, as in NumPy and PyTorch; kernels read views through their
// strides. Nothing ever writes into a storage after the kernel that created it, so
// sharing one is safe: that is what makes tensors immutable values.

import type { Backend } from "./backend.ts";
import { type DType, DTYPE_BYTES, type TypedArray } from "./dtype.ts";
import { isDisposed, trackStorage, trackTensor } from "./memory.ts";
import { contiguousStrides, fmtShape, isRowMajor, type Shape, sizeOf } from "./shape.ts";
import { describeTensor, formatTensor } from "./format.ts";

/** A flat buffer of `size` elements of `dtype`, owned by a backend. */
export class Storage {
  /** Bytes the backend holds for this buffer. */
  readonly bytes: number;
  /** Number of live tensors viewing this storage (memory bookkeeping). */
  refs = 0;
  /** Whether the buffer went back to its backend. */
  released = false;
  /**
   * A host copy of the elements, kept for small host-made tensors on backends without a
   * synchronous read (bool masks on WebGPU), so that `toArraySync` can read them.
   */
  host?: TypedArray;

  /** Creates a storage record around a backend's buffer handle. */
  constructor(
    /** The backend that owns the buffer. */
    readonly backend: Backend,
    /** The backend's handle: a typed array on the CPU. */
    readonly data: unknown,
    /** Element type. */
    readonly dtype: DType,
    /** Number of elements. */
    readonly size: number,
  ) {
    this.bytes = size * (backend.elementBytes?.(dtype) ?? DTYPE_BYTES[dtype]);
    trackStorage(this);
  }
}

/**
 * Throws a clear error when a kernel is asked to read a disposed tensor. Backends call it
 * on every input they read.
 */
export function checkLive(x: View): void {
  if (isDisposed(x)) {
    throw new Error(
      `Cannot use a disposed tensor (${
        x instanceof Tensor ? describeTensor(x) : `${x.dtype} ${fmtShape(x.shape)}`
      }): it was freed by dispose() or by the ` +
        `tidy() that created it; return it from the tidy() or keep() it to use it later`,
    );
  }
}

/** What a kernel needs to read a tensor: its storage and how indices map into it. */
export interface View {
  /** The buffer the view reads. */
  readonly storage: Storage;
  /** Sizes per axis. */
  readonly shape: Shape;
  /** Element step per axis (0 for a broadcast axis, negative for a flipped one). */
  readonly strides: readonly number[];
  /** Index of element [0, 0, …] in the storage. */
  readonly offset: number;
  /** Element type. */
  readonly dtype: DType;
}

let nextTensorId = 0;

/**
 * An immutable n-dimensional array with a `shape`, a `dtype` and a `backend`.
 *
 * Tensors are made by creation functions (`tensor`, `zeros`, …) and by ops; they are
 * never changed after creation. Read values back with `await toArray(t)`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { tensor } from "@tessella/tessella";
 * const t = tensor([[1, 2, 3], [4, 5, 6]]);
 * assert.deepEqual(t.shape, [2, 3]);
 * assert.equal(t.dtype, "float32");
 * assert.equal(t.backend, "cpu");
 * ```
 */
export class Tensor implements View {
  /** A process-wide unique id (useful as a map key and in debugging output). */
  readonly id: number;
  /** Sizes per axis; `[]` for a scalar. */
  readonly shape: Shape;
  /** Element step per axis, in elements. */
  readonly strides: readonly number[];

  /** Wraps a storage in a view. Ops call this; users call creation functions instead. */
  constructor(
    /** The buffer this tensor reads. */
    readonly storage: Storage,
    shape: Shape,
    /** Element type. */
    readonly dtype: DType,
    strides?: readonly number[],
    /** Index of element [0, 0, …] in the storage. */
    readonly offset: number = 0,
  ) {
    this.id = nextTensorId++;
    this.shape = Object.freeze([...shape]);
    this.strides = Object.freeze(strides ? [...strides] : contiguousStrides(shape));
    trackTensor(this);
  }

  /** Whether `dispose` (or a `tidy` scope) has freed this tensor. */
  get disposed(): boolean {
    return isDisposed(this);
  }

  /** The name of the backend holding the data (`"cpu"` or `"webgpu"`). */
  get backend(): string {
    return this.storage.backend.name;
  }

  /** Number of elements. */
  get size(): number {
    return sizeOf(this.shape);
  }

  /** Number of axes. */
  get rank(): number {
    return this.shape.length;
  }

  /** Whether elements are laid out in row-major order without gaps (from `offset` on). */
  get isContiguous(): boolean {
    return isRowMajor(this.shape, this.strides);
  }

  /**
   * The values, dtype, shape and backend, as PyTorch prints a tensor:
   * `Tensor([[1., 2., 3.], [4., 5., 6.]], float32 [2, 3] cpu)` (one row per line; large
   * tensors summarised with `...`, see setPrintOptions). A WebGPU tensor cannot be read
   * synchronously: it prints how to read it.
   */
  toString(): string {
    const backend = this.storage.backend;
    return formatTensor(this, (t) => (backend.readSync ? backend.readSync(t) : null));
  }

  /** `console.log(t)` in Deno prints `String(t)`. */
  [Symbol.for("Deno.customInspect")](): string {
    return this.toString();
  }

  /** `console.log(t)` in Node and `util.inspect` print `String(t)`. */
  [Symbol.for("nodejs.util.inspect.custom")](): string {
    return this.toString();
  }
}
