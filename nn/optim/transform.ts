// Optimizers as gradient transformations (the optax design): each is a pair
//   init(params) → state            update(updates, state, params) → { updates, state }
// and an optimizer is a chain of them. AdamW = chain(scaleByAdam, addDecayedWeights,
// scaleByLearningRate). Updates are *added* to the parameters by applyUpdates.
//
// Trees may hold null leaves (gradients of integer parameters): they pass through.
// Step counters are plain numbers in the state, so schedules are evaluated on the host
// and nothing is read back from the GPU.

import {
  add,
  div,
  minimum,
  mul,
  sqrt,
  square,
  stack,
  sum,
  type Tensor,
  treeLeaves,
  treeMap,
  treeMapWithPath,
  zerosLike,
} from "../../tensor/mod.ts";
import type { Schedule } from "./schedule.ts";

/** A pytree whose leaves are tensors (or null where there is no gradient). */
// deno-lint-ignore no-explicit-any
export type Updates = any;

/** An optax-style gradient transformation. */
export interface GradientTransformation<S = unknown> {
  /** The initial state for `params`. */
  init(params: unknown): S;
  /** Transforms `updates` (gradients at first), given the state and current params. */
  update(updates: Updates, state: S, params?: unknown): { updates: Updates; state: S };
}

const isTensor = (x: unknown): x is Tensor => x !== null && typeof x === "object" && "storage" in x;

/** Maps tensor leaves, passing nulls (and other non-tensors) through. */
function mapTensors(
  fn: (...leaves: Tensor[]) => unknown,
  tree: unknown,
  ...rest: unknown[]
): Updates {
  return treeMap(
    (
      leaf: unknown,
      ...others: unknown[]
    ) => (isTensor(leaf) ? fn(leaf, ...(others as Tensor[])) : leaf),
    tree,
    ...rest,
  );
}

/**
 * Composes transformations left to right; the state is the list of their states.
 *
 * @param transforms the transformations
 * @returns the composite
 */
export function chain(
  ...transforms: GradientTransformation<unknown>[]
): GradientTransformation<unknown[]> {
  return {
    init: (params) => transforms.map((t) => t.init(params)),
    update(updates, state, params) {
      const next: unknown[] = [];
      transforms.forEach((t, i) => {
        const out = t.update(updates, state[i], params);
        updates = out.updates;
        next.push(out.state);
      });
      return { updates, state: next };
    },
  };
}

/** Multiplies updates by a constant. */
export function scale(factor: number): GradientTransformation<Record<string, never>> {
  return {
    init: () => ({}),
    update: (u, s) => ({ updates: mapTensors((g) => mul(g, factor), u), state: s }),
  };
}

/** State of scaleByAdam. */
export interface AdamState {
  /** Steps taken so far (for the bias correction). */
  count: number;
  /** First-moment estimates, one per parameter. */
  mu: Updates;
  /** Second-moment estimates, one per parameter. */
  nu: Updates;
}

/**
 * Adam's rescaling (Kingma & Ba 2015): running means of g and g², bias-corrected,
 * update = m̂ / (√v̂ + eps).
 *
 * @param options `b1` (0.9), `b2` (0.999), `eps` (1e-8)
 * @returns the transformation
 */
export function scaleByAdam(
  options: { b1?: number; b2?: number; eps?: number } = {},
): GradientTransformation<AdamState> {
  const b1 = options.b1 ?? 0.9;
  const b2 = options.b2 ?? 0.999;
  const eps = options.eps ?? 1e-8;
  return {
    init: (params) => ({
      count: 0,
      mu: mapTensors(zerosLike, params),
      nu: mapTensors(zerosLike, params),
    }),
    update(grads, state) {
      const count = state.count + 1;
      const mu = mapTensors((g, m) => add(mul(m, b1), mul(g, 1 - b1)), grads, state.mu);
      const nu = mapTensors((g, v) => add(mul(v, b2), mul(square(g), 1 - b2)), grads, state.nu);
      const c1 = 1 - b1 ** count;
      const c2 = 1 - b2 ** count;
      const updates = mapTensors((m, v) => div(div(m, c1), add(sqrt(div(v, c2)), eps)), mu, nu);
      return { updates, state: { count, mu, nu } };
    },
  };
}

/** Parameter names the official models exclude from weight decay (`no_weight_decay()`). */
export const NO_WEIGHT_DECAY_NAMES: readonly string[] = ["pos_embed", "cls_token"];

/**
 * The official weight-decay mask (`get_parameter_groups`): no decay for tensors with ≤ 1
 * axis, names ending in `.bias`, or names in `noWeightDecay` (matched on the last path
 * segment, so `encoder.cls_token` counts). `mask_token` and relative-bias tables decay.
 *
 * @param params the parameter tree
 * @param noWeightDecay extra names to exclude
 * @returns a tree of booleans (true = decay)
 */
