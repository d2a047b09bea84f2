// The bench's ViT training step (bench/vit_train_step.ts: width 128, depth 6, 2 heads,
// batch 64, AdamW; another size with --size W,D,B), timed over more steps than the bench
// takes, and profiled by kernel.
//
//   deno run -A tools/experiments/vit_step.ts [webgpu|cpu|cpu-js] [--size W,D,B] [--steps N]
//     [--profile] [--json]
//
// Prints every step's wall time (forward, backward, optimizer, one readback of the loss)
// and the median and minimum after the first (which compiles the kernels); with --json,
// only a last line {"median": s, "min": s} (tools/experiments/vit_step_torch.py reads it).
// With
// --profile (WebGPU), one more step runs with every dispatch in a compute pass of its own,
// timed by timestamp-query, and the kernels are listed by total time. Those times are
// inflated by the extra passes; use them for proportions, the plain steps for totals.
// On a shared machine step times drift by ±20 % within minutes: compare two versions by
// alternating runs.

import * as T from "../../mod.ts";
import { vitTrainStep } from "../../bench/vit_train_step.ts";
import type { GpuContext } from "../../tensor/backend/webgpu/mod.ts";

const args = Deno.args;
const backend = args.find((a) => a === "cpu" || a === "cpu-js" || a === "webgpu") ?? "webgpu";
const sizeAt = args.indexOf("--size");
const [width, depth, batch] = sizeAt >= 0 ? args[sizeAt + 1].split(",").map(Number) : [128, 6, 64];
const json = args.includes("--json");
const stepsAt = args.indexOf("--steps");
const steps = stepsAt >= 0 ? Number(args[stepsAt + 1]) : 10;
const profile = args.includes("--profile");

await T.useBackend(backend);
const { step } = vitTrainStep({ width, depth, batch });

const times: number[] = [];
for (let i = 0; i < steps; i++) {
  const t0 = performance.now();
  const value = step();
  const [l] = await T.toArray(value);
  times.push((performance.now() - t0) / 1000);
  T.dispose(value);
  if (!json) console.log(`step ${i}: ${times[i].toFixed(2)} s, loss ${l.toFixed(4)}`);
}
const later = times.slice(1).sort((a, b) => a - b);
if (json) {
  console.log(JSON.stringify({ median: later[Math.floor((later.length - 1) / 2)], min: later[0] }));
} else if (later.length > 0) {
  console.log(
    `${backend}: median ${later[Math.floor((later.length - 1) / 2)].toFixed(2)} s, ` +
      `min ${later[0].toFixed(2)} s over ${later.length} steps after the first`,
  );
}

if (profile && backend === "webgpu") {
  const ctx = (T.getBackend("webgpu") as unknown as { context: GpuContext }).context;
  ctx.startTiming({ perKernel: true });
  T.dispose(step());
  const total = await ctx.stopTiming();
  console.log(`kernel time of one step (inflated, see above): ${total.toFixed(2)} s`);
  for (const k of ctx.kernelTimes.slice(0, 30)) {
    console.log(`${k.seconds.toFixed(3)} s  ${String(k.dispatches).padStart(4)}×  ${k.kernel}`);
  }
}
if (!json) console.log(T.memoryStats());
