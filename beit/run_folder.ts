// A run's output folder: the lock that keeps two runs out of one folder, the key of the
// settings that made its checkpoints (run.json), its results and stage times (results.json,
// timings.json), its metrics log, and the stage cache: every stage writes a finished
// checkpoint and is skipped when it finds one, so an interrupted run continues where it
// stopped.

import { loadCheckpointOrNull, saveCheckpoint } from "../nn/io/checkpoint.ts";
import type { Preset } from "./presets.ts";

/** A stage's wall time and the images it passed through a network (timings.json). */
export interface StageTiming {
  /** Wall-clock seconds, summed over the invocations that ran the stage. */
  seconds: number;
  /** Images the stage passed through a network. */
  images: number;
  /** Optimizer steps (training stages only). */
  steps?: number;
}

/** Parses timings.json (older runs stored plain seconds per stage). */
export function readTimings(text: string): Record<string, StageTiming> {
  const raw = JSON.parse(text) as Record<string, number | StageTiming>;
  return Object.fromEntries(
    Object.entries(raw).map((
      [name, t],
    ) => [name, typeof t === "number" ? { seconds: t, images: 0 } : t]),
  );
}

/** One row of the results table. */
export interface ResultRow {
  /** The row's name (what it isolates; see the report). */
  name: string;
  /** Linear-probe test top-1 in [0, 1]. */
  probe?: number;
  /** The probe's test top-1 after each of its epochs. */
  probeCurve?: number[];
  /** Fine-tuning test top-1 in [0, 1]. */
  finetune?: number;
  /** Wall time of the row's own work (probe and fine-tuning), in seconds. */
  seconds: number;
  /** The command that produced the row. */
  command: string;
}

/** The results and stage times of one thread of a run, written to disk as they change. */
export interface ResultBook {
  /** The rows so far, in the table's order after every save. */
  readonly rows: ResultRow[];
  /** The stage times so far. */
  readonly timings: Record<string, StageTiming>;
  /** The row of that name, if it exists. */
  row(name: string): ResultRow | undefined;
  /** Sorts the rows in the table's order and writes them. */
  save(): void;
  /** Writes the stage times. */
  saveTimings(): void;
  /**
   * Runs a stage and adds its wall time, the images it passed through a network and (for a
   * training stage, given its batch size) its optimizer steps to the stage times.
   */
  timed<T>(name: string, images: number, run: () => Promise<T>, batchSize?: number): Promise<T>;
}

/**
 * Opens the results and stage times of a run folder (`results{suffix}.json`,
 * `timings{suffix}.json`; the two-thread run's worker keeps its own, suffix ".ablations").
 *
 * @param out the run folder
 * @param options `suffix`, the table's row order, `say` for notes and stage lines, and
 *   `announce` to also say when a stage starts
 */
export async function openResultBook(
  out: string,
  options: {
    suffix: string;
    order: readonly string[];
    say: (text: string) => void;
    announce?: boolean;
  },
): Promise<ResultBook> {
  const resultsPath = `${out}/results${options.suffix}.json`;
  const timingsPath = `${out}/timings${options.suffix}.json`;
  const rows = await readResults(resultsPath, options.say);
  const timings: Record<string, StageTiming> = await Deno.readTextFile(timingsPath)
    .then(readTimings)
    .catch(() => ({}));
  const saveTimings = () => Deno.writeTextFileSync(timingsPath, JSON.stringify(timings, null, 2));
  return {
    rows,
    timings,
    row: (name) => rows.find((r) => r.name === name),
    save() {
      rows.sort((a, b) => options.order.indexOf(a.name) - options.order.indexOf(b.name));
      Deno.writeTextFileSync(resultsPath, JSON.stringify(rows, null, 2));
    },
    saveTimings,
    async timed(name, images, run, batchSize) {
      if (options.announce) options.say(`${name}: started`);
      const t0 = performance.now();
      const value = await run();
      const seconds = (performance.now() - t0) / 1000;
      const before = timings[name] ?? { seconds: 0, images: 0 };
      timings[name] = { seconds: before.seconds + seconds, images: before.images + images };
      if (batchSize) timings[name].steps = timings[name].images / batchSize;
      saveTimings();
      options.say(`${name}: ${Math.round(seconds)} s, ${Math.round(images / seconds)} img/s`);
      return value;
    },
  };
}

