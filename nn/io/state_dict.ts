// State dicts: flat maps from dotted names (`blocks.0.attn.qkv.weight`) to tensors, read
// from safetensors or PyTorch `.pth` files and matched against a model's parameter tree.
//
// dtype rules on load: F32 → float32; F16 and BF16 → float32; F64 → float64 on the CPU
// backend and float32 elsewhere; I64, I32, I16, I8 and U8 → int32 (I64 checked to fit);
// BOOL → bool.

import {
  cast,
  getBackend,
  type Tensor,
  tensor,
  toArray,
  toArraySync,
  treeFlattenWithPath,
  treeMapWithPath,
} from "../../tensor/mod.ts";
import { readPth } from "./pth.ts";
import {
  parseSafetensors,
  type RawTensor,
  SafetensorsError,
  serializeSafetensors,
} from "./safetensors.ts";

/** float16 bits → float32 value. */
function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/** Converts a raw record into a tensor on `backend`, following the dtype rules above. */
export function decodeRawTensor(name: string, raw: RawTensor, backend: string): Tensor {
  const bytes = raw.data.slice(); // aligned copy
  const n = raw.shape.reduce((a, b) => a * b, 1);
  const shape = raw.shape;
  switch (raw.dtype) {
    case "F32":
      return tensor(new Float32Array(bytes.buffer, 0, n), { shape, backend });
    case "F64": {
      const values = new Float64Array(bytes.buffer, 0, n);
      return backend === "cpu"
        ? tensor(values, { shape, backend })
        : tensor(Float32Array.from(values), { shape, backend });
    }
    case "F16": {
      const bits = new Uint16Array(bytes.buffer, 0, n);
      return tensor(Float32Array.from(bits, halfToFloat), { shape, backend });
    }
    case "BF16": {
      const bits = new Uint16Array(bytes.buffer, 0, n);
      const words = Uint32Array.from(bits, (b) => b << 16);
      return tensor(new Float32Array(words.buffer), { shape, backend });
    }
    case "I64": {
      const values = new BigInt64Array(bytes.buffer, 0, n);
      const out = new Int32Array(n);
      for (let i = 0; i < n; i++) {
        const v = values[i];
        if (v > 2147483647n || v < -2147483648n) {
          throw new Error(`Cannot load tensor "${name}": int64 value ${v} does not fit in int32`);
        }
        out[i] = Number(v);
      }
      return tensor(out, { shape, backend });
    }
    case "I32":
      return tensor(new Int32Array(bytes.buffer, 0, n), { shape, backend });
    case "I16":
      return tensor(Int32Array.from(new Int16Array(bytes.buffer, 0, n)), { shape, backend });
    case "I8":
      return tensor(Int32Array.from(new Int8Array(bytes.buffer, 0, n)), { shape, backend });
    case "U8":
      return tensor(Int32Array.from(bytes.subarray(0, n)), { shape, backend });
    case "BOOL":
      return tensor(bytes.subarray(0, n), { shape, dtype: "bool", backend });
    default:
      throw new Error(`Cannot load tensor "${name}": unsupported dtype ${raw.dtype}`);
  }
}

/** Reads the raw records of a checkpoint file, detecting its format. */
export async function readRawStateDict(path: string): Promise<Map<string, RawTensor>> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new Error(`Cannot read checkpoint ${path}: ${(error as Error).message}`);
  }
  if (bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04) {
    return await readPth(bytes, path);
  }
  if (bytes[0] === 0x80 && bytes.byteLength > 1 && bytes[1] <= 5) {
    throw new Error(
      `Cannot read checkpoint ${path}: it is a legacy (pre-1.6, non-zip) torch.save file; re-save it ` +
        `with torch.save(torch.load(path), path) in a recent PyTorch, or export safetensors`,
    );
  }
  return parseSafetensors(bytes, path).tensors;
}

/**
 * Loads a state dict from a `.safetensors` or PyTorch `.pth` file (detected by content),
 * in file order. `.pth` wrappers are unwrapped as the official code does: `model`, then
 * `module`, then `state_dict`.
 *
 * @param path the file
 * @param options `backend` for the tensors (the current default when absent)
 * @returns tensors by dotted name
 * @example
 * ```ts ignore
 * import { loadStateDict } from "@tessella/tessella";
 * const sd = await loadStateDict("beitv2_base_patch16_224_pt1k.pth");
 * console.log(sd.get("cls_token")?.shape); // [1, 1, 768]
 * ```
 */
export async function loadStateDict(
  path: string,
  options: { backend?: string } = {},
): Promise<Map<string, Tensor>> {
  const backend = options.backend ?? getBackend().name;
  const raws = await readRawStateDict(path);
  const out = new Map<string, Tensor>();
  // Keys that alias one view (tied weights) share one record, hence one immutable tensor.
  const decoded = new Map<RawTensor, Tensor>();
  for (const [name, raw] of raws) {
    let t = decoded.get(raw);
    if (t === undefined) decoded.set(raw, t = decodeRawTensor(name, raw, backend));
    out.set(name, t);
  }
  return out;
}

const SAFETENSORS_CODES: Record<string, string> = {
  float32: "F32",
  float64: "F64",
  int32: "I32",
  bool: "BOOL",
};

