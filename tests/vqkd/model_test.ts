// VQ-KD against the official implementation on the same weights and images (eval-mode
// tokens, quantized vectors, decoder outputs; a training step's losses, EMA codebook,
// cluster sizes and every gradient), plus the quantizer's properties on a toy problem.

import assert from "node:assert/strict";
import * as T from "../../mod.ts";
import { loadStateDict } from "../../nn/mod.ts";
import {
  initQuantizerState,
  kmeansInit,
  loadTokenizer,
  quantize,
  type VqkdParams,
  type VqkdState,
} from "../../vqkd/mod.ts";
import { testOnBackends } from "../_backends.ts";
import { assertClose, assertGradsMatch, assertTensorClose } from "../_helpers.ts";

const TOL = { atol: 1e-5, rtol: 1e-4 };
const dir = new URL("../fixtures/official/", import.meta.url);
const read = (name: string) => loadStateDict(new URL(name, dir).pathname);

async function officialTokenizer() {
  const config = JSON.parse(await Deno.readTextFile(new URL("vqkd_config.json", dir)));
  const loaded = await loadTokenizer(new URL("vqkd_weights.safetensors", dir).pathname, config);
  return { tok: loaded.model, params: loaded.params, state: loaded.state };
}

testOnBackends(
  "vqkd() reproduces the official tokens, quantized vectors and decoder outputs (eval)",
  async () => {
    const { tok, params, state } = await officialTokenizer();
    const io = await read("vqkd_eval.safetensors");
    const out = tok.apply(params, state, io.get("images")!);
    assert.deepEqual(
      Array.from(await T.toArray(out.tokens)),
      Array.from(await T.toArray(io.get("tokens")!)),
    );
    await assertTensorClose(out.encoded, io.get("encoder_patch_tokens")!, TOL, "encoder");
    const official = T.permute(T.reshape(io.get("quantized")!, [4, 8, 49]), [0, 2, 1]); // [B, C, h, w] → [B, N, C]
    await assertTensorClose(out.quantized, official, TOL, "quantized");
    await assertTensorClose(out.decoded, io.get("decoder_out")!, TOL, "decoder");
  },
);

testOnBackends(
  "vqkd() matches an official training step: losses, EMA codebook, cluster sizes, every gradient",
  async () => {
    const { tok, params, state } = await officialTokenizer();
    const io = await read("vqkd_eval.safetensors");
    const step = await read("vqkd_train_step.safetensors");
    // The fixture's module ran the eval forward first, which updates the usage statistics.
    const afterEval = tok.apply(params, state, io.get("images")!).state;
    const loss = (
      p: VqkdParams,
    ): [T.Tensor, { state: VqkdState; tokens: T.Tensor; quant: T.Tensor; rec: T.Tensor }] => {
      const o = tok.apply(p, afterEval, io.get("images")!, {
        train: true,
        teacherFeatures: step.get("teacher_target")!,
      });
      return [o.loss!, {
        state: o.state,
        tokens: o.tokens,
        quant: o.metrics.quantLoss!,
        rec: o.metrics.recLoss!,
      }];
    };
    const { value, grads, aux } = T.valueAndGrad(loss, { hasAux: true })(params);
    assert.deepEqual(
      Array.from(await T.toArray(aux.tokens)),
      Array.from(await T.toArray(step.get("tokens")!)),
    );
    await assertTensorClose(value, step.get("loss")!, TOL, "loss");
    await assertTensorClose(aux.quant, step.get("quant_loss")!, TOL, "quant_loss");
    await assertTensorClose(aux.rec, step.get("rec_loss")!, TOL, "rec_loss");
    await assertTensorClose(
      aux.state.quantize.embedding.weight,
      step.get("codebook_after")!,
      TOL,
      "codebook",
    );
    await assertTensorClose(
      aux.state.quantize.cluster_size,
      step.get("cluster_size_after")!,
      TOL,
      "cluster_size",
    );
    // Gradients through the straight-through estimator: a little looser (fixture README).
    await assertGradsMatch(grads, step, { atol: 2e-5, rtol: 2e-4 });
  },
);

