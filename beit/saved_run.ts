// Using a finished run's models: the folder `deno task pretrain` writes holds run.json (the
// recipe), the stage checkpoints and the models' configs under their official argument
// names. This module rebuilds each model from them, and prepares images as the run saw
// them (grayscale, 28 × 28, Fashion-MNIST's mean and standard deviation).

import { mean, Tensor, tensor, tidy, treeFlattenWithPath } from "../tensor/mod.ts";
import { encodeTensors, writeFileAtomic } from "../nn/io/state_dict.ts";
import type { RawTensor } from "../nn/io/safetensors.ts";
import { encodePth, PthStateDict } from "../nn/io/pth_write.ts";
import { relativePositionIndex } from "../nn/relative_position_bias.ts";
import { loadCheckpoint } from "../nn/io/checkpoint.ts";
import { visionTransformer, type ViTModel, type ViTParams } from "../nn/vision_transformer.ts";
import { decodeImage, resizeAndCenterCrop } from "../data/image_folder.ts";
import {
  FASHION_MNIST_CLASSES,
  FASHION_MNIST_MEAN,
  FASHION_MNIST_STD,
} from "../data/fashion_mnist.ts";
import { vqkd, type VqkdModel, type VqkdParams, type VqkdState } from "../vqkd/model.ts";
import { type BeitPretrainModel, beitPretrainModel, type BeitPretrainParams } from "./model.ts";
import { type Preset, type RunConfigs, runConfigs, type RunRecipe } from "./presets.ts";

export { type RunConfigs, runConfigs, type RunRecipe };

/** Writes `DIR/configs/{teacher,vqkd,beit,finetuned}.json` for a run's recipe. */
export async function writeRunConfigs(
  dir: string,
  recipe: Omit<Preset, "name" | "rows">,
): Promise<void> {
  await Deno.mkdir(`${dir}/configs`, { recursive: true });
  for (const [name, config] of Object.entries(runConfigs(recipe))) {
    await Deno.writeTextFile(`${dir}/configs/${name}.json`, JSON.stringify(config, null, 2) + "\n");
  }
}

/** A finished run folder, opened for use. */
export interface SavedRun {
  /** The run's folder. */
  dir: string;
  /** What run.json records: every stage's recipe, the seed and the data. */
  recipe: RunRecipe;
  /** The models' configs (official argument names). */
  configs: RunConfigs;
  /** The class names, by label. */
  classes: readonly string[];
}

/**
 * Opens a run folder written by `deno task pretrain`.
 *
 * @param dir the folder (it must hold run.json)
 * @returns the recipe and the models' configs
 */
export async function openRun(dir: string): Promise<SavedRun> {
  let text: string;
  try {
    text = await Deno.readTextFile(`${dir}/run.json`);
  } catch (error) {
    throw new Error(
      `Cannot open run ${dir}: ${(error as Error).message} (a run folder, written by ` +
        `deno task pretrain, holds run.json)`,
    );
  }
  const recipe = JSON.parse(text) as RunRecipe;
  for (const part of ["teacher", "vqkd", "beit"] as const) {
    if (typeof recipe[part] !== "object" || recipe[part] === null) {
      throw new Error(`Cannot open run ${dir}: run.json has no "${part}" recipe`);
    }
  }
  return { dir, recipe, configs: runConfigs(recipe), classes: FASHION_MNIST_CLASSES };
}

/** A stage checkpoint's saved value; a clear error when the stage has not finished. */
async function stageValue<T>(run: SavedRun, name: string, what: string): Promise<T> {
  const path = `${run.dir}/${name}.ckpt`;
  let saved: { value: T; done?: boolean };
  try {
    saved = await loadCheckpoint<{ value: T; done?: boolean }>(path);
  } catch (error) {
    throw new Error(
      `Cannot load the ${what} of run ${run.dir}: ${(error as Error).message}` +
        (name === "finetuned"
          ? " (runs save the fine-tuned model when their fine-tuning stage finishes)"
          : ""),
    );
  }
  if (!saved.done) {
    throw new Error(`Cannot load the ${what} of run ${run.dir}: ${path} is unfinished`);
  }
  return saved.value;
}

/** The run's VQ-KD tokenizer: the model, its parameters and its codebook state. */
export async function loadRunTokenizer(
  run: SavedRun,
): Promise<{ model: VqkdModel; params: VqkdParams; state: VqkdState }> {
  const value = await stageValue<{ params: VqkdParams; state: VqkdState }>(
    run,
    "vqkd",
    "tokenizer",
  );
  return { model: vqkd(run.configs.vqkd), params: value.params, state: value.state };
}

/** The run's pretrained BEiT v2 model (with its CLS bottleneck). */
export async function loadRunBeit(
  run: SavedRun,
): Promise<{ model: BeitPretrainModel; params: BeitPretrainParams }> {
  const params = await stageValue<BeitPretrainParams>(run, "beit", "pretrained BEiT v2 model");
  return { model: beitPretrainModel(run.configs.beit), params };
}

/** The run's fine-tuned classifier. */
export async function loadRunClassifier(
  run: SavedRun,
): Promise<{ model: ViTModel; params: ViTParams }> {
  const params = await stageValue<ViTParams>(run, "finetuned", "fine-tuned classifier");
  return { model: visionTransformer(run.configs.finetuned), params };
}

