// Patch embedding (the official `PatchEmbed`): a Conv2d with kernel = stride = P, done as "cut the image
// into P×P patches, flatten each, multiply by the flattened kernel". The weight keeps
// PyTorch's Conv2d layout [D, C, P, P], so official checkpoints load as they are.
// Legend: B batch · C channels · H, W image size · P patch size · h, w grid · N = h·w · D width

import {
  add,
  type Key,
  matmul,
  permute,
  reshape,
  splitKey,
  type Tensor,
  transpose,
  zeros,
} from "../tensor/mod.ts";
import { type InitStyle, torchUniformInit, truncNormalInit } from "./init.ts";
import type { Layer } from "./layer.ts";

/** Parameters of a patch embedding: `proj` is the Conv2d. */
export interface PatchEmbedParams {
  /** The convolution: weight [D, C, P, P] and bias [D]. */
  proj: { weight: Tensor; bias: Tensor; [key: string]: Tensor };
  /** Any other official key. */
  [key: string]: { weight: Tensor; bias: Tensor };
}

/** Cuts [B, C, H, W] images into [B, N, C·P·P] patch rows, in row-major grid order. */
export function patchify(images: Tensor, patchSize: number): Tensor {
  const [b, c, h, w] = images.shape;
  const gh = h / patchSize;
  const gw = w / patchSize;
  const grid = reshape(images, [b, c, gh, patchSize, gw, patchSize]); // [B, C, h, P, w, P]
  const patches = permute(grid, [0, 2, 4, 1, 3, 5]); // [B, h, w, C, P, P]
  return reshape(patches, [b, gh * gw, c * patchSize * patchSize]); // [B, N, C·P·P]
}

/**
 * Image to patch tokens.
 *
 * @param config `imgSize`, `patchSize`, `inChans`, `embedDim`, `init` style
 * @returns `{ init, apply, numPatches, gridSize }`
 */
export function patchEmbed(config: {
  imgSize: number;
  patchSize: number;
  inChans: number;
  embedDim: number;
  init?: InitStyle;
}): Layer<PatchEmbedParams> & { numPatches: number; gridSize: number } {
  const { imgSize, patchSize: p, inChans: c, embedDim: d } = config;
  if (imgSize % p !== 0) {
    throw new Error(
      `Cannot build patch embedding: image size ${imgSize} is not a multiple of patch size ${p}`,
    );
  }
  const style = config.init ?? "finetune";
  const fanIn = c * p * p;
  const gridSize = imgSize / p;
  return {
    numPatches: gridSize * gridSize,
    gridSize,
    init(k: Key): PatchEmbedParams {
      const [kw, kb] = splitKey(k);
      if (style === "pretrain") {
        return { proj: { weight: truncNormalInit(kw, [d, c, p, p], style), bias: zeros([d]) } };
      }
      // The official fine-tune ViT leaves this Conv2d at PyTorch's default init.
      return {
        proj: {
          weight: torchUniformInit(kw, [d, c, p, p], fanIn),
          bias: torchUniformInit(kb, [d], fanIn),
        },
      };
    },
    apply(params: PatchEmbedParams, images: Tensor): Tensor {
      const ok = images.rank === 4 && images.shape[1] === c && images.shape[2] === imgSize &&
        images.shape[3] === imgSize;
      if (!ok) {
        throw new Error(
          `Cannot embed patches: expected images [B, ${c}, ${imgSize}, ${imgSize}], got [${images.shape}]`,
        );
      }
      const rows = patchify(images, p); // [B, N, C·P·P]
      const kernel = reshape(params.proj.weight, [d, fanIn]); // [D, C·P·P]
      return add(matmul(rows, transpose(kernel)), params.proj.bias); // [B, N, D]
    },
  };
}
