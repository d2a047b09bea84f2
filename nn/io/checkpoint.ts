// Training checkpoints: any pytree (params, optimizer state, quantizer state, step, PRNG
// key, config) in one safetensors file. Tensors are stored by dotted path; the tree's
// structure and its non-tensor leaves (numbers, strings, booleans, null, PRNG keys) go
// in the header's metadata as JSON, so loading rebuilds exactly the saved tree. Files
// are written atomically (temporary file + rename): a crash never leaves a half-written
// checkpoint under the real name. A CRC-32 of the data section is stored with it and
// checked on load, and so is a SHA-256 of the configuration that made it, when given: a
// damaged or foreign checkpoint is refused with a CheckpointError, never used.

import {
  getBackend,
  Key,
  type Tensor,
  Tensor as TensorClass,
  treeFlatten,
  treeFlattenWithPath,
  treeUnflatten,
} from "../../tensor/mod.ts";
import { parseSafetensors, SafetensorsError, serializeSafetensors } from "./safetensors.ts";
import { decodeRawTensor, encodeTensors, writeFileAtomic } from "./state_dict.ts";
import { crc32 } from "./zip.ts";

const FORMAT = "tessella-checkpoint-2";
/** Checkpoints written before checksums (read without one). */
const FORMAT_V1 = "tessella-checkpoint-1";

/** Why a checkpoint cannot be used: it is missing, damaged, or made by another configuration. */
export class CheckpointError extends Error {
  /** Makes the error for the file at `path`. */
  constructor(
    readonly path: string,
    readonly kind: "missing" | "damaged" | "foreign",
    reason: string,
  ) {
    super(`Cannot use checkpoint ${path}: ${reason}`);
    this.name = "CheckpointError";
  }
}

/** The CRC-32 of the records' bytes in order, as 8 hex digits. */
function checksum(records: Iterable<{ data: Uint8Array }>): string {
  let crc = 0;
  for (const r of records) crc = crc32(r.data, crc);
  return crc.toString(16).padStart(8, "0");
}

/** SHA-256 (hex) of a configuration's JSON with sorted keys. */
export async function configHash(config: unknown): Promise<string> {
  const canonical = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(canonical) : v !== null && typeof v === "object"
      ? Object.fromEntries(
        Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]),
      )
      : v;
  const bytes = new TextEncoder().encode(JSON.stringify(canonical(config)));
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, "0")).join("");
}

type Encoded =
  | null
  | boolean
  | string
  | number
  | { $tensor: string }
  | { $key: [number, number] }
  | { $number: string };

function encodeLeaf(path: string, leaf: unknown): Encoded {
  if (leaf instanceof TensorClass) return { $tensor: path };
  if (leaf instanceof Key) return { $key: [leaf.hi, leaf.lo] };
  if (typeof leaf === "number" && !Number.isFinite(leaf)) return { $number: String(leaf) };
  if (
    leaf === null || leaf === undefined || typeof leaf === "boolean" || typeof leaf === "string" ||
    typeof leaf === "number"
  ) {
    return leaf ?? null;
  }
  throw new Error(
    `Cannot save checkpoint: the leaf at "${path}" is a ${typeof leaf} (${
      String(leaf)
    }); use tensors, numbers, strings, booleans, null or keys`,
  );
}

/**
 * Saves a pytree as a checkpoint file, atomically.
 *
 * @param path the file
 * @param tree e.g. `{ params, optState, step, key, config }`
 * @param options `config`: the configuration that made the tree; its hash is stored, and
 *   loadCheckpoint with another configuration refuses the file
 */
export async function saveCheckpoint(
  path: string,
  tree: unknown,
  options: { config?: unknown } = {},
): Promise<void> {
  const { treedef } = treeFlatten(tree);
  const withPaths = treeFlattenWithPath(tree);
  const leaves = withPaths.map(([p, leaf]) => encodeLeaf(p, leaf));
  const tensors = withPaths.filter(([, leaf]) => leaf instanceof TensorClass) as [string, Tensor][];
  const raw = await encodeTensors(tensors);
  const metadata: Record<string, string> = {
    format: FORMAT,
    treedef: JSON.stringify(treedef),
    leaves: JSON.stringify(leaves),
    checksum: checksum(raw.values()),
  };
  if (options.config !== undefined) metadata.config = await configHash(options.config);
  await writeFileAtomic(path, serializeSafetensors(raw, metadata));
}

