// Golden edge cases against PyTorch, on every backend: NaN, ±∞ and signed zeros through
// elementwise ops, reductions and composites; broadcasting (size-0 and size-1 axes);
// variance and std with few elements; cosine similarity of broadcast operands; plain
// numbers meeting bool, int32 and float32 tensors. Recorded by tools/golden/edge.py
// (PyTorch 1.13, float32) in tests/fixtures/golden_edge.json. NaN must meet NaN, ±∞ the
// same infinity; finite values |a − b| ≤ 1e-5 + 1e-4·|b| (outputs and VJPs).

import assert from "node:assert/strict";
import * as T from "../mod.ts";
import { assertClose } from "./_helpers.ts";
import { testOnBackends } from "./_backends.ts";
import { readCases, type RecordedCase } from "./_golden.ts";

type Num = number | string;
type Encoded =
  | { shape: number[]; dtype: "float32" | "int32" | "bool"; data: Num[] }
  | { scalar: Num | boolean };

interface EdgeCase extends RecordedCase<Encoded> {
  kwargs: { axis?: number | number[]; keepDims?: boolean };
  output: Encoded & { shape: number[] };
}

const TOL = { atol: 1e-5, rtol: 1e-4 };

const fixture = await readCases<EdgeCase>("golden_edge.json");

const num = (v: Num): number =>
  v === "NaN"
    ? NaN
    : v === "Infinity"
    ? Infinity
    : v === "-Infinity"
    ? -Infinity
    : v === "-0"
    ? -0
    : Number(v);

function decode(e: Encoded): T.Tensor | number | boolean {
  if ("scalar" in e) return typeof e.scalar === "boolean" ? e.scalar : num(e.scalar);
  return T.tensor(e.data.map(num), { shape: e.shape, dtype: e.dtype });
}

type Arg = T.Tensor | number | boolean;
type Op = (args: Arg[], kw: EdgeCase["kwargs"]) => T.Tensor;
const t = (x: Arg) => x as T.Tensor;
const unary = (f: (x: T.Tensor) => T.Tensor): Op => ([x]) => f(t(x));
const binary = (f: (a: T.TensorLike, b: T.TensorLike) => T.Tensor): Op => ([a, b]) => f(a, b);
const reduce =
  (f: (x: T.Tensor, o: { axis?: number[]; keepDims?: boolean }) => T.Tensor): Op => ([x], kw) =>
    f(t(x), { axis: kw.axis as number[], keepDims: kw.keepDims });

