// Line charts as standalone SVG for the run report: axes with ticks and labels, each series
// drawn raw (faint) and smoothed (solid), a legend naming both.

/** Options of curvesSvg. */
export interface ChartOptions {
  /** The chart's title, drawn above the plot. */
  title: string;
  /** The x axis' label, with its unit (e.g. "training step"). */
  xLabel?: string;
  /** The y axis' label, with its unit (e.g. "loss (nats)"). */
  yLabel?: string;
  /** Moving-average window of the smoothed line, in points (1: no smoothed line). */
  window?: number;
  /** x of the first point and the step between points (default 1 and 1). */
  xStart?: number;
  /** Step in x between consecutive points (default 1). */
  xStep?: number;
  /** Format of the y ticks (default: 3 significant digits). */
  yFormat?: (y: number) => string;
}

const COLORS = ["#4269d0", "#ff725c", "#3ca951", "#efb118", "#6cc5b0", "#a463f2"];

/**
 * "Nice" tick positions covering [lo, hi]: steps of 1, 2 or 5 times a power of ten, about
 * `count` of them.
 */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (hi <= lo) return [lo];
  const raw = (hi - lo) / count;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * power).find((s) => s >= raw) ?? 10 * power;
  const ticks: number[] = [];
  // The small slack keeps a bound that is a multiple of the step (−0.3 / 0.1 = −2.9999…).
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Math.abs(t) < step * 1e-9 ? 0 : Number(t.toPrecision(12)));
  }
  return ticks;
}

/** The trailing moving average of `xs` over `window` points (non-finite points skipped). */
export function movingAverage(xs: readonly number[], window: number): number[] {
  return xs.map((_, i) => {
    const part = xs.slice(Math.max(0, i - window + 1), i + 1).filter(Number.isFinite);
    return part.length ? part.reduce((a, c) => a + c, 0) / part.length : NaN;
  });
}

const escapeXml = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");

/**
 * Curves as an SVG line chart. Every series is drawn raw (thin, faint) and, when `window`
 * is above 1, smoothed by a trailing moving average (solid); the legend names both.
 *
 * @param series name → y values, one per x step
 * @param options title, axis labels with units, smoothing window, x origin and step
 * @returns the SVG document
 */
export function curvesSvg(series: Record<string, number[]>, options: ChartOptions): string {
  const width = 640;
  const left = 64;
  const right = 16;
  const top = 28;
  const plotW = width - left - right;
  const plotH = 194;
  // One legend line per series under the x label.
  const legendTop = top + plotH + 58;
  const height = legendTop + 16 * Math.max(0, Object.keys(series).length - 1) + 10;
  const window = Math.max(1, Math.floor(options.window ?? 1));
  const x0 = options.xStart ?? 1;
  const dx = options.xStep ?? 1;
  const fmtY = options.yFormat ?? ((y: number) => String(Number(y.toPrecision(3))));
  const entries = Object.entries(series);
  const longest = Math.max(1, ...entries.map(([, ys]) => ys.length));
  const values = entries.flatMap(([, ys]) => ys).filter(Number.isFinite);
  const empty = values.length === 0;
  let lo = empty ? 0 : Math.min(...values);
  let hi = empty ? 1 : Math.max(...values);
  if (hi - lo < 1e-12) [lo, hi] = [lo - 0.5, hi + 0.5];
  const pad = (hi - lo) * 0.04;
  [lo, hi] = [lo - pad, hi + pad];
  const xLast = x0 + (longest - 1) * dx;
  const sx = (x: number) => left + (plotW * (x - x0)) / Math.max(xLast - x0, 1e-12);
  const sy = (y: number) => top + plotH - (plotH * (y - lo)) / (hi - lo);
  const parts: string[] = [];
  parts.push(`<text x="${left}" y="18" font-weight="bold">${escapeXml(options.title)}</text>`);
  // Grid and ticks.
  for (const t of niceTicks(lo, hi)) {
    const y = sy(t).toFixed(1);
    parts.push(
      `<line x1="${left}" y1="${y}" x2="${width - right}" y2="${y}" stroke="#e5e5e5"/>`,
      `<text x="${left - 6}" y="${y}" text-anchor="end" dominant-baseline="middle">${
        fmtY(t)
      }</text>`,
    );
  }
  // Steps and epochs are whole numbers: no tick between them.
  const wholeX = Number.isInteger(x0) && Number.isInteger(dx);
  for (const t of niceTicks(x0, xLast, 6).filter((t) => !wholeX || Number.isInteger(t))) {
    const x = sx(t).toFixed(1);
    parts.push(
      `<line x1="${x}" y1="${top + plotH}" x2="${x}" y2="${top + plotH + 5}" stroke="#333"/>`,
      `<text x="${x}" y="${top + plotH + 18}" text-anchor="middle">${t}</text>`,
    );
  }
  parts.push(
    `<line x1="${left}" y1="${top + plotH}" x2="${width - right}" y2="${
      top + plotH
    }" stroke="#333"/>`,
    `<line x1="${left}" y1="${top}" x2="${left}" y2="${top + plotH}" stroke="#333"/>`,
    `<text x="${left + plotW / 2}" y="${top + plotH + 36}" text-anchor="middle">${
      escapeXml(options.xLabel ?? "step")
    }</text>`,
    `<text transform="translate(14 ${top + plotH / 2}) rotate(-90)" text-anchor="middle">${
      escapeXml(options.yLabel ?? "")
    }</text>`,
  );
  // Lines: non-finite points break a line rather than bend it.
  const polylines = (ys: number[], attrs: string) => {
    const runs: string[][] = [[]];
    ys.forEach((y, i) => {
      if (Number.isFinite(y)) {
        runs[runs.length - 1].push(`${sx(x0 + i * dx).toFixed(1)},${sy(y).toFixed(1)}`);
      } else if (runs[runs.length - 1].length) runs.push([]);
    });
    return runs.filter((r) => r.length).map((r) =>
      r.length === 1
        ? `<circle cx="${r[0].split(",")[0]}" cy="${r[0].split(",")[1]}" r="2" ${attrs}/>`
        : `<polyline fill="none" ${attrs} points="${r.join(" ")}"/>`
    );
  };
  const legend: string[] = [];
  entries.forEach(([name, ys], s) => {
    const color = COLORS[s % COLORS.length];
    if (window > 1) {
      parts.push(...polylines(ys, `stroke="${color}" stroke-opacity="0.3" stroke-width="1"`));
      parts.push(...polylines(movingAverage(ys, window), `stroke="${color}" stroke-width="2"`));
      legend.push(`${escapeXml(name)}: faint raw, solid mean of ${window}`);
    } else {
      parts.push(...polylines(ys, `stroke="${color}" stroke-width="2"`));
      legend.push(escapeXml(name));
    }
  });
  if (empty) {
    parts.push(
      `<text x="${left + plotW / 2}" y="${top + plotH / 2}" text-anchor="middle">no data</text>`,
    );
  }
  legend.forEach((text, s) => {
    const y = legendTop + 16 * s;
    const color = COLORS[s % COLORS.length];
    parts.push(
      `<line x1="${left}" y1="${y - 4}" x2="${left + 18}" y2="${
        y - 4
      }" stroke="${color}" stroke-width="2"/>`,
      `<text x="${left + 24}" y="${y}" fill="${color}">${text}</text>`,
    );
  });
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">
${parts.join("\n")}
</svg>
`;
}
