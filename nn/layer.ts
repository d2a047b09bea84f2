// The shape of every layer in nn/: a pair of pure functions over a parameter tree, as in
// JAX's stax or equinox. `init(key)` makes the parameters (their keys are the official
// PyTorch state-dict names); `apply(params, x, options)` runs the layer. A layer holds no
// state of its own: the parameters live in the caller's tree.

import type { Key, Tensor } from "../tensor/mod.ts";

/** A layer: `init(key)` makes parameters, `apply(params, x, options)` runs it. */
export interface Layer<P, O = Record<string, never>> {
  /** Makes the layer's parameters from a key. */
  init(key: Key): P;
  /** Runs the layer. */
  apply(params: P, x: Tensor, options?: O): Tensor;
}
