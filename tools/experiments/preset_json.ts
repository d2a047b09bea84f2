// Prints a preset's recipe as the run.json that `deno task pretrain` writes into its output
// folder (the stages' settings, the seed, the data source), for the PyTorch twin
// (tools/experiments/pipeline_torch.py --config FILE).
//
//   deno run tools/experiments/preset_json.ts [default|quick|results] [--seed N]

import { parseArgs } from "node:util";
import { PRESETS } from "../../beit/presets.ts";
import { runKey } from "../../beit/run_folder.ts";

const { values, positionals } = parseArgs({
  args: Deno.args,
  options: { seed: { type: "string", default: "0" } },
  allowPositionals: true,
});
const name = positionals[0] ?? "default";
const seed = Number(values.seed);
if (!Object.hasOwn(PRESETS, name) || !Number.isInteger(seed) || seed < 0) {
  console.error(
    `Usage: deno run tools/experiments/preset_json.ts [${
      Object.keys(PRESETS).join("|")
    }] [--seed N]`,
  );
  Deno.exit(2);
}
console.log(JSON.stringify(runKey(PRESETS[name], seed, "debian"), null, 2));
