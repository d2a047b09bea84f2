// The BEiT v2 pretraining model against the official code on the same weights: logits of
// both branches for every position, normalised patch tokens, both masked losses and every
// gradient of their sum; plus the official init quirks and key names.

import assert from "node:assert/strict";
import * as T from "../../mod.ts";
import { fromStateDict, loadStateDict } from "../../nn/mod.ts";
import { beitPretrainLoss, beitPretrainModel, type BeitPretrainParams } from "../../beit/mod.ts";
import { testOnBackends } from "../_backends.ts";
import { assertClose, assertGradsMatch, assertTensorClose } from "../_helpers.ts";

const TOL = { atol: 1e-5, rtol: 1e-4 };
const dir = new URL("../fixtures/official/", import.meta.url);
const read = (name: string, backend?: string) =>
  loadStateDict(new URL(name, dir).pathname, { backend });

async function official() {
  const model = beitPretrainModel(
    JSON.parse(await Deno.readTextFile(new URL("beit_config.json", dir))),
  );
  const params = fromStateDict(model.init(T.key(0)), await read("beit_weights.safetensors"));
  const io = await read("beit_eval.safetensors");
  const mask = (await read("beit_eval.safetensors", "cpu")).get("mask")!; // masks live on the host
  return { model, params, io, mask };
}

testOnBackends(
  "beitPretrainModel() reproduces the official logits of both branches (all tokens, eval)",
  async () => {
    const { model, params, io, mask } = await official();
    const out = model.apply(params, io.get("images_normalized")!, { mask, allTokens: true });
    await assertTensorClose(out.logits, io.get("logits_all")!, TOL, "logits");
    await assertTensorClose(out.logitsClsPt, io.get("logits_cls_pt_all")!, TOL, "logits_cls_pt");
    await assertTensorClose(out.patchTokens, io.get("patch_tokens")!, TOL, "patch tokens");
    await assertTensorClose(
      out.patchTokensClsPt,
      io.get("patch_tokens_cls_pt")!,
      TOL,
      "patch tokens (bottleneck)",
    );
  },
);

testOnBackends(
  "beitPretrainModel() matches the official masked losses and every gradient",
  async () => {
    const { model, params, io, mask } = await official();
    const labels = io.get("labels")!;
    const { grads, aux } = T.valueAndGrad((p: BeitPretrainParams) => {
      const l = beitPretrainLoss(
        model.apply(p, io.get("images_normalized")!, { mask, train: true }),
        labels,
      );
      return [l.loss, l];
    }, { hasAux: true })(params);
    assert.deepEqual(aux.labels.shape, [4 * 20]); // 20 of 49 masked per image
    await assertTensorClose(aux.lossMain, io.get("loss_main")!, TOL, "loss_main");
    await assertTensorClose(aux.lossClsPt, io.get("loss_cls_pt")!, TOL, "loss_cls_pt");
    await assertGradsMatch(grads, io, TOL);
  },
);

Deno.test("beitPretrainModel() masked logits are the all-token logits at the masked positions", async () => {
  const { model, params, io, mask } = await official();
  const all = model.apply(params, io.get("images_normalized")!, { mask, allTokens: true });
  const masked = model.apply(params, io.get("images_normalized")!, { mask });
  const picked = T.take(T.reshape(all.logits, [4 * 49, 96]), T.tensor(masked.maskedIndices), {
    axis: 0,
  });
  assert.deepEqual(T.toArraySync(masked.logits), T.toArraySync(picked));
  assert.throws(
    () =>
      model.apply(params, io.get("images_normalized")!, {
        mask: T.zeros([4, 48], { dtype: "bool" }),
      }),
    /mask must be \[4, 49\]/,
  );
});

Deno.test("beitPretrainModel() keys and init quirks follow the official pretraining model", async () => {
  const { params } = await official();
  const sd = await read("beit_weights.safetensors");
  assert.deepEqual(
    T.treeFlattenWithPath(params).map(([p]) => p),
    [...sd.keys()].filter((k) => !k.endsWith("relative_position_index")),
  );
  const model = beitPretrainModel({
    img_size: 32,
    patch_size: 4,
    in_chans: 3,
    vocab_size: 64,
    embed_dim: 192,
    depth: 4,
    num_heads: 4,
    early_layers: 3,
  });
  const p = model.init(T.key(1));
  const std = (t: T.Tensor) => Math.sqrt(T.toArraySync(T.mean(T.square(t)))[0]);
  const maxAbs = (t: T.Tensor) => T.toArraySync(T.max(T.abs(t)))[0];
  assert.ok(maxAbs(p.blocks[0].attn.qkv.weight) <= 0.02); // truncated at ±1σ
  assert.ok(Math.abs(std(p.blocks[0].attn.qkv.weight) - 0.0108) < 0.0005);
  assert.ok(maxAbs(p.mask_token) <= 0.02 && maxAbs(p.lm_head.weight) <= 0.02);
  // Bottleneck blocks keep PyTorch's default U(±1/√192): std 1/√(3·192) ≈ 0.0417 …
  assert.ok(Math.abs(std(p.cls_pt_layers[0].attn.qkv.weight) - 1 / Math.sqrt(3 * 192)) < 0.002);
  // … with the proj rescaled by 1/√(2·(l + j + 1)) = 1/√8 for l = 3, j = 0.
  assert.ok(
    Math.abs(std(p.cls_pt_layers[0].attn.proj.weight) - 1 / Math.sqrt(3 * 192) / Math.sqrt(8)) <
      0.001,
  );
  assert.deepEqual(T.toArraySync(p.blocks[0].gamma_1!).slice(0, 2), new Float32Array([0.1, 0.1]));
});

testOnBackends(
  "beitPretrainModel() takes the mask from any backend, as a view, or as nested arrays",
  async (backend) => {
    const { model, params, io, mask } = await official();
    const images = io.get("images_normalized")!;
    const want = await T.toArray(model.apply(params, images, { mask }).logits);
    const nested = (await T.toNested(mask)) as boolean[][];
    const asNumbers = nested.map((row) => row.map(Number));
    const here = await T.toBackend(mask, backend); // a host-made mask on this backend
    const loaded = (await read("beit_eval.safetensors", backend)).get("mask")!;
    const viaView = T.transpose(T.transpose(T.tensor(nested, { backend }))); // strided view
    for (const [what, m] of Object.entries({ nested, asNumbers, here, loaded, viaView })) {
      const out = model.apply(params, images, { mask: m });
      assert.deepEqual(out.maskedIndices, model.apply(params, images, { mask }).maskedIndices);
      assertClose(await T.toArray(out.logits), want, { atol: 0, rtol: 0 }, what);
    }
    if (backend === "webgpu") {
      // A mask computed on the device has no host copy: the error says what to pass.
      const computed = T.greater(T.cast(here, "float32"), 0.5);
      assert.throws(
        () => model.apply(params, images, { mask: computed }),
        /computed on the device.*toNested/,
      );
    }
    const ragged = [...asNumbers.slice(0, 3), asNumbers[3].slice(1)];
    assert.throws(() => model.apply(params, images, { mask: ragged }), /row 3 has 48 entries/);
  },
);
