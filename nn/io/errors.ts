// Which errors mean "the input is bad" (a damaged, hostile or missing file): the command-line
// tools print their one-line message and exit with code 2 for these, 1 for anything else.

import { CheckpointError } from "./checkpoint.ts";
import { PickleError } from "./pickle.ts";
import { PthError } from "./pth.ts";
import { SafetensorsError } from "./safetensors.ts";
import { ZipError } from "./zip.ts";
import { IdxError } from "../../data/idx.ts";
import { ImageDecodeError } from "../../data/image_folder.ts";

/** Whether `error` reports a bad input file rather than a failure of the program. */
export function isInputError(error: unknown): boolean {
  return error instanceof PthError || error instanceof PickleError ||
    error instanceof ZipError || error instanceof SafetensorsError ||
    error instanceof CheckpointError || error instanceof IdxError ||
    error instanceof ImageDecodeError || error instanceof Deno.errors.NotFound ||
    (error instanceof Error && /^Cannot (read|open|load|decode|use) /.test(error.message));
}
