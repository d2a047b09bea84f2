// Training steps on every backend: the ViT steps of bench/vit_train_step.ts (width 128
// depth 6 batch 64, and the default preset's two ViTs: width 64 depth 4 and depth 2, batch
// 128) in seconds, and the default preset's BEiT v2 pretraining step (bench/
// mim_train_step.ts: tokenizer forward, both branches forward and backward, AdamW) in
// images per second. Columns: the CPU backend on all threads and on one, the JavaScript
// oracle, and WebGPU where an adapter exists. Each step's loss must be finite. Median of
// 3 steps after 2 warm-up steps (the first compiles kernels).
//
// PyTorch's time for the same ViT steps: tools/experiments/vit_step_torch.py.

import * as T from "../mod.ts";
import { median } from "./_timing.ts";
import { mimTrainStep } from "./mim_train_step.ts";
import { VIT_STEP_SIZES, vitTrainStep } from "./vit_train_step.ts";

const HAS_WEBGPU = await T.openBackend("webgpu").then(() => true, () => false);
const THREADS = T.getNumThreads();
const COLUMNS = [
  { label: `cpu, ${THREADS} threads`, backend: "cpu", threads: THREADS },
  { label: "cpu, 1 thread", backend: "cpu", threads: 1 },
  { label: "cpu-js", backend: "cpu-js", threads: 1 },
  ...(HAS_WEBGPU ? [{ label: "webgpu", backend: "webgpu", threads: THREADS }] : []),
];

/** Median seconds of a step (which returns a tensor of finite metrics to read and free). */
async function secondsPerStep(
  backend: string,
  threads: number,
  make: () => { step(): T.Tensor; dispose(): void },
): Promise<number> {
  T.setNumThreads(threads);
  await T.useBackend(backend);
  const { step, dispose } = make();
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    const metrics = step();
    const values = await T.toArray(metrics); // the step's one readback
    times.push((performance.now() - t0) / 1000);
    T.dispose(metrics);
    if (!values.every(Number.isFinite)) throw new Error(`a step on ${backend} gave ${values}`);
  }
  dispose();
  T.emptyCache();
  await T.useBackend("cpu");
  T.setNumThreads(THREADS);
  return median(times.slice(2));
}

const lines = [
  `| training step | ${COLUMNS.map((c) => c.label).join(" | ")} |`,
  `| --- | ${COLUMNS.map(() => "---:").join(" | ")} |`,
];
for (const size of VIT_STEP_SIZES) {
  const seconds = [];
  for (const c of COLUMNS) {
    seconds.push(await secondsPerStep(c.backend, c.threads, () => vitTrainStep(size)));
  }
  lines.push(
    `| ViT width ${size.width} depth ${size.depth} batch ${size.batch}, s | ${
      seconds.map((s) => s.toFixed(3)).join(" | ")
    } |`,
  );
}
const rates = [];
for (const c of COLUMNS) {
  let batch = 0;
  const seconds = await secondsPerStep(c.backend, c.threads, () => {
    const s = mimTrainStep();
    batch = s.batchSize;
    return s;
  });
  rates.push(batch / seconds);
}
lines.push(
  `| BEiT v2 pretraining (default preset), img/s | ${rates.map((r) => r.toFixed(0)).join(" | ")} |`,
);
console.log(lines.join("\n"));

const step = vitTrainStep(VIT_STEP_SIZES[2]);
Deno.bench({
  name: "ViT training step, width 64 depth 2 batch 128 (cpu, all threads)",
  n: 5,
  warmup: 2,
  async fn() {
    const loss = step.step();
    await T.toArray(loss);
    T.dispose(loss);
  },
});
