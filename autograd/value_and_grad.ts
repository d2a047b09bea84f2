// The functional API over tapes: valueAndGrad, grad and vjp (JAX's names and shapes).
//
//   const { value, grads } = valueAndGrad(loss)(params, batch);
//
// Differentiation is with respect to the first argument, any pytree of tensors; `grads`
// has the same structure. Float leaves get a gradient (zeros if the output does not
// depend on them); integer, bool and non-tensor leaves get null.

import {
  isFloatDType,
  onesLike,
  Tensor,
  treeFlatten,
  treeUnflatten,
  zerosLike,
} from "../tensor/mod.ts";
import { alias, backward, Tape, withTape } from "./tape.ts";

/** Wraps each float tensor leaf in a fresh alias watched by `tape`; other leaves pass through. */
function watchLeaves(tape: Tape, leaves: readonly unknown[]): unknown[] {
  return leaves.map((leaf) => {
    if (!(leaf instanceof Tensor) || !isFloatDType(leaf.dtype)) return leaf;
    const watched = alias(leaf); // recorded on enclosing tapes, so nesting composes
    tape.watch(watched);
    return watched;
  });
}

/** Gradient per leaf: the cotangent reached, zeros if none, null for non-float leaves. */
function collectGrads(
  watched: readonly unknown[],
  cotangents: Map<Tensor, Tensor>,
): (Tensor | null)[] {
  return watched.map((leaf) => {
    if (!(leaf instanceof Tensor) || !isFloatDType(leaf.dtype)) return null;
    return cotangents.get(leaf) ?? zerosLike(leaf);
  });
}

function checkScalarOutput(value: unknown, what: string): Tensor {
  if (!(value instanceof Tensor)) {
    throw new TypeError(
      `Cannot differentiate: ${what} must return a 0-d tensor (got ${typeof value})`,
    );
  }
  if (value.rank !== 0) {
    throw new Error(
      `Cannot differentiate: ${what} must return a 0-d tensor (got shape [${
        value.shape.join(", ")
      }]); ` +
        `reduce it first, e.g. with mean()`,
    );
  }
  if (!isFloatDType(value.dtype)) {
    throw new TypeError(
      `Cannot differentiate: ${what} returned a ${value.dtype} tensor; expected float`,
    );
  }
  return value;
}

/** What `valueAndGrad(f)(params, ...rest)` returns. */
export interface ValueAndGrad<P, A> {
  /** f's 0-d output. */
  value: Tensor;
  /** d value / d params, shaped like params (null for non-float leaves). */
  grads: P;
  /** f's auxiliary output when `hasAux` (else undefined). */
  aux: A;
}

/**
 * Transforms `f(params, ...rest) → 0-d tensor` into a function returning the value and
 * the gradient with respect to `params` (any pytree of tensors).
 *
 * With `{ hasAux: true }`, f returns `[value, aux]` and aux is passed through (metrics,
 * updated state). The call is synchronous; on a GPU the values may still be computing.
 *
 * @param f the function to differentiate
 * @param options `hasAux`
 * @returns `(params, ...rest) => { value, grads, aux }`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mul, sum, tensor, toArray, valueAndGrad } from "@tessella/tessella";
 * const f = (p: { w: ReturnType<typeof tensor> }) => sum(mul(p.w, p.w)); // Σ w²
 * const { value, grads } = valueAndGrad(f)({ w: tensor([1, 2, 3]) });
 * assert.deepEqual(await toArray(value), new Float32Array([14]));
 * assert.deepEqual(await toArray(grads.w), new Float32Array([2, 4, 6])); // 2w
 * ```
 */
