/**
 * Tessella: a functional tensor library for Deno with a tape-based autograd, and a
 * readable implementation of BEiT v2 on top of it.
 *
 * The root module exports tensors, ops and autograd flat, plus the state-dict loaders and
 * `loadFashionMnist`. Layers and optimizers live in `@tessella/tessella/nn`, the data
 * pipeline in `./data`.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { grad, mul, sin, sum, tensor, toArray } from "@tessella/tessella";
 * // d/dx Σ x·sin(x) = sin(x) + x·cos(x)
 * const g = grad((x) => sum(mul(x, sin(x))))(tensor([0, Math.PI / 2]));
 * const [g0, g1] = await toArray(g);
 * assert.ok(Math.abs(g0) < 1e-6 && Math.abs(g1 - 1) < 1e-6);
 * ```
 *
 * @module
 */

export * from "./tensor/mod.ts";
export * from "./autograd/mod.ts";
export {
  fromStateDict,
  type LoadReport,
  loadStateDict,
  saveStateDict,
} from "./nn/io/state_dict.ts";
export {
  type DataSource,
  type FashionMnistOptions,
  loadFashionMnist,
} from "./data/fashion_mnist.ts";