/** Finished stages of a run folder, each a checkpoint `{ value, done: true }`. */
export interface StageCache {
  /** A finished stage's result, or null when the stage has not finished. */
  finished<T>(path: string): Promise<{ value: T } | null>;
  /** Loads a finished stage's result, or runs the stage and saves its result. */
  stage<T>(path: string, run: () => Promise<T>): Promise<T>;
  /** Waits for another thread's stage to finish, then loads its result. */
  waitFor<T>(path: string): Promise<T>;
}

/**
 * The stage cache of a run folder. Checkpoints record the settings that made them
 * (`config`): one made with other settings is reported and its stage recomputed.
 *
 * @param config the run's training settings (runKey without its evaluation settings)
 * @param say where notes go
 */
export function stageCache(
  config: Record<string, unknown>,
  say: (text: string) => void,
): StageCache {
  const finished = async <T>(path: string) => {
    const saved = await loadCheckpointOrNull<{ value: T; done: boolean }>(path, say, { config });
    return saved?.done ? saved : null;
  };
  return {
    finished,
    async stage<T>(path: string, run: () => Promise<T>) {
      const saved = await finished<T>(path);
      if (saved) {
        say(`skipping ${path.split("/").pop()} (finished checkpoint found)`);
        return saved.value;
      }
      const value = await run();
      await saveCheckpoint(path, { value, done: true }, { config });
      // The stage's resume point is not needed once its result is saved.
      await Deno.remove(path.replace(/\.ckpt$/, ".partial.ckpt")).catch(() => {});
      return value;
    },
    async waitFor<T>(path: string) {
      for (let waited = false;; waited = true) {
        const saved = await finished<T>(path);
        if (saved) return saved.value;
        if (!waited) say(`waiting for ${path.split("/").pop()} from the main thread`);
        await new Promise((resolve) => setTimeout(resolve, 2000));
      }
    },
  };
}

/**
 * Takes `out/.lock` for this process (an operating-system lock on the file, which the
 * system releases when the process ends, however it ends), so that a second run on the
 * same folder is refused instead of writing over the first one's files.
 *
 * @returns a function that releases the lock
 */
export async function lockFolder(out: string): Promise<() => Promise<void>> {
  const path = `${out}/.lock`;
  const file = await Deno.open(path, { read: true, write: true, create: true });
  if (!(await file.tryLock(true))) {
    const holder = (await Deno.readTextFile(path).catch(() => "")).trim();
    file.close();
    throw new Error(
      `${out} is in use by another run (${
        holder ? `process ${holder}, ` : ""
      }lock file ${path}): ` +
        `wait for it to finish, or choose another output folder (--out).`,
    );
  }
  await file.truncate(0);
  await file.write(new TextEncoder().encode(`${Deno.pid}\n`));
  return async () => {
    await Deno.remove(path).catch(() => {});
    await file.unlock();
    file.close();
  };
}

/**
 * The rows saved in a results file: none when the file is absent; a damaged file (not a list
 * of named rows) is reported and its rows recomputed.
 */
async function readResults(path: string, warn: (text: string) => void): Promise<ResultRow[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (error) {
    if (error instanceof Deno.errors.NotFound) return [];
    throw error;
  }
  try {
    const rows = JSON.parse(text);
    if (
      Array.isArray(rows) &&
      rows.every((r) => r !== null && typeof r === "object" && typeof r.name === "string")
    ) {
      return rows;
    }
  } catch {
    // damaged: reported below
  }
  warn(`${path} is damaged (not a list of result rows): its rows will be recomputed`);
  return [];
}

/** Ends a metrics file with a newline if a killed run left its last line torn. */
export async function mendMetrics(path: string): Promise<void> {
  const file = await Deno.open(path, { read: true }).catch(() => null);
  if (file === null) return;
  try {
    const { size } = await file.stat();
    if (size === 0) return;
    const last = new Uint8Array(1);
    await file.seek(size - 1, Deno.SeekMode.Start);
    await file.read(last);
    if (last[0] !== 0x0a) await Deno.writeTextFile(path, "\n", { append: true });
  } finally {
    file.close();
  }
}

/**
 * What the checkpoints and results of a run depend on: the recipe of every stage, the seed
 * and the data. The preset's name and its list of rows are not part of it: the results preset
 * trains the default preset's stages, so either may continue the other's folder (their
 * fine-tuning recipes differ, and the fine-tuning rows are then recomputed).
 */
export function runKey(preset: Preset, seed: number, source: string): Record<string, unknown> {
  const { name: _name, rows: _rows, ...recipe } = preset;
  return { seed, data: source, ...recipe };
}

