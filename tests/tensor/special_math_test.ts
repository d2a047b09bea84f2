// Scalar special functions against published values and against each other.

import assert from "node:assert/strict";
import * as T from "../../mod.ts";
import { assertClose } from "../_helpers.ts";
import { erfByQuadrature } from "../_reference.ts";

// Values from Abramowitz & Stegun table 7.1 / high-precision tables.
const ERF: [number, number][] = [
  [0.1, 0.1124629160182849],
  [0.5, 0.5204998778130465],
  [1, 0.8427007929497149],
  [2, 0.9953222650189527],
  [3, 0.9999779095030014],
];

Deno.test("erfScalar() matches tabulated values to ~1e-15", () => {
  for (const [x, v] of ERF) {
    assertClose([T.erfScalar(x), T.erfScalar(-x)], [v, -v], { atol: 2e-15, rtol: 0 }, `erf(${x})`);
  }
  for (let x = -4; x <= 4; x += 0.37) {
    assertClose([T.erfScalar(x)], [erfByQuadrature(x)], { atol: 1e-12, rtol: 0 }, `erf(${x})`);
  }
});

Deno.test("erfcScalar() keeps relative precision in the far tail", () => {
  assertClose([T.erfcScalar(3)], [2.209049699858544e-5], { atol: 0, rtol: 1e-13 });
  assertClose([T.erfcScalar(6)], [2.151973671249891e-17], { atol: 0, rtol: 1e-12 });
  assertClose([T.erfcScalar(-2)], [1.9953222650189527], { atol: 0, rtol: 1e-15 });
});

Deno.test("erfinvScalar() inverts erfScalar() across (−1, 1)", () => {
  for (const y of [-0.999999, -0.9, -0.5, -1e-8, 0.1, 0.7, 0.95, 0.9999999]) {
    assertClose([T.erfScalar(T.erfinvScalar(y))], [y], { atol: 1e-15, rtol: 1e-14 }, `y ${y}`);
  }
  assert.equal(T.erfinvScalar(1), Infinity);
  assert.ok(Number.isNaN(T.erfinvScalar(2)));
});
