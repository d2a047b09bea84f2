// A small, safe pickle reader for PyTorch checkpoints.
//
// Pickle is a stack machine: each opcode pushes values, builds containers, or calls a
// "global" (a Python class or function named by module and name). We never run Python
// code: globals become inert descriptions, and only the handful of calls a state dict
// needs are interpreted — `collections.OrderedDict()`, `torch._utils._rebuild_tensor_v2`
// (a tensor: storage, offset, size, stride) and `_rebuild_parameter`. Anything else
// (argparse.Namespace in `args`, optimizer bookkeeping) becomes an opaque object, so a
// full training checkpoint still parses. Storages arrive through persistent ids
// ('storage', <type>, key, location, numel) and are resolved by the caller.

/** A Python global referenced by the pickle (`module.name`). */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  /** `module.name`. */
  get qualified(): string {
    return `${this.module}.${this.name}`;
  }
}

/** An object we do not interpret: the call that made it and any state set on it. */
export class PyObject {
  state: unknown = undefined;
  constructor(readonly cls: string, readonly args: unknown[]) {}
}

/** A storage reference from a persistent id. */
export interface StorageRef {
  kind: "storage";
  /** PyTorch storage class, e.g. `FloatStorage`. */
  type: string;
  key: string;
  location: string;
  numel: number;
}

/** A tensor as `_rebuild_tensor_v2` describes it. */
export interface TensorRef {
  kind: "tensor";
  storage: StorageRef;
  offset: number;
  size: number[];
  stride: number[];
}

/** Why a pickle could not be read. */
export class PickleError extends Error {
  /** Makes the error, saying what is wrong. */
  constructor(reason: string) {
    super(reason);
    this.name = "PickleError";
  }
}

const MARK = Symbol("mark");

/** A tuple (array) of safe integers, or a PickleError naming what it is. */
function integers(value: unknown, what: string): number[] {
  if (!Array.isArray(value) || !value.every((v) => Number.isSafeInteger(v))) {
    throw new PickleError(
      `tensor whose ${what} is ${describe(value)}, not a tuple of integers`,
    );
  }
  return [...value];
}

/** A short description of an unpickled value, for messages. */
function describe(value: unknown): string {
  if (value === null) return "None";
  if (Array.isArray(value)) return `a tuple of ${value.length}`;
  if (value instanceof Map) return "a dict";
  if (value instanceof PyObject) return `an object (${value.cls})`;
  if (value instanceof PyGlobal) return `the global ${value.qualified}`;
  if (value === MARK) return "a MARK";
  return typeof value === "string" ? JSON.stringify(value.slice(0, 40)) : String(value);
}

function call(fn: unknown, args: unknown[]): unknown {
  if (!(fn instanceof PyGlobal)) return new PyObject("<call>", args);
  switch (fn.qualified) {
    case "collections.OrderedDict":
      return new Map<unknown, unknown>();
    case "torch._utils._rebuild_tensor_v2":
    case "torch._utils._rebuild_tensor": {
      const [storage, offset, size, stride] = args as [StorageRef, unknown, unknown, unknown];
      if ((storage as StorageRef | undefined)?.kind !== "storage") {
        throw new PickleError("tensor without a storage");
      }
      const sizes = integers(size, "size");
      const strides = integers(stride, "stride");
      if (sizes.some((d) => d < 0)) {
        throw new PickleError(`tensor with a negative size ${JSON.stringify(sizes)}`);
      }
      if (strides.length !== sizes.length) {
        throw new PickleError(
          `tensor with ${strides.length} strides for ${sizes.length} sizes (${
            JSON.stringify(sizes)
          })`,
        );
      }
      if (strides.some((d) => d < 0)) {
        throw new PickleError(`tensor with a negative stride ${JSON.stringify(strides)}`);
      }
      if (!(Number.isSafeInteger(offset) && (offset as number) >= 0)) {
        throw new PickleError(
          `tensor with storage offset ${JSON.stringify(offset)} (a non-negative integer is needed)`,
        );
      }
      return {
        kind: "tensor",
        storage,
        offset: offset as number,
        size: sizes,
        stride: strides,
      } satisfies TensorRef;
    }
    case "torch._utils._rebuild_parameter":
    case "torch._utils._rebuild_parameter_with_state":
      return args[0];
    default:
      return new PyObject(fn.qualified, args);
  }
}

function setItem(target: unknown, key: unknown, value: unknown): void {
  if (target instanceof Map) target.set(key, value);
  else if (target instanceof PyObject) {
    // e.g. a dict subclass we do not model: keep the items as state
    const state = (target.state ??= new Map());
    if (state instanceof Map) state.set(key, value);
  } else {
    throw new PickleError("SETITEM on something that is not a dict");
  }
}

/**
 * Runs a pickle program and returns its result. Dicts become `Map`s (keys in order).
 *
 * @param bytes the pickle
 * @param persistentLoad resolves persistent ids (torch storages)
 * @returns the unpickled value
 */
export function unpickle(bytes: Uint8Array, persistentLoad: (pid: unknown) => unknown): unknown {
  try {
    return run(bytes, persistentLoad);
  } catch (error) {
    if (error instanceof PickleError) throw error;
    // A last line of defence: whatever the engine threw, the caller gets a PickleError.
    throw new PickleError(`malformed pickle (${(error as Error).message})`);
  }
}

