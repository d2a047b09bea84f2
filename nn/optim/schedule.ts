// Learning-rate (and weight-decay) schedules as functions of the step count.

/** A value per optimizer step (step 0 is the first update). */
export type Schedule = (step: number) => number;

/** The same value at every step. */
export function constant(value: number): Schedule {
  return () => value;
}

/**
 * Linear warmup then cosine decay, per step, exactly as the official
 * `utils.cosine_scheduler`: for t < W, linspace(start, base, W)[t]
 * (both ends included); after that final + ½(base − final)(1 + cos(π·(t − W)/(T − W)));
 * past the end, the final value.
 *
 * @param options `baseValue` (peak), `finalValue`, `totalSteps` T, `warmupSteps` W,
 *   `warmupStartValue` (0)
 * @returns the schedule
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { warmupCosine } from "@tessella/tessella/nn";
 * const lr = warmupCosine({ baseValue: 1, finalValue: 0, totalSteps: 10, warmupSteps: 3 });
 * assert.deepEqual([lr(0), lr(1), lr(2)], [0, 0.5, 1]);
 * assert.equal(lr(3), 1); // the cosine part starts at its peak
 * ```
 */
export function warmupCosine(options: {
  baseValue: number;
  finalValue: number;
  totalSteps: number;
  warmupSteps?: number;
  warmupStartValue?: number;
}): Schedule {
  const { baseValue, finalValue, totalSteps } = options;
  const warmup = options.warmupSteps ?? 0;
  const start = options.warmupStartValue ?? 0;
  if (!(totalSteps > 0) || warmup < 0 || warmup > totalSteps) {
    throw new Error(
      `Cannot build warmupCosine: need 0 ≤ warmupSteps (${warmup}) ≤ totalSteps (${totalSteps}), totalSteps > 0`,
    );
  }
  const decaySteps = totalSteps - warmup;
  return (step: number): number => {
    if (step < warmup) {
      return warmup === 1 ? start : start + ((baseValue - start) * step) / (warmup - 1);
    }
    if (step >= totalSteps) return finalValue;
    const j = step - warmup;
    return finalValue + 0.5 * (baseValue - finalValue) * (1 + Math.cos((Math.PI * j) / decaySteps));
  };
}
