// The linear probe: features come out in the data set's order, and the probe learns a
// known-separable problem and real data to the expected accuracy.

import assert from "node:assert/strict";
import { extractFeatures, linearProbe, pixelFeatures } from "../../beit/probe.ts";
import { asHostDataset, loadFashionMnistRaw } from "../../data/fashion_mnist.ts";
import type { HostDataset } from "../../data/loader.ts";
import { reshape } from "../../tensor/mod.ts";

const host = async (split: "train" | "test", subset: number): Promise<HostDataset> => {
  return asHostDataset(await loadFashionMnistRaw({ split, subset }));
};

Deno.test("extractFeatures keeps the order of the data set, over a partial last batch", async () => {
  const data = await host("test", 300); // batches of 256 and 44
  const set = await extractFeatures(data, (images) => reshape(images, [images.shape[0], -1]), {
    mean: [0],
    std: [1],
  });
  const pixels = pixelFeatures(data);
  assert.equal(set.dim, 784);
  assert.deepEqual(set.labels, pixels.labels);
  let worst = 0;
  for (let i = 0; i < set.features.length; i++) {
    worst = Math.max(worst, Math.abs(set.features[i] - pixels.features[i]));
  }
  assert.ok(worst <= 1e-6, `largest difference ${worst}`);
});

Deno.test("linearProbe separates classes that are linearly separable", async () => {
  // 3 classes, 2-d features at 3 well-separated centres plus small deterministic jitter.
  const centres = [[0, 0], [10, 0], [0, 10]];
  const make = (n: number) => {
    const features = new Float32Array(2 * n);
    const labels = new Int32Array(n);
    for (let i = 0; i < n; i++) {
      labels[i] = i % 3;
      features[2 * i] = centres[i % 3][0] + Math.sin(i) * 0.5;
      features[2 * i + 1] = centres[i % 3][1] + Math.cos(3 * i) * 0.5;
    }
    return { features, labels, dim: 2 };
  };
  const { top1, curve } = await linearProbe(make(300), make(90), {
    epochs: 20,
    batchSize: 32,
    learningRate: 3e-2,
    numClasses: 3,
    quiet: true,
  });
  assert.equal(curve.length, 20);
  assert.equal(top1, 1);
});

Deno.test("linearProbe on raw Fashion-MNIST pixels reaches a linear classifier's accuracy", async () => {
  // A linear classifier on raw pixels scores 84.2 % on the full test set; on 2,000 training
  // images and 10 epochs expect at least 75 % (measured here: 80.9 %).
  const train = pixelFeatures(await host("train", 2000));
  const test = pixelFeatures(await host("test", 1000));
  const { top1 } = await linearProbe(train, test, { epochs: 10, quiet: true });
  assert.ok(top1 >= 0.75, `test top-1 ${top1}`);
});
