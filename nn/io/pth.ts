// Reading PyTorch `.pth` files: the ZIP container `torch.save` writes, whose
// `<prefix>/data.pkl` pickle describes tensors and whose `<prefix>/data/<key>` entries
// hold the raw little-endian storages.

import { PickleError, PyObject, type StorageRef, type TensorRef, unpickle } from "./pickle.ts";
import { type RawTensor, SAFETENSORS_DTYPE_BYTES } from "./safetensors.ts";
import { listZipEntries, readZipEntry, ZipError } from "./zip.ts";
import { elementCount, formatBytes, ioLimits } from "../../data/limits.ts";

/** PyTorch storage classes → safetensors dtype codes. */
const STORAGE_DTYPES: Readonly<Record<string, string>> = {
  FloatStorage: "F32",
  DoubleStorage: "F64",
  HalfStorage: "F16",
  BFloat16Storage: "BF16",
  LongStorage: "I64",
  IntStorage: "I32",
  ShortStorage: "I16",
  CharStorage: "I8",
  ByteStorage: "U8",
  BoolStorage: "BOOL",
};

/** Why a `.pth` file could not be read. */
export class PthError extends Error {
  /** Makes the error for the file at `path`, saying what is wrong. */
  constructor(path: string, reason: string) {
    super(`Cannot read PyTorch checkpoint ${path}: ${reason}`);
    this.name = "PthError";
  }
}

/**
 * The bytes of a tensor view of its storage: a subarray (no copy) when the view is
 * contiguous, else its elements gathered in row-major order. Sizes, strides and the
 * offset were checked by the unpickler (non-negative integers); here the view must lie
 * inside the storage.
 */
function viewBytes(
  storage: Uint8Array,
  ref: TensorRef,
  size: number,
  name: string,
  path: string,
): Uint8Array {
  const count = elementCount(ref.size);
  if (count === 0) return new Uint8Array(0);
  let last = ref.offset;
  ref.size.forEach((d, i) => (last += (d - 1) * ref.stride[i]));
  if ((last + 1) * size > storage.byteLength) {
    throw new PthError(
      path,
      `tensor "${name}" (size ${JSON.stringify(ref.size)}, stride ${
        JSON.stringify(ref.stride)
      }, offset ${ref.offset}) reads past the end of its ${storage.byteLength}-byte storage ${ref.storage.key}`,
    );
  }
  // Contiguous (row-major strides, size-1 axes ignored): share the storage's bytes.
  let expected = 1;
  let contiguous = true;
  for (let d = ref.size.length - 1; d >= 0; d--) {
    if (ref.size[d] !== 1 && ref.stride[d] !== expected) contiguous = false;
    expected *= ref.size[d];
  }
  if (contiguous) return storage.subarray(ref.offset * size, (ref.offset + count) * size);
  const out = new Uint8Array(count * size);
  const index = new Array<number>(ref.size.length).fill(0);
  let element = ref.offset;
  for (let i = 0; i < count; i++) {
    out.set(storage.subarray(element * size, element * size + size), i * size);
    for (let d = ref.size.length - 1; d >= 0; d--) {
      index[d]++;
      element += ref.stride[d];
      if (index[d] < ref.size[d]) break;
      element -= ref.stride[d] * ref.size[d];
      index[d] = 0;
    }
  }
  return out;
}

/** Unwraps the state dict the way the official loaders do: `model`, then `module`, then `state_dict`. */
function unwrap(root: unknown): Map<unknown, unknown> | undefined {
  if (!(root instanceof Map)) return undefined;
  for (const key of ["model", "module", "state_dict"]) {
    if (root.has(key) && root.get(key) instanceof Map) {
      return root.get(key) as Map<unknown, unknown>;
    }
  }
  return root;
}

/**
 * Reads the tensors of a `.pth` state dict, in the dict's order.
 *
 * @param bytes the file
 * @param path for error messages
 * @returns raw tensors by name (contiguous bytes in PyTorch's dtype)
 */
