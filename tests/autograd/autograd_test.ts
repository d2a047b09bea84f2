// The autograd API: valueAndGrad over pytrees, hasAux, null/zero gradients, gradient
// accumulation, stopGradient, customVjp, vjp, and higher-order derivatives (gradients
// of gradients, Hessian-vector products checked against finite differences).

import assert from "node:assert/strict";
import fc from "fast-check";
import * as T from "../../mod.ts";
import { assertClose, F64, SEED, values } from "../_helpers.ts";

const f64 = (data: T.NestedArray | number, shape?: number[]) =>
  T.tensor(data, { dtype: "float64", shape });

Deno.test("valueAndGrad() returns the value and grads shaped like a params pytree", () => {
  const params = {
    w: f64([1, 2]),
    layers: [{ b: f64(3) }],
    frozen: T.tensor([1], { dtype: "int32" }),
    name: "x",
  };
  type P = typeof params;
  const loss = (p: P, x: T.Tensor) => T.add(T.sum(T.mul(p.w, x)), T.square(p.layers[0].b));
  const { value, grads, aux } = T.valueAndGrad(loss)(params, f64([10, 20]));
  assert.deepEqual(values(value), [50 + 9]);
  assert.deepEqual(values(grads.w), [10, 20]);
  assert.deepEqual(values(grads.layers[0].b), [6]);
  assert.equal(grads.frozen, null); // integer leaves get null
  assert.equal(grads.name, null); // non-tensor leaves get null
  assert.equal(aux, undefined);
});

Deno.test("valueAndGrad() gives zeros for float leaves the output does not depend on", () => {
  const { grads } = T.valueAndGrad((p: { a: T.Tensor; b: T.Tensor }) => T.sum(p.a))({
    a: f64([1, 2]),
    b: f64([[1, 2]]),
  });
  assert.deepEqual(values(grads.b), [0, 0]);
  assert.deepEqual(grads.b.shape, [1, 2]);
});

Deno.test("valueAndGrad() with hasAux passes auxiliary outputs through", () => {
  const f = (
    w: T.Tensor,
  ): [T.Tensor, { doubled: T.Tensor }] => [T.sum(T.square(w)), { doubled: T.mul(w, 2) }];
  const { value, grads, aux } = T.valueAndGrad(f, { hasAux: true })(f64([3]));
  assert.deepEqual(values(value), [9]);
  assert.deepEqual(values(grads), [6]);
  assert.deepEqual(values(aux.doubled), [6]);
});

Deno.test("a tensor used several times accumulates its gradient", () => {
  // f(x) = x·x + 3x + exp(x) → f'(x) = 2x + 3 + e^x
  const g = T.grad((x: T.Tensor) => T.sum(T.add(T.add(T.mul(x, x), T.mul(x, 3)), T.exp(x))))(
    f64([0.5, -1]),
  );
  assertClose(values(g), [1 + 3 + Math.exp(0.5), -2 + 3 + Math.exp(-1)], F64);
});

Deno.test("gradients flow through views, broadcasting and dtype casts", () => {
  const x = T.tensor([[1, 2, 3], [4, 5, 6]]);
  const g = T.grad((t: T.Tensor) => {
    const col = T.slice(T.transpose(t), [[1, 2]]); // [1, 2] = t[:, 1]
    return T.sum(T.mul(T.cast(col, "float64"), f64([[10, 100]])));
  })(x);
  assert.equal(g.dtype, "float32");
  assert.deepEqual(values(g), [0, 10, 0, 0, 100, 0]);
  const gb = T.grad((b: T.Tensor) => T.sum(T.add(T.zeros([4, 3]), b)))(T.tensor([1, 1, 1]));
  assert.deepEqual(values(gb), [4, 4, 4]); // broadcast over 4 rows: summed back
});

Deno.test("stopGradient() blocks gradients but keeps values", () => {
  const g = T.grad((x: T.Tensor) => T.sum(T.mul(x, T.stopGradient(x))))(f64([3, 4]));
  assert.deepEqual(values(g), [3, 4]);
  // straight-through estimator: forward value round(x), gradient identity
  const st = (x: T.Tensor) => T.add(x, T.stopGradient(T.sub(T.round(x), x)));
  const { value, grads } = T.valueAndGrad((x: T.Tensor) => T.sum(st(x)))(f64([1.3, 2.7]));
  assert.deepEqual(values(value), [4]);
  assert.deepEqual(values(grads), [1, 1]);
});

