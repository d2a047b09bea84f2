// Evaluating and loading tokenizers: codebook usage and reconstruction quality on a data
// set, and loading official-format checkpoints.
// Legend: B batch · N patches · K codes

import {
  add,
  cosineSimilarity,
  dispose,
  keep,
  mean,
  type Tensor,
  tidy,
  toArray,
  zeros,
} from "../tensor/mod.ts";
import { dataLoader, type HostDataset } from "../data/loader.ts";
import { fromStateDict, loadStateDict } from "../nn/io/state_dict.ts";
import { key } from "../tensor/mod.ts";
import { vqkd, type VqkdModel, type VqkdParams, type VqkdState } from "./model.ts";
import { codesUsed } from "./quantizer.ts";
import type { Teacher } from "./teachers.ts";

/**
 * Codebook usage (fraction of codes used at least once) and mean cosine similarity to the
 * teacher's features over a data set, in eval mode.
 *
 * @returns `{ usage, cosine, histogram }` (histogram: uses per code)
 */
export async function evaluateTokenizer(
  model: VqkdModel,
  params: VqkdParams,
  state: VqkdState,
  data: HostDataset,
  options: { teacher?: Teacher; batchSize?: number } = {},
): Promise<{ usage: number; cosine: number; histogram: Float32Array }> {
  const loader = dataLoader(data, {
    batchSize: options.batchSize ?? 256,
    key: key(0),
    shuffle: false,
    dropLast: false,
  });
  let counts = keep(zeros([model.config.nEmbed]));
  let cosTotal = 0;
  let batches = 0;
  for await (const batch of loader.epoch(0)) {
    const images = batch.views.images;
    const out = tidy(() => {
      const o = model.apply(params, state, images);
      const cos = options.teacher
        ? mean(
          cosineSimilarity(o.decoded, options.teacher.features(images), { axis: -1, eps: 1e-12 }),
        )
        : zeros([]);
      return { counts: add(counts, o.metrics.counts), cos };
    });
    dispose([counts, batch.views, batch.labels]);
    counts = out.counts;
    cosTotal += (await toArray(out.cos))[0] * batch.indices.length;
    batches += batch.indices.length;
    dispose(out.cos);
  }
  const histogram = Float32Array.from(await toArray(counts));
  const used = await codesUsed(counts);
  dispose(counts);
  return { usage: used / model.config.nEmbed, cosine: cosTotal / batches, histogram };
}

/**
 * Loads a tokenizer from an official-format state dict (`.pth` or `.safetensors`; teacher
 * and scaling-layer keys ignored, as the official loader does) and its architecture.
 *
 * @param checkpointPath the weights
 * @param config the architecture in the official JSON layout
 * @returns `{ model, params, state }`
 */
export async function loadTokenizer(
  checkpointPath: string,
  config: Record<string, unknown>,
): Promise<{ model: VqkdModel; params: VqkdParams; state: VqkdState }> {
  const model = vqkd(config);
  const init = model.init(key(0));
  const sd = await loadStateDict(checkpointPath);
  const kept = new Map([...sd].filter(([k]) => !/^(loss|teacher|scaling)/.test(k)));
  const params = fromStateDict(
    init.params,
    new Map([...kept].filter(([k]) => !k.startsWith("quantize."))),
  );
  const state = fromStateDict(
    init.state,
    new Map([...kept].filter(([k]) => k.startsWith("quantize."))),
  );
  dispose(init);
  if ((await toArray(state.quantize.embedding.initted))[0] !== 1) {
    throw new Error(
      `Cannot use tokenizer ${checkpointPath}: its codebook was never initialised (quantize.embedding.initted is 0)`,
    );
  }
  return { model, params, state };
}

export type { Tensor };
