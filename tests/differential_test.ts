// Differential test: every elementwise op, reduction and composite of the op table, on
// seeded random cases that mix ordinary values with NaN, ±∞ and signed zeros (shapes with
// size-0 and size-1 axes, broadcasting pairs, transposed and strided views), run on each
// backend (WebAssembly CPU kernels; WebGPU when an adapter exists) and compared with the
// float64 JavaScript oracle, forward and gradients. NaN must meet NaN and ±∞ the same
// infinity; finite values agree within the op family's tolerance (tests/_parity.ts).
//
// A failure names the op, the backend, the seed and the smallest case fast-check found
// (its inputs as `tensor(...)` calls). CI runs a few cases per op; for thousands:
//
//     deno task test:differential        (DIFFERENTIAL_RUNS=400 per op and backend)

import fc from "fast-check";
import type * as T from "../mod.ts";
import { BACKENDS } from "./_backends.ts";
import { SEED } from "./_helpers.ts";
import {
  compare,
  ELEMENTWISE_ROWS,
  type Input,
  MORE_ROWS,
  REDUCTIONS,
  type Row,
  withAxes,
} from "./_parity.ts";

const RUNS = Number(Deno.env.get("DIFFERENTIAL_RUNS") ?? 12);

/** The values that ordinary ranges never produce. */
const SPECIALS = [NaN, Infinity, -Infinity, 0, -0] as const;

/**
 * Ops whose result on a non-finite input is left to the backend (not compared with
 * specials): casting NaN or ±∞ to int32 is undefined in C, WGSL and PyTorch alike.
 */
const FINITE_ONLY = new Set(["cast to int32", "int32 arithmetic"]);

/**
 * Ops whose special values go into the first input only. layerNorm's weight multiplies the
 * normalised input, which can be exactly 0 in float32 (after cancellation in the mean) and
 * 1e-17 in the float64 oracle: with an infinite weight that is NaN against ±∞, a difference
 * of precision, not of semantics.
 */
const SPECIALS_IN_FIRST_INPUT = new Set(["layerNorm"]);

/** A row's inputs with some float32 elements replaced by special values. */
function withSpecials(inputs: fc.Arbitrary<Input[]>, firstOnly = false): fc.Arbitrary<Input[]> {
  const slot = fc.tuple(fc.nat(), fc.nat(), fc.constantFrom(...SPECIALS));
  return fc.tuple(inputs, fc.array(slot, { maxLength: 6 })).map(([xs, slots]) => {
    const floats = xs.map((x, i) => [x, i] as const).filter(([x, i]) =>
      x.dtype === "float32" && x.ref.data.length > 0 && (!firstOnly || i === 0)
    );
    const out = xs.map((x) => ({ ...x, ref: { shape: x.ref.shape, data: [...x.ref.data] } }));
    if (floats.length === 0) return out;
    for (const [which, where, value] of slots) {
      const [, i] = floats[which % floats.length];
      const data = out[i].ref.data;
      data[where % data.length] = value;
    }
    return out;
  });
}

/** The case as code: one `tensor(...)` per input, in a form that pastes into a test. */
function reproduction(row: Row, inputs: Input[]): string {
  const num = (v: number) =>
    Number.isNaN(v)
      ? "NaN"
      : Object.is(v, -0)
      ? "-0"
      : v === Infinity
      ? "Infinity"
      : v === -Infinity
      ? "-Infinity"
      : String(v);
  const lines = inputs.map((x, i) =>
    `const x${i} = tensor([${x.ref.data.map(num).join(", ")}], { shape: [${
      x.ref.shape.join(", ")
    }], dtype: "${x.dtype}" }); // ${x.layout} layout`
  );
  return [`// op row "${row.name}" of tests/_parity.ts`, ...lines].join("\n");
}

async function check(row: Row, inputs: Input[], backend: string): Promise<void> {
  try {
    await compare(row, inputs, backend);
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new Error(`${row.name} on ${backend}: ${message}\n${reproduction(row, inputs)}`);
  }
}

const ROWS: Row[] = [
  ...ELEMENTWISE_ROWS,
  ...MORE_ROWS.filter((r) =>
    ["softmax", "logSoftmax", "l2Normalize", "layerNorm", "cosineSimilarity and mseLoss"]
      .includes(r.name)
  ),
];

for (const backend of BACKENDS) {
  for (const row of ROWS) {
    Deno.test({
      name: `differential [${backend}]: ${row.name} with NaN, ±∞ and ±0 matches the oracle`,
      sanitizeResources: false,
      sanitizeOps: false,
      fn: () =>
        fc.assert(
          fc.asyncProperty(
            FINITE_ONLY.has(row.name)
              ? row.inputs
              : withSpecials(row.inputs, SPECIALS_IN_FIRST_INPUT.has(row.name)),
            (inputs) => check(row, inputs, backend),
          ),
          { seed: SEED, numRuns: RUNS },
        ),
    });
  }
  for (const [name, op, tol, grad] of REDUCTIONS) {
    Deno.test({
      name: `differential [${backend}]: ${name} with NaN, ±∞ and ±0 matches the oracle`,
      sanitizeResources: false,
      sanitizeOps: false,
      fn: () =>
        fc.assert(
          fc.asyncProperty(
            withAxes().chain(([x, axis, keepDims]) =>
              withSpecials(fc.constant([x])).map((xs) => [xs, axis, keepDims] as const)
            ),
            ([inputs, axis, keepDims]) => {
              const axes = name.startsWith("arg") ? (axis?.length ? [axis[0]] : undefined) : axis;
              const row: Row = {
                name: `${name} over axes ${JSON.stringify(axes)}${keepDims ? ", keepDims" : ""}`,
                inputs: fc.constant([]),
                op: (t: T.Tensor) => op(t, { axis: axes, keepDims }),
                tol,
                grad,
              };
              return check(row, [...inputs], backend);
            },
          ),
          { seed: SEED, numRuns: RUNS },
        ),
    });
  }
}
