// deno-lint-ignore-file no-explicit-any -- leaf callbacks are typed by their callers
// Pytrees: nested plain objects and arrays whose leaves are tensors (or other values).
//
// Parameter trees, gradient trees and optimizer states are pytrees. A *container* is a
// plain object (`{}`) or an array; anything else — a Tensor, a number, a Key, null — is
// a *leaf*. (Unlike JAX, null is a leaf: gradient trees hold null for integer leaves.)
// Object keys are visited in insertion order, so flattening is deterministic and
// `treeFlattenWithPath(params)` lists a model's parameters in state-dict order.

/** A nested structure of plain objects and arrays with leaves of type `L`. */
export type Tree<L> = L | readonly Tree<L>[] | { readonly [key: string]: Tree<L> };

/** The structure of a tree without its leaves; `treeUnflatten` refills it. */
export type TreeDef =
  | { kind: "leaf" }
  | { kind: "array"; children: TreeDef[] }
  | { kind: "object"; keys: string[]; children: TreeDef[] };

/** Whether `x` is a container (a plain object or an array) rather than a leaf. */
export function isContainer(x: unknown): x is Record<string, unknown> | unknown[] {
  if (Array.isArray(x)) return true;
  if (x === null || typeof x !== "object") return false;
  const proto = Object.getPrototypeOf(x);
  return proto === Object.prototype || proto === null;
}

/**
 * Splits a tree into its leaves (depth first, keys in insertion order) and its structure.
 *
 * @param tree the tree
 * @returns `{ leaves, treedef }`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { treeFlatten, treeUnflatten } from "@tessella/tessella";
 * const { leaves, treedef } = treeFlatten({ a: 1, b: [2, 3] });
 * assert.deepEqual(leaves, [1, 2, 3]);
 * assert.deepEqual(treeUnflatten(treedef, [4, 5, 6]), { a: 4, b: [5, 6] });
 * ```
 */
export function treeFlatten<L = unknown>(tree: unknown): { leaves: L[]; treedef: TreeDef } {
  const leaves: L[] = [];
  const walk = (node: unknown): TreeDef => {
    if (Array.isArray(node)) return { kind: "array", children: node.map(walk) };
    if (isContainer(node)) {
      const keys = Object.keys(node);
      return {
        kind: "object",
        keys,
        children: keys.map((k) => walk((node as Record<string, unknown>)[k])),
      };
    }
    leaves.push(node as L);
    return { kind: "leaf" };
  };
  const treedef = walk(tree);
  return { leaves, treedef };
}

/** Number of leaves a tree structure holds. */
export function treeSize(treedef: TreeDef): number {
  if (treedef.kind === "leaf") return 1;
  return treedef.children.reduce((n, c) => n + treeSize(c), 0);
}

/**
 * Rebuilds a tree of the given structure from a list of leaves (the inverse of
 * `treeFlatten`).
 *
 * @param treedef the structure
 * @param leaves exactly as many leaves as the structure holds
 * @returns the tree
 */
export function treeUnflatten<T = unknown>(treedef: TreeDef, leaves: readonly unknown[]): T {
  const expected = treeSize(treedef);
  if (leaves.length !== expected) {
    throw new Error(`Cannot treeUnflatten: expected ${expected} leaves, got ${leaves.length}`);
  }
  let at = 0;
  const build = (def: TreeDef): unknown => {
    if (def.kind === "leaf") return leaves[at++];
    const children = def.children.map(build);
    if (def.kind === "array") return children;
    const obj: Record<string, unknown> = {};
    def.keys.forEach((k, i) => (obj[k] = children[i]));
    return obj;
  };
  return build(treedef) as T;
}

/** The leaves of a tree, in flattening order. */
export function treeLeaves<L = unknown>(tree: unknown): L[] {
  return treeFlatten<L>(tree).leaves;
}

function sameStructure(a: TreeDef, b: TreeDef): boolean {
  if (a.kind !== b.kind) return false;
  if (a.kind === "leaf") return true;
  const bc = (b as { children: TreeDef[] }).children;
  if (a.children.length !== bc.length) return false;
  if (a.kind === "object") {
    const bk = (b as { keys: string[] }).keys;
    if (a.keys.some((k, i) => k !== bk[i])) return false;
  }
  return a.children.every((c, i) => sameStructure(c, bc[i]));
}

/** Flattens `rest` and checks each has the structure `treedef`. */
function flattenAlike(treedef: TreeDef, rest: readonly unknown[], op: string): unknown[][] {
  return rest.map((r, i) => {
    const flat = treeFlatten(r);
    if (!sameStructure(treedef, flat.treedef)) {
      throw new Error(`Cannot ${op}: tree ${i + 1} has a different structure from tree 0`);
    }
    return flat.leaves;
  });
}

/**
 * Applies `fn` to corresponding leaves of one or more trees of the same structure.
 *
 * @param fn called with one leaf from each tree
 * @param tree the first tree
 * @param rest more trees with the same structure
 * @returns a tree of the results, shaped like `tree`
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { treeMap } from "@tessella/tessella";
 * const sum = treeMap((a: number, b: number) => a + b, { x: 1, y: [2] }, { x: 10, y: [20] });
 * assert.deepEqual(sum, { x: 11, y: [22] });
 * ```
 */
export function treeMap<T = any>(
  fn: (...leaves: any[]) => unknown,
  tree: unknown,
  ...rest: unknown[]
): T {
  const { leaves, treedef } = treeFlatten(tree);
  const others = flattenAlike(treedef, rest, "treeMap");
  return treeUnflatten<T>(treedef, leaves.map((leaf, i) => fn(leaf, ...others.map((o) => o[i]))));
}

/**
 * `treeMap` whose `fn` also receives each leaf's dotted path first:
 * `fn(path, leaf, ...otherLeaves)`.
 *
 * @param fn called with the path and one leaf from each tree
 * @param tree the first tree
 * @param rest more trees with the same structure
 * @returns a tree of the results
 */
export function treeMapWithPath<T = any>(
  fn: (path: string, ...leaves: any[]) => unknown,
  tree: unknown,
  ...rest: unknown[]
): T {
  const { treedef } = treeFlatten(tree);
  const others = flattenAlike(treedef, rest, "treeMapWithPath");
  const mapped = treeFlattenWithPath(tree).map(([path, leaf], i) =>
    fn(path, leaf, ...others.map((o) => o[i]))
  );
  return treeUnflatten<T>(treedef, mapped);
}

/**
 * The leaves of a tree with their dotted paths (`blocks.0.attn.qkv.weight`), in
 * insertion order: exactly PyTorch state-dict keys when the tree mirrors a module.
 *
 * @param tree the tree
 * @returns `[path, leaf]` pairs
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { treeFlattenWithPath } from "@tessella/tessella";
 * const paths = treeFlattenWithPath({ blocks: [{ attn: { q_bias: 0 } }], norm: { weight: 1 } });
 * assert.deepEqual(paths.map(([p]) => p), ["blocks.0.attn.q_bias", "norm.weight"]);
 * ```
 */
export function treeFlattenWithPath<L = any>(tree: unknown): Array<[string, L]> {
  const out: Array<[string, L]> = [];
  const walk = (node: unknown, path: string): void => {
    if (Array.isArray(node)) {
      node.forEach((child, i) => walk(child, path === "" ? `${i}` : `${path}.${i}`));
    } else if (isContainer(node)) {
      for (const k of Object.keys(node)) {
        walk((node as Record<string, unknown>)[k], path === "" ? k : `${path}.${k}`);
      }
    } else {
      out.push([path, node as L]);
    }
  };
  walk(tree, "");
  return out;
}
