/**
 * Data: Fashion-MNIST (full set or the embedded subset), image folders, keyed
 * transforms and a batching loader.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { loadFashionMnist } from "@tessella/tessella/data";
 * const test = await loadFashionMnist({ split: "test", subset: 10 });
 * assert.deepEqual(test.images.shape, [10, 1, 28, 28]);
 * ```
 *
 * @module
 */

export { encodeIdx, gunzip, gzip, type IdxArray, IdxError, parseIdx } from "./idx.ts";
export { formatBytes, type IoLimits, ioLimits, setIoLimits } from "./limits.ts";
export { inflateBounded } from "./inflate.ts";
export {
  asHostDataset,
  balancedSubset,
  type DataSource,
  DEBIAN_FASHION_MNIST_DIR,
  EMBEDDED_FASHION_MNIST,
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
  type FashionMnistOptions,
  type FashionMnistRaw,
  loadFashionMnist,
  loadFashionMnistRaw,
} from "./fashion_mnist.ts";
export {
  beitTwoViews,
  type Box,
  centerCrop,
  colorJitter,
  type ColorJitterOptions,
  crop,
  denormalize,
  horizontalFlip,
  hostUniforms,
  type ImageBatch,
  type Interpolation,
  normalize,
  randomCropWithPadding,
  resize,
  resizedCrop,
  sampleResizedCropBoxes,
  type TwoViewOptions,
} from "./transforms.ts";
export {
  type Batch,
  type DataLoader,
  dataLoader,
  type HostDataset,
  type LoaderOptions,
  type Views,
} from "./loader.ts";
export {
  decodeImage,
  encodeImagePng,
  type Image,
  ImageDecodeError,
  type ImageFolderOptions,
  loadImageFolder,
  resizeAndCenterCrop,
} from "./image_folder.ts";
