// Training checkpoints: any pytree (params, optimizer state, quantizer state, step, PRNG
// key, config) in one safetensors file. Tensors are stored by dotted path; the tree's
// structure and its non-tensor leaves (numbers, strings, booleans, null, PRNG keys) go
// in the header's metadata as JSON, so loading rebuilds exactly the saved tree. Files
// are written atomically (temporary file + rename): a crash never leaves a half-written
// checkpoint under the real name.

import {
  getBackend,
  Key,
  type Tensor,
  Tensor as TensorClass,
  treeFlatten,
  treeFlattenWithPath,
  treeUnflatten,
} from "../../tensor/mod.ts";
import { parseSafetensors, serializeSafetensors } from "./safetensors.ts";
import { decodeRawTensor, encodeTensors, writeFileAtomic } from "./state_dict.ts";

const FORMAT = "tessella-checkpoint-1";

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
 */
export async function saveCheckpoint(path: string, tree: unknown): Promise<void> {
  const { treedef } = treeFlatten(tree);
  const withPaths = treeFlattenWithPath(tree);
  const leaves = withPaths.map(([p, leaf]) => encodeLeaf(p, leaf));
  const tensors = withPaths.filter(([, leaf]) => leaf instanceof TensorClass) as [string, Tensor][];
  const raw = await encodeTensors(tensors);
  const metadata = {
    format: FORMAT,
    treedef: JSON.stringify(treedef),
    leaves: JSON.stringify(leaves),
  };
  await writeFileAtomic(path, serializeSafetensors(raw, metadata));
}

/**
 * Loads a checkpoint written by saveCheckpoint, with tensors on `backend`.
 *
 * @param path the file
 * @param options `backend` (the current default when absent)
 * @returns the saved tree
 */
export async function loadCheckpoint<T = unknown>(
  path: string,
  options: { backend?: string } = {},
): Promise<T> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(path);
  } catch (error) {
    throw new Error(`Cannot read checkpoint ${path}: ${(error as Error).message}`);
  }
  const { tensors, metadata } = parseSafetensors(bytes, path);
  if (metadata.format !== FORMAT) {
    throw new Error(
      `Cannot read checkpoint ${path}: not a Tessella checkpoint (format ${
        JSON.stringify(metadata.format)
      }); use loadStateDict for plain weights`,
    );
  }
  const treedef = JSON.parse(metadata.treedef);
  const encoded = JSON.parse(metadata.leaves) as Encoded[];
  const leaves = encoded.map((leaf) => {
    if (leaf !== null && typeof leaf === "object") {
      if ("$tensor" in leaf) {
        const raw = tensors.get(leaf.$tensor);
        if (raw === undefined) {
          throw new Error(`Cannot read checkpoint ${path}: tensor "${leaf.$tensor}" is missing`);
        }
        return decodeRawTensor(leaf.$tensor, raw, options.backend ?? getBackend().name);
      }
      if ("$key" in leaf) return new Key(leaf.$key[0], leaf.$key[1]);
      if ("$number" in leaf) return Number(leaf.$number);
    }
    return leaf;
  });
  return treeUnflatten<T>(treedef, leaves);
}
