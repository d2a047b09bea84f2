// The VQ-KD visual tokenizer (the BEiT v2 paper, section 2; official `modeling_vqkd.VQKD`;
// explained step by step in docs/course/05_vqkd.md):
//
//   images [0, 1] → 2x − 1 → encoder ViT → fc_norm(patch tokens) [B, N, D]
//     → encode_task_layer (Linear, tanh, Linear) [B, N, C] → quantizer (ids, ẑ)
//     → ẑ as a [B, C, h, w] map → decoder ViT (1×1 patches) [B, N, D]
//     → decode_task_layer (Linear, tanh, Linear) [B, N, T] ≈ the teacher's features
//   loss = commitment + mean(1 − cos(reconstruction, teacher))
//
// Parameters (trainable) and quantizer state (EMA codebook and statistics) are separate
// trees whose dotted paths are the official state-dict keys.
// Legend: B batch · N patches · h, w grid · D width · C code dim · K codes · T teacher dim

import {
  add,
  cosineSimilarity,
  div,
  exp,
  type Key,
  lessEqual,
  log,
  max,
  maximum,
  mean,
  mul,
  permute,
  reshape,
  splitKey,
  sub,
  sum,
  tanh,
  type Tensor,
  tensor,
  tidy,
  where,
} from "../tensor/mod.ts";
import { linearForward, linearLayer, type LinearParams } from "../nn/linear.ts";
import { parseConfig } from "../nn/config.ts";
import { visionTransformer, type ViTParams } from "../nn/vision_transformer.ts";
import { initQuantizerState, quantize, type QuantizerState } from "./quantizer.ts";

/** A VQ-KD architecture with the official constructor argument names (camelCase accepted). */
export interface VqkdConfig {
  /** Encoder ViT kwargs (official `get_model_default_params()` names). */
  encoder: Record<string, unknown>;
  /** Decoder ViT kwargs (img_size = encoder grid, patch_size 1, in_chans = embedDim). */
  decoder: Record<string, unknown>;
  /** Codebook size K. */
  nEmbed: number;
  /** Code dimension C. */
  embedDim: number;
  /** EMA decay. */
  decay: number;
  /** Teacher feature dimension T. */
  decoderOutDim: number;
  /** LayerNorm eps of both ViTs. */
  normEps: number;
  /** Input scaling: "default" (x → 2x − 1), "imagenet_norm", or "dall-e" (a no-op, as official). */
  processType: "default" | "imagenet_norm" | "dall-e";
  /** Commitment weight β. */
  beta: number;
}

/** The official constructor's defaults (codebook 8192 × 32, decay 0.99). */
export const VQKD_DEFAULTS: VqkdConfig = {
  encoder: {},
  decoder: {},
  nEmbed: 8192,
  embedDim: 32,
  decay: 0.99,
  decoderOutDim: 512,
  normEps: 1e-6,
  processType: "default",
  beta: 1,
};

/** Trainable parameters of VQ-KD, in the official order. */
export interface VqkdParams {
  /** The encoder ViT. */
  encoder: ViTParams;
  /** The decoder ViT (patch size 1 over the code grid). */
  decoder: ViTParams;
  /** The MLP projecting encoder tokens to code space (Linear, Tanh, Linear). */
  encode_task_layer: { "0": LinearParams; "2": LinearParams };
  /** The MLP projecting decoder tokens to the teacher's features. */
  decode_task_layer: { "0": LinearParams; "2": LinearParams };
  /** Any other official key. */
  [key: string]: unknown;
}

/** Non-differentiated state: the quantizer's buffers. */
export interface VqkdState {
  /** The quantizer's codebook and usage buffers. */
  quantize: QuantizerState;
  /** Any other official key. */
  [key: string]: unknown;
}

/** Options of vqkd.apply. */
export interface VqkdApplyOptions {
  /** Training mode: the codebook moves by EMA (default false). */
  train?: boolean;
  /** Teacher features [B, N, T]: when given, the losses are computed. */
  teacherFeatures?: Tensor;
  /** Key for dropout in training mode. */
  key?: Key;
}

/** What vqkd.apply returns. */
export interface VqkdOutput {
  /** Code ids [B, N] (int32, row-major patch order). */
  tokens: Tensor;
  /** Quantized vectors [B, N, C] (straight-through). */
  quantized: Tensor;
  /** Decoder output [B, N, T]. */
  decoded: Tensor;
  /** Encoder output after fc_norm [B, N, D]. */
  encoded: Tensor;
  /** Total loss (0-d) when teacherFeatures were given. */
  loss?: Tensor;
  /** The state after this call (the codebook moved in training mode). */
  state: VqkdState;
  /** Losses (with teacher features), codebook perplexity and the count of each code in the batch. */
  metrics: { quantLoss?: Tensor; recLoss?: Tensor; perplexity: Tensor; counts: Tensor };
}

function taskLayer(d: number, out: number) {
  return {
    first: linearLayer({ inFeatures: d, outFeatures: d }),
    second: linearLayer({ inFeatures: d, outFeatures: out }),
  };
}

/** Linear, tanh, Linear (the official task layers; the Tanh owns no parameters). */
function applyTask(p: { "0": LinearParams; "2": LinearParams }, x: Tensor): Tensor {
  return linearForward(
    tanh(linearForward(x, p["0"].weight, p["0"].bias)),
    p["2"].weight,
    p["2"].bias,
  );
}

/** Mean over positions of 1 − cos(a, b); vectors are normalised with a tiny eps (see file header). */
export function cosineReconstructionLoss(reconstruction: Tensor, target: Tensor): Tensor {
  return mean(sub(1, cosineSimilarity(reconstruction, target, { axis: -1, eps: 1e-12 })));
}

