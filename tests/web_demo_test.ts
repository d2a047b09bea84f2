// The browser demo's computation (web/demo_core.ts) on the run shipped in web/run, under
// Deno: the same models and numbers the page shows (tools/web/test.ts checks the page
// against this code in headless Chromium).

import assert from "node:assert/strict";
import { argmax, tensor, toArray } from "../mod.ts";
import { gunzip } from "../data/idx.ts";
import { idxImage, loadDemoModels, runDemo } from "../web/demo_core.ts";

const root = new URL("../", import.meta.url).pathname;

Deno.test("web demo: the shipped run's models give tokens, both branches' guesses and classes", async () => {
  const models = await loadDemoModels((name) => Deno.readFile(`${root}web/run/${name}`), "cpu");
  const images = await gunzip(
    await Deno.readFile(`${root}data/fashion_mnist/t10k-images-idx3-ubyte.gz`),
  );
  const pixels = idxImage(images, 0);
  const r = await runDemo(models, pixels, { numMasked: 20, seed: 1 });
  const codes = models.recipe.vqkd.codes;
  assert.equal(r.tokens.length, 49);
  assert.ok(r.tokens.every((t) => Number.isInteger(t) && t >= 0 && t < codes));
  assert.equal(r.mask.reduce((a, b) => a + b, 0), 20);
  // A guess exactly where a patch is masked, from both branches.
  for (const guesses of [r.predicted, r.predictedClsPt]) {
    r.mask.forEach((m, i) => assert.equal(guesses[i] >= 0, m === 1));
  }
  const hits = r.mask.reduce((n, m, i) => n + (m && r.predicted[i] === r.tokens[i] ? 1 : 0), 0);
  assert.equal(r.accuracy.main, hits / 20);
  // The tokens are the tokenizer's own, and the probabilities the classifier's softmax.
  const { tokenizer, classifier } = models;
  const direct = tokenizer.model.apply(
    tokenizer.params,
    tokenizer.state,
    tensor(pixels, { shape: [1, 1, 28, 28] }),
  ).tokens;
  assert.deepEqual(Array.from(await toArray(direct)), r.tokens);
  assert.ok(Math.abs(r.classProbs.reduce((a, b) => a + b, 0) - 1) < 1e-5);
  const normalized = tensor(Float32Array.from(pixels, (v) => (v - 0.286) / 0.353), {
    shape: [1, 1, 28, 28],
  });
  const top = (await toArray(argmax(classifier.model.apply(classifier.params, normalized), {
    axis: -1,
  })))[0];
  assert.equal(r.classProbs.indexOf(Math.max(...r.classProbs)), top);
});
