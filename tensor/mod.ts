/**
 * Tensors and the ops on them: immutable n-dimensional arrays, NumPy broadcasting,
 * free-function ops with their derivatives, explicit-key random numbers and pytrees.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { add, matmul, ones, tensor, toArray } from "@tessella/tessella/tensor";
 * const y = add(matmul(tensor([[1, 2]]), ones([2, 3])), 1); // [1, 3]
 * assert.deepEqual(await toArray(y), new Float32Array([4, 4, 4]));
 * ```
 *
 * @module
 */

export {
  type Backend,
  currentBackend,
  getBackend,
  listBackends,
  openBackend,
  registerBackend,
  useBackend,
} from "./backend.ts";
export type { BinaryOp, ReduceOp, UnaryOp } from "./backend.ts";
export { getNumThreads, setNumThreads } from "./backend/wasm/runtime.ts";
export { type TensorLike } from "./_core.ts";
export { type DType, DTYPES, isFloatDType, promoteDTypes, type TypedArray } from "./dtype.ts";
export { broadcastShapes, type Shape } from "./shape.ts";
export { checkLive, Storage, Tensor, type View } from "./tensor.ts";
export {
  dispose,
  disposeReplaced,
  emptyCache,
  keep,
  type MemoryStats,
  memoryStats,
  registerPool,
  tidy,
} from "./memory.ts";
export { record, type Recorder, setRecorder, type VjpFn } from "./recorder.ts";
export {
  arange,
  type CreateOptions,
  eye,
  full,
  fullLike,
  linspace,
  type NestedArray,
  type NumericArray,
  ones,
  onesLike,
  tensor,
  zeros,
  zerosLike,
} from "./create.ts";
export { item, type NestedValues, toArray, toArraySync, toBackend, toNested } from "./read.ts";
export { formatValues, type PrintOptions, setPrintOptions } from "./format.ts";
export {
  abs,
  cast,
  ceil,
  cos,
  erf,
  exp,
  floor,
  gelu,
  isFinite,
  log,
  log1p,
  logicalNot,
  neg,
  reciprocal,
  relu,
  round,
  rsqrt,
  sigmoid,
  sign,
  sin,
  sqrt,
  square,
  tanh,
} from "./unary.ts";
export {
  add,
  clip,
  div,
  equal,
  greater,
  greaterEqual,
  less,
  lessEqual,
  logicalAnd,
  logicalOr,
  maximum,
  minimum,
  mul,
  notEqual,
  pow,
  sub,
  where,
} from "./binary.ts";
export {
  argmax,
  argmin,
  type ArgOptions,
  logSumExp,
  max,
  mean,
  min,
  norm,
  type NormOptions,
  type ReduceOptions,
  std,
  sum,
  variance,
  type VarianceOptions,
} from "./reduce.ts";
export {
  broadcastTo,
  concat,
  contiguous,
  expand,
  flatten,
  flip,
  matrixTranspose,
  pad,
  permute,
  repeat,
  reshape,
  slice,
  type SliceSpec,
  split,
  squeeze,
  stack,
  tile,
  transpose,
  unsqueeze,
} from "./movement.ts";
export { embedding, gather, oneHot, scatterAdd, take } from "./indexing.ts";
export { linear, matmul } from "./matmul.ts";
export { type AdamConstants, adamStep } from "./adam.ts";
export { logSoftmax, softmax } from "./softmax.ts";
export { cosineSimilarity, l2Normalize, layerNorm } from "./normalize.ts";
export { crossEntropy, mseLoss } from "./loss.ts";
export { stopGradient } from "./stop_gradient.ts";
export {
  bernoulli,
  dropout,
  foldIn,
  Key,
  key,
  normal,
  permutation,
  permutationArray,
  randint,
  type RandomOptions,
  randomWords,
  splitKey,
  threefry2x32,
  truncatedNormal,
  uniform,
} from "./random.ts";
export {
  isContainer,
  type Tree,
  type TreeDef,
  treeFlatten,
  treeFlattenWithPath,
  treeLeaves,
  treeMap,
  treeMapWithPath,
  treeUnflatten,
} from "./tree.ts";
export { erfcScalar, erfinvScalar, erfScalar, roundHalfEvenScalar } from "./special_math.ts";
