// BEiT v2 pretraining (the official `engine_for_pretraining.py`): the frozen tokenizer labels the tokenizer view, the
// backbone sees the normalised view with ~40 % of its patches replaced by the mask token,
// and both branches predict the codes of the masked patches. AdamW (β 0.9, 0.98; weight
// decay 0.05 with the official mask), warmup then cosine, gradient clipping at 3.0, drop
// path; checkpoints after every epoch and resume.
// Legend: B batch · N patches · M masked positions · V vocabulary

import {
  argmax,
  cast,
  dispose,
  equal,
  foldIn,
  type Key,
  mean,
  stack,
  type Tensor,
} from "../tensor/mod.ts";
import { valueAndGrad } from "../autograd/mod.ts";
import { dataLoader, type HostDataset } from "../data/loader.ts";
import { beitTwoViews } from "../data/transforms.ts";
import { loadCheckpointOrNull, saveCheckpoint } from "../nn/io/checkpoint.ts";
import { adamw } from "../nn/optim/alias.ts";
import { applyUpdates, type GradientTransformation } from "../nn/optim/transform.ts";
import { learningRateOf, type TrainingSchedule, trainLoop } from "../nn/train_loop.ts";
import type { VqkdModel, VqkdParams, VqkdState } from "../vqkd/model.ts";
import { blockwiseMasks, type MaskingOptions } from "./masking.ts";
import {
  beitPretrainLoss,
  type BeitPretrainModel,
  beitPretrainModel,
  type BeitPretrainParams,
} from "./model.ts";
import { FASHION_MNIST_MEAN, FASHION_MNIST_STD } from "../data/fashion_mnist.ts";

/** A frozen tokenizer: model, params and state. */
export interface Tokenizer {
  /** The tokenizer model. */
  model: VqkdModel;
  /** Its trained parameters. */
  params: VqkdParams;
  /** Its codebook state. */
  state: VqkdState;
}

/** Options of pretrainBeit. */
export interface PretrainOptions extends TrainingSchedule {
  /** Pretraining model config (official names); vocab_size must equal the codebook size. */
  model: Record<string, unknown>;
  /** The frozen tokenizer whose codes are the targets. */
  tokenizer: Tokenizer;
  /** Training images. */
  data: HostDataset;
  /** Decoupled weight decay (default 0.05). */
  weightDecay?: number;
  /** AdamW's second-moment decay (default 0.98, as the official recipe). */
  b2?: number;
  /** Gradient-norm clipping (default 3.0; 0: none). */
  clipNorm?: number;
  /**
   * Blockwise masking on the patch grid (default: 40 % of the patches, rounded, with min block
   * area 4; on the official 14×14 grid its 75 patches with min block area 16).
   */
  masking?: Partial<MaskingOptions>;
  /** Train the CLS-bottleneck branch too (default true; false is the ablation). */
  clsBottleneck?: boolean;
  /** Backbone normalisation (default Fashion-MNIST's mean/std). */
  mean?: readonly number[];
  /** Backbone normalisation's standard deviation per channel. */
  std?: readonly number[];
  /** Key for initialisation, masks, dropout and shuffling. */
  key: Key;
  /** Resume point, rewritten after every epoch (params, optimizer state, epoch). */
  checkpoint?: string;
  /**
   * Where to keep the params after epoch `epoch` (1-based; e.g. for the curve of probe
   * accuracy against MIM steps). No snapshots when absent.
   */
  snapshot?: (epoch: number) => string;
  /** No progress bar (default false). */
  quiet?: boolean;
  /** Called after every step with its metrics (for the JSONL log). */
  onStep?: (metrics: Record<string, number>) => void;
}

/** What pretrainBeit returns. */
export interface Pretrained {
  /** The pretraining model. */
  model: BeitPretrainModel;
  /** Its trained parameters. */
  params: BeitPretrainParams;
}

/** What one pretraining step needs (see pretrainStep). */
export interface PretrainStepInputs<S> {
  model: BeitPretrainModel;
  optimizer: GradientTransformation<S>;
  tokenizer: Tokenizer;
  params: BeitPretrainParams;
  opt: S;
  /** The backbone's view of the batch, normalised: [B, C, H, W]. */
  backbone: Tensor;
  /** The tokenizer's view of the same images: [B, C, H, W]. */
  tokenizerView: Tensor;
  /** Which patches are masked: bool [B, N], on the CPU. */
  mask: Tensor;
  /** Drop path's key for this step. */
  key: Key;
  /** Optimise the CLS-bottleneck branch's loss too. */
  clsBottleneck: boolean;
}

/**
 * One pretraining step (run it inside tidy): the tokenizer labels the batch, both
 * branches predict the masked patches' codes, and AdamW updates the params.
 *
 * @returns the new params and optimizer state, and the metrics [loss, loss of the main
 *   branch, loss of the CLS branch, accuracy of each branch] as one tensor
 */
