// Where a training step's time goes on the CPU backend, kernel by kernel: wraps each method
// of the backend object to time its calls (matmuls and indexing labelled with their
// shapes), runs a few steps, and prints the kernels by total time per step.
//
//   deno run -A tools/experiments/cpu_profile.ts [vit|mim] [--size W,D,B] [--top N]
//
// vit: bench/vit_train_step.ts (width 128, depth 6, batch 64 unless --size); mim: the
// default preset's BEiT v2 pretraining step (bench/mim_train_step.ts). The kernels' sum
// against the step's wall time shows what the rest (the tape, views, tidy) costs. Times
// include the wait for worker threads, so they are what the calling thread sees.

import * as T from "../../mod.ts";
import { cpuBackend } from "../../tensor/backend/wasm/mod.ts";
import { mimTrainStep } from "../../bench/mim_train_step.ts";
import { vitTrainStep } from "../../bench/vit_train_step.ts";

const args = Deno.args;
const which = args.includes("mim") ? "mim" : "vit";
const sizeAt = args.indexOf("--size");
const [width, depth, batch] = sizeAt >= 0 ? args[sizeAt + 1].split(",").map(Number) : [128, 6, 64];
const topAt = args.indexOf("--top");
const top = topAt >= 0 ? Number(args[topAt + 1]) : 30;

const stats = new Map<string, { calls: number; ms: number }>();
const shape = (x: unknown) => (x as T.Tensor).shape.join("×");
const methods = cpuBackend as unknown as Record<string, unknown>;
for (const name of Object.keys(methods)) {
  const method = methods[name];
  if (typeof method !== "function") continue;
  methods[name] = (...a: unknown[]) => {
    const t0 = performance.now();
    const result = method.apply(cpuBackend, a);
    const ms = performance.now() - t0;
    let label = typeof a[0] === "string" ? `${name} ${a[0]}` : name;
    if (name === "matmul") label += ` ${shape(a[0])} · ${shape(a[1])}${a[2] ? " + bias" : ""}`;
    if (name === "gather" || name === "scatterAdd") label += ` ${shape(a[0])} by ${shape(a[1])}`;
    const s = stats.get(label) ?? { calls: 0, ms: 0 };
    s.calls++;
    s.ms += ms;
    stats.set(label, s);
    return result;
  };
}

const run = which === "mim" ? mimTrainStep() : vitTrainStep({ width, depth, batch });
for (let i = 0; i < 3; i++) T.dispose(run.step()); // compile, and reach the optimising tier
stats.clear();
const steps = 5;
const t0 = performance.now();
for (let i = 0; i < steps; i++) {
  const metrics = run.step();
  await T.toArray(metrics);
  T.dispose(metrics);
}
const stepMs = (performance.now() - t0) / steps;
const rows = [...stats.entries()].sort((a, b) => b[1].ms - a[1].ms);
const kernelMs = rows.reduce((sum, [, s]) => sum + s.ms, 0) / steps;
const calls = rows.reduce((sum, [, s]) => sum + s.calls, 0) / steps;
console.log(
  `${which} step: ${stepMs.toFixed(0)} ms on ${T.getNumThreads()} threads; kernels ${
    kernelMs.toFixed(0)
  } ms in ${calls} calls; the rest ${(stepMs - kernelMs).toFixed(0)} ms`,
);
for (const [label, s] of rows.slice(0, top)) {
  console.log(
    `${(s.ms / steps).toFixed(1).padStart(7)} ms ${
      (100 * s.ms / steps / stepMs).toFixed(1).padStart(5)
    } % ${String(s.calls / steps).padStart(5)}×  ${label}`,
  );
}
run.dispose();
