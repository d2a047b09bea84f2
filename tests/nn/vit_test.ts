// The ViT layers against PyTorch: the official-code classifier fixture (per-block
// relative bias, mean pooling) and our golden fixture (absolute position embedding,
// shared relative bias, CLS pooling) with every gradient; the official base key list;
// config parsing; relative-position index constants; init statistics.

import assert from "node:assert/strict";
import * as T from "../../mod.ts";
import {
  dropPathRates,
  fromStateDict,
  loadStateDict,
  relativePositionIndex,
  visionTransformer,
  type ViTParams,
} from "../../nn/mod.ts";
import { testOnBackends } from "../_backends.ts";
import { assertClose, assertGradsMatch, assertTensorClose } from "../_helpers.ts";

const TOL = { atol: 1e-5, rtol: 1e-4 };
const fixture = (name: string) => new URL(`../fixtures/${name}`, import.meta.url).pathname;

testOnBackends(
  "visionTransformer() reproduces the official classifier's logits",
  async (backend) => {
    const config = JSON.parse(await Deno.readTextFile(fixture("official/vit_config.json")));
    const vit = visionTransformer(config);
    const params = fromStateDict(
      vit.init(T.key(0)),
      await loadStateDict(fixture("official/vit_weights.safetensors")),
    );
    const io = await loadStateDict(fixture("official/vit_eval.safetensors"));
    assert.equal(params.cls_token.backend, backend);
    const logits = vit.apply(params, io.get("images_normalized")!);
    await assertTensorClose(logits, io.get("logits")!, TOL, "logits");
  },
);

testOnBackends(
  "visionTransformer() matches PyTorch's output, loss and every gradient (golden fixture)",
  async (backend) => {
    const all = await loadStateDict(fixture("golden_vit.safetensors"), { backend });
    const raw = await Deno.readFile(fixture("golden_vit.safetensors"));
    const header = JSON.parse(
      new TextDecoder().decode(
        raw.subarray(8, 8 + Number(new DataView(raw.buffer).getBigUint64(0, true))),
      ),
    );
    const vit = visionTransformer(JSON.parse(header.__metadata__.config));
    const weights = new Map(
      [...all].filter(([k]) => k.startsWith("param.")).map(([k, v]) => [k.slice(6), v]),
    );
    const params = fromStateDict(vit.init(T.key(1)), weights);
    const loss = (p: ViTParams) =>
      T.crossEntropy(vit.apply(p, all.get("images")!), all.get("labels")!, { labelSmoothing: 0.1 });
    const { value, grads } = T.valueAndGrad(loss)(params);
    await assertTensorClose(
      vit.apply(params, all.get("images")!),
      all.get("logits")!,
      TOL,
      "logits",
    );
    await assertTensorClose(value, all.get("loss")!, TOL, "loss");
    assert.equal(T.treeFlattenWithPath(grads).length, weights.size);
    await assertGradsMatch(grads, all, TOL);
  },
);

