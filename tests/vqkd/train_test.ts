// trainVqkd(): a small run on real Fashion-MNIST images with the pixel teacher trains,
// uses the codebook, and resumes from its checkpoint.

import assert from "node:assert/strict";
import * as T from "../../mod.ts";
import { asHostDataset, loadFashionMnistRaw } from "../../data/mod.ts";
import { evaluateTokenizer, trainVqkd } from "../../vqkd/mod.ts";
import { pixelTeacher } from "../../vqkd/teachers.ts";

const MODEL = {
  encoder: {
    img_size: 28,
    patch_size: 4,
    in_chans: 1,
    embed_dim: 32,
    depth: 1,
    num_heads: 2,
    qkv_bias: true,
  },
  decoder: {
    img_size: 7,
    patch_size: 1,
    in_chans: 8,
    embed_dim: 32,
    depth: 1,
    num_heads: 2,
    qkv_bias: true,
  },
  n_embed: 64,
  embed_dim: 8,
  decoder_out_dim: 16,
};

Deno.test("trainVqkd() trains a tokenizer that uses its codebook, and resumes from its checkpoint", async () => {
  const raw = await loadFashionMnistRaw({ split: "train", subset: 256, embeddedOnly: true });
  const data = asHostDataset(raw);
  const teacher = pixelTeacher({ patchSize: 4 });
  const checkpoint = await Deno.makeTempFile({ suffix: ".ckpt" });
  await Deno.remove(checkpoint);
  const losses: number[] = [];
  const first = await trainVqkd({
    model: MODEL,
    teacher,
    data,
    epochs: 2,
    batchSize: 64,
    learningRate: 2e-3,
    key: T.key(0),
    checkpoint,
    quiet: true,
    onStep: (m) => losses.push(m.rec_loss),
  });
  assert.equal(losses.length, 8); // k-means initialises the codebook on the first batch, which then trains too
  assert.ok(losses[losses.length - 1] < losses[0], `reconstruction loss should fall: ${losses}`);
  assert.equal(first.usage.length, 2);
  assert.ok(first.usage[1] > 0.3, `usage ${first.usage}`);
  const resumed = await trainVqkd({
    model: MODEL,
    teacher,
    data,
    epochs: 3,
    batchSize: 64,
    learningRate: 2e-3,
    key: T.key(0),
    checkpoint,
    quiet: true,
  });
  assert.equal(resumed.usage.length, 3);
  assert.deepEqual(resumed.usage.slice(0, 2), first.usage);
  const ev = await evaluateTokenizer(resumed.model, resumed.params, resumed.state, data, {
    teacher,
  });
  assert.ok(
    ev.usage > 0.3 && ev.cosine > 0.3,
    JSON.stringify({ usage: ev.usage, cosine: ev.cosine }),
  );
  await Deno.remove(checkpoint);
});