Deno.test("vqkd() parameter and state trees carry the official key names", async () => {
  const { params, state } = await officialTokenizer();
  const sd = await read("vqkd_weights.safetensors");
  const ours = [
    ...T.treeFlattenWithPath(params),
    ...T.treeFlattenWithPath({ quantize: state.quantize }),
  ].map(([p]) => p);
  const official = [...sd.keys()].filter((k) => !k.endsWith("relative_position_index"));
  assert.deepEqual(new Set(ours), new Set(official));
  assert.deepEqual(T.treeFlattenWithPath({ quantize: state.quantize }).map(([p]) => p), [
    "quantize.cluster_size",
    "quantize.embedding.weight",
    "quantize.embedding.cluster_size",
    "quantize.embedding.embed_avg",
    "quantize.embedding.initted",
  ]);
});

Deno.test("the quantizer on a toy problem behaves as the normalised EMA must", () => {
  const config = { numCodes: 64, codeDim: 8 };
  const u = T.normal(T.key(1), [4, 49, 8]); // the official 4×8×7×7 input, as [B, N, C]
  let state = initQuantizerState(config);
  state = kmeansInit(T.key(2), state, T.l2Normalize(T.reshape(u, [196, 8])));
  const first = quantize(config, state, u, { train: true });
  const rows = T.toArraySync(T.norm(first.state.embedding.weight, { axis: 1 }));
  assertClose(rows, new Array(64).fill(1), { atol: 1e-6, rtol: 0 }, "unit rows");
  assert.deepEqual(T.toArraySync(first.state.embedding.initted), new Float32Array([1]));
  assert.ok(T.toArraySync(first.state.embedding.embed_avg).every((v) => v === 0));
  assert.equal(T.toArraySync(T.sum(first.state.embedding.cluster_size))[0], 196);
  assertClose(T.toArraySync(T.sum(first.state.cluster_size)), [0.01 * 196], {
    atol: 1e-5,
    rtol: 0,
  });
  // A second training forward moves exactly the rows whose codes were selected (to ~1e-6).
  const u2 = T.normal(T.key(3), [4, 49, 8]);
  const second = quantize(config, first.state, u2, { train: true });
  const used = new Set(Array.from(T.toArraySync(second.ids)));
  const before = T.toArraySync(first.state.embedding.weight);
  const after = T.toArraySync(second.state.embedding.weight);
  for (let k = 0; k < 64; k++) {
    const moved = Math.max(
      ...Array.from({ length: 8 }, (_, c) => Math.abs(after[k * 8 + c] - before[k * 8 + c])),
    );
    if (used.has(k)) assert.ok(moved > 1e-5, `code ${k} should move (${moved})`);
    else assert.ok(moved < 1e-6, `code ${k} should stay (${moved})`);
  }
  // Gradients reach the input through the straight-through path.
  const g = T.grad((x: T.Tensor) =>
    T.sum(T.mul(quantize(config, first.state, x).quantized, T.normal(T.key(4), [4, 49, 8])))
  )(u2);
  assert.ok(T.toArraySync(T.norm(g))[0] > 0);
  // Eval mode updates only the usage statistics.
  const evalOut = quantize(config, first.state, u2, { train: false });
  assert.deepEqual(T.toArraySync(evalOut.state.embedding.weight), before);
  assert.notDeepEqual(
    T.toArraySync(evalOut.state.cluster_size),
    T.toArraySync(first.state.cluster_size),
  );
});

Deno.test("kmeansInit() samples with replacement when the batch is smaller than the codebook", () => {
  const state = kmeansInit(
    T.key(0),
    initQuantizerState({ numCodes: 32, codeDim: 4 }),
    T.l2Normalize(T.normal(T.key(1), [10, 4])),
  );
  assert.equal(T.toArraySync(T.sum(state.embedding.cluster_size))[0], 10);
  assertClose(T.toArraySync(T.norm(state.embedding.weight, { axis: 1 })), new Array(32).fill(1), {
    atol: 1e-6,
    rtol: 0,
  });
});
