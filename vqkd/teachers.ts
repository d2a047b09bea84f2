// Teachers for VQ-KD: frozen functions from images [B, C, H, W] in [0, 1] to patch
// features [B, N, T] that the tokenizer's decoder learns to reconstruct.
//
//   pixels      each patch's pixels normalised by its own mean and std (BEiT v1-style
//               pixel targets: the paper's baseline)
//   supervised  a small ViT classifier trained on the labelled training split (our
//               stand-in for CLIP's semantic knowledge at this scale; it saw labels)
//   clip        OpenAI CLIP's image tower from a state dict (QuickGELU, LayerNorm eps 1e-5,
//               features = ln_post(patch tokens) · proj, CLIP's mean/std on the input)
//   dino        DINO's ViT from a state dict (full qkv bias, exact GELU, final norm eps
//               1e-6, features = norm(patch tokens), ImageNet mean/std on the input)
// Legend: B batch · C channels · N patches · T teacher feature size · D width

import {
  add,
  clip as clamp,
  concat,
  div,
  expand,
  layerNorm,
  matmul,
  mean,
  mul,
  permute,
  reshape,
  sigmoid,
  slice,
  softmax,
  sqrt,
  stopGradient,
  sub,
  type Tensor,
  tensor,
  tile,
  transpose,
  variance,
} from "../tensor/mod.ts";
import { block, type BlockParams } from "../nn/block.ts";
import { linearForward } from "../nn/linear.ts";
import { patchify } from "../nn/patch_embed.ts";
import type { ViTModel, ViTParams } from "../nn/vision_transformer.ts";

/** A frozen teacher. */
export interface Teacher {
  /** A short name for logs and reports. */
  name: string;
  /** Feature size T. */
  dim: number;
  /** Images [B, C, H, W] in [0, 1] → features [B, N, T] (no gradient). */
  features(images: Tensor): Tensor;
}

/** Repeats a 1-channel batch to 3 channels (Fashion-MNIST into RGB teachers). */
export function toChannels(images: Tensor, channels: number): Tensor {
  const c = images.shape[1];
  if (c === channels) return images;
  if (c === 1) return tile(images, [1, channels, 1, 1]);
  if (channels === 1) return mean(images, { axis: 1, keepDims: true });
  throw new Error(`Cannot convert ${c}-channel images to ${channels} channels`);
}

function normalizeChannels(
  images: Tensor,
  meanValues: readonly number[],
  stdValues: readonly number[],
): Tensor {
  const c = images.shape[1];
  const m = reshape(tensor(meanValues.slice(0, c), { backend: images.backend }), [1, c, 1, 1]);
  const s = reshape(tensor(stdValues.slice(0, c), { backend: images.backend }), [1, c, 1, 1]);
  return div(sub(images, m), s);
}

/**
 * Per-patch normalised pixels: (x − mean) / √(var + 1e-6) over each patch's C·P·P values.
 * (The cosine loss then normalises with an epsilon, so all-black patches give no NaN: a
 * stated deviation from the official loss, which has none.)
 */
export function pixelTeacher(options: { patchSize: number }): Teacher & { dim: number } {
  return {
    name: "pixels",
    dim: NaN, // C·P·P, known once images arrive
    features(images: Tensor): Tensor {
      const patches = patchify(images, options.patchSize); // [B, N, C·P·P]
      const mu = mean(patches, { axis: -1, keepDims: true });
      const sigma = sqrt(add(variance(patches, { axis: -1, keepDims: true }), 1e-6));
      return stopGradient(div(sub(patches, mu), sigma));
    },
  };
}

/** A trained ViT classifier as a teacher: its normalised patch tokens [B, N, D]. */
export function classifierTeacher(
  vit: ViTModel,
  params: ViTParams,
  options: { mean: readonly number[]; std: readonly number[] },
): Teacher {
  return {
    name: "supervised",
    dim: vit.config.embedDim,
    features: (images) =>
      stopGradient(
        vit.apply(
          params,
          normalizeChannels(toChannels(images, vit.config.inChans), options.mean, options.std),
          { returnPatchTokens: true },
        ),
      ),
  };
}