Deno.test("visionTransformer() with the official base config has the official key list and shapes", () => {
  const vit = visionTransformer({
    img_size: 224,
    patch_size: 16,
    embed_dim: 768,
    depth: 12,
    num_heads: 12,
    num_classes: 1000,
    qkv_bias: true,
    init_values: 0.1,
    use_abs_pos_emb: false,
    use_rel_pos_bias: true,
    use_mean_pooling: true,
  });
  // Shapes only: build the tree lazily from the init of a tiny clone would not check sizes,
  // so initialise the real thing (86.5M parameters, ~350 MB on the CPU for a moment).
  const params = vit.init(T.key(0));
  const flat = T.treeFlattenWithPath(params);
  const expected = [
    ["cls_token", [1, 1, 768]],
    ["patch_embed.proj.weight", [768, 3, 16, 16]],
    ["patch_embed.proj.bias", [768]],
  ];
  const perBlock = [
    ["gamma_1", [768]],
    ["gamma_2", [768]],
    ["norm1.weight", [768]],
    ["norm1.bias", [768]],
    ["attn.q_bias", [768]],
    ["attn.v_bias", [768]],
    ["attn.relative_position_bias_table", [732, 12]],
    ["attn.qkv.weight", [2304, 768]],
    ["attn.proj.weight", [768, 768]],
    ["attn.proj.bias", [768]],
    ["norm2.weight", [768]],
    ["norm2.bias", [768]],
    ["mlp.fc1.weight", [3072, 768]],
    ["mlp.fc1.bias", [3072]],
    ["mlp.fc2.weight", [768, 3072]],
    ["mlp.fc2.bias", [768]],
  ];
  for (let i = 0; i < 12; i++) {
    for (const [k, s] of perBlock) expected.push([`blocks.${i}.${k}`, s]);
  }
  expected.push(["fc_norm.weight", [768]], ["fc_norm.bias", [768]], ["head.weight", [1000, 768]], [
    "head.bias",
    [1000],
  ]);
  assert.deepEqual(flat.map(([p, t]) => [p, [...(t as T.Tensor).shape]]), expected);
  // 211 official keys minus 12 relative_position_index buffers (regenerated, never stored)
  assert.equal(flat.length, 211 - 12);
  const count = flat.reduce((n, [, t]) => n + (t as T.Tensor).size, 0);
  assert.equal(count, 86_530_984); // the official ViT-B/16 fine-tune model's parameter count
  T.dispose(params);
});

Deno.test("relativePositionIndex() has the official constants for a 14×14 grid", () => {
  const index = relativePositionIndex(14, 14);
  const at = (q: number, k: number) => index[q * 197 + k];
  assert.equal(index.length, 197 * 197);
  assert.equal(at(0, 0), 731);
  assert.equal(at(0, 5), 729);
  assert.equal(at(5, 0), 730);
  assert.equal(at(1, 1), 364);
  assert.equal(at(1, 2), 363);
  assert.equal(at(2, 1), 365);
  assert.equal(at(1, 15), 337);
  assert.equal(Math.max(...index), 731);
});

Deno.test("relativePositionIndex() matches the index stored in the official 7×7 checkpoint", async () => {
  const sd = await loadStateDict(fixture("official/vit_weights.safetensors"));
  assert.deepEqual(
    T.toArraySync(sd.get("blocks.0.attn.relative_position_index")!),
    relativePositionIndex(7, 7),
  );
});

Deno.test("dropPathRates() grows linearly over depth (the official linspace)", () => {
  assertClose(dropPathRates(0.1, 12), Array.from({ length: 12 }, (_, i) => (0.1 * i) / 11), {
    atol: 1e-15,
    rtol: 0,
  });
  assert.deepEqual(dropPathRates(0.1, 0), []);
});

Deno.test("visionTransformer() init follows the official fine-tune ViT", () => {
  const vit = visionTransformer({
    img_size: 32,
    patch_size: 4,
    in_chans: 3,
    embed_dim: 64,
    depth: 2,
    num_heads: 2,
    num_classes: 5,
    qkv_bias: true,
  });
  const p = vit.init(T.key(3));
  const std = (t: T.Tensor) => Math.sqrt(T.toArraySync(T.mean(T.square(t)))[0]);
  assert.ok(Math.abs(std(p.blocks[0].attn.qkv.weight) - 0.02) < 0.001); // N(0, 0.02²)
  assert.ok(Math.abs(std(p.blocks[0].attn.proj.weight) - 0.02 / Math.sqrt(2)) < 0.001); // ÷√(2·1)
  assert.ok(Math.abs(std(p.blocks[1].mlp.fc2.weight) - 0.02 / 2) < 0.001); // ÷√(2·2)
  const conv = T.toArraySync(p.patch_embed.proj.weight);
  assert.ok(conv.every((w) => Math.abs(w) <= 1 / Math.sqrt(48))); // PyTorch's default U(±1/√fan_in)
  assert.ok(T.toArraySync(p.head!.weight).every((w) => Math.abs(w) < 0.001)); // × init_scale 0.001
  assert.deepEqual(T.toArraySync(p.blocks[0].attn.q_bias!), new Float32Array(64));
  const pretrain = visionTransformer({
    img_size: 32,
    patch_size: 4,
    embed_dim: 64,
    depth: 1,
    num_heads: 2,
    num_classes: 0,
    initStyle: "pretrain",
  });
  const w = Array.from(T.toArraySync(pretrain.init(T.key(4)).blocks[0].mlp.fc1.weight));
  assert.ok(w.every((v) => Math.abs(v) <= 0.02)); // truncated at ±1σ
  const s = Math.sqrt(w.reduce((a, v) => a + v * v, 0) / w.length);
  assert.ok(Math.abs(s - 0.0108) < 0.0005, `std ${s}`); // the official init's std
});