/** Our spelling of each PyTorch call in tools/golden/edge.py. */
const OPS: Record<string, Op> = {
  neg: unary(T.neg),
  abs: unary(T.abs),
  exp: unary(T.exp),
  log: unary(T.log),
  log1p: unary(T.log1p),
  sqrt: unary(T.sqrt),
  rsqrt: unary(T.rsqrt),
  square: unary(T.square),
  reciprocal: unary(T.reciprocal),
  sin: unary(T.sin),
  cos: unary(T.cos),
  tanh: unary(T.tanh),
  sigmoid: unary(T.sigmoid),
  relu: unary(T.relu),
  erf: unary(T.erf),
  gelu: unary((x) => T.gelu(x)),
  floor: unary(T.floor),
  ceil: unary(T.ceil),
  round: unary(T.round),
  isfinite: unary(T.isFinite),
  logical_not: unary(T.logicalNot),
  to_bool: unary((x) => T.cast(x, "bool")),
  add: binary(T.add),
  sub: binary(T.sub),
  mul: binary(T.mul),
  div: binary(T.div),
  pow: binary(T.pow),
  maximum: binary(T.maximum),
  minimum: binary(T.minimum),
  eq: binary(T.equal),
  ne: binary(T.notEqual),
  lt: binary(T.less),
  le: binary(T.lessEqual),
  gt: binary(T.greater),
  ge: binary(T.greaterEqual),
  logical_and: binary(T.logicalAnd),
  logical_or: binary(T.logicalOr),
  where: ([a, b]) => T.where(T.greater(t(a), 0), t(a), t(b)),
  sum: reduce(T.sum),
  mean: reduce(T.mean),
  amax: reduce(T.max),
  amin: reduce(T.min),
  logsumexp: reduce(T.logSumExp),
  var: reduce(T.variance),
  var_ddof1: reduce((x, o) => T.variance(x, { ...o, ddof: 1 })),
  std: reduce(T.std),
  std_ddof1: reduce((x, o) => T.std(x, { ...o, ddof: 1 })),
  norm: reduce(T.norm),
  softmax: unary((x) => T.softmax(x)),
  log_softmax: unary((x) => T.logSoftmax(x)),
  normalize: unary((x) => T.l2Normalize(x)),
  layer_norm: unary((x) => T.layerNorm(x, null, null, { eps: 1e-6 })),
  cosine_similarity: ([a, b], kw) => T.cosineSimilarity(t(a), t(b), { axis: kw.axis as number }),
  scalar_add: binary(T.add),
  scalar_sub: binary(T.sub),
  scalar_mul: binary(T.mul),
  scalar_div: binary(T.div),
  scalar_maximum: binary(T.maximum),
  scalar_lt: binary(T.less),
  scalar_eq: binary(T.equal),
  scalar_rsub: ([a, s]) => T.sub(s, a),
  scalar_rdiv: ([a, s]) => T.div(s, a),
  scalar_rlt: ([a, s]) => T.less(s, a),
};

Deno.test("golden edge cases: a few hundred, each with our spelling", () => {
  assert.ok(fixture.cases.length >= 300, `${fixture.cases.length} cases`);
  for (const c of fixture.cases) assert.ok(c.name in OPS, `no mapping for ${c.name}`);
});

const describeCase = (c: EdgeCase, i: number) =>
  `case ${i} (${c.name}${Object.keys(c.kwargs).length ? " " + JSON.stringify(c.kwargs) : ""}; ` +
  `inputs ${JSON.stringify(c.inputs)})`;

testOnBackends(`golden edge cases match PyTorch ${fixture.torch} (outputs and VJPs)`, async () => {
  const failures: string[] = [];
  for (const [i, c] of fixture.cases.entries()) {
    const args = c.inputs.map(decode);
    const op = OPS[c.name];
    try {
      const floats = args.map((a, k) => [a, k] as const).filter(([a]) =>
        a instanceof T.Tensor && a.dtype === "float32"
      );
      const { out, vjp } = T.vjp((...xs: T.Tensor[]) => {
        const all = [...args];
        floats.forEach(([, k], j) => (all[k] = xs[j]));
        return op(all, c.kwargs);
      }, ...floats.map(([a]) => a as T.Tensor));
      assert.deepEqual(out.shape, c.output.shape, "output shape");
      assert.equal(out.dtype, "dtype" in c.output ? c.output.dtype : undefined, "output dtype");
      assertClose(
        await T.toArray(out),
        "data" in c.output ? c.output.data.map(num) : [],
        TOL,
        "output",
      );
      if (c.cotangent && c.grads) {
        const grads = vjp(decode(c.cotangent) as T.Tensor) as T.Tensor[];
        const expected = c.grads.filter((_, k) => floats.some(([, f]) => f === k));
        for (const [j, g] of grads.entries()) {
          const e = expected[j];
          if (e === null || !("data" in e)) continue;
          assert.deepEqual(g.shape, e.shape, `grad ${j} shape`);
          assertClose(await T.toArray(g), e.data.map(num), TOL, `grad ${j}`);
        }
      }
    } catch (error) {
      failures.push(`${describeCase(c, i)}: ${error instanceof Error ? error.message : error}`);
    }
  }
  assert.deepEqual(failures, [], `${failures.length} of ${fixture.cases.length} cases differ`);
});
