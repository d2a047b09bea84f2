// CPU matmul benchmark: the register-blocked kernel against the naive reference at
// 256², 512² and 1024² (float32). Each size first checks the fast kernel against the
// naive one, then times it. Run with `deno task bench`; a GFLOP/s table is printed.

import { key, matmul, normal, splitKey, type Tensor, toArraySync } from "../mod.ts";
import { matmulBlocked, matmulNaive } from "../tensor/backend/cpu/matmul.ts";

const SIZES = [256, 512, 1024];

function operands(n: number): [Tensor, Tensor] {
  const [ka, kb] = splitKey(key(n));
  return [normal(ka, [n, n]), normal(kb, [n, n])];
}

function check(n: number): void {
  const [a, b] = operands(Math.min(n, 256));
  const fast = matmulBlocked(a, b);
  const slow = matmulNaive(a, b);
  for (let i = 0; i < fast.length; i++) {
    if (!(Math.abs(fast[i] - slow[i]) <= 1e-4 + 1e-4 * Math.abs(slow[i]))) {
      throw new Error(`matmul kernels disagree at ${i}: ${fast[i]} vs ${slow[i]}`);
    }
  }
}

/** Median seconds of `runs` calls of fn. */
function time(fn: () => void, runs: number): number {
  for (let i = 0; i < 3; i++) fn(); // let the JIT reach its optimising tier
  const samples: number[] = [];
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    fn();
    samples.push((performance.now() - t0) / 1000);
  }
  return samples.sort((x, y) => x - y)[Math.floor(samples.length / 2)];
}

const report: string[] = [];
for (const n of SIZES) {
  check(n);
  const [a, b] = operands(n);
  const flops = 2 * n ** 3;
  const fast = time(() => toArraySync(matmul(a, b)), n >= 1024 ? 3 : 5);
  const naive = n <= 512 ? time(() => matmulNaive(a, b), 3) : NaN;
  report.push(
    `| ${n} | ${(flops / fast / 1e9).toFixed(2)} | ${
      Number.isNaN(naive) ? "–" : (flops / naive / 1e9).toFixed(2)
    } |`,
  );
  Deno.bench({
    name: `cpu matmul ${n}x${n} float32 (blocked)`,
    group: `matmul ${n}`,
    baseline: true,
    fn: () => void matmul(a, b),
  });
  if (n <= 512) {
    Deno.bench({
      name: `cpu matmul ${n}x${n} float32 (naive)`,
      group: `matmul ${n}`,
      fn: () => void matmulNaive(a, b),
    });
  }
}

console.log("\nCPU matmul, float32, one thread (median):\n");
console.log("| n | blocked GFLOP/s | naive GFLOP/s |\n| --- | ---: | ---: |");
for (const line of report) console.log(line);
console.log();