// deno-lint-ignore no-explicit-any
export function valueAndGrad<P = any, R extends unknown[] = any[], A = undefined>(
  f: (params: P, ...rest: R) => Tensor | [Tensor, A],
  options: { hasAux?: boolean } = {},
): (params: P, ...rest: R) => ValueAndGrad<P, A> {
  const hasAux = options.hasAux ?? false;
  return (params: P, ...rest: R): ValueAndGrad<P, A> => {
    const tape = new Tape();
    const { leaves, treedef } = treeFlatten(params);
    let watched: unknown[] = [];
    const result = withTape(tape, () => {
      watched = watchLeaves(tape, leaves);
      return f(treeUnflatten<P>(treedef, watched), ...rest);
    });
    let value: Tensor;
    let aux: A = undefined as A;
    if (hasAux) {
      if (!Array.isArray(result) || result.length !== 2) {
        throw new TypeError("Cannot differentiate: with hasAux, f must return [value, aux]");
      }
      value = checkScalarOutput(result[0], "f");
      aux = result[1] as A;
    } else {
      value = checkScalarOutput(result, "f");
    }
    const cotangents = backward(tape, value, onesLike(value));
    const grads = treeUnflatten<P>(treedef, collectGrads(watched, cotangents));
    return { value, grads, aux };
  };
}

/**
 * Transforms `f(params, ...rest) → 0-d tensor` into a function returning only the
 * gradient with respect to `params`.
 *
 * @param f the function to differentiate
 * @returns `(params, ...rest) => grads`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { grad, mul, tensor, toArray } from "@tessella/tessella";
 * const cube = (x: ReturnType<typeof tensor>) => mul(mul(x, x), x);
 * const d2 = grad((x: ReturnType<typeof tensor>) => grad(cube)(x)); // d²/dx² x³ = 6x
 * assert.deepEqual(await toArray(d2(tensor(2))), new Float32Array([12]));
 * ```
 */
// deno-lint-ignore no-explicit-any
export function grad<P = any, R extends unknown[] = any[]>(
  f: (params: P, ...rest: R) => Tensor,
): (params: P, ...rest: R) => P {
  const vg = valueAndGrad<P, R>(f);
  return (params: P, ...rest: R): P => vg(params, ...rest).grads;
}

/** What `vjp` returns. */
export interface VjpResult {
  /** f's output. */
  out: Tensor;
  /** Pulls a cotangent shaped like `out` back to one gradient tree per primal. */
  vjp: (cotangent: Tensor) => unknown[];
}

/**
 * Evaluates `f(...primals)` and returns its output with a pullback: given a cotangent
 * of the output, the vector-Jacobian products for every primal (each a pytree).
 *
 * @param f a function of pytrees returning one tensor (of any shape)
 * @param primals the arguments
 * @returns `{ out, vjp }`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { mul, tensor, toArray, vjp } from "@tessella/tessella";
 * const { out, vjp: pullback } = vjp((x, y) => mul(x, y), tensor([1, 2]), tensor([3, 4]));
 * const [gx, gy] = pullback(tensor([1, 10]));
 * assert.deepEqual(await toArray(gx as typeof out), new Float32Array([3, 40]));
 * assert.deepEqual(await toArray(gy as typeof out), new Float32Array([1, 20]));
 * ```
 */
// deno-lint-ignore no-explicit-any
export function vjp(f: (...primals: any[]) => Tensor, ...primals: unknown[]): VjpResult {
  const tape = new Tape();
  const flats = primals.map((p) => treeFlatten(p));
  let watched: unknown[][] = [];
  const out = withTape(tape, () => {
    watched = flats.map(({ leaves }) => watchLeaves(tape, leaves));
    return f(...flats.map(({ treedef }, i) => treeUnflatten(treedef, watched[i])));
  });
  if (!(out instanceof Tensor)) throw new TypeError("Cannot vjp: f must return a tensor");
  const pullback = (cotangent: Tensor): unknown[] => {
    if (
      cotangent.shape.length !== out.shape.length ||
      cotangent.shape.some((d, i) => d !== out.shape[i])
    ) {
      throw new Error(
        `Cannot vjp: the cotangent's shape [${cotangent.shape}] differs from the output's [${out.shape}]`,
      );
    }
    const cotangents = backward(tape, out, cotangent);
    return flats.map(({ treedef }, i) =>
      treeUnflatten(treedef, collectGrads(watched[i], cotangents))
    );
  };
  return { out, vjp: pullback };
}
