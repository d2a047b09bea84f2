// The CPU bench's three ViT training steps, built with the nn API only, so that the same
// script runs in a checkout of an older version too: run it in two checkouts alternately
// to compare them on a machine whose speed drifts.
//
//   deno run -A tools/experiments/vit_step_sizes.ts [cpu|cpu-js|webgpu]
//
// Prints the median of 4 steps after 2 warm-up steps, per size (width, depth, batch).

import * as T from "../../mod.ts";
import { adamw, applyUpdates, visionTransformer } from "../../nn/mod.ts";

await T.useBackend(Deno.args[0] ?? "cpu");
const out: string[] = [];
for (const [width, depth, batch] of [[128, 6, 64], [64, 4, 128], [64, 2, 128]]) {
  const vit = visionTransformer({
    img_size: 28,
    patch_size: 4,
    in_chans: 1,
    num_classes: 10,
    embed_dim: width,
    depth,
    num_heads: 2,
    qkv_bias: true,
    use_abs_pos_emb: true,
  });
  const optimizer = adamw({ learningRate: 1e-3, weightDecay: 0.05 });
  let params = vit.init(T.key(0));
  let state = optimizer.init(params);
  const images = T.uniform(T.key(1), [batch, 1, 28, 28]);
  const labels = T.tensor(Array.from({ length: batch }, (_, i) => i % 10), { dtype: "int32" });
  const loss = (p: typeof params) => T.crossEntropy(vit.apply(p, images), labels);
  const times: number[] = [];
  for (let i = 0; i < 6; i++) {
    const t0 = performance.now();
    const next = T.tidy(() => {
      const { value, grads } = T.valueAndGrad(loss)(params);
      const { updates, state: s } = optimizer.update(grads, state, params);
      return { params: applyUpdates(params, updates), state: s, loss: value };
    });
    T.dispose([params, state]);
    ({ params, state } = next);
    await T.toArray(next.loss);
    T.dispose(next.loss);
    times.push((performance.now() - t0) / 1000);
  }
  T.dispose([params, state, images, labels]);
  const later = times.slice(2).sort((a, b) => a - b);
  out.push(
    `width ${width} depth ${depth} batch ${batch}: ${((later[1] + later[2]) / 2).toFixed(3)} s`,
  );
}
console.log(out.join("\n"));