Deno.test("customVjp() uses the given backward pass, which can itself be differentiated", () => {
  let backwardCalls = 0;
  // A "fused" square with a hand-written derivative 2x·g.
  const mySquare = T.customVjp(
    (x) => ({ output: T.mul(x, x), residuals: x }),
    (g, x) => {
      backwardCalls++;
      return [T.mul(g, T.mul(x, 2))];
    },
  );
  const g = T.grad((x: T.Tensor) => T.sum(mySquare(x)))(f64([1, -3]));
  assert.deepEqual(values(g), [2, -6]);
  assert.equal(backwardCalls, 1);
  const g2 = T.grad((x: T.Tensor) => T.sum(T.grad((y: T.Tensor) => T.sum(mySquare(y)))(x)))(
    f64([1, -3]),
  );
  assert.deepEqual(values(g2), [2, 2]); // d/dx 2x = 2
  const bad = T.customVjp((x) => ({ output: x, residuals: null }), () => []);
  assert.throws(
    () => T.grad((x: T.Tensor) => T.sum(bad(x)))(f64([1])),
    /returned 0 cotangents for 1 inputs/,
  );
});

Deno.test("vjp() pulls back any cotangent, repeatedly", () => {
  const { out, vjp } = T.vjp((a: T.Tensor, b: { w: T.Tensor }) => T.matmul(a, b.w), f64([[1, 2]]), {
    w: f64([[1, 0], [0, 1]]),
  });
  assert.deepEqual(out.shape, [1, 2]);
  const [ga, gb] = vjp(f64([[1, 0]])) as [T.Tensor, { w: T.Tensor }];
  assert.deepEqual(values(ga), [1, 0]);
  assert.deepEqual(values(gb.w), [1, 0, 2, 0]);
  const [ga2] = vjp(f64([[0, 1]])) as [T.Tensor];
  assert.deepEqual(values(ga2), [0, 1]);
});

Deno.test("grad(grad(f)) gives second derivatives", () => {
  // f(x) = sin(x)·x² → f'' = −sin x·x² + 4x cos x + 2 sin x
  const f = (x: T.Tensor) => T.sum(T.mul(T.sin(x), T.square(x)));
  const d2 = T.grad((x: T.Tensor) => T.sum(T.grad(f)(x)))(f64([0.3, 1.7]));
  const exact = (x: number) => -Math.sin(x) * x * x + 4 * x * Math.cos(x) + 2 * Math.sin(x);
  assertClose(values(d2), [exact(0.3), exact(1.7)], F64);
  const d3 = T.grad((x: T.Tensor) =>
    T.sum(T.grad((y: T.Tensor) => T.sum(T.grad((z: T.Tensor) => T.exp(z))(y)))(x))
  )(f64(0.5));
  assertClose(values(d3), [Math.exp(0.5)], F64);
});

/** Hessian-vector product H(x)·v = ∇_x (∇f(x) · v). */
function hvp(f: (x: T.Tensor) => T.Tensor, x: T.Tensor, v: T.Tensor): T.Tensor {
  return T.grad((y: T.Tensor) => T.sum(T.mul(T.grad(f)(y), v)))(x);
}

Deno.test("Hessian-vector products match the exact Hessian of a quadratic form", () => {
  // f(x) = ½ xᵀAx with symmetric A → H = A
  const A = f64([[2, 1, 0], [1, 3, -1], [0, -1, 4]]);
  const f = (x: T.Tensor) => T.mul(T.sum(T.mul(x, T.matmul(A, x))), 0.5);
  const v = f64([1, -2, 0.5]);
  assertClose(values(hvp(f, f64([0.3, -0.2, 1]), v)), values(T.matmul(A, v)), F64);
});

const HVP_OPS: [string, (x: T.Tensor) => T.Tensor][] = [
  ["tanh · exp", (x) => T.sum(T.mul(T.tanh(x), T.exp(T.mul(x, 0.3))))],
  ["sigmoid · gelu", (x) => T.sum(T.mul(T.sigmoid(x), T.gelu(x)))],
  ["gelu tanh", (x) => T.sum(T.square(T.gelu(x, { approximate: "tanh" })))],
  ["erf", (x) => T.sum(T.mul(T.erf(x), x))],
  ["softmax", (x) => T.sum(T.mul(T.softmax(T.reshape(x, [2, 3])), f64([[1, 2, 3], [3, 1, 2]])))],
  ["logSumExp", (x) => T.logSumExp(x)],
  [
    "crossEntropy",
    (x) =>
      T.crossEntropy(T.reshape(x, [2, 3]), T.tensor([2, 0], { dtype: "int32" }), {
        labelSmoothing: 0.1,
      }),
  ],
  [
    "layerNorm",
    (x) =>
      T.sum(T.mul(T.layerNorm(T.reshape(x, [2, 3]), null, null), f64([[1, -1, 2], [0.5, 3, 1]]))),
  ],
  [
    "layerNorm with weight and bias",
    (x) => T.sum(T.square(T.layerNorm(T.reshape(x, [3, 2]), f64([0.5, -2]), f64([0.1, 0.3])))),
  ],
  [
    "matmul",
    (x) => T.sum(T.square(T.matmul(T.reshape(x, [2, 3]), T.transpose(T.reshape(x, [2, 3]))))),
  ],
  [
    "div · sqrt · log",
    (x) => T.sum(T.div(T.sqrt(T.add(T.square(x), 1)), T.add(T.log(T.add(T.square(x), 2)), 1))),
  ],
  ["pow", (x) => T.sum(T.pow(T.add(T.square(x), 0.5), T.add(T.mul(x, 0.1), 1.5)))],
  [
    "norm · l2Normalize",
    (x) => T.add(T.norm(x), T.sum(T.mul(T.l2Normalize(x), f64([1, 2, 3, 4, 5, 6])))),
  ],
  ["max · mean · variance", (x) => T.add(T.mul(T.max(T.square(x)), T.mean(x)), T.variance(x))],
];