/** Strips the `teacher_model.` prefix the official tokenizer files use, and `prefix`. */
function stripPrefix(sd: ReadonlyMap<string, Tensor>, prefix: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [k, v] of sd) {
    const name = k.startsWith("teacher_model.") ? k.slice("teacher_model.".length) : k;
    if (name.startsWith(prefix)) out.set(name.slice(prefix.length), v);
  }
  return out;
}

function need(sd: ReadonlyMap<string, Tensor>, key: string, what: string): Tensor {
  const t = sd.get(key);
  if (t === undefined) {
    throw new Error(`Cannot build the ${what} teacher: the state dict has no "${key}"`);
  }
  return t;
}

/**
 * What a ViT from another code base starts from: its state dict under `prefix`, a getter
 * that names the `what` teacher when a key is missing, its patch convolution `convKey`
 * (width, input channels and patch side from its shape), its heads (default width / 64, as
 * both official codes) and its depth (the keys matching `layer`).
 */
function foreignVit(
  stateDict: ReadonlyMap<string, Tensor>,
  prefix: string,
  what: string,
  convKey: string,
  layer: RegExp,
  heads?: number,
) {
  const sd = stripPrefix(stateDict, prefix);
  const get = (key: string) => need(sd, key, what);
  const conv = get(convKey);
  const [width, inChans, patch] = conv.shape;
  return {
    get,
    conv,
    width,
    inChans,
    patch,
    heads: heads ?? Math.max(1, Math.floor(width / 64)),
    depth: [...sd.keys()].filter((k) => layer.test(k)).length,
  };
}

const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073];
const CLIP_STD = [0.26862954, 0.26130258, 0.27577711];

/**
 * OpenAI CLIP's image tower (ViT) from its state dict (keys `visual.*`, optionally under
 * `teacher_model.`): features = ln_post(patch tokens) · proj.
 *
 * @param stateDict the loaded state dict (fp16 entries arrive as float32)
 * @param options `heads` (default width / 64, as OpenAI's code)
 * @returns the teacher
 */
export function clipTeacher(
  stateDict: ReadonlyMap<string, Tensor>,
  options: { heads?: number } = {},
): Teacher {
  // Under `visual.`: the patch convolution conv1 [W, 3, P, P], blocks transformer.resblocks.i.
  const layerKey = /^transformer\.resblocks\.\d+\.ln_1\.weight$/;
  const vit = foreignVit(stateDict, "visual.", "CLIP", "conv1.weight", layerKey, options.heads);
  const { get, conv, width, patch, heads, depth: layers } = vit;
  const proj = get("proj"); // [W, T]
  const eps = 1e-5;
  const ln = (x: Tensor, name: string) =>
    layerNorm(x, get(`${name}.weight`), get(`${name}.bias`), { eps });
  const headDim = width / heads;
  return {
    name: "clip",
    dim: proj.shape[1],
    features(images: Tensor): Tensor {
      const x0 = normalizeChannels(clamp(toChannels(images, 3), 0, 1), CLIP_MEAN, CLIP_STD);
      const b = x0.shape[0];
      let x = matmul(patchify(x0, patch), transpose(reshape(conv, [width, 3 * patch * patch]))); // [B, N, W], no bias
      const cls = expand(reshape(get("class_embedding"), [1, 1, width]), [
        b,
        1,
        width,
      ]);
      x = add(concat([cls, x], { axis: 1 }), get("positional_embedding")); // [B, T, W]
      x = ln(x, "ln_pre");
      const t = x.shape[1];
      for (let i = 0; i < layers; i++) {
        const p = `transformer.resblocks.${i}`;
        const h = ln(x, `${p}.ln_1`);
        const qkv = linearForward(
          h,
          get(`${p}.attn.in_proj_weight`),
          get(`${p}.attn.in_proj_bias`),
        );
        const split = permute(reshape(qkv, [b, t, 3, heads, headDim]), [2, 0, 3, 1, 4]); // [3, B, H, T, d]
        const pick = (j: number) => reshape(slice(split, [[j, j + 1]]), [b, heads, t, headDim]);
        const att = softmax(
          mul(matmul(pick(0), transpose(pick(1), [0, 1, 3, 2])), headDim ** -0.5),
        );
        const o = reshape(permute(matmul(att, pick(2)), [0, 2, 1, 3]), [b, t, width]);
        x = add(
          x,
          linearForward(
            o,
            get(`${p}.attn.out_proj.weight`),
            get(`${p}.attn.out_proj.bias`),
          ),
        );
        const f = linearForward(
          ln(x, `${p}.ln_2`),
          get(`${p}.mlp.c_fc.weight`),
          get(`${p}.mlp.c_fc.bias`),
        );
        const g = mul(f, sigmoid(mul(f, 1.702))); // QuickGELU
        x = add(
          x,
          linearForward(
            g,
            get(`${p}.mlp.c_proj.weight`),
            get(`${p}.mlp.c_proj.bias`),
          ),
        );
      }
      const patches = slice(ln(x, "ln_post"), [null, [1]]); // [B, N, W]
      return stopGradient(matmul(patches, proj)); // [B, N, T]
    },
  };
}

