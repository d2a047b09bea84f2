// Reading the pickle of a .pth file as written, for tests of its structure: storages come
// back as plain records (the persistent ids PyTorch writes: ('storage', type, key,
// location, numel)) instead of tensors.

import { listZipEntries, readZipEntry } from "../nn/io/zip.ts";
import { unpickle } from "../nn/io/pickle.ts";

/** A storage record of a .pth pickle. */
export interface StorageRecord {
  kind: "storage";
  type: string;
  key: string;
  location: string;
  numel: number;
}

/** The top-level object of `<archive>/data.pkl` in a .pth file, storages as records. */
export async function readPthPickle(bytes: Uint8Array, archive: string): Promise<unknown> {
  const entry = listZipEntries(bytes).find((e) => e.name === `${archive}/data.pkl`);
  if (!entry) throw new Error(`no ${archive}/data.pkl in the archive`);
  return unpickle(await readZipEntry(bytes, entry), (pid): StorageRecord => {
    const [, type, key, location, numel] = pid as [
      string,
      { name: string },
      string,
      string,
      number,
    ];
    return { kind: "storage", type: type.name, key, location, numel };
  });
}
