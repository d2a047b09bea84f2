// What the experiment tools read from a pipeline run's folder: its recipe (run.json) and the
// same data subsets the run used.

import { asHostDataset, loadFashionMnistRaw } from "../../data/fashion_mnist.ts";
import type { HostDataset } from "../../data/loader.ts";
import type { Preset } from "../../beit/presets.ts";

/** A run's recipe as a preset, its seed, and its training and test data. */
export interface RunFolder {
  preset: Preset;
  seed: number;
  train: HostDataset;
  test: HostDataset;
}

/**
 * Reads a run folder's run.json and loads the data subsets it names.
 *
 * @param dir the run's output folder
 * @returns recipe, seed and data
 */
export async function readRunFolder(dir: string): Promise<RunFolder> {
  const recipe = JSON.parse(await Deno.readTextFile(`${dir}/run.json`)) as
    & Omit<Preset, "name" | "rows">
    & { seed: number };
  const preset: Preset = { ...recipe, name: dir, rows: "main" };
  const host = async (split: "train" | "test", subset: number): Promise<HostDataset> => {
    return asHostDataset(await loadFashionMnistRaw({ split, subset }));
  };
  return {
    preset,
    seed: recipe.seed,
    train: await host("train", preset.train),
    test: await host("test", preset.test),
  };
}
