// Element types, their storage arrays and the promotion rule used by every binary op.
//
// Four dtypes: float32 (the default), float64 (CPU only: the gradient-check oracle),
// int32 (indices, labels) and bool (comparison results, masks; stored one byte each).

/** The element type of a tensor. */
export type DType = "float32" | "float64" | "int32" | "bool";

/** The typed arrays that hold tensor elements on the host, one per dtype. */
export type TypedArray = Float32Array | Float64Array | Int32Array | Uint8Array;

/** Every dtype, in promotion order (a later entry wins over an earlier one). */
export const DTYPES: readonly DType[] = ["bool", "int32", "float32", "float64"];

/** Bytes per element on the host. */
export const DTYPE_BYTES: Readonly<Record<DType, number>> = {
  bool: 1,
  int32: 4,
  float32: 4,
  float64: 8,
};

/**
 * Whether a dtype holds real numbers (and so can carry gradients).
 *
 * @param dtype the element type
 * @returns true for float32 and float64
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { isFloatDType } from "@tessella/tessella";
 * assert.equal(isFloatDType("float32"), true);
 * assert.equal(isFloatDType("int32"), false);
 * ```
 */
export function isFloatDType(dtype: DType): boolean {
  return dtype === "float32" || dtype === "float64";
}

/** Allocates a zero-filled host array for `size` elements of `dtype`. */
export function allocArray(dtype: DType, size: number): TypedArray {
  try {
    switch (dtype) {
      case "float32":
        return new Float32Array(size);
      case "float64":
        return new Float64Array(size);
      case "int32":
        return new Int32Array(size);
      case "bool":
        return new Uint8Array(size);
    }
  } catch (error) {
    if (!(error instanceof RangeError)) throw error;
    const bytes = size * (dtype === "float64" ? 8 : dtype === "bool" ? 1 : 4);
    throw new RangeError(
      `Cannot allocate ${size.toLocaleString("en-US")} ${dtype} elements (${
        (bytes / 2 ** 30).toFixed(1)
      } GiB): more than this process can hold (${error.message})`,
    );
  }
}

/** The dtype whose host array is `data`'s constructor, or undefined for other arrays. */
export function dtypeOfArray(data: ArrayBufferView): DType | undefined {
  if (data instanceof Float32Array) return "float32";
  if (data instanceof Float64Array) return "float64";
  if (data instanceof Int32Array) return "int32";
  if (data instanceof Uint8Array) return "bool";
  return undefined;
}

/**
 * The result dtype of a binary op on two tensors: the later of the two in the order
 * bool < int32 < float32 < float64 (NumPy's rule, restricted to our four types). A plain
 * number meeting a tensor is weakly typed (JAX, NumPy 2): it keeps the tensor's dtype
 * unless its kind is higher, so an integer meeting a bool tensor gives int32 and a fraction
 * meeting an int32 or bool tensor gives float32 (the table is in docs/semantics.md).
 *
 * @param a the first dtype
 * @param b the second dtype
 * @returns the promoted dtype
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { promoteDTypes } from "@tessella/tessella";
 * assert.equal(promoteDTypes("int32", "float32"), "float32");
 * ```
 */
export function promoteDTypes(a: DType, b: DType): DType {
  return DTYPES.indexOf(a) >= DTYPES.indexOf(b) ? a : b;
}

/** Checks that a string names a dtype, with a clear error otherwise. */
export function checkDType(dtype: string, op: string): DType {
  if ((DTYPES as readonly string[]).includes(dtype)) return dtype as DType;
  throw new Error(
    `Cannot ${op}: unknown dtype "${dtype}" (expected one of ${DTYPES.join(", ")})`,
  );
}
