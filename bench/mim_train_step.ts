// The default preset's BEiT v2 pretraining step, for the bench: the tokenizer (VQ-KD, its
// sizes, untrained) labels a batch of 128 images, the backbone (width 64, depth 4, the CLS
// bottleneck over the top 2 blocks) predicts the codes of ~40 % of the patches masked
// blockwise, and AdamW updates it: beit/pretrain.ts's pretrainStep on random images.

import * as T from "../mod.ts";
import { adamw } from "../nn/mod.ts";
import { blockwiseMasks } from "../beit/masking.ts";
import { beitPretrainModel } from "../beit/model.ts";
import { beitModelConfig, PRESETS, vqkdModelConfig } from "../beit/presets.ts";
import { pretrainStep } from "../beit/pretrain.ts";
import { vqkd } from "../vqkd/model.ts";

/**
 * Builds the models, optimizer and one batch on the current backend.
 *
 * @returns `step()`, one training step inside tidy() returning its metrics, the batch
 *   size, and `dispose()`
 */
export function mimTrainStep(): { step(): T.Tensor; batchSize: number; dispose(): void } {
  const preset = PRESETS.default;
  const b = preset.beit;
  const tokenizerModel = vqkd(vqkdModelConfig(preset, preset.teacher.embedDim));
  const tokenizer = { model: tokenizerModel, ...tokenizerModel.init(T.key(0)) };
  const model = beitPretrainModel(beitModelConfig(preset, b.headLayers));
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
