// The demo's computation, shared by the page (web/demo.ts) and the Deno check of the page
// (tools/web/test.ts): a run's three models from its run.json and checkpoints (as bytes, so
// that the page can fetch them), and one pass over one image — the tokenizer's 7×7 code
// map, a blockwise mask, BEiT v2's predicted codes for the masked patches from both
// branches, and the fine-tuned classifier's class probabilities.
//
// Nothing here touches files, the network or the page: the caller brings the bytes.

import { argmax, key, softmax, type Tensor, tensor, tidy, toArray } from "../tensor/mod.ts";
import { decodeCheckpoint } from "../nn/io/checkpoint.ts";
import { visionTransformer, type ViTModel, type ViTParams } from "../nn/vision_transformer.ts";
import { vqkd, type VqkdModel, type VqkdParams, type VqkdState } from "../vqkd/model.ts";
import {
  type BeitPretrainModel,
  beitPretrainModel,
  type BeitPretrainParams,
} from "../beit/model.ts";
import { drawBlockwiseMask } from "../beit/masking.ts";
import { runConfigs, type RunRecipe } from "../beit/presets.ts";
import {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
} from "../data/fashion_mnist.ts";

/** A run's models with their weights. */
export interface DemoModels {
  /** The recipe the run was made with (its run.json). */
  recipe: RunRecipe;
  /** The VQ-KD tokenizer. */
  tokenizer: { model: VqkdModel; params: VqkdParams; state: VqkdState };
  /** The pretrained BEiT v2 model, with its CLS bottleneck. */
  beit: { model: BeitPretrainModel; params: BeitPretrainParams };
  /** The fine-tuned classifier. */
  classifier: { model: ViTModel; params: ViTParams };
}

/** Reads a file of the run folder: `name` is relative to it (run.json, vqkd.ckpt, …). */
export type RunReader = (name: string) => Promise<Uint8Array>;

/**
 * Loads a run's models from its files.
 *
 * @param read reads one file of the run folder
 * @param backend the backend the weights go to
 * @returns the tokenizer, the pretrained model and the classifier
 */
export async function loadDemoModels(read: RunReader, backend: string): Promise<DemoModels> {
  const recipe = JSON.parse(new TextDecoder().decode(await read("run.json"))) as RunRecipe;
  const configs = runConfigs(recipe);
  const stage = async <T>(name: string): Promise<T> => {
    const saved = await decodeCheckpoint<{ value: T; done?: boolean }>(
      await read(`${name}.ckpt`),
      `${name}.ckpt`,
      { backend },
    );
    if (!saved.done) throw new Error(`Cannot use ${name}.ckpt: its stage did not finish`);
    return saved.value;
  };
  const tok = await stage<{ params: VqkdParams; state: VqkdState }>("vqkd");
  return {
    recipe,
    tokenizer: { model: vqkd(configs.vqkd), params: tok.params, state: tok.state },
    beit: { model: beitPretrainModel(configs.beit), params: await stage("beit") },
    classifier: { model: visionTransformer(configs.finetuned), params: await stage("finetuned") },
  };
}

/** What one pass over one image gives. */
export interface DemoResult {
  /** The tokenizer's code for each of the 49 patches (row-major). */
  tokens: number[];
  /** The mask: 1 for each masked patch. */
  mask: number[];
  /** The main branch's predicted code per patch (−1 where not masked). */
  predicted: number[];
  /** The CLS-bottleneck branch's predicted code per patch (−1 where not masked). */
  predictedClsPt: number[];
  /** Fraction of masked patches whose predicted code is the tokenizer's, per branch. */
  accuracy: { main: number; bottleneck: number };
  /** The classifier's probability of each class. */
  classProbs: number[];
  /** The class names, in the classifier's order. */
  classes: readonly string[];
}

/**
 * Runs the demo on one 28 × 28 grayscale image.
 *
 * @param models the run's models
 * @param pixels 784 values in [0, 1], row-major
 * @param options how many patches to mask (0 … 49) and the mask's seed
 * @returns tokens, mask, both branches' predictions and the class probabilities
 */
export async function runDemo(
  models: DemoModels,
  pixels: ArrayLike<number>,
  options: { numMasked: number; seed: number },
): Promise<DemoResult> {
  const grid = 7;
  const n = grid * grid;
  const raw = tensor(Float32Array.from(pixels), { shape: [1, 1, 28, 28] });
  const normalized = tensor(
    Float32Array.from(pixels, (v) => (v - FASHION_MNIST_MEAN) / FASHION_MNIST_STD),
    { shape: [1, 1, 28, 28] },
  );
  const { mask } = drawBlockwiseMask(key(options.seed), {
    grid: [grid, grid],
    numMasked: options.numMasked,
    minBlock: 4,
  });
  const [tokens, main, bottleneck, probs] = tidy(() => {
    const { tokenizer, beit, classifier } = models;
    const ids = tokenizer.model.apply(tokenizer.params, tokenizer.state, raw).tokens;
    const out = beit.model.apply(beit.params, normalized, { mask: [Array.from(mask)] });
    const logits = classifier.model.apply(classifier.params, normalized);
    return [
      ids,
      argmax(out.logits, { axis: -1 }),
      argmax(out.logitsClsPt, { axis: -1 }),
      softmax(logits, { axis: -1 }),
    ] as Tensor[];
  });
  const [t, m, b, p] = await Promise.all([tokens, main, bottleneck, probs].map((x) => toArray(x)));
  const predicted = new Array<number>(n).fill(-1);
  const predictedClsPt = new Array<number>(n).fill(-1);
  let j = 0;
  let hitsMain = 0;
  let hitsBottleneck = 0;
  for (let i = 0; i < n; i++) {
    if (!mask[i]) continue;
    predicted[i] = m[j];
    predictedClsPt[i] = b[j];
    hitsMain += m[j] === t[i] ? 1 : 0;
    hitsBottleneck += b[j] === t[i] ? 1 : 0;
    j++;
  }
  const masked = Math.max(1, j);
  return {
    tokens: Array.from(t),
    mask: Array.from(mask),
    predicted,
    predictedClsPt,
    accuracy: { main: hitsMain / masked, bottleneck: hitsBottleneck / masked },
    classProbs: Array.from(p),
    classes: FASHION_MNIST_CLASSES,
  };
}

/** Image `index` of an IDX image file's bytes (uncompressed), as 784 values in [0, 1]. */
export function idxImage(images: Uint8Array, index: number): Float32Array {
  const header = 16;
  return Float32Array.from(
    images.subarray(header + 784 * index, header + 784 * (index + 1)),
    (v) => v / 255,
  );
}
