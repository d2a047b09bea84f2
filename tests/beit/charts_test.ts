// The report's line charts: tick positions, smoothing, labelled axes, gaps for NaN.

import assert from "node:assert/strict";
import { curvesSvg, movingAverage, niceTicks } from "../../beit/charts.ts";

Deno.test("niceTicks() steps by 1, 2 or 5 times a power of ten and covers the range", () => {
  assert.deepEqual(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.deepEqual(niceTicks(1, 2811, 6), [500, 1000, 1500, 2000, 2500]);
  assert.deepEqual(niceTicks(2.07, 6.93), [3, 4, 5, 6]);
  assert.deepEqual(niceTicks(-0.3, 0.25), [-0.2, 0, 0.2]);
  assert.deepEqual(niceTicks(-0.3, 0.25, 10), [-0.3, -0.2, -0.1, 0, 0.1, 0.2]);
  assert.deepEqual(niceTicks(5, 5), [5]);
  assert.deepEqual(niceTicks(NaN, 1), []);
});

Deno.test("movingAverage() is the trailing mean and skips non-finite points", () => {
  assert.deepEqual(movingAverage([1, 2, 3, 4], 2), [1, 1.5, 2.5, 3.5]);
  assert.deepEqual(movingAverage([1, NaN, 3], 3), [1, 1, 2]);
  assert.ok(Number.isNaN(movingAverage([NaN], 4)[0]));
});

Deno.test("curvesSvg() draws labelled axes with ticks, raw and smoothed lines, and a legend", () => {
  const ys = Array.from({ length: 200 }, (_, i) => 5 * Math.exp(-i / 50) + (i % 7) / 10);
  const svg = curvesSvg({ "main <branch>": ys }, {
    title: "MIM loss",
    xLabel: "training step",
    yLabel: "loss (nats)",
    window: 20,
  });
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.match(svg, />training step</);
  assert.match(svg, />loss \(nats\)</);
  assert.match(svg, />100</); // an x tick
  assert.match(svg, />main &lt;branch&gt;: faint raw, solid mean of 20</);
  assert.equal(svg.match(/<polyline/g)!.length, 2);
  // A NaN splits a line instead of bending it to the axis.
  const gap = curvesSvg({ loss: [1, 2, NaN, 3, 4] }, { title: "t" });
  assert.equal(gap.match(/<polyline/g)!.length, 2);
  assert.doesNotMatch(gap, /NaN/);
  assert.match(curvesSvg({}, { title: "empty" }), />no data</);
});