function run(bytes: Uint8Array, persistentLoad: (pid: unknown) => unknown): unknown {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const decoder = new TextDecoder();
  const stack: unknown[] = [];
  const memo = new Map<number, unknown>();
  let at = 0;
  const need = (n: number) => {
    if (at + n > bytes.byteLength) {
      throw new PickleError(`pickle ends early at byte ${at} (truncated)`);
    }
  };
  const u8 = () => (need(1), bytes[at++]);
  const u16 = () => (need(2), at += 2, view.getUint16(at - 2, true));
  const u32 = () => (need(4), at += 4, view.getUint32(at - 4, true));
  const i32 = () => (need(4), at += 4, view.getInt32(at - 4, true));
  const take = (n: number) => (need(n), at += n, bytes.subarray(at - n, at));
  const line = () => {
    const end = bytes.indexOf(0x0a, at);
    if (end < 0) throw new PickleError("pickle ends inside a text line (truncated)");
    const s = decoder.decode(bytes.subarray(at, end));
    at = end + 1;
    return s;
  };
  const popMark = (): unknown[] => {
    const i = stack.lastIndexOf(MARK);
    if (i < 0) throw new PickleError("MARK expected on the stack");
    const items = stack.splice(i + 1);
    stack.pop();
    return items;
  };
  const pop = (): unknown => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) {
      throw new PickleError(`stack underflow at byte ${at - 1} (malformed pickle)`);
    }
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0 || stack[stack.length - 1] === MARK) {
      throw new PickleError(`stack underflow at byte ${at - 1} (malformed pickle)`);
    }
    return stack[stack.length - 1];
  };
  const list = (op: string): unknown[] => {
    const target = top();
    if (!Array.isArray(target)) throw new PickleError(`${op} onto ${describe(target)}, not a list`);
    return target;
  };

  while (true) {
    const position = at;
    const op = u8();
    switch (op) {
      case 0x80: // PROTO
        u8();
        break;
      case 0x95: // FRAME (protocol 4)
        take(8);
        break;
      case 0x2e: // STOP
        return pop();
      case 0x28: // MARK
        stack.push(MARK);
        break;
      case 0x7d: // EMPTY_DICT
        stack.push(new Map());
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x29: // EMPTY_TUPLE
        stack.push([]);
        break;
      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(u8());
        break;
      case 0x4d: // BININT2
        stack.push(u16());
        break;
      case 0x4a: // BININT
        stack.push(i32());
        break;
      case 0x8a: { // LONG1: little-endian two's complement of n bytes
        const n = u8();
        const b = take(n);
        let v = 0n;
        for (let i = n - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
        if (n > 0 && b[n - 1] & 0x80) v -= 1n << BigInt(8 * n);
        stack.push(Number(v));
        break;
      }
      case 0x47: // BINFLOAT (big-endian double)
        need(8);
        stack.push(view.getFloat64(at, false));
        at += 8;
        break;
      case 0x58: // BINUNICODE
        stack.push(decoder.decode(take(u32())));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(decoder.decode(take(u8())));
        break;
      case 0x54: // BINSTRING
        stack.push(decoder.decode(take(i32())));
        break;
      case 0x55: // SHORT_BINSTRING
        stack.push(decoder.decode(take(u8())));
        break;
      case 0x42: // BINBYTES
        stack.push(take(u32()).slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(take(u8()).slice());
        break;
      case 0x63: { // GLOBAL "module\nname\n"
        const module = line();
        stack.push(new PyGlobal(module, line()));
        break;
      }
      case 0x93: { // STACK_GLOBAL
        const name = pop() as string;
        stack.push(new PyGlobal(pop() as string, name));
        break;
      }
      case 0x71: // BINPUT
        memo.set(u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x68: // BINGET
      case 0x6a: { // LONG_BINGET
        const key = op === 0x68 ? u8() : u32();
        if (!memo.has(key)) throw new PickleError(`memo key ${key} missing at byte ${position}`);
        stack.push(memo.get(key));
        break;
      }
      case 0x74: // TUPLE
        stack.push(popMark());
        break;
      case 0x85: // TUPLE1
        stack.push([pop()]);
        break;
      case 0x86: { // TUPLE2
        const b = pop();
        stack.push([pop(), b]);
        break;
      }
      case 0x87: { // TUPLE3
        const c = pop();
        const b = pop();
        stack.push([pop(), b, c]);
        break;
      }
      case 0x61: { // APPEND
        const v = pop();
        list("APPEND").push(v);
        break;
      }
      case 0x65: { // APPENDS (a loop: a spread of millions of items would overflow the call stack)
        const items = popMark();
        const target = list("APPENDS");
        for (const item of items) target.push(item);
        break;
      }
      case 0x73: { // SETITEM
        const v = pop();
        const k = pop();
        setItem(top(), k, v);
        break;
      }
      case 0x75: { // SETITEMS
        const items = popMark();
        for (let i = 0; i + 1 < items.length; i += 2) setItem(top(), items[i], items[i + 1]);
        break;
      }
      case 0x52: { // REDUCE
        const args = pop();
        if (!Array.isArray(args)) {
          throw new PickleError(`REDUCE with ${describe(args)} as arguments at byte ${position}`);
        }
        stack.push(call(pop(), args));
        break;
      }
      case 0x81: { // NEWOBJ
        const args = pop() as unknown[];
        const cls = pop();
        stack.push(new PyObject(cls instanceof PyGlobal ? cls.qualified : "<class>", args));
        break;
      }
      case 0x62: { // BUILD: set state (OrderedDict's _metadata, an object's __dict__)
        const state = pop();
        const target = top();
        if (target instanceof PyObject) target.state = state;
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistentLoad(pop()));
        break;
      default:
        throw new PickleError(
          `unsupported pickle opcode 0x${op.toString(16).padStart(2, "0")} ('${
            String.fromCharCode(op)
          }') at byte ${position}`,
        );
    }
  }
}
