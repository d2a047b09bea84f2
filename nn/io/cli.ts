// What Tessella's command-line entry points share: parsing flags with the usage printed on
// a bad flag (exit code 2) or for --help (exit code 0), and the exit code of an error: 2
// when the input was at fault (a damaged file, a bad flag), 1 otherwise.

import { parseArgs, type ParseArgsConfig } from "node:util";
import { isInputError } from "./errors.ts";

/**
 * Parses the flags of a command (node:util's parseArgs, with `-h`/`--help` added);
 * arguments other than flags only where `positionals` allows them.
 *
 * @returns the parsed flags, or the exit code when the command is done: 2 after a bad flag
 *   (the error and the usage printed), 0 after --help (the usage printed)
 */
export function parseFlags<O extends NonNullable<ParseArgsConfig["options"]>>(
  args: string[],
  options: O,
  usage: string,
  positionals = false,
): Flags<O> | number {
  let parsed: Flags<O>;
  try {
    parsed = parseArgs({
      args,
      options: { ...options, help: { type: "boolean", short: "h", default: false } },
      allowPositionals: true,
    }) as Flags<O>;
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${usage}`);
    return 2;
  }
  if ((parsed.values as { help?: boolean }).help) {
    console.log(usage);
    return 0;
  }
  if (!positionals && parsed.positionals.length > 0) {
    console.error(`Unexpected argument "${parsed.positionals[0]}".\n\n${usage}`);
    return 2;
  }
  return parsed;
}

/** What parseFlags returns for a command's options. */
export type Flags<O extends NonNullable<ParseArgsConfig["options"]>> = ReturnType<
  typeof parseArgs<{ options: O & { help: { type: "boolean" } }; allowPositionals: true }>
>;

/** Prints an error's message and returns the command's exit code (2: bad input; 1: other). */
export function failure(error: unknown, prefix = ""): number {
  console.error(`${prefix}${error instanceof Error ? error.message : String(error)}`);
  return isInputError(error) ? 2 : 1;
}