export function defaultDecayMask(
  params: unknown,
  noWeightDecay: readonly string[] = NO_WEIGHT_DECAY_NAMES,
): Updates {
  return treeMapWithPath((path: string, leaf: unknown) => {
    if (!isTensor(leaf)) return false;
    const last = path.split(".").pop()!;
    return leaf.rank > 1 && !path.endsWith(".bias") && !noWeightDecay.includes(last) &&
      !noWeightDecay.includes(path);
  }, params);
}

/**
 * Adds `weightDecay · params` to the updates (decoupled weight decay), where `mask` is true.
 *
 * @param options `weightDecay`, `mask` (a boolean tree, or a function of the params;
 *   default: the official mask)
 * @returns the transformation
 */
export function addDecayedWeights(
  options: { weightDecay: number; mask?: Updates | ((params: unknown) => Updates) },
): GradientTransformation<Record<string, never>> {
  return {
    init: () => ({}),
    update(updates, state, params) {
      if (params === undefined) {
        throw new Error("addDecayedWeights needs the params: call update(grads, state, params)");
      }
      if (options.weightDecay === 0) return { updates, state };
      const mask = typeof options.mask === "function"
        ? options.mask(params)
        : options.mask ?? defaultDecayMask(params);
      const decayed = treeMap(
        (
          u: unknown,
          p: unknown,
          m: unknown,
        ) => (isTensor(u) && m === true ? add(u, mul(p as Tensor, options.weightDecay)) : u),
        updates,
        params,
        mask,
      );
      return { updates: decayed, state };
    },
  };
}

/** The L2 norm of all gradients together (a 0-d tensor). */
export function globalNorm(updates: Updates): Tensor {
  const leaves = treeLeaves<unknown>(updates).filter(isTensor);
  if (leaves.length === 0) throw new Error("globalNorm: no tensors in the tree");
  return sqrt(sum(stack(leaves.map((g) => sum(square(g))))));
}

/**
 * Scales all updates by min(1, maxNorm / (‖g‖ + 1e-6)), PyTorch's clip_grad_norm_
 * formula (the official training scripts use it).
 *
 * @param maxNorm the largest global L2 norm allowed
 * @returns the transformation
 */
export function clipByGlobalNorm(maxNorm: number): GradientTransformation<Record<string, never>> {
  return {
    init: () => ({}),
    update(updates, state) {
      const coef = minimum(div(maxNorm, add(globalNorm(updates), 1e-6)), 1);
      return { updates: mapTensors((g) => mul(g, coef), updates), state };
    },
  };
}

/**
 * Multiplies updates by −learning rate (a number or a schedule of the step count).
 *
 * @param learningRate constant or schedule
 * @returns the transformation
 */
export function scaleByLearningRate(
  learningRate: number | Schedule,
): GradientTransformation<{ count: number }> {
  const lr = typeof learningRate === "number" ? () => learningRate : learningRate;
  return {
    init: () => ({ count: 0 }),
    update(updates, state) {
      const rate = lr(state.count);
      return {
        updates: mapTensors((u) => mul(u, -rate), updates),
        state: { count: state.count + 1 },
      };
    },
  };
}

/**
 * Multiplies each leaf's update by its own number (e.g. layer-wise learning-rate decay).
 *
 * @param multipliers a tree of numbers shaped like the params
 * @returns the transformation
 */
export function scaleByTree(multipliers: Updates): GradientTransformation<Record<string, never>> {
  return {
    init: () => ({}),
    update: (updates, state) => ({
      updates: treeMap(
        (u: unknown, m: unknown) => (isTensor(u) && m !== 1 ? mul(u, m as number) : u),
        updates,
        multipliers,
      ),
      state,
    }),
  };
}

/**
 * Momentum: v ← momentum·v + g, update = v (or g + momentum·v with Nesterov).
 *
 * @param options `momentum` (0.9), `nesterov` (false)
 * @returns the transformation
 */
export function traceMomentum(
  options: { momentum?: number; nesterov?: boolean } = {},
): GradientTransformation<{ trace: Updates }> {
  const momentum = options.momentum ?? 0.9;
  return {
    init: (params) => ({ trace: mapTensors(zerosLike, params) }),
    update(grads, state) {
      const trace = mapTensors((g, v) => add(mul(v, momentum), g), grads, state.trace);
      const updates = options.nesterov
        ? mapTensors((g, v) => add(g, mul(v, momentum)), grads, trace)
        : trace;
      return { updates, state: { trace } };
    },
  };
}

/**
 * Adds updates to parameters: params + updates (null updates leave a leaf unchanged).
 *
 * @param params the parameters
 * @param updates the transformed updates
 * @returns the new parameters
 */
export function applyUpdates<P>(params: P, updates: Updates): P {
  return treeMap(
    (p: unknown, u: unknown) => (isTensor(p) && isTensor(u) ? add(p, u) : p),
    params,
    updates,
  );
}
