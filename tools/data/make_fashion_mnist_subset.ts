// Writes the embedded Fashion-MNIST subset (data/fashion_mnist/): the first 1,000 images
// of each class from the training split and the first 200 of each class from the test
// split, as gzip'd IDX files with the original names, in file order.
//
//   apt-get install dataset-fashion-mnist
//   deno run --allow-read --allow-write tools/data/make_fashion_mnist_subset.ts [SOURCE_DIR]

import {
  balancedSubset,
  DEBIAN_FASHION_MNIST_DIR,
  loadFashionMnistRaw,
} from "../../data/fashion_mnist.ts";
import { encodeIdx, gzip } from "../../data/idx.ts";

const source = Deno.args[0] ?? DEBIAN_FASHION_MNIST_DIR;
const out = new URL("../../data/fashion_mnist/", import.meta.url);
await Deno.mkdir(out, { recursive: true });
for (
  const [split, count, prefix] of [["train", 10_000, "train"], ["test", 2_000, "t10k"]] as const
) {
  const raw = balancedSubset(await loadFashionMnistRaw({ split, dataDir: source }), count);
  await Deno.writeFile(
    new URL(`${prefix}-images-idx3-ubyte.gz`, out),
    await gzip(encodeIdx([raw.count, 28, 28], raw.pixels)),
  );
  await Deno.writeFile(
    new URL(`${prefix}-labels-idx1-ubyte.gz`, out),
    await gzip(encodeIdx([raw.count], raw.labels)),
  );
  console.log(`${split}: ${raw.count} images from ${raw.location}`);
}
