// The one thing tensor/ knows about autograd: ops report what they computed to a
// recorder, if one is installed. autograd/tape.ts installs a recorder that writes these
// reports onto the active tapes; with no tape active, recording costs one comparison.

import { isFloatDType } from "./dtype.ts";
import type { Tensor } from "./tensor.ts";

/**
 * A vector-Jacobian product: given the cotangent `g` of an op's output, returns the
 * cotangent of each input (`null` where an input is not differentiable).
 */
export type VjpFn = (g: Tensor) => readonly (Tensor | null)[];

/** Receives a report of every differentiable op application. */
export interface Recorder {
  /** Called after an op computed `output` from `inputs`. */
  record(op: string, inputs: readonly Tensor[], output: Tensor, vjp: VjpFn): void;
}

let active: Recorder | null = null;

/** Installs `recorder` (or none), returning the previous one so it can be restored. */
export function setRecorder(recorder: Recorder | null): Recorder | null {
  const previous = active;
  active = recorder;
  return previous;
}

/**
 * Whether ops are being recorded now. A VJP that runs a fused kernel, which has no VJP of
 * its own, checks this: while recording (gradients of gradients) it uses ops instead.
 */
export function isRecording(): boolean {
  return active !== null;
}

/**
 * Reports an op application to the installed recorder and returns `output`. Ops end
 * with `return record("exp", [x], out, (g) => [mul(g, out)]);`.
 */
export function record(
  op: string,
  inputs: readonly Tensor[],
  output: Tensor,
  vjp: VjpFn,
): Tensor {
  if (active !== null && isFloatDType(output.dtype)) active.record(op, inputs, output, vjp);
  return output;
}