/** Encodes tensors (any backend) as raw safetensors records. */
export async function encodeTensors(
  entries: Iterable<[string, Tensor]>,
): Promise<Map<string, RawTensor>> {
  const out = new Map<string, RawTensor>();
  for (const [name, t] of entries) {
    const values = await toArray(t);
    out.set(name, {
      dtype: SAFETENSORS_CODES[t.dtype],
      shape: [...t.shape],
      data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
    });
  }
  return out;
}

/** Writes bytes to `path` atomically: a temporary file in the same folder, then a rename. */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const temp = `${path}.tmp-${Date.now()}-${Math.random().toString(36).slice(2)}`;
  try {
    await Deno.writeFile(temp, bytes);
    await Deno.rename(temp, path);
  } catch (error) {
    await Deno.remove(temp).catch(() => {});
    throw new Error(`Cannot write ${path}: ${(error as Error).message}`);
  }
}

/**
 * Saves every tensor of a pytree as a safetensors file, keyed by dotted path, written
 * atomically. Non-tensor leaves (null gradients, numbers) are skipped.
 *
 * @param path the file to write
 * @param tree parameters (or any pytree of tensors)
 * @param options string `metadata` for the header
 */
export async function saveStateDict(
  path: string,
  tree: unknown,
  options: { metadata?: Record<string, string> } = {},
): Promise<void> {
  const tensors = treeFlattenWithPath(tree).filter(([, leaf]) =>
    leaf !== null && typeof leaf === "object" && "storage" in leaf
  );
  const raw = await encodeTensors(tensors as [string, Tensor][]);
  await writeFileAtomic(
    path,
    serializeSafetensors(raw, { format: "pt", producer: "tessella", ...options.metadata }),
  );
}

/** What `fromStateDict` found when matching a state dict against a template. */
export interface LoadReport {
  /** Template keys the state dict lacks. */
  missing: string[];
  /** State-dict keys the template lacks (deterministic buffers such as relative_position_index are ignored). */
  unexpected: string[];
  /** Keys present in both with different shapes. */
  mismatched: { key: string; expected: number[]; found: number[] }[];
}

/** Buffers the official checkpoints store that we regenerate instead of loading. */
const REGENERATED = /(^|\.)relative_position_index$/;

/**
 * Builds a tree shaped like `template` from a flat state dict. Values take the
 * template's dtype and backend. Strict (default): any missing, unexpected or
 * shape-mismatched key throws one error listing all of them. Non-strict: missing and
 * mismatched keys keep the template's value, and `onReport` hears about every problem
 * (as fine-tuning from a pretrained checkpoint needs).
 *
 * @param template a parameter tree (e.g. `model.init(key)`)
 * @param flat the state dict
 * @param options `strict` (default true), `onReport`
 * @returns the filled tree
 */
export function fromStateDict<T>(
  template: T,
  flat: ReadonlyMap<string, Tensor>,
  options: { strict?: boolean; onReport?: (report: LoadReport) => void } = {},
): T {
  const strict = options.strict ?? true;
  const report: LoadReport = { missing: [], unexpected: [], mismatched: [] };
  const templateKeys = new Set(treeFlattenWithPath(template).map(([p]) => p));
  for (const key of flat.keys()) {
    if (!templateKeys.has(key) && !REGENERATED.test(key)) report.unexpected.push(key);
  }
  const filled = treeMapWithPath((path: string, leaf: unknown) => {
    if (leaf === null || typeof leaf !== "object" || !("storage" in leaf)) return leaf;
    const target = leaf as Tensor;
    const found = flat.get(path);
    if (found === undefined) {
      report.missing.push(path);
      return target;
    }
    const same = found.shape.length === target.shape.length &&
      found.shape.every((d, i) => d === target.shape[i]);
    if (!same) {
      report.mismatched.push({ key: path, expected: [...target.shape], found: [...found.shape] });
      return target;
    }
    return found;
  }, template);
  const problems = report.missing.length + report.unexpected.length + report.mismatched.length;
  if (strict && problems > 0) {
    const lines = [
      ...report.missing.map((k) => `  missing: ${k}`),
      ...report.unexpected.map((k) => `  unexpected: ${k}`),
      ...report.mismatched.map((m) =>
        `  shape mismatch: ${m.key} expects [${m.expected}], found [${m.found}]`
      ),
    ];
    throw new Error(`Cannot load state dict: ${problems} problem(s):\n${lines.join("\n")}`);
  }
  options.onReport?.(report);
  return convertLike(filled, template);
}

/** Casts and moves loaded tensors to the template's dtype and backend. */
function convertLike<T>(filled: T, template: T): T {
  return treeMapWithPath(
    (path: string, value: unknown, like: unknown) => {
      if (
        value === like || value === null || typeof value !== "object" || !("storage" in value)
      ) return value;
      const v = value as Tensor;
      const t = like as Tensor;
      if (v.backend === t.backend) return cast(v, t.dtype);
      if (v.backend === "cpu") {
        return tensor(toArraySync(v), {
          shape: v.shape,
          dtype: t.dtype,
          backend: t.backend,
        });
      }
      throw new Error(
        `Cannot load "${path}": it lives on ${v.backend}; load the state dict onto the CPU or onto ${t.backend}`,
      );
    },
    filled,
    template,
  );
}

export { SafetensorsError };
