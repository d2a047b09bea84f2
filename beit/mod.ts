/**
 * BEiT v2 masked image modelling. This version holds the blockwise masking generator
 * (spec §3.2); the pretraining model and pipeline build on it.
 *
 * @example
 * ```ts
 * import assert from "node:assert/strict";
 * import { key } from "@tessella/tessella";
 * import { drawBlockwiseMask } from "@tessella/tessella/beit";
 * const { mask } = drawBlockwiseMask(key(1), { grid: [14, 14], numMasked: 75 });
 * assert.equal(mask.reduce((a, b) => a + b, 0), 75);
 * ```
 *
 * @module
 */

export {
  blockwiseMasks,
  drawBlockwiseMask,
  type MaskDraw,
  type MaskingOptions,
} from "./masking.ts";