for (const [name, f] of HVP_OPS) {
  Deno.test(`Hessian-vector products through ${name} match finite differences of the gradient`, () => {
    fc.assert(
      fc.property(
        // Distinct magnitudes away from 0, so max() and norms have no kink nearby.
        fc.tuple(
          fc.shuffledSubarray([0, 1, 2, 3, 4, 5], { minLength: 6 }),
          fc.double({ min: 0, max: 0.05, noNaN: true }),
        )
          .map(([perm, j]) => perm.map((p) => p * 0.37 - 0.9877 + j)),
        fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: 6, maxLength: 6 }),
        (xs, vs) => {
          const v = f64(vs);
          // checkGrad of x ↦ ∇f(x)·v compares H·v with finite differences of the gradient.
          const result = T.checkGrad((x) => T.sum(T.mul(T.grad(f)(x), v)), [f64(xs)], {
            atol: 1e-7,
            rtol: 1e-6,
          });
          if (!result.ok) assert.fail(`${name}: ${JSON.stringify(result.worst)}`);
        },
      ),
      { seed: SEED, numRuns: 10 },
    );
  });
}

Deno.test("valueAndGrad() rejects non-scalar and non-float outputs with clear errors", () => {
  assert.throws(
    () => T.grad((x: T.Tensor) => x)(f64([1, 2])),
    /must return a 0-d tensor \(got shape \[2\]\)/,
  );
  assert.throws(
    () => T.grad(() => T.tensor(1, { dtype: "int32" }))(f64(1)),
    /returned a int32 tensor; expected float/,
  );
  assert.throws(
    () => T.valueAndGrad((x: T.Tensor) => T.sum(x), { hasAux: true })(f64([1])),
    /with hasAux, f must return \[value, aux\]/,
  );
  assert.throws(
    () => T.vjp((x: T.Tensor) => x, f64([1, 2])).vjp(f64([1])),
    /cotangent's shape \[1\] differs/,
  );
});

Deno.test("recording stops when no tape is active (no leaks into later calls)", () => {
  T.grad((x: T.Tensor) => T.sum(x))(f64([1]));
  // Outside any tape, ops simply compute; a tape started later sees only its own work.
  const y = T.exp(f64([1]));
  const g = T.grad((x: T.Tensor) => T.sum(T.mul(x, y)))(f64([2]));
  assertClose(values(g), [Math.E], F64);
});

Deno.test("gelu's gradient (one geluDerivative kernel) is Φ(x) + x·φ(x) in float32 and float64", () => {
  const xs = [-12, -6, -3.5, -1, -0.3, -1e-4, 0, 2e-5, 0.4, 1.7, 3, 8];
  // Φ(x) = ½(1 + erf(x/√2)) from the float64 erf op, φ(x) = e^(−x²/2)/√(2π)
  const erf = values(T.erf(f64(xs.map((x) => x * Math.SQRT1_2))));
  const exact = xs.map((x, i) =>
    0.5 * (1 + erf[i]) + x * Math.exp(-0.5 * x * x) / Math.sqrt(2 * Math.PI)
  );
  const g64 = T.grad((x: T.Tensor) => T.sum(T.gelu(x)))(f64(xs));
  assertClose(values(g64), exact, { atol: 1e-15, rtol: 1e-12 });
  const g32 = T.grad((x: T.Tensor) => T.sum(T.gelu(x)))(T.tensor(xs));
  // float32 erfc (relative error < 1.2e-7) and float32 rounding of the result
  assertClose(values(g32), exact, { atol: 1e-7, rtol: 4e-7 });
});