/** A VQ-KD tokenizer as `vqkd(config)` builds it: config, init, apply, project. */
export type VqkdModel = ReturnType<typeof vqkd>;

/**
 * Builds a VQ-KD tokenizer from a config in the official JSON layout.
 *
 * @param input `{ encoder, decoder, n_embed, embed_dim, decay, decoder_out_dim, process_type, … }`
 * @returns `{ config, init(key) → { params, state }, apply(params, state, images, options) }`
 */
export function vqkd(input: Partial<VqkdConfig> | Record<string, unknown>): {
  config: VqkdConfig;
  init(k: Key): { params: VqkdParams; state: VqkdState };
  apply(
    params: VqkdParams,
    state: VqkdState,
    images: Tensor,
    options?: VqkdApplyOptions,
  ): VqkdOutput;
  project(params: VqkdParams, images: Tensor): Tensor;
} {
  const config = parseConfig(input as Record<string, unknown>, VQKD_DEFAULTS, "VQ-KD config");
  const vitBase = {
    num_classes: 0,
    use_mean_pooling: true,
    use_abs_pos_emb: true,
    init_values: 0,
    norm_eps: config.normEps,
  };
  const encoder = visionTransformer({ ...vitBase, ...config.encoder });
  const decoder = visionTransformer({ ...vitBase, ...config.decoder });
  const d = encoder.config.embedDim;
  const dd = decoder.config.embedDim;
  const grid = encoder.config.imgSize / encoder.config.patchSize;
  if (
    decoder.config.imgSize !== grid || decoder.config.patchSize !== 1 ||
    decoder.config.inChans !== config.embedDim
  ) {
    throw new Error(
      `Cannot build VQ-KD: the decoder must read the ${grid}×${grid} code map (img_size ${grid}, patch_size 1, ` +
        `in_chans ${config.embedDim}); got img_size ${decoder.config.imgSize}, patch_size ${decoder.config.patchSize}, in_chans ${decoder.config.inChans}`,
    );
  }
  const encodeTask = taskLayer(d, config.embedDim);
  const decodeTask = taskLayer(dd, config.decoderOutDim);
  const quantizer = {
    numCodes: config.nEmbed,
    codeDim: config.embedDim,
    decay: config.decay,
    beta: config.beta,
  };

  /** Input scaling before the encoder (the official `process_type`). */
  const preprocess = (images: Tensor): Tensor => {
    if (config.processType === "imagenet_norm") {
      const c = images.shape[1];
      const m = [0.485, 0.456, 0.406].slice(0, c);
      const s = [0.229, 0.224, 0.225].slice(0, c);
      return div(
        sub(images, reshape(tensorOf(m, images), [1, c, 1, 1])),
        reshape(tensorOf(s, images), [1, c, 1, 1]),
      );
    }
    if (config.processType === "dall-e") return images;
    // "default": a batch whose maximum is ≤ 1 is first scaled to 0–255, then x/127.5 − 1.
    const scale = where(lessEqual(max(images), 1), 255, 1);
    return sub(div(mul(images, scale), 127.5), 1);
  };

  return {
    config,
    init: (k: Key) =>
      tidy(() => {
        const [ke, kd, k1, k2, k3, k4] = splitKey(k, 6);
        const params: VqkdParams = {
          encoder: encoder.init(ke),
          decoder: decoder.init(kd),
          encode_task_layer: { "0": encodeTask.first.init(k1), "2": encodeTask.second.init(k2) },
          decode_task_layer: { "0": decodeTask.first.init(k3), "2": decodeTask.second.init(k4) },
        };
        return { params, state: { quantize: initQuantizerState(quantizer) } };
      }),
    /** The encoder's projections [B, N, C] before normalisation (what the quantizer reads). */
    project(params, images) {
      const encoded = encoder.apply(params.encoder, preprocess(images), {
        returnPatchTokens: true,
      });
      return applyTask(params.encode_task_layer, encoded);
    },
    apply(params, state, images, options = {}) {
      const train = options.train ?? false;
      const [kEnc, kDec] = options.key ? splitKey(options.key) : [undefined, undefined];
      const encoded = encoder.apply(params.encoder, preprocess(images), {
        train,
        key: kEnc,
        returnPatchTokens: true,
      }); // [B, N, D]
      const projected = applyTask(params.encode_task_layer, encoded); // [B, N, C]
      const q = quantize(quantizer, state.quantize, projected, { train });
      const [b, n, c] = q.quantized.shape;
      const map = reshape(permute(q.quantized, [0, 2, 1]), [b, c, grid, grid]); // [B, C, h, w]
      const features = decoder.apply(params.decoder, map, {
        train,
        key: kDec,
        returnPatchTokens: true,
      }); // [B, N, D]
      const decoded = applyTask(params.decode_task_layer, features); // [B, N, T]
      const probs = div(q.counts, b * n);
      const perplexity = exp(mul(sum(mul(probs, log(maximum(probs, 1e-10)))), -1));
      const out: VqkdOutput = {
        tokens: q.ids,
        quantized: q.quantized,
        decoded,
        encoded,
        state: { ...state, quantize: q.state },
        metrics: { perplexity, counts: q.counts },
      };
      if (options.teacherFeatures) {
        const recLoss = cosineReconstructionLoss(decoded, options.teacherFeatures);
        out.loss = add(q.loss, recLoss);
        out.metrics.quantLoss = q.loss;
        out.metrics.recLoss = recLoss;
      }
      return out;
    },
  };
}

function tensorOf(values: number[], like: Tensor): Tensor {
  return tensor(values, { backend: like.backend });
}
