// The default preset's BEiT v2 pretraining step, for the bench: the tokenizer (VQ-KD, its
// sizes, untrained) labels a batch of 128 images, the backbone (width 64, depth 4, the CLS
// bottleneck over the top 2 blocks) predicts the codes of ~40 % of the patches masked
// blockwise, and AdamW updates it: beit/pretrain.ts's pretrainStep on random images.

import * as T from "../mod.ts";
import { adamw } from "../nn/mod.ts";
import { blockwiseMasks } from "../beit/masking.ts";
import { beitPretrainModel } from "../beit/model.ts";
import { PRESETS } from "../beit/pipeline.ts";
import { pretrainStep } from "../beit/pretrain.ts";
import { vqkd } from "../vqkd/model.ts";

/**
 * Builds the models, optimizer and one batch on the current backend.
 *
 * @returns `step()`, one training step inside tidy() returning its metrics, the batch
 *   size, and `dispose()`
 */
export function mimTrainStep(): { step(): T.Tensor; batchSize: number; dispose(): void } {
  const { vqkd: v, beit: b, teacher } = PRESETS.default;
  const tokenizerModel = vqkd({
    encoder: {
      img_size: 28,
      patch_size: 4,
      in_chans: 1,
      embed_dim: v.embedDim,
      depth: v.depth,
      num_heads: v.heads,
      qkv_bias: true,
    },
    decoder: {
      img_size: 7,
      patch_size: 1,
      in_chans: v.codeDim,
      embed_dim: v.embedDim,
      depth: v.decoderDepth,
      num_heads: v.heads,
      qkv_bias: true,
    },
    n_embed: v.codes,
    embed_dim: v.codeDim,
    decoder_out_dim: teacher.embedDim,
  });
  const tokenizer = {
    model: tokenizerModel,
    ...tokenizerModel.init(T.key(0)),
  };
  const model = beitPretrainModel({
    img_size: 28,
    patch_size: 4,
    in_chans: 1,
    vocab_size: v.codes,
    embed_dim: b.embedDim,
    depth: b.depth,
    num_heads: b.heads,
    qkv_bias: true,
    init_values: 0.1,
    use_abs_pos_emb: false,
    use_shared_rel_pos_bias: true,
    early_layers: b.earlyLayers,
    head_layers: b.headLayers,
  });
  const optimizer = adamw({
    learningRate: b.lr,
    b1: 0.9,
    b2: 0.98,
    weightDecay: 0.05,
    clipNorm: 3,
  });
  let params = model.init(T.key(1));
  let opt = optimizer.init(params);
  const batchSize = b.batchSize;
  const images = T.uniform(T.key(2), [batchSize, 1, 28, 28]);
  const backbone = T.tidy(() => T.div(T.sub(images, 0.286), 0.353));
  const masking = { grid: [7, 7] as [number, number], numMasked: 20, minBlock: 4 };
  const mask = blockwiseMasks(T.key(3), batchSize, masking, "cpu");
  let steps = 0;
  return {
    batchSize,
    step(): T.Tensor {
      const out = T.tidy(() =>
        pretrainStep({
          model,
          optimizer,
          tokenizer,
          params,
          opt,
          backbone,
          tokenizerView: images,
          mask,
          key: T.key(100 + steps++),
          clsBottleneck: true,
        })
      );
      T.disposeReplaced({ params, opt }, out);
      ({ params, opt } = out);
      return out.metrics;
    },
    dispose(): void {
      T.dispose([params, opt, images, backbone, mask, tokenizer.params, tokenizer.state]);
    },
  };
}