const IMAGENET_MEAN = [0.485, 0.456, 0.406];
const IMAGENET_STD = [0.229, 0.224, 0.225];

/**
 * DINO's ViT from its state dict (`patch_embed.proj`, `cls_token`, `pos_embed`,
 * `blocks.i.*` with a full qkv bias, final `norm`; optionally under `teacher_model.`):
 * features = norm(patch tokens).
 *
 * @param stateDict the loaded state dict
 * @param options `heads` (default width / 64)
 * @returns the teacher
 */
export function dinoTeacher(
  stateDict: ReadonlyMap<string, Tensor>,
  options: { heads?: number } = {},
): Teacher {
  // The patch convolution patch_embed.proj [W, C, P, P], blocks blocks.i.
  const layerKey = /^blocks\.\d+\.norm1\.weight$/;
  const vit = foreignVit(stateDict, "", "DINO", "patch_embed.proj.weight", layerKey, options.heads);
  const { get, conv, width, inChans, patch, heads, depth } = vit;
  const blk = block({ dim: width, numHeads: heads, qkvBias: "full", normEps: 1e-6 });
  const blocks: BlockParams[] = Array.from({ length: depth }, (_, i) => {
    const g = (k: string) => get(`blocks.${i}.${k}`);
    return {
      norm1: { weight: g("norm1.weight"), bias: g("norm1.bias") },
      attn: {
        qkv: { weight: g("attn.qkv.weight"), bias: g("attn.qkv.bias") },
        proj: { weight: g("attn.proj.weight"), bias: g("attn.proj.bias") },
      },
      norm2: { weight: g("norm2.weight"), bias: g("norm2.bias") },
      mlp: {
        fc1: { weight: g("mlp.fc1.weight"), bias: g("mlp.fc1.bias") },
        fc2: { weight: g("mlp.fc2.weight"), bias: g("mlp.fc2.bias") },
      },
    } as BlockParams;
  });
  return {
    name: "dino",
    dim: width,
    features(images: Tensor): Tensor {
      const x0 = normalizeChannels(toChannels(images, inChans), IMAGENET_MEAN, IMAGENET_STD);
      const b = x0.shape[0];
      let x = add(
        matmul(patchify(x0, patch), transpose(reshape(conv, [width, inChans * patch * patch]))),
        get("patch_embed.proj.bias"),
      );
      x = add(
        concat([expand(get("cls_token"), [b, 1, width]), x], { axis: 1 }),
        get("pos_embed"),
      );
      for (const p of blocks) x = blk.apply(p, x);
      const normed = layerNorm(x, get("norm.weight"), get("norm.bias"), {
        eps: 1e-6,
      });
      return stopGradient(slice(normed, [null, [1]]));
    },
  };
}
