// Teachers: CLIP and DINO from state dicts (float32 and float16, with and without the
// teacher_model. prefix) against PyTorch's features; the per-patch pixel teacher.

import assert from "node:assert/strict";
import * as T from "../../mod.ts";
import { loadStateDict, visionTransformer } from "../../nn/mod.ts";
import { classifierTeacher, clipTeacher, dinoTeacher, pixelTeacher } from "../../vqkd/teachers.ts";
import { testOnBackends } from "../_backends.ts";
import { assertClose, assertTensorClose } from "../_helpers.ts";

const dir = new URL("../fixtures/teachers/", import.meta.url).pathname;
const TOL = { atol: 1e-5, rtol: 1e-4 };

testOnBackends(
  "clipTeacher() and dinoTeacher() reproduce the published architectures' features",
  async () => {
    const f = await loadStateDict(`${dir}features.safetensors`);
    const images = f.get("images")!;
    const clip = clipTeacher(await loadStateDict(`${dir}clip_tiny.pth`));
    assert.equal(clip.dim, 16);
    await assertTensorClose(clip.features(images), f.get("clip_features")!, TOL, "clip");
    const clip16 = clipTeacher(await loadStateDict(`${dir}clip_tiny_fp16.pth`)); // fp16, teacher_model.visual.*
    await assertTensorClose(
      clip16.features(images),
      f.get("clip_fp16_features")!,
      TOL,
      "clip fp16",
    );
    const dino = dinoTeacher(await loadStateDict(`${dir}dino_tiny.pth`), { heads: 3 });
    assert.equal(dino.dim, 48);
    await assertTensorClose(dino.features(images), f.get("dino_features")!, TOL, "dino");
    // One-channel images are repeated to RGB.
    assert.deepEqual(clip.features(T.zeros([1, 1, 28, 28])).shape, [1, 49, 16]);
  },
);

Deno.test("teachers name what is missing from a state dict", () => {
  assert.throws(
    () => clipTeacher(new Map()),
    /Cannot build the CLIP teacher: the state dict has no "conv1\.weight"/,
  );
  assert.throws(
    () => dinoTeacher(new Map()),
    /Cannot build the DINO teacher: the state dict has no "patch_embed\.proj\.weight"/,
  );
});

Deno.test("pixelTeacher() normalises every patch to zero mean and unit variance, black patches to 0", () => {
  const images = T.concat([T.uniform(T.key(0), [1, 1, 8, 8]), T.zeros([1, 1, 8, 8])]);
  const f = pixelTeacher({ patchSize: 4 }).features(images);
  assert.deepEqual(f.shape, [2, 4, 16]);
  assertClose(T.toArraySync(T.mean(T.slice(f, [[0, 1]]), { axis: -1 })), [0, 0, 0, 0], {
    atol: 1e-6,
    rtol: 0,
  });
  assertClose(T.toArraySync(T.variance(T.slice(f, [[0, 1]]), { axis: -1 })), [1, 1, 1, 1], {
    atol: 1e-3,
    rtol: 0,
  });
  assert.ok(T.toArraySync(T.slice(f, [[1, 2]])).every((v) => v === 0));
});

Deno.test("classifierTeacher() gives a classifier's normalised patch tokens", () => {
  const vit = visionTransformer({
    img_size: 28,
    patch_size: 4,
    in_chans: 1,
    num_classes: 10,
    embed_dim: 16,
    depth: 1,
    num_heads: 2,
  });
  const teacher = classifierTeacher(vit, vit.init(T.key(0)), { mean: [0.286], std: [0.353] });
  assert.equal(teacher.dim, 16);
  assert.deepEqual(teacher.features(T.zeros([3, 1, 28, 28])).shape, [3, 49, 16]);
});
