// The CPU backend's heap: one shared, growable WebAssembly.Memory that holds every
// float32, int32 and bool storage, so WebAssembly kernels (on any thread of the pool)
// read and write tensors in place, with no copy in or out per op.
//
// Layout of the memory (byte addresses):
//   [0, RESERVED)        the parameter block of the running kernel, and nothing else
//   [RESERVED, top)      blocks handed out by `allocate`, free blocks between them
//   [top, memory size)   never used yet; `allocate` grows the memory past it as needed
//
// The allocator: blocks are multiples of ALIGN bytes (a cache line, so SIMD loads of 16
// bytes never straddle one at a block's start). Freed blocks merge with free
// neighbours at once (so memory freed by one shape serves any other), and are indexed
// by size class (⌊log2 size⌋) to find a fit. The memory only grows, to at most 4 GiB
// (the wasm32 address space): what does not fit is reported by `allocate` returning
// null, and the backend then keeps that storage in an ordinary JavaScript array.
//
// A storage freed by `dispose` (or `tidy`) returns its block at once. One the program
// simply drops is returned when the garbage collector finalises its typed array, as a
// JavaScript array would be.

/** Blocks from this size on carry a shadow ArrayBuffer when the heap is under pressure. */
const SHADOW_MIN_BYTES = 1 << 16;
/**
 * Blocks carved from the top above this address (the heap grew for them) tell the garbage
 * collector their size (see allocate): a program that drops tensors without disposing
 * them keeps growing the heap, and the collector then runs often enough to return their
 * blocks. A program that disposes what it drops stops growing, and adds nothing.
 */
const PRESSURE_FROM = 64 << 20;
/** The largest shadow buffer (enough to make the collector run). */
const SHADOW_MAX_BYTES = 64 << 20;
/** The property that holds a block's shadow buffer. */
const SHADOW = Symbol("gcPressure");
/** Bytes of one WebAssembly page. */
const PAGE = 65536;
/** Block alignment and granularity, in bytes. */
export const ALIGN = 64;
/** Bytes below the first block: the kernels' parameter block lives there. */
export const RESERVED = 65536;
/** The largest memory a wasm32 module can address: 65,536 pages of 64 KiB. */
const MAX_PAGES = 65536;

/** Element arrays that live in the heap (views of its memory). */
export type HeapArray = Float32Array | Int32Array | Uint8Array;

/** The dtypes the heap holds, and the array type of each. */
export type HeapDType = "float32" | "int32" | "bool";

/** Where a heap array's block starts and how many bytes it spans. */
interface Block {
  start: number;
  bytes: number;
}

