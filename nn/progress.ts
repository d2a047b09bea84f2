// A small progress bar for training loops: steps done, steps per second, time left and
// the latest metrics, redrawn in place on a terminal and printed every 10 % otherwise.

/** A progress bar. */
export interface ProgressBar {
  /** Reports that `step` of `total` steps are done, with the latest metrics. */
  update(step: number, metrics?: Record<string, number | string>): void;
  /** Finishes the line. */
  done(metrics?: Record<string, number | string>): void;
}

function clock(seconds: number): string {
  if (!Number.isFinite(seconds)) return "--:--";
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const mm = String(m).padStart(2, "0");
  const ss = String(s % 60).padStart(2, "0");
  return h > 0 ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
}

function format(metrics: Record<string, number | string>): string {
  return Object.entries(metrics)
    .map(([k, v]) =>
      `${k} ${
        typeof v === "number"
          ? (Math.abs(v) >= 100 || Number.isInteger(v) ? v.toFixed(0) : v.toPrecision(4))
          : v
      }`
    )
    .join("  ");
}

/**
 * Creates a progress bar on stderr.
 *
 * @param label what is running ("vqkd epoch 1/4")
 * @param total number of steps
 * @param options `quiet` to print nothing (tests)
 * @returns the bar
 */
export function progressBar(
  label: string,
  total: number,
  options: { quiet?: boolean } = {},
): ProgressBar {
  const encoder = new TextEncoder();
  const tty = (() => {
    try {
      return Deno.stderr.isTerminal();
    } catch {
      return false;
    }
  })();
  const start = performance.now();
  let lastPrinted = -1;
  const line = (step: number, metrics: Record<string, number | string>) => {
    const elapsed = (performance.now() - start) / 1000;
    const rate = step / Math.max(elapsed, 1e-9);
    const width = 24;
    const filled = Math.round((width * step) / Math.max(total, 1));
    const bar = "█".repeat(filled) + "░".repeat(width - filled);
    const eta = clock((total - step) / rate);
    return `${label} ${bar} ${step}/${total}  ${rate.toFixed(2)} it/s  ETA ${eta}  ${
      format(metrics)
    }`;
  };
  const write = (text: string) => {
    if (!options.quiet) Deno.stderr.writeSync(encoder.encode(text));
  };
  return {
    update(step, metrics = {}) {
      if (tty) write(`\r\x1b[2K${line(step, metrics)}`);
      else {
        const decile = Math.floor((10 * step) / Math.max(total, 1));
        if (decile > lastPrinted) {
          lastPrinted = decile;
          write(`${line(step, metrics)}\n`);
        }
      }
    },
    done(metrics = {}) {
      const elapsed = (performance.now() - start) / 1000;
      write(`${tty ? "\r\x1b[2K" : ""}${label} done in ${clock(elapsed)}  ${format(metrics)}\n`);
    },
  };
}
