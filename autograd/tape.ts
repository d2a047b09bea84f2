// The tape: reverse-mode automatic differentiation by recording op applications.
//
// While a function runs under a tape, every op whose inputs include a tracked tensor is
// appended to the tape as a node {inputs, output, vjp}, and its output becomes tracked.
// `backward` walks the nodes in reverse, turning the cotangent of each output into
// cotangents of its inputs with the op's VJP, and sums cotangents of tensors used more
// than once. Recording order is execution order, so reverse order is a valid
// topological order.
//
// Tapes nest. While a tape runs its backward pass it is no longer active, but enclosing
// tapes are: the VJP ops (written with ordinary differentiable ops) are recorded on
// them, which is how a gradient of a gradient works.

import { add, onesLike, type Recorder, setRecorder, Tensor, type VjpFn } from "../tensor/mod.ts";

/** One recorded op application. */
export interface TapeNode {
  /** The op's name. */
  op: string;
  /** The tensors it read. */
  inputs: readonly Tensor[];
  /** The tensor it made. */
  output: Tensor;
  /** Its vector-Jacobian product: output cotangent → input cotangents. */
  vjp: VjpFn;
}

/** A record of differentiable computation reachable from the tensors it watches. */
export class Tape {
  /** Recorded op applications, in execution order. */
  readonly nodes: TapeNode[] = [];
  readonly #tracked = new WeakSet<Tensor>();

  /** Marks a tensor as an input to differentiate with respect to. */
  watch(x: Tensor): void {
    this.#tracked.add(x);
  }

  /** Whether `x` depends on a watched tensor through recorded ops. */
  tracks(x: Tensor): boolean {
    return this.#tracked.has(x);
  }

  /** Appends a node if any input is tracked (called by the recorder). */
  record(op: string, inputs: readonly Tensor[], output: Tensor, vjp: VjpFn): void {
    if (inputs.some((x) => this.#tracked.has(x))) {
      this.nodes.push({ op, inputs, output, vjp });
      this.#tracked.add(output);
    }
  }
}

const activeTapes: Tape[] = [];

const tapeRecorder: Recorder = {
  record(op, inputs, output, vjp): void {
    for (const tape of activeTapes) tape.record(op, inputs, output, vjp);
  },
};

/** Runs `fn` with `tape` active (recording), then deactivates it. */
export function withTape<T>(tape: Tape, fn: () => T): T {
  activeTapes.push(tape);
  setRecorder(tapeRecorder);
  try {
    return fn();
  } finally {
    activeTapes.splice(activeTapes.lastIndexOf(tape), 1);
    if (activeTapes.length === 0) setRecorder(null);
  }
}

/** Runs `fn` with no recording at all (used by customVjp's forward pass). */
export function withoutRecording<T>(fn: () => T): T {
  const previous = setRecorder(null);
  try {
    return fn();
  } finally {
    setRecorder(previous);
  }
}

/**
 * Propagates cotangents backwards through `tape`, starting from `seed` (the cotangent
 * of `output`, ones for a scalar loss). Returns the cotangent of every tracked tensor
 * reached that is not itself an op output on this tape (the watched inputs).
 */
export function backward(
  tape: Tape,
  output: Tensor,
  seed: Tensor = onesLike(output),
): Map<Tensor, Tensor> {
  const cotangents = new Map<Tensor, Tensor>([[output, seed]]);
  for (let i = tape.nodes.length - 1; i >= 0; i--) {
    const node = tape.nodes[i];
    const g = cotangents.get(node.output);
    if (g === undefined) continue; // this node does not influence the output
    cotangents.delete(node.output); // an op output receives no further cotangents
    const grads = node.vjp(g);
    node.inputs.forEach((x, j) => {
      const gx = grads[j];
      if (gx === null || gx === undefined || !tape.tracks(x)) return;
      if (gx.shape.length !== x.shape.length || gx.shape.some((d, k) => d !== x.shape[k])) {
        throw new Error(
          `Internal error: the VJP of ${node.op} returned shape [${gx.shape}] for an input of shape [${x.shape}]`,
        );
      }
      const previous = cotangents.get(x);
      cotangents.set(x, previous === undefined ? gx : add(previous, gx));
    });
  }
  return cotangents;
}

/** A fresh tensor object sharing `x`'s data, recorded as the identity on active tapes. */
export function alias(x: Tensor): Tensor {
  const out = new Tensor(x.storage, x.shape, x.dtype, x.strides, x.offset);
  tapeRecorder.record("alias", [x], out, (g) => [g]);
  return out;
}