/** A growable shared memory with a first-fit-by-class, coalescing block allocator. */
export class Heap {
  /** The memory every kernel instance imports. */
  readonly memory: WebAssembly.Memory;
  /** The memory's current buffer (replaced after each grow). */
  #buffer: ArrayBufferLike;
  /** First byte never handed out. */
  #top = RESERVED;
  /** Free blocks by start, by end (to merge with neighbours), and by size class. */
  #freeByStart = new Map<number, number>();
  #freeByEnd = new Map<number, number>();
  #classes: Set<number>[] = Array.from({ length: 33 }, () => new Set<number>());
  #freeBytes = 0;
  /** Blocks in use, by the array that views each. */
  #blocks = new WeakMap<HeapArray, Block>();
  #usedBytes = 0;
  /** Returns the block of an array the program dropped without disposing it. */
  #finalizer = new FinalizationRegistry<number>((start) =>
    this.#free(start, this.#sizes.get(start))
  );
  /** Size of each block in use, by start (what the finalizer needs). */
  #sizes = new Map<number, number>();

  /**
   * Creates the memory.
   *
   * @param shared a SharedArrayBuffer-backed memory (needed for worker threads)
   * @param initialBytes bytes to reserve up front (rounded up to pages)
   */
  constructor(shared: boolean, initialBytes = 16 << 20) {
    const initial = Math.max(1, Math.ceil(initialBytes / PAGE));
    this.memory = new WebAssembly.Memory({ initial, maximum: MAX_PAGES, shared });
    this.#buffer = this.memory.buffer;
  }

  /** Bytes in blocks handed out and not yet freed. */
  get usedBytes(): number {
    return this.#usedBytes;
  }

  /** Bytes in free blocks below the top (kept for reuse). */
  get freeBytes(): number {
    return this.#freeBytes;
  }

  /** The memory's size in bytes. */
  get capacity(): number {
    return this.memory.buffer.byteLength;
  }

  /**
   * A new zero-length-or-more array of `dtype` in the heap, or null when it does not fit
   * in the 4 GiB address space. Its contents are unspecified (not zeroed).
   */
  allocate(dtype: HeapDType, length: number): HeapArray | null {
    const elementBytes = dtype === "bool" ? 1 : 4;
    const bytes = Math.max(ALIGN, Math.ceil((length * elementBytes) / ALIGN) * ALIGN);
    const start = this.#take(bytes);
    if (start === null) return null;
    const array = this.#view(dtype, start, length);
    if (start + bytes === this.#top && this.#top > PRESSURE_FROM && bytes >= SHADOW_MIN_BYTES) {
      // The collector does not see this memory: an unused ArrayBuffer of (up to) the same
      // size, owned by the array, makes it count (its pages are never touched, so never
      // resident). Best effort: where the system refuses the buffer, there is none.
      try {
        const shadow = new ArrayBuffer(Math.min(bytes, SHADOW_MAX_BYTES));
        Object.defineProperty(array, SHADOW, { value: shadow });
      } catch {
        // no shadow
      }
    }
    this.#blocks.set(array, { start, bytes });
    this.#sizes.set(start, bytes);
    this.#usedBytes += bytes;
    this.#finalizer.register(array, start, array);
    return array;
  }

  /** Whether `data` is an array this heap handed out (and has not freed). */
  owns(data: unknown): data is HeapArray {
    return this.#blocks.has(data as HeapArray);
  }

  /** Returns an array's block to the heap; the array must not be used afterwards. */
  release(array: HeapArray): void {
    const block = this.#blocks.get(array);
    if (block === undefined) return;
    this.#blocks.delete(array);
    this.#finalizer.unregister(array);
    this.#free(block.start, block.bytes);
  }

  /** Scratch memory for a kernel: a byte address of `bytes` bytes; give it back with `freeScratch`. */
  scratch(bytes: number): number | null {
    const size = Math.max(ALIGN, Math.ceil(bytes / ALIGN) * ALIGN);
    const start = this.#take(size);
    if (start === null) return null;
    this.#sizes.set(start, size);
    this.#usedBytes += size;
    return start;
  }

  /** Returns a block from `scratch`. */
  freeScratch(start: number): void {
    this.#free(start, this.#sizes.get(start));
  }

  /** Int32, Float32 and byte views of the whole memory as it is now (refreshed after growth). */
  get i32(): Int32Array {
    return new Int32Array(this.#current());
  }

  /** A Float32Array over the whole memory. */
  get f32(): Float32Array {
    return new Float32Array(this.#current());
  }

  #current(): ArrayBufferLike {
    if (this.#buffer.byteLength !== this.memory.buffer.byteLength) {
      this.#buffer = this.memory.buffer;
    }
    return this.#buffer;
  }

  #view(dtype: HeapDType, start: number, length: number): HeapArray {
    const buffer = this.#current();
    if (dtype === "float32") return new Float32Array(buffer, start, length);
    if (dtype === "int32") return new Int32Array(buffer, start, length);
    return new Uint8Array(buffer, start, length);
  }

  /** Finds (or makes, by growing the memory) a free block of `bytes` and claims it. */
  #take(bytes: number): number | null {
    if (bytes > MAX_PAGES * PAGE - RESERVED) return null;
    for (let c = sizeClass(bytes); c < this.#classes.length; c++) {
      for (const start of this.#classes[c]) {
        const size = this.#freeByStart.get(start)!;
        if (size < bytes) continue; // only possible in the first class searched
        this.#unlinkFree(start, size);
        if (size > bytes) this.#linkFree(start + bytes, size - bytes);
        return start;
      }
    }
    // No free block fits: carve one from the top, first merging a free block that ends there.
    let start = this.#top;
    const tail = this.#freeByEnd.get(this.#top);
    if (tail !== undefined) {
      this.#unlinkFree(tail, this.#top - tail);
      start = tail;
    }
    const end = start + bytes;
    if (!this.#ensure(end)) {
      if (tail !== undefined) this.#linkFree(tail, this.#top - tail);
      return null;
    }
    this.#top = end;
    return start;
  }

  /** Grows the memory to hold `end` bytes; false if that exceeds the address space. */
  #ensure(end: number): boolean {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return true;
    if (end > MAX_PAGES * PAGE) return false;
    // Grow by at least a quarter of the current size, so growing costs amortised O(1).
    const needed = Math.ceil((end - have) / PAGE);
    const pages = Math.min(MAX_PAGES - have / PAGE, Math.max(needed, Math.ceil(have / PAGE / 4)));
    try {
      this.memory.grow(pages);
    } catch {
      try {
        this.memory.grow(needed); // the larger step may be what failed
      } catch {
        return false;
      }
    }
    return true;
  }

  #free(start: number, bytes: number | undefined): void {
    if (bytes === undefined || !this.#sizes.has(start)) return;
    this.#sizes.delete(start);
    this.#usedBytes -= bytes;
    let from = start;
    let size = bytes;
    const before = this.#freeByEnd.get(from);
    if (before !== undefined) {
      this.#unlinkFree(before, from - before);
      size += from - before;
      from = before;
    }
    const after = this.#freeByStart.get(from + size);
    if (after !== undefined) {
      this.#unlinkFree(from + size, after);
      size += after;
    }
    if (from + size === this.#top) this.#top = from; // give the tail back to the top
    else this.#linkFree(from, size);
  }

  #linkFree(start: number, size: number): void {
    this.#freeByStart.set(start, size);
    this.#freeByEnd.set(start + size, start);
    this.#classes[sizeClass(size)].add(start);
    this.#freeBytes += size;
  }

  #unlinkFree(start: number, size: number): void {
    this.#freeByStart.delete(start);
    this.#freeByEnd.delete(start + size);
    this.#classes[sizeClass(size)].delete(start);
    this.#freeBytes -= size;
  }
}

/** ⌊log2 bytes⌋: free blocks of class c hold between 2^c and 2^(c+1) − 1 bytes. */
function sizeClass(bytes: number): number {
  return 31 - Math.clz32(bytes);
}
