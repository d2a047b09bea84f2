// Shared test helpers: closeness checks with stated tolerances, the fast-check seed, and
// the list of backends every backend test runs on.

import assert from "node:assert/strict";
import { listBackends, type Tensor, toArray, toArraySync, treeFlattenWithPath } from "../mod.ts";

/** The fixed fast-check seed; fast-check prints it with any failure so it can be replayed. */
export const SEED = 20261127;

/** Tolerances: |a − b| ≤ atol + rtol·|b|. */
export interface Tolerance {
  atol: number;
  rtol: number;
}

/** float32 agreement used by forward-op tests (a few ulps after a handful of ops). */
export const F32: Tolerance = { atol: 1e-6, rtol: 1e-5 };
/** float64 agreement. */
export const F64: Tolerance = { atol: 1e-12, rtol: 1e-10 };

/** Asserts elementwise |actual − expected| ≤ atol + rtol·|expected|, NaNs matching NaNs. */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  tol: Tolerance,
  message = "",
): void {
  assert.equal(
    actual.length,
    expected.length,
    `${message}: length ${actual.length} vs ${expected.length}`,
  );
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i];
    const b = expected[i];
    if (Number.isNaN(b)) {
      assert.ok(Number.isNaN(a), `${message}: element ${i} is ${a}, expected NaN`);
      continue;
    }
    if (!Number.isFinite(b)) {
      assert.equal(a, b, `${message}: element ${i}`);
      continue;
    }
    const err = Math.abs(a - b);
    if (!(err <= tol.atol + tol.rtol * Math.abs(b))) {
      assert.fail(
        `${message}: element ${i} is ${a}, expected ${b} (|diff| ${err.toExponential(3)} > ` +
          `atol ${tol.atol} + rtol ${tol.rtol}·|b|)`,
      );
    }
  }
}

/**
 * Asserts that a gradient tree matches a fixture's `grad.<state-dict key>` entries: one
 * entry per gradient, each within `tol`.
 */
export async function assertGradsMatch(
  grads: unknown,
  fixture: ReadonlyMap<string, Tensor>,
  tol: Tolerance,
): Promise<void> {
  const flat = treeFlattenWithPath(grads);
  const expected = [...fixture.keys()].filter((k) => k.startsWith("grad."));
  assert.equal(flat.length, expected.length, "one fixture gradient per parameter");
  for (const [path, g] of flat) {
    await assertTensorClose(g as Tensor, fixture.get(`grad.${path}`)!, tol, `grad ${path}`);
  }
}

/** assertClose on two tensors' values, read back from any backend. */
export async function assertTensorClose(
  actual: Tensor,
  expected: Tensor,
  tol: Tolerance,
  message = "",
): Promise<void> {
  assertClose(await toArray(actual), await toArray(expected), tol, message);
}

/** Synchronous values of a CPU tensor as plain numbers. */
export function values(t: Tensor): number[] {
  return Array.from(toArraySync(t));
}

/** Every registered backend (CPU always; WebGPU when its module registered an adapter). */
export function backendsUnderTest(): string[] {
  return listBackends();
}
