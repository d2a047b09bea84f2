// CPU backend parity: every op of the op table (tests/_parity.ts), forward and gradient, on
// random shapes, values and layouts, run on the default CPU backend (WebAssembly kernels)
// and compared with the JavaScript oracle ("cpu-js"). Each row runs twice: on one thread,
// and on several with every kernel split among them however small (the thresholds that
// keep small kernels on one thread set to 0).

import fc from "fast-check";
import * as T from "../mod.ts";
import { SEED } from "./_helpers.ts";
import {
  compare,
  ELEMENTWISE_ROWS,
  MORE_ROWS,
  reductionProperty,
  REDUCTIONS,
  type Row,
} from "./_parity.ts";
import { withThreads } from "./_threads.ts";

/** Thread counts every row runs with: one, and at least two. */
const THREADS = [1, Math.max(2, T.getNumThreads())];

function parityTest(row: Row, threads: number): void {
  Deno.test({
    name: `cpu parity (${threads} thread${threads > 1 ? "s" : ""}): ${row.name} matches the ` +
      `JavaScript oracle${(row.grad ?? true) ? " (value and gradient)" : ""}`,
    sanitizeResources: false,
    sanitizeOps: false,
    fn: () =>
      withThreads(
        threads,
        () =>
          fc.assert(fc.asyncProperty(row.inputs, (inputs) => compare(row, inputs, "cpu")), {
            seed: SEED,
            numRuns: 8,
          }),
      ),
  });
}

for (const threads of THREADS) {
  [...ELEMENTWISE_ROWS, ...MORE_ROWS].forEach((row) => parityTest(row, threads));
  for (const [name, op, tol, grad] of REDUCTIONS) {
    Deno.test({
      name: `cpu parity (${threads} thread${threads > 1 ? "s" : ""}): ${name} matches the ` +
        `JavaScript oracle over random axes${grad ? " (value and gradient)" : ""}`,
      sanitizeResources: false,
      sanitizeOps: false,
      fn: () => withThreads(threads, () => reductionProperty(name, op, tol, grad, "cpu")),
    });
  }
}
