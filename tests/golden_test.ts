// Golden tests against PyTorch: outputs and VJPs of 61 op cases recorded by
// tools/golden/ops.py (PyTorch 1.13, float32) in tests/fixtures/golden_ops.json.
// Agreement in float32: |a − b| ≤ 1e-5 + 1e-4·|b|.

import assert from "node:assert/strict";
import * as T from "../mod.ts";
import { assertClose } from "./_helpers.ts";
import { readCases, type RecordedCase } from "./_golden.ts";

interface Encoded {
  shape: number[];
  dtype: "float32" | "int32" | "bool";
  data: number[];
}

type GoldenCase = RecordedCase<Encoded>;

const TOL = { atol: 1e-5, rtol: 1e-4 };

const fixture = await readCases<GoldenCase>("golden_ops.json");

const decode = (e: Encoded): T.Tensor => T.tensor(e.data, { shape: e.shape, dtype: e.dtype });

/** Our spelling of each PyTorch call in tools/golden/ops.py. */
const OPS: Record<string, (...xs: T.Tensor[]) => T.Tensor> = {
  neg: T.neg,
  abs: T.abs,
  exp: T.exp,
  log: T.log,
  log1p: T.log1p,
  sqrt: T.sqrt,
  rsqrt: T.rsqrt,
  square: T.square,
  reciprocal: T.reciprocal,
  sin: T.sin,
  cos: T.cos,
  tanh: T.tanh,
  sigmoid: T.sigmoid,
  relu: T.relu,
  gelu: (x) => T.gelu(x),
  gelu_tanh: (x) => T.gelu(x, { approximate: "tanh" }),
  erf: T.erf,
  round: T.round,
  clip: (x) => T.clip(x, -0.5, 0.7),
  add: T.add,
  sub: T.sub,
  mul: T.mul,
  div: T.div,
  pow: T.pow,
  maximum: T.maximum,
  minimum: T.minimum,
  where: (a, b) => T.where(T.greater(a, 0), a, b),
  sum_axis: (x) => T.sum(x, { axis: 1 }),
  sum_keepdims: (x) => T.sum(x, { axis: [0, 2], keepDims: true }),
  mean: (x) => T.mean(x, { axis: -1 }),
  max_axis: (x) => T.max(x, { axis: 1 }),
  min_all: (x) => T.min(x),
  argmax: (x) => T.argmax(x, { axis: 1 }),
  logsumexp: (x) => T.logSumExp(x, { axis: -1 }),
  var: (x) => T.variance(x, { axis: 1 }),
  std_unbiased: (x) => T.std(x, { axis: 0, ddof: 1 }),
  norm: (x) => T.norm(x, { axis: -1 }),
  reshape: (x) => T.reshape(x, [4, 6]),
  permute: (x) => T.permute(x, [2, 0, 1]),
  slice_step: (x) => T.slice(x, [null, [1, null, 2]]),
  flip: (x) => T.flip(x, { axis: [0, 2] }),
  pad: (x) => T.pad(x, [[0, 1], [1, 2]], { value: 0.5 }), // F.pad lists the last axis first
  concat: (a, b) => T.concat([a, b], { axis: 1 }),
  stack: (a, b) => T.stack([a, b], { axis: 1 }),
  gather: (x, i) => T.gather(x, i, { axis: 1 }),
  embedding: (w, i) => T.embedding(w, i),
  scatter_add: (x, i, u) => T.scatterAdd(x, i, u, { axis: 1 }),
  one_hot: (i) => T.oneHot(i, 5, { dtype: "int32" }),
  matmul: T.matmul,
  matmul_batched: T.matmul,
  matmul_rows: T.matmul,
  matmul_vector: T.matmul,
  softmax: (x) => T.softmax(x),
  softmax_axis0: (x) => T.softmax(x, { axis: 0 }),
  log_softmax: (x) => T.logSoftmax(x),
  layer_norm: (x, w, b) => T.layerNorm(x, w, b, { eps: 1e-6 }),
  cross_entropy: (x, y) => T.crossEntropy(x, y),
  cross_entropy_smoothing: (x, y) => T.crossEntropy(x, y, { labelSmoothing: 0.1 }),
  cosine_similarity: (a, b) => T.cosineSimilarity(a, b),
  normalize: (x) => T.l2Normalize(x),
  mse_loss: (a, b) => T.mseLoss(a, b),
};

Deno.test("golden fixtures cover at least 30 ops and every case has our spelling", () => {
  assert.ok(fixture.cases.length >= 30);
  for (const c of fixture.cases) assert.ok(c.name in OPS, `no mapping for ${c.name}`);
});

for (const c of fixture.cases) {
  Deno.test(`golden: ${c.name} matches PyTorch ${fixture.torch} (output and VJP)`, async () => {
    const op = OPS[c.name];
    const inputs = c.inputs.map(decode);
    const floatInputs = inputs.filter((x) => x.dtype === "float32");
    // Differentiate with respect to the float inputs only; integer inputs are constants.
    const { out, vjp } = T.vjp((...xs: T.Tensor[]) => {
      let k = 0;
      return op(...inputs.map((x) => (x.dtype === "float32" ? xs[k++] : x)));
    }, ...floatInputs);
    assert.deepEqual(out.shape, c.output.shape, "output shape");
    const expectedDtype = c.output.dtype;
    assert.equal(out.dtype, expectedDtype, "output dtype");
    assertClose(await T.toArray(out), c.output.data, TOL, `${c.name} output`);
    if (c.cotangent === undefined || c.grads === undefined) return;
    const grads = vjp(decode(c.cotangent)) as T.Tensor[];
    const expected = c.grads.filter((_, i) => c.inputs[i].dtype === "float32");
    grads.forEach((g, i) => {
      const e = expected[i];
      if (e === null) return;
      assert.deepEqual(g.shape, e.shape, `grad ${i} shape`);
      assertClose(T.toArraySync(g), e.data, TOL, `${c.name} grad ${i}`);
    });
  });
}