/**
 * Reads image files as a run's models take them: decoded (PNG or JPEG), grayscale, resized
 * on the shorter side and centre-cropped to 28 × 28, scaled to [0, 1], and standardised
 * with Fashion-MNIST's mean and standard deviation (the input normalisation of the BEiT v2
 * models and the classifier; the tokenizer takes the [0, 1] images: `normalize: false`).
 *
 * @param paths the files
 * @param options `normalize` (default true)
 * @returns images [N, 1, 28, 28] on the current backend
 */
export async function readRunImages(
  paths: readonly string[],
  options: { normalize?: boolean } = {},
): Promise<Tensor> {
  const size = 28;
  const [shift, scale] = options.normalize ?? true
    ? [FASHION_MNIST_MEAN, 1 / FASHION_MNIST_STD]
    : [0, 1];
  const data = new Float32Array(paths.length * size * size);
  for (const [i, path] of paths.entries()) {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(path);
    } catch (error) {
      throw new Error(`Cannot read image ${path}: ${(error as Error).message}`);
    }
    const pixels = resizeAndCenterCrop(decodeImage(bytes, path, 1), size).data;
    for (let j = 0; j < pixels.length; j++) {
      data[i * size * size + j] = (pixels[j] - shift) * scale;
    }
  }
  return tensor(data, { shape: [paths.length, 1, size, size] });
}

/**
 * Features of images from a run's pretrained BEiT v2 model, in eval mode and without a mask:
 * the last layer's CLS token after the final norm (what the linear probe reads), or the mean
 * of the patch tokens.
 *
 * @param images images as readRunImages returns them [B, 1, 28, 28]
 * @returns [B, D]
 */
export function beitFeatures(
  model: BeitPretrainModel,
  params: BeitPretrainParams,
  images: Tensor,
  pool: "cls" | "mean" = "cls",
): Tensor {
  const b = images.shape[0];
  const n = (model.config.imgSize / model.config.patchSize) ** 2;
  const noMask = Array.from({ length: b }, () => new Array<number>(n).fill(0));
  return tidy(() => {
    const out = model.apply(params, images, { mask: noMask });
    return pool === "cls" ? out.cls : mean(out.patchTokens, { axis: 1 });
  });
}

/**
 * A state dict with the official key names, as raw records in the tree's order, each
 * relative position bias table followed by its int64 `relative_position_index` buffer
 * (the official modules keep it in their state dicts, so a strict load needs it).
 */
async function officialStateDict(
  tree: unknown,
  grid: number,
): Promise<Map<string, RawTensor>> {
  const tensors = treeFlattenWithPath(tree).filter(([, leaf]) => leaf instanceof Tensor) as [
    string,
    Tensor,
  ][];
  const raw = await encodeTensors(tensors);
  const index = relativePositionIndex(grid, grid);
  const indexBytes = new Uint8Array(BigInt64Array.from(index, (v) => BigInt(v)).buffer);
  const t = grid * grid + 1;
  const out = new Map<string, RawTensor>();
  for (const [name, record] of raw) {
    out.set(name, record);
    if (name.endsWith("relative_position_bias_table")) {
      const buffer = name.replace(/relative_position_bias_table$/, "relative_position_index");
      out.set(buffer, { dtype: "I64", shape: [t, t], data: indexBytes });
    }
  }
  return out;
}

/** The files exportOfficial writes, by model. */
export interface OfficialExport {
  /** The VQ-KD tokenizer (`--tokenizer_weight` of the pretraining script). */
  tokenizer: string;
  /** The pretrained BEiT v2 model with its CLS bottleneck (`--finetune` of fine-tuning). */
  pretrained: string;
  /** The fine-tuned classifier (`--resume`/`--eval` of fine-tuning), when the run has one. */
  finetuned?: string;
}

/**
 * Writes a run's models as PyTorch `.pth` files that the official BEiT v2 scripts load:
 * `{"model": OrderedDict(state dict)}` with the official key names (the tokenizer's,
 * the pretraining model's, the fine-tuning classifier's), with their configs beside them.
 * No Python is needed: the ZIP container and the pickle are written here.
 *
 * @param run an opened run
 * @param outDir the folder to write into (created)
 * @returns the paths written
 */
export async function exportOfficial(run: SavedRun, outDir: string): Promise<OfficialExport> {
  await Deno.mkdir(outDir, { recursive: true });
  const grid = 28 / (run.configs.beit.patch_size as number);
  const write = async (name: string, tree: unknown, config: Record<string, unknown>) => {
    const path = `${outDir}/${name}.pth`;
    const entries = await officialStateDict(tree, grid);
    await writeFileAtomic(path, encodePth({ model: new PthStateDict(entries) }, name));
    await Deno.writeTextFile(`${outDir}/${name}.json`, JSON.stringify(config, null, 2) + "\n");
    return path;
  };
  const tokenizer = await loadRunTokenizer(run);
  const exported: OfficialExport = {
    tokenizer: await write(
      "vqkd",
      { ...tokenizer.params, quantize: tokenizer.state.quantize },
      run.configs.vqkd,
    ),
    pretrained: await write("beit_pretrain", (await loadRunBeit(run)).params, run.configs.beit),
  };
  const hasClassifier = await Deno.stat(`${run.dir}/finetuned.ckpt`).then(() => true, () => false);
  if (hasClassifier) {
    exported.finetuned = await write(
      "beit_finetuned",
      (await loadRunClassifier(run)).params,
      run.configs.finetuned,
    );
  }
  return exported;
}