Deno.test("visionTransformer() configs accept official and camelCase names and reject bad keys", () => {
  assert.equal(visionTransformer({ embed_dim: 64, num_heads: 4, depth: 1 }).config.embedDim, 64);
  assert.equal(visionTransformer({ embedDim: 64, numHeads: 4, depth: 1 }).config.embedDim, 64);
  assert.equal(
    visionTransformer({ embed_dim: 64, embedDim: 64, num_heads: 4, depth: 1 }).config.embedDim,
    64,
  );
  assert.throws(() => visionTransformer({ embed_dims: 64 }), /Unknown ViT config key "embed_dims"/);
  assert.throws(
    () => visionTransformer({ embed_dim: 64, embedDim: 32 }),
    /Conflicting ViT config keys: "embed_dim" is 64 but "embedDim" is 32/,
  );
  assert.equal(visionTransformer({}).config.imgSize, 224); // official default
});

Deno.test("visionTransformer() returns patch tokens, pooled features and CLS features", () => {
  const base = {
    img_size: 8,
    patch_size: 4,
    in_chans: 1,
    embed_dim: 16,
    depth: 1,
    num_heads: 2,
    num_classes: 0,
  };
  const x = T.zeros([3, 1, 8, 8]);
  const mean = visionTransformer(base);
  const p = mean.init(T.key(0));
  assert.deepEqual(mean.apply(p, x).shape, [3, 16]);
  assert.deepEqual(mean.apply(p, x, { returnPatchTokens: true }).shape, [3, 4, 16]);
  const cls = visionTransformer({ ...base, use_mean_pooling: false });
  const q = cls.init(T.key(0));
  assert.ok("norm" in q && !("fc_norm" in q));
  assert.deepEqual(cls.apply(q, x).shape, [3, 16]);
  assert.throws(
    () => mean.apply(p, T.zeros([3, 3, 8, 8])),
    /expected images \[B, 1, 8, 8\], got \[3,3,8,8\]/,
  );
});

Deno.test("visionTransformer() with drop path needs a key in training and is deterministic per key", () => {
  const vit = visionTransformer({
    img_size: 8,
    patch_size: 4,
    in_chans: 1,
    embed_dim: 16,
    depth: 2,
    num_heads: 2,
    num_classes: 3,
    drop_path_rate: 0.5,
  });
  const p = vit.init(T.key(0));
  const x = T.normal(T.key(1), [4, 1, 8, 8]);
  assert.throws(() => vit.apply(p, x, { train: true }), /without a PRNG key/);
  const a = T.toArraySync(vit.apply(p, x, { train: true, key: T.key(2) }));
  const b = T.toArraySync(vit.apply(p, x, { train: true, key: T.key(2) }));
  assert.deepEqual(a, b);
  assert.deepEqual(
    T.toArraySync(vit.apply(p, x)),
    T.toArraySync(vit.apply(p, x, { train: false, key: T.key(2) })),
  );
});