export function pretrainStep<S>(
  s: PretrainStepInputs<S>,
): { params: BeitPretrainParams; opt: S; metrics: Tensor } {
  const tok = s.tokenizer;
  const tokens = tok.model.apply(tok.params, tok.state, s.tokenizerView).tokens; // [B, N], no gradient
  const loss = (p: BeitPretrainParams): [Tensor, Tensor] => {
    const o = s.model.apply(p, s.backbone, { mask: s.mask, train: true, key: s.key });
    const l = beitPretrainLoss(o, tokens);
    const accMain = mean(cast(equal(argmax(o.logits, { axis: 1 }), l.labels), "float32"));
    const accCls = mean(cast(equal(argmax(o.logitsClsPt, { axis: 1 }), l.labels), "float32"));
    return [
      s.clsBottleneck ? l.loss : l.lossMain,
      stack([l.loss, l.lossMain, l.lossClsPt, accMain, accCls]),
    ];
  };
  const { grads, aux } = valueAndGrad(loss, { hasAux: true })(s.params);
  const { updates, state } = s.optimizer.update(grads, s.opt, s.params);
  return { params: applyUpdates(s.params, updates), opt: state, metrics: aux };
}

/**
 * Pretrains BEiT v2 on a data set.
 *
 * @param options see PretrainOptions
 * @returns the model and its params
 */
export async function pretrainBeit(options: PretrainOptions): Promise<Pretrained> {
  const model = beitPretrainModel(options.model);
  const cfg = model.config;
  if (cfg.vocabSize !== options.tokenizer.model.config.nEmbed) {
    throw new Error(
      `Cannot pretrain: vocab_size ${cfg.vocabSize} differs from the tokenizer's ${options.tokenizer.model.config.nEmbed} codes`,
    );
  }
  const grid = cfg.imgSize / cfg.patchSize;
  const masking: MaskingOptions = {
    grid: [grid, grid],
    numMasked: grid === 14 ? 75 : Math.round(0.4 * grid * grid),
    minBlock: grid >= 14 ? 16 : 4,
    ...options.masking,
  };
  const pixelMean = options.mean ?? [FASHION_MNIST_MEAN];
  const pixelStd = options.std ?? [FASHION_MNIST_STD];
  const loader = dataLoader(options.data, {
    batchSize: options.batchSize,
    key: foldIn(options.key, 1),
    transform: (k, batch) => {
      const { backbone, tokenizer } = beitTwoViews(k, batch, {
        size: cfg.imgSize,
        mean: pixelMean,
        std: pixelStd,
        colorJitter: { brightness: 0.4, contrast: 0.4, saturation: 0.4 }, // hard-coded on, as the official code
      });
      return { backbone, tokenizer };
    },
  });
  const optimizer = adamw({
    learningRate: learningRateOf(options, loader.batchesPerEpoch),
    b1: 0.9,
    b2: options.b2 ?? 0.98,
    weightDecay: options.weightDecay ?? 0.05,
    clipNorm: options.clipNorm ?? 3,
  });
  let params = model.init(foldIn(options.key, 0));
  let opt = optimizer.init(params);
  let startEpoch = 0;
  if (options.checkpoint) {
    const saved = await loadCheckpointOrNull<
      { params: BeitPretrainParams; opt: unknown[]; epoch: number }
    >(options.checkpoint, (text) => console.error(text));
    if (saved) {
      dispose([params, opt]);
      ({ params, opt } = saved);
      startEpoch = saved.epoch + 1;
    }
  }
  const useBottleneck = options.clsBottleneck ?? true;
  ({ params, opt } = await trainLoop({
    label: "beit",
    carry: { params, opt },
    epochs: options.epochs,
    startEpoch,
    batchesPerEpoch: loader.batchesPerEpoch,
    batches: (epoch) => loader.epoch(epoch),
    release: (batch) => [batch.views, batch.labels],
    metrics: ["loss", "loss_main", "loss_cls_pt", "mlm_acc", "mlm_acc_cls_pt"],
    step: (carry, batch, at) => {
      const stepKey = foldIn(options.key, 1000 + at.step);
      const mask = blockwiseMasks(foldIn(stepKey, 1), batch.indices.length, masking, "cpu");
      const out = pretrainStep({
        model,
        optimizer,
        tokenizer: options.tokenizer,
        ...carry,
        backbone: batch.views.backbone,
        tokenizerView: batch.views.tokenizer,
        mask,
        key: stepKey,
        clsBottleneck: useBottleneck,
      });
      return { carry: { params: out.params, opt: out.opt }, metrics: out.metrics };
    },
    // Without the bottleneck its branch is not trained: report only what is optimised.
    onStep: (m, at) =>
      options.onStep?.({
        epoch: at.epoch,
        step: at.index,
        loss: useBottleneck ? m.loss : m.loss_main,
        loss_main: m.loss_main,
        ...(useBottleneck ? { loss_cls_pt: m.loss_cls_pt, mlm_acc_cls_pt: m.mlm_acc_cls_pt } : {}),
        mlm_acc: m.mlm_acc,
      }),
    show: (m) => ({
      loss: useBottleneck ? m.loss : m.loss_main,
      acc: m.mlm_acc,
      ...(useBottleneck ? { "acc(cls)": m.mlm_acc_cls_pt } : {}),
    }),
    afterEpoch: async (carry, { epoch, seconds }) => {
      if (options.checkpoint) await saveCheckpoint(options.checkpoint, { ...carry, epoch });
      if (options.snapshot) {
        await saveCheckpoint(options.snapshot(epoch + 1), { params: carry.params, epoch });
      }
      return {
        show: { "img/s": Math.round(loader.batchesPerEpoch * options.batchSize / seconds) },
      };
    },
    quiet: options.quiet,
  }));
  dispose(opt);
  return { model, params };
}
