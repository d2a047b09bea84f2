// Individual layers: parameter names per bias mode, shapes, and the random layers'
// behaviour in training and evaluation.

import assert from "node:assert/strict";
import * as T from "../../mod.ts";
import {
  attention,
  block,
  dropoutLayer,
  dropPath,
  layerNormLayer,
  linearLayer,
  mlp,
  patchEmbed,
  patchify,
  relativePositionBias,
} from "../../nn/mod.ts";

const keys = (tree: unknown) => T.treeFlattenWithPath(tree).map(([p]) => p);

Deno.test("attention() names its parameters per bias mode, as the official checkpoints", () => {
  const k = T.key(0);
  assert.deepEqual(keys(attention({ dim: 8, numHeads: 2 }).init(k)), [
    "q_bias",
    "v_bias",
    "qkv.weight",
    "proj.weight",
    "proj.bias",
  ]);
  assert.deepEqual(keys(attention({ dim: 8, numHeads: 2, qkvBias: "full" }).init(k)), [
    "qkv.weight",
    "qkv.bias",
    "proj.weight",
    "proj.bias",
  ]);
  assert.deepEqual(keys(attention({ dim: 8, numHeads: 2, qkvBias: "none" }).init(k)), [
    "qkv.weight",
    "proj.weight",
    "proj.bias",
  ]);
  const own = attention({ dim: 8, numHeads: 2, window: [3, 3] }).init(k);
  assert.deepEqual(keys(own), [
    "q_bias",
    "v_bias",
    "relative_position_bias_table",
    "qkv.weight",
    "proj.weight",
    "proj.bias",
  ]);
  assert.deepEqual(own.relative_position_bias_table!.shape, [28, 2]); // (2·3 − 1)² + 3 rows × heads
  assert.throws(() => attention({ dim: 10, numHeads: 3 }), /width 10 is not divisible by 3 heads/);
});

Deno.test("attention() with a zero q·k gives every token the mean of the values", () => {
  const attn = attention({ dim: 4, numHeads: 1, qkvBias: "none" });
  const p = attn.init(T.key(0));
  // q = k = 0 (zero q/k rows), v = identity rows, proj = identity without bias
  const qkv = T.concat([T.zeros([8, 4]), T.eye(4)]);
  const params = { ...p, qkv: { weight: qkv }, proj: { weight: T.eye(4), bias: T.zeros([4]) } };
  const x = T.tensor([[[1, 2, 3, 4], [5, 6, 7, 8]]]);
  assert.deepEqual(Array.from(T.toArraySync(attn.apply(params, x))), [3, 4, 5, 6, 3, 4, 5, 6]);
});

Deno.test("a shared relativePositionBias() gives [H, T, T] and is used by blocks", () => {
  const rel = relativePositionBias({ window: [2, 2], numHeads: 3 });
  const p = rel.init(T.key(0));
  assert.deepEqual(keys(p), ["relative_position_bias_table"]);
  assert.deepEqual(rel.apply(p).shape, [3, 5, 5]);
  const blk = block({ dim: 6, numHeads: 3, initValues: 0.1 });
  const bp = blk.init(T.key(1));
  assert.deepEqual(keys(bp).slice(0, 4), ["gamma_1", "gamma_2", "norm1.weight", "norm1.bias"]);
  const x = T.normal(T.key(2), [2, 5, 6]);
  const bias = T.mul(T.ones([3, 5, 5]), 2);
  const changed = T.toArraySync(
    blk.apply(bp, x, { relBias: T.add(rel.apply(p), T.normal(T.key(3), [3, 5, 5])) }),
  );
  assert.notDeepEqual(changed, T.toArraySync(blk.apply(bp, x)));
  // a constant bias does not change a softmax
  assert.deepEqual(
    T.toArraySync(blk.apply(bp, x, { relBias: bias })).map((v) => Math.round(v * 1e5)),
    T.toArraySync(blk.apply(bp, x)).map((v) => Math.round(v * 1e5)),
  );
});

Deno.test("patchify() cuts images into row-major patches in channel, row, column order", () => {
  const img = T.reshape(T.arange(2 * 4 * 4, { dtype: "float32" }), [1, 2, 4, 4]);
  const rows = patchify(img, 2);
  assert.deepEqual(rows.shape, [1, 4, 8]);
  // patch 1 (top right): channel 0 rows 0–1, columns 2–3; then channel 1
  assert.deepEqual(Array.from(T.toArraySync(T.slice(rows, [null, [1, 2]]))), [
    2,
    3,
    6,
    7,
    18,
    19,
    22,
    23,
  ]);
  const pe = patchEmbed({ imgSize: 4, patchSize: 2, inChans: 2, embedDim: 5 });
  assert.deepEqual(pe.apply(pe.init(T.key(0)), img).shape, [1, 4, 5]);
  assert.throws(
    () => patchEmbed({ imgSize: 5, patchSize: 2, inChans: 1, embedDim: 4 }),
    /not a multiple of patch size/,
  );
});

Deno.test("dropoutLayer() and dropPath() act only in training, per key, keeping the expectation", () => {
  const x = T.ones([2000, 4]);
  const d = dropoutLayer({ rate: 0.5 });
  assert.equal(d.apply({}, x), x);
  assert.throws(() => d.apply({}, x, { train: true }), /without a PRNG key/);
  const y = Array.from(T.toArraySync(d.apply({}, x, { train: true, key: T.key(1) })));
  const mean = y.reduce((a, v) => a + v, 0) / y.length;
  assert.ok(Math.abs(mean - 1) < 0.05, `mean ${mean}`);
  const dp = dropPath({ rate: 0.25 });
  const z = T.toArraySync(dp.apply({}, x, { train: true, key: T.key(2) }));
  for (let r = 0; r < 2000; r++) {
    const row = z.slice(4 * r, 4 * r + 4);
    assert.ok(row.every((v) => v === row[0]) && (row[0] === 0 || Math.abs(row[0] - 4 / 3) < 1e-6)); // whole samples
  }
});

Deno.test("linearLayer(), layerNormLayer() and mlp() have PyTorch's names and shapes", () => {
  const fc = linearLayer({ inFeatures: 3, outFeatures: 2, bias: false });
  assert.deepEqual(keys(fc.init(T.key(0))), ["weight"]);
  assert.throws(() => fc.apply(fc.init(T.key(0)), T.zeros([4, 5])), /expected 3 input features/);
  assert.deepEqual(keys(layerNormLayer({ dim: 3 }).init(T.key(0))), ["weight", "bias"]);
  const m = mlp({ dim: 4, hidden: 8 });
  const p = m.init(T.key(0));
  assert.deepEqual(keys(p), ["fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias"]);
  assert.deepEqual(p.fc1.weight.shape, [8, 4]);
  assert.deepEqual(m.apply(p, T.zeros([2, 3, 4])).shape, [2, 3, 4]);
});