export async function readPth(bytes: Uint8Array, path: string): Promise<Map<string, RawTensor>> {
  try {
    return await readArchive(bytes, path);
  } catch (error) {
    if (error instanceof PthError) throw error;
    throw new PthError(path, (error as Error).message);
  }
}

async function readArchive(bytes: Uint8Array, path: string): Promise<Map<string, RawTensor>> {
  let entries;
  try {
    entries = listZipEntries(bytes);
  } catch (error) {
    throw new PthError(path, (error as ZipError).message);
  }
  const pickleEntry = entries.find((e) => e.name.endsWith("data.pkl"));
  if (pickleEntry === undefined) throw new PthError(path, "no data.pkl in the archive");
  const prefix = pickleEntry.name.slice(0, -"data.pkl".length);
  const byName = new Map(entries.map((e) => [e.name, e]));
  const storages = new Map<string, Uint8Array>();
  const pending: StorageRef[] = [];
  let root: unknown;
  try {
    root = unpickle(await readZipEntry(bytes, pickleEntry), (pid) => {
      if (!Array.isArray(pid) || pid.length !== 5) {
        throw new PickleError(
          `persistent id ${
            Array.isArray(pid) ? `of ${pid.length} items` : typeof pid
          }, not a ('storage', type, key, location, numel) tuple`,
        );
      }
      const [kind, type, key, location, numel] = pid as [
        string,
        { name?: string },
        string,
        string,
        number,
      ];
      if (kind !== "storage") {
        throw new PickleError(`unknown persistent id ${JSON.stringify(kind)}`);
      }
      const ref: StorageRef = {
        kind: "storage",
        type: String(type?.name ?? type),
        key: String(key),
        location: String(location),
        numel: Number(numel),
      };
      pending.push(ref);
      return ref;
    });
  } catch (error) {
    if (error instanceof PickleError || error instanceof ZipError) {
      throw new PthError(path, error.message);
    }
    throw error;
  }
  const dict = unwrap(root);
  if (dict === undefined) {
    throw new PthError(
      path,
      `the pickle holds ${root instanceof PyObject ? root.cls : typeof root}, not a state dict`,
    );
  }
  const limit = ioLimits().maxBytes;
  for (const ref of pending) {
    if (storages.has(ref.key)) continue;
    const entry = byName.get(`${prefix}data/${ref.key}`);
    if (entry === undefined) {
      throw new PthError(path, `storage ${ref.key} is missing from the archive`);
    }
    const data = await readZipEntry(bytes, entry).catch((error) => {
      throw new PthError(path, (error as Error).message);
    });
    storages.set(ref.key, data);
  }
  const out = new Map<string, RawTensor>();
  // Keys that alias one view of one storage (tied weights) share one record.
  const views = new Map<string, RawTensor>();
  let total = 0;
  for (const [key, value] of dict) {
    const ref = value as TensorRef;
    if (ref?.kind !== "tensor") continue; // non-tensor entries (e.g. an epoch number) are skipped
    const name = String(key);
    const dtype = STORAGE_DTYPES[ref.storage.type];
    if (dtype === undefined) {
      throw new PthError(
        path,
        `tensor "${name}" uses unsupported storage type ${ref.storage.type}`,
      );
    }
    const id = `${ref.storage.key}:${ref.offset}:${ref.size}:${ref.stride}`;
    const shared = views.get(id);
    if (shared) {
      out.set(name, shared);
      continue;
    }
    const bytesNeeded = elementCount(ref.size) * SAFETENSORS_DTYPE_BYTES[dtype];
    total += bytesNeeded;
    if (total > limit) {
      throw new PthError(
        path,
        `tensor "${name}" (${dtype} ${JSON.stringify(ref.size)}) takes the file's tensors past ${
          formatBytes(limit)
        }; raise the limit with setIoLimits({ maxBytes }) if the file is trusted`,
      );
    }
    const record = {
      dtype,
      shape: ref.size,
      data: viewBytes(
        storages.get(ref.storage.key)!,
        ref,
        SAFETENSORS_DTYPE_BYTES[dtype],
        name,
        path,
      ),
    };
    views.set(id, record);
    out.set(name, record);
  }
  return out;
}
