// Bounded inflation of deflate and gzip streams (ZIP members, gzip'd IDX files): the
// output is read chunk by chunk and the stream abandoned as soon as it passes its bound, so
// a decompression bomb is never allocated.

import { formatBytes } from "./limits.ts";

/**
 * Inflates `raw` (deflate-raw or gzip) into at most `max` bytes.
 *
 * @param raw the compressed bytes
 * @param format "deflate-raw" or "gzip"
 * @param max the most bytes the output may have (with "deflate-raw", exactly this many)
 * @param fail makes the error to throw from a reason
 * @returns the inflated bytes
 */
export async function inflateBounded(
  raw: Uint8Array,
  format: "deflate-raw" | "gzip",
  max: number,
  fail: (reason: string) => Error,
): Promise<Uint8Array> {
  const reader = new Blob([raw.slice()]).stream().pipeThrough(new DecompressionStream(format))
    .getReader();
  const chunks: Uint8Array[] = [];
  let length = 0;
  let tooLong = false;
  try {
    while (true) {
      const { done, value } = await reader.read();
      if (done) break;
      length += value.byteLength;
      if (length > max) {
        tooLong = true;
        await reader.cancel();
        break;
      }
      chunks.push(value);
    }
  } catch (error) {
    throw fail(`is not a valid ${format} stream (${(error as Error).message})`);
  }
  if (tooLong) {
    throw fail(
      format === "gzip"
        ? `inflates past ${
          formatBytes(max)
        }: a decompression bomb, or a trusted file that needs setIoLimits({ maxBytes })`
        : `inflates past its declared ${max} bytes (damaged or hostile)`,
    );
  }
  if (format === "deflate-raw" && length !== max) {
    throw fail(`inflates to ${length} bytes but declares ${max} (damaged)`);
  }
  const out = new Uint8Array(length);
  let at = 0;
  for (const c of chunks) {
    out.set(c, at);
    at += c.byteLength;
  }
  return out;
}