/**
 * Loads a checkpoint written by saveCheckpoint, with tensors on `backend`.
 *
 * @param path the file
 * @param options `backend` (the current default when absent); `config`: refuse the file
 *   unless it was saved with this configuration
 * @returns the saved tree
 * @throws CheckpointError when the file is missing, damaged (its checksum, header or tree
 *   does not hold) or was made by another configuration
 */
export async function loadCheckpoint<T = unknown>(
  path: string,
  options: { backend?: string; config?: unknown } = {},
): Promise<T> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new CheckpointError(
      path,
      error instanceof Deno.errors.NotFound ? "missing" : "damaged",
      (error as Error).message,
    );
  }
  return await decodeCheckpoint<T>(bytes, path, options);
}

/**
 * Decodes a checkpoint's bytes (read from a file, or fetched in a browser): the checks and
 * result of loadCheckpoint.
 *
 * @param bytes the checkpoint file's bytes
 * @param path where they came from, for messages
 * @param options as loadCheckpoint
 * @returns the saved tree
 */
export async function decodeCheckpoint<T = unknown>(
  bytes: Uint8Array,
  path: string,
  options: { backend?: string; config?: unknown } = {},
): Promise<T> {
  let parsed;
  try {
    parsed = parseSafetensors(bytes, path);
  } catch (error) {
    if (!(error instanceof SafetensorsError)) throw error;
    throw new CheckpointError(path, "damaged", error.message);
  }
  const { tensors, metadata } = parsed;
  if (metadata.format !== FORMAT && metadata.format !== FORMAT_V1) {
    throw new CheckpointError(
      path,
      "foreign",
      `not a Tessella checkpoint (format ${
        JSON.stringify(metadata.format)
      }); use loadStateDict for plain weights`,
    );
  }
  if (metadata.format === FORMAT) {
    const actual = checksum(tensors.values());
    if (actual !== metadata.checksum) {
      throw new CheckpointError(
        path,
        "damaged",
        `its data does not match its checksum (CRC-32 ${actual}, recorded ${metadata.checksum})`,
      );
    }
  }
  if (options.config !== undefined && metadata.format === FORMAT) {
    const expected = await configHash(options.config);
    if (metadata.config !== expected) {
      throw new CheckpointError(
        path,
        "foreign",
        metadata.config === undefined
          ? "it records no configuration, so it cannot be matched to this one"
          : "it was made with another configuration (recipe, seed or data)",
      );
    }
  }
  try {
    const treedef = JSON.parse(metadata.treedef);
    const encoded = JSON.parse(metadata.leaves) as Encoded[];
    if (!Array.isArray(encoded)) throw new Error("the leaves are not a list");
    const leaves = encoded.map((leaf) => {
      if (leaf !== null && typeof leaf === "object") {
        if ("$tensor" in leaf) {
          const raw = tensors.get(leaf.$tensor);
          if (raw === undefined) throw new Error(`tensor "${leaf.$tensor}" is missing`);
          return decodeRawTensor(leaf.$tensor, raw, options.backend ?? getBackend().name);
        }
        if ("$key" in leaf) return new Key(leaf.$key[0], leaf.$key[1]);
        if ("$number" in leaf) return Number(leaf.$number);
      }
      return leaf;
    });
    return treeUnflatten<T>(treedef, leaves);
  } catch (error) {
    if (error instanceof CheckpointError) throw error;
    throw new CheckpointError(
      path,
      "damaged",
      `its tree cannot be rebuilt (${(error as Error).message})`,
    );
  }
}

/**
 * Loads a checkpoint, or null when it is missing; a damaged or foreign one is reported
 * through `warn` and treated as missing, so that its work is recomputed.
 *
 * @param path the file
 * @param warn receives a one-line message for a checkpoint that cannot be used
 * @param options as loadCheckpoint
 * @returns the saved tree or null
 */
export async function loadCheckpointOrNull<T = unknown>(
  path: string,
  warn: (text: string) => void,
  options: { backend?: string; config?: unknown } = {},
): Promise<T | null> {
  try {
    return await loadCheckpoint<T>(path, options);
  } catch (error) {
    if (!(error instanceof CheckpointError)) throw error;
    if (error.kind !== "missing") warn(`${error.message}; recomputing it`);
    return null;
  }
}
