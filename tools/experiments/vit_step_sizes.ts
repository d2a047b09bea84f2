// The CPU bench's three ViT training steps (bench/vit_train_step.ts, which uses the nn API
// only), timed without the bench harness: run it in two checkouts alternately to compare
// them on a machine whose speed drifts.
//
//   deno run -A tools/experiments/vit_step_sizes.ts [cpu|cpu-js|webgpu]
//
// Prints the median of 4 steps after 2 warm-up steps, per size (width, depth, batch).

import * as T from "../../mod.ts";
import { VIT_STEP_SIZES, vitTrainStep } from "../../bench/vit_train_step.ts";

await T.useBackend(Deno.args[0] ?? "cpu");
const out: string[] = [];
for (const size of VIT_STEP_SIZES) {
  const run = vitTrainStep(size);
  const times: number[] = [];
  for (let i = 0; i < 6; i++) {
    const t0 = performance.now();
    const loss = run.step();
    await T.toArray(loss);
    T.dispose(loss);
    times.push((performance.now() - t0) / 1000);
  }
  run.dispose();
  const later = times.slice(2).sort((a, b) => a - b);
  out.push(
    `width ${size.width} depth ${size.depth} batch ${size.batch}: ${
      ((later[1] + later[2]) / 2).toFixed(3)
    } s`,
  );
}
console.log(out.join("\n"));
