// What the golden tests share: the cases tools/golden/*.py record against PyTorch, and
// reading their fixture files.

/** One recorded case: inputs, the output, and the cotangent with the VJPs it gave (if any). */
export interface RecordedCase<E> {
  name: string;
  inputs: E[];
  output: E;
  cotangent?: E;
  grads?: (E | null)[];
}

/** Reads a fixture of recorded cases, tests/fixtures/`file`. */
export async function readCases<C>(file: string): Promise<{ torch: string; cases: C[] }> {
  return JSON.parse(
    await Deno.readTextFile(new URL(`./fixtures/${file}`, import.meta.url)),
  );
}