/** The fields in which two run keys differ, as "path: old → new" lines. */
function keyDifferences(before: unknown, after: unknown, path = ""): string[] {
  if (
    typeof before === "object" && before !== null && typeof after === "object" && after !== null
  ) {
    const keys = new Set([...Object.keys(before), ...Object.keys(after)]);
    return [...keys].flatMap((k) =>
      keyDifferences(
        (before as Record<string, unknown>)[k],
        (after as Record<string, unknown>)[k],
        path ? `${path}.${k}` : k,
      )
    );
  }
  return JSON.stringify(before) === JSON.stringify(after)
    ? []
    : [`${path}: ${JSON.stringify(before)} → ${JSON.stringify(after)}`];
}

/**
 * Makes `out` this run's folder: writes run.json (the run key) into an empty folder, and
 * refuses a folder whose checkpoints were made with other training settings, so that no
 * result is ever reused or relabelled with settings that did not produce it.
 *
 * @returns the evaluation settings that changed (probe, fine-tuning), as "path: old → new"
 */
export async function claimFolder(out: string, key: Record<string, unknown>): Promise<string[]> {
  const path = `${out}/run.json`;
  const text = await Deno.readTextFile(path).catch((error) => {
    if (error instanceof Deno.errors.NotFound) return null;
    throw error;
  });
  if (text === null) {
    // A folder with results but no run.json was made before runs were keyed: its settings
    // are unknown, so it is not continued either.
    const stale = ["results.json", "teacher.ckpt", "vqkd.ckpt", "beit.ckpt"];
    for (const name of stale) {
      if (await Deno.stat(`${out}/${name}`).then(() => true, () => false)) {
        throw new Error(
          `${out} holds ${name} from a run whose settings were not recorded (no run.json): ` +
            `choose another output folder (--out) or delete this one.`,
        );
      }
    }
    await Deno.writeTextFile(path, JSON.stringify(key, null, 2) + "\n");
    return [];
  }
  let before: unknown;
  try {
    before = JSON.parse(text);
  } catch {
    throw new Error(`${path} is not valid JSON: delete the folder or choose another --out.`);
  }
  const changed = keyDifferences(before, key);
  const training = changed.filter((c) => !EVALUATION.some((prefix) => c.startsWith(prefix)));
  if (training.length > 0) {
    throw new Error(
      `${out} holds a run with other settings; its checkpoints and results do not belong ` +
        `to this one. Choose another output folder (--out) or delete this one.\n  ` +
        changed.join("\n  "),
    );
  }
  if (changed.length > 0) await Deno.writeTextFile(path, JSON.stringify(key, null, 2) + "\n");
  return changed;
}

/** Settings that change only the evaluation: their results are recomputed, not refused. */
const EVALUATION = ["probe.", "finetune."];

/**
 * Drops from a run folder the results that changed evaluation settings invalidate: every
 * probe when the probe changed, every fine-tune (not the teacher's own accuracy) when the
 * fine-tuning recipe changed, with their stage times. The fine-tune column of `keepFinetune`
 * (the teacher's own accuracy) is not a fine-tune and stays.
 */
export async function dropEvaluations(
  out: string,
  changed: string[],
  keepFinetune: string,
): Promise<void> {
  const probe = changed.some((c) => c.startsWith("probe."));
  const finetune = changed.some((c) => c.startsWith("finetune."));
  for (const suffix of ["", ".ablations"]) {
    const timingsPath = `${out}/timings${suffix}.json`;
    const timings: Record<string, StageTiming> = await Deno.readTextFile(timingsPath).then(
      readTimings,
    ).catch(() => ({}));
    const resultsPath = `${out}/results${suffix}.json`;
    const rows: ResultRow[] = await Deno.readTextFile(resultsPath).then(JSON.parse).catch(
      () => [],
    );
    const kept = probe ? [] : rows;
    for (const row of kept) {
      if (!finetune || row.finetune === undefined || row.name === keepFinetune) continue;
      row.seconds -= timings[`finetune ${row.name}`]?.seconds ?? 0;
      delete row.finetune;
    }
    for (const name of Object.keys(timings)) {
      if ((probe && name.startsWith("probe ")) || (finetune && name.startsWith("finetune "))) {
        delete timings[name];
      }
    }
    if (rows.length) await Deno.writeTextFile(resultsPath, JSON.stringify(kept, null, 2));
    if (Object.keys(timings).length) {
      await Deno.writeTextFile(timingsPath, JSON.stringify(timings, null, 2));
    }
  }
}
