// The WebGPU device context: everything between "run this kernel" and the GPU queue.
//
// - Batching: dispatches are recorded into one command encoder (one compute pass) and
//   submitted together at the next readback, or every MAX_BATCH dispatches.
// - Uniforms: each dispatch's small parameter block is appended to a CPU-side arena and
//   bound at a dynamic offset of one uniform buffer; the arena is written with
//   queue.writeBuffer right before the batch is submitted. writeBuffer takes effect
//   before any command not yet submitted, so it must never target a buffer that pending
//   commands still read: the arena is written exactly once per batch, and uploads of
//   tensor data go through a staging buffer copied *inside* the command stream, so they
//   are ordered like every other command.
// - Buffers: released storage buffers go to a pool keyed by size class and are reused for
//   kernel outputs. Reuse by later commands in the same stream is safe: the GPU runs
//   commands in order.
// - Constants: scalar constants get shared, read-only buffers written at creation
//   (mappedAtCreation, outside the command stream: nothing pending can read a new buffer).
// - Scratch textures: kernels that read their inputs as textures (on CPU adapters) get
//   them copied (textureOf) or packed into rgba32float textures kept per slot and size
//   class. Copies and packing are commands in the same stream, so reusing a texture for
//   the next kernel is ordered too.
// - Pipelines: compiled once per kernel name + template parameters.

/** How many dispatches are recorded before an automatic submit. */
const MAX_BATCH = 512;
/** How many distinct scalar constants get a shared buffer (see GpuContext.constant). */
const MAX_CONSTANTS = 1024;
/** Bytes of a constant's buffer: the smallest pool size class, like any small tensor's. */
const CONSTANT_BYTES = 256;
/** Bytes per dispatch in the uniform arena (dynamic offsets must be 256-aligned). */
export const PARAM_SLOT_BYTES = 512;
/** Number of u32 parameter words available to a kernel. */
export const PARAM_WORDS = PARAM_SLOT_BYTES / 4;
const ARENA_SLOTS = MAX_BATCH;

/**
 * Kinds of bindings a kernel declares, in binding order (the uniform comes last): storage
 * buffers read or written, an rgba32float texture read with textureLoad ("texture"), or
 * written with textureStore ("texture-write").
 */
export type BindingKind = "read" | "write" | "texture" | "texture-write";

/** What a binding is given: a buffer, or a texture (bound through its whole view). */
export type Resource = GPUBuffer | GPUTexture;

/** Texels per row of the textures `textureOf` fills (a power of two). */
export const TEXTURE_ROW = 1024;

/** Rounds a texture side up to its class: 4 classes per power of two, at least 16. */
function textureClass(texels: number): number {
  if (texels <= 16) return 16;
  const step = 2 ** Math.floor(Math.log2(texels)) / 4;
  return Math.ceil(texels / step) * step;
}

/** A compiled kernel and the layout its bind groups use. */
export interface Kernel {
  pipeline: GPUComputePipeline;
  layout: GPUBindGroupLayout;
  bindings: readonly BindingKind[];
  /** The kernel name + template parameters it was compiled for. */
  key: string;
}

/** Rounds a byte size up to its pool size class: 8 classes per power of two, ≥ 256 bytes. */
export function sizeClass(bytes: number): number {
  if (bytes <= 256) return 256;
  const octave = 2 ** Math.floor(Math.log2(bytes));
  const step = Math.max(256, octave / 8);
  return Math.ceil(bytes / step) * step;
}

/** Owns a GPUDevice and the batching, uniform, pooling and pipeline machinery. */
export class GpuContext {
  readonly device: GPUDevice;
  readonly adapterInfo: GPUAdapterInfo;
  /** Largest storage binding, in bytes (128 MiB on llvmpipe). */
  readonly maxBinding: number;
  readonly maxWorkgroupsPerDimension: number;
  /** Largest width and height of a 2-D texture, in texels. */
  readonly maxTextureSide: number;
  #encoder: GPUCommandEncoder | null = null;
  #pass: GPUComputePassEncoder | null = null;
  #dispatches = 0;
  readonly #arena = new Uint32Array((ARENA_SLOTS * PARAM_SLOT_BYTES) / 4);
  #arenaSlots = 0;
  readonly #arenaBuffer: GPUBuffer;
  readonly #kernels = new Map<string, Kernel>();
  readonly #pool = new Map<number, GPUBuffer[]>();
  readonly #constants = new Map<number, GPUBuffer>();
  readonly #constantBuffers = new Set<GPUBuffer>();
  #poolBytes = 0;
  readonly #scratch = new Map<string, GPUTexture>();
  readonly #views = new Map<GPUTexture, GPUTextureView>();
  #scratchBytes = 0;
  #staging: GPUBuffer[] = [];
  #errors: string[] = [];
  /** Kernel timing (startTiming): one timestamp pair per compute pass, read back later. */
  #timing: {
    querySet: GPUQuerySet;
    readbacks: GPUBuffer[];
    /** perKernel: each dispatch in its own pass; the kernel of each readback. */
    perKernel: boolean;
    labels: string[];
    passLabel: string;
  } | null = null;
  /**
   * Kernel time per kernel name of the last `startTiming({ perKernel: true })` …
   * `stopTiming()`: seconds and dispatches, largest first.
   */
  kernelTimes: { kernel: string; seconds: number; dispatches: number }[] = [];
  /** Number of pipelines compiled so far (for benchmarks and tests). */
  compiledKernels = 0;
  /** Number of submits so far. */
  submits = 0;

  constructor(device: GPUDevice, adapterInfo: GPUAdapterInfo) {
    this.device = device;
    this.adapterInfo = adapterInfo;
    this.maxBinding = device.limits.maxStorageBufferBindingSize;
    this.maxWorkgroupsPerDimension = device.limits.maxComputeWorkgroupsPerDimension;
    this.maxTextureSide = device.limits.maxTextureDimension2D;
    this.#arenaBuffer = device.createBuffer({
      size: this.#arena.byteLength,
      usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
    });
    device.addEventListener("uncapturederror", (event) => {
      this.#errors.push(String((event as GPUUncapturedErrorEvent).error.message));
    });
  }

  /** Bytes held in the buffer pool, the scratch textures and the shared constants. */
  get poolBytes(): number {
    return this.#poolBytes + this.#scratchBytes + this.#constants.size * CONSTANT_BYTES;
  }

  /**
   * An rgba32float scratch texture of at least `width` × `height` texels for binding slot
   * `slot` (operands of one kernel use different slots). The same texture comes back for
   * the same slot and size class: its contents are valid until the next command that
   * packs into it, which the GPU runs after every command recorded before.
   */
  scratchTexture(slot: string, width: number, height: number): GPUTexture {
    if (width > this.maxTextureSide || height > this.maxTextureSide) {
      throw new Error(
        `Internal error: a ${width}×${height} texture exceeds ${this.maxTextureSide} texels a side`,
      );
    }
    const w = Math.min(textureClass(width), this.maxTextureSide);
    const h = Math.min(textureClass(height), this.maxTextureSide);
    const key = `${slot}:${w}x${h}`;
    let texture = this.#scratch.get(key);
    if (texture === undefined) {
      texture = this.device.createTexture({
        size: [w, h],
        format: "rgba32float",
        usage: GPUTextureUsage.TEXTURE_BINDING | GPUTextureUsage.STORAGE_BINDING |
          GPUTextureUsage.COPY_DST,
      });
      this.#scratch.set(key, texture);
      this.#views.set(texture, texture.createView());
      this.#scratchBytes += w * h * 16;
    }
    return texture;
  }

  /** A storage buffer of at least `bytes` bytes, from the pool when one fits. */
  allocate(bytes: number): GPUBuffer {
    if (bytes > this.maxBinding) {
      throw new Error(
        `Cannot allocate a ${bytes}-byte tensor on WebGPU: the adapter binds at most ` +
          `${this.maxBinding} bytes per storage buffer; use a smaller batch or split the tensor`,
      );
    }
    const size = sizeClass(Math.max(bytes, 4));
    const free = this.#pool.get(size);
    const reused = free?.pop();
    if (reused !== undefined) {
      this.#poolBytes -= size;
      return reused;
    }
    return this.device.createBuffer({
      size,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
    });
  }

  /**
   * A shared one-value buffer holding the 32-bit pattern `bits` (scalar constants such as
   * the 0.5 of x·0.5): written once at creation, never by a command, and never pooled, so
   * the many small constants of a training step cost no dispatch. Null once MAX_CONSTANTS
   * distinct values exist (the caller then fills a buffer of its own).
   */
  constant(bits: number): GPUBuffer | null {
    const cached = this.#constants.get(bits);
    if (cached !== undefined) return cached;
    if (this.#constants.size >= MAX_CONSTANTS) return null;
    const buffer = this.device.createBuffer({
      size: CONSTANT_BYTES,
      usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
      mappedAtCreation: true,
    });
    new Uint32Array(buffer.getMappedRange()).fill(bits);
    buffer.unmap();
    this.#constants.set(bits, buffer);
    this.#constantBuffers.add(buffer);
    return buffer;
  }

  /** Returns a buffer to the pool (shared constants stay where they are). */
  release(buffer: GPUBuffer): void {
    if (this.#constantBuffers.has(buffer)) return;
    const size = buffer.size;
    let list = this.#pool.get(size);
    if (list === undefined) this.#pool.set(size, list = []);
    list.push(buffer);
    this.#poolBytes += size;
  }

  /** Destroys every pooled buffer and scratch texture (after submitting pending work). */
  drainPool(): void {
    this.flush();
    for (const list of this.#pool.values()) for (const b of list) b.destroy();
    this.#pool.clear();
    this.#poolBytes = 0;
    for (const texture of this.#scratch.values()) texture.destroy();
    this.#scratch.clear();
    this.#views.clear();
    this.#scratchBytes = 0;
  }

  /** The compiled kernel for `key`, compiling `source()` on first use. */
  kernel(key: string, bindings: readonly BindingKind[], source: () => string): Kernel {
    const cached = this.#kernels.get(key);
    if (cached !== undefined) return cached;
    const entries: GPUBindGroupLayoutEntry[] = bindings.map((kind, binding) => {
      const visibility = GPUShaderStage.COMPUTE;
      if (kind === "texture") {
        return { binding, visibility, texture: { sampleType: "unfilterable-float" } };
      }
      if (kind === "texture-write") {
        return {
          binding,
          visibility,
          storageTexture: { access: "write-only", format: "rgba32float" },
        };
      }
      return {
        binding,
        visibility,
        buffer: { type: kind === "read" ? "read-only-storage" : "storage" },
      };
    });
    entries.push({
      binding: bindings.length,
      visibility: GPUShaderStage.COMPUTE,
      buffer: { type: "uniform", hasDynamicOffset: true, minBindingSize: PARAM_SLOT_BYTES },
    });
    const layout = this.device.createBindGroupLayout({ entries });
    const module = this.device.createShaderModule({ code: source(), label: key });
    const pipeline = this.device.createComputePipeline({
      layout: this.device.createPipelineLayout({ bindGroupLayouts: [layout] }),
      compute: { module, entryPoint: "main" },
      label: key,
    });
    const kernel = { pipeline, layout, bindings, key };
    this.#kernels.set(key, kernel);
    this.compiledKernels++;
    return kernel;
  }

  #beginPass(): GPUComputePassEncoder {
    this.#encoder ??= this.device.createCommandEncoder();
    this.#pass ??= this.#encoder.beginComputePass(
      this.#timing
        ? {
          timestampWrites: {
            querySet: this.#timing.querySet,
            beginningOfPassWriteIndex: 0,
            endOfPassWriteIndex: 1,
          },
        }
        : undefined,
    );
    return this.#pass;
  }

  #endPass(): GPUCommandEncoder {
    const encoder = this.#encoder ??= this.device.createCommandEncoder();
    if (this.#pass === null) return encoder;
    this.#pass.end();
    this.#pass = null;
    if (this.#timing) {
      // Resolve this pass's two timestamps before a later pass reuses the query slots.
      const resolved = this.device.createBuffer({
        size: 16,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      });
      const readback = this.device.createBuffer({
        size: 16,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      });
      encoder.resolveQuerySet(this.#timing.querySet, 0, 2, resolved, 0);
      encoder.copyBufferToBuffer(resolved, 0, readback, 0, 16);
      this.#staging.push(resolved);
      this.#timing.readbacks.push(readback);
      this.#timing.labels.push(this.#timing.passLabel);
    }
    return encoder;
  }

  /** Whether the device can time kernels (the adapter offers `timestamp-query`). */
  get canTime(): boolean {
    return this.device.features.has("timestamp-query");
  }

  /**
   * Starts timing the GPU work recorded from now on with timestamp queries: the time
   * between the start and the end of every compute pass, summed (for benchmarks). With
   * `perKernel`, every dispatch gets a pass of its own and `stopTiming` also fills
   * `kernelTimes` (a profile: separate passes add some time of their own).
   */
  startTiming(options: { perKernel?: boolean } = {}): void {
    if (!this.canTime) {
      throw new Error(
        "This WebGPU device has no timestamp-query feature: time with the wall clock",
      );
    }
    this.flush();
    this.#timing = {
      querySet: this.device.createQuerySet({ type: "timestamp", count: 2 }),
      readbacks: [],
      perKernel: options.perKernel ?? false,
      labels: [],
      passLabel: "",
    };
  }

  /** Stops timing; waits for the work and returns the summed kernel time in seconds. */
  async stopTiming(): Promise<number> {
    const timing = this.#timing;
    if (timing === null) throw new Error("stopTiming() without startTiming()");
    this.flush();
    this.#timing = null;
    let nanoseconds = 0n;
    const perKernel = new Map<string, { seconds: number; dispatches: number }>();
    for (const [i, readback] of timing.readbacks.entries()) {
      await readback.mapAsync(GPUMapMode.READ);
      const [begin, end] = new BigUint64Array(readback.getMappedRange());
      const span = end > begin ? end - begin : 0n;
      nanoseconds += span;
      readback.unmap();
      readback.destroy();
      if (timing.perKernel) {
        const entry = perKernel.get(timing.labels[i]) ?? { seconds: 0, dispatches: 0 };
        entry.seconds += Number(span) / 1e9;
        entry.dispatches++;
        perKernel.set(timing.labels[i], entry);
      }
    }
    this.kernelTimes = [...perKernel].map(([kernel, t]) => ({ kernel, ...t }))
      .sort((a, b) => b.seconds - a.seconds);
    timing.querySet.destroy();
    this.throwErrors();
    return Number(nanoseconds) / 1e9;
  }

  /**
   * Records one dispatch: `buffers` (buffers, or scratch textures) in binding order,
   * `params` (u32 words) as the uniform block, over a grid of workgroups.
   */
  dispatch(
    kernel: Kernel,
    buffers: readonly Resource[],
    params: Uint32Array,
    groups: readonly [number, number?, number?],
  ): void {
    if (params.length > PARAM_WORDS) {
      throw new Error(`Internal error: ${params.length} parameter words`);
    }
    const [x, y = 1, z = 1] = groups;
    if (x === 0 || y === 0 || z === 0) return;
    const limit = this.maxWorkgroupsPerDimension;
    if (x > limit || y > limit || z > limit) {
      throw new Error(
        `Internal error: dispatch of ${x}×${y}×${z} workgroups exceeds ${limit} per dimension`,
      );
    }
    if (this.#arenaSlots === ARENA_SLOTS) this.flush();
    const slot = this.#arenaSlots++;
    this.#arena.set(params, (slot * PARAM_SLOT_BYTES) / 4);
    const entries: GPUBindGroupEntry[] = buffers.map((resource, i) => ({
      binding: i,
      resource: resource instanceof GPUBuffer ? { buffer: resource } : this.#viewOf(resource),
    }));
    entries.push({
      binding: buffers.length,
      resource: { buffer: this.#arenaBuffer, size: PARAM_SLOT_BYTES },
    });
    const group = this.device.createBindGroup({ layout: kernel.layout, entries });
    const pass = this.#beginPass();
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, group, [slot * PARAM_SLOT_BYTES]);
    pass.dispatchWorkgroups(x, y, z);
    if (this.#timing?.perKernel) {
      this.#timing.passLabel = kernel.key;
      this.#endPass();
    }
    if (++this.#dispatches >= MAX_BATCH) this.flush();
  }

  /** Whether `textureOf` can copy this buffer (its texel rows fit the texture limits). */
  fitsTexture(buffer: GPUBuffer): boolean {
    return Math.ceil(buffer.size / 16 / TEXTURE_ROW) <= this.maxTextureSide;
  }

  /**
   * The whole of a float32 storage buffer copied into an rgba32float scratch texture for
   * `slot`, TEXTURE_ROW texels (4 floats each) per row: element i is component i % 4 of
   * texel ⌊i/4⌋, at column ⌊i/4⌋ mod TEXTURE_ROW of row ⌊i/4/TEXTURE_ROW⌋. The copy is
   * recorded in the command stream, so it sees every earlier command's writes.
   */
  textureOf(buffer: GPUBuffer, slot: string): GPUTexture {
    if (!this.fitsTexture(buffer)) {
      throw new Error(`Internal error: a ${buffer.size}-byte buffer does not fit a texture`);
    }
    const texels = buffer.size / 16; // pool sizes are multiples of 256 bytes
    const fullRows = Math.floor(texels / TEXTURE_ROW);
    const rest = texels - fullRows * TEXTURE_ROW;
    const texture = this.scratchTexture(
      slot,
      Math.min(texels, TEXTURE_ROW),
      fullRows + (rest > 0 ? 1 : 0),
    );
    const encoder = this.#endPass();
    const bytesPerRow = TEXTURE_ROW * 16;
    if (fullRows > 0) {
      encoder.copyBufferToTexture({ buffer, bytesPerRow }, { texture }, [TEXTURE_ROW, fullRows]);
    }
    if (rest > 0) {
      encoder.copyBufferToTexture(
        { buffer, offset: fullRows * bytesPerRow, bytesPerRow },
        { texture, origin: [0, fullRows] },
        [rest, 1],
      );
    }
    return texture;
  }

  #viewOf(texture: GPUTexture): GPUTextureView {
    return this.#views.get(texture) ?? texture.createView();
  }

  /** Copies host bytes into `target` at `offset`, ordered with the recorded commands. */
  upload(target: GPUBuffer, data: Uint8Array): void {
    const bytes = Math.ceil(data.byteLength / 4) * 4;
    if (bytes === 0) return;
    const staging = this.device.createBuffer({
      size: bytes,
      usage: GPUBufferUsage.COPY_SRC,
      mappedAtCreation: true,
    });
    new Uint8Array(staging.getMappedRange()).set(data);
    staging.unmap();
    this.#endPass().copyBufferToBuffer(staging, 0, target, 0, bytes);
    this.#staging.push(staging);
  }

  /** Zeroes the first `bytes` bytes (a multiple of 4) of a buffer: a command in the stream. */
  clear(target: GPUBuffer, bytes: number): void {
    this.#endPass().clearBuffer(target, 0, Math.ceil(bytes / 4) * 4);
  }

  /** Submits everything recorded so far (no waiting). */
  flush(): void {
    if (this.#encoder === null) return;
    const encoder = this.#endPass();
    if (this.#arenaSlots > 0) {
      this.device.queue.writeBuffer(
        this.#arenaBuffer,
        0,
        this.#arena,
        0,
        (this.#arenaSlots * PARAM_SLOT_BYTES) / 4,
      );
    }
    this.device.queue.submit([encoder.finish()]);
    this.submits++;
    this.#encoder = null;
    this.#arenaSlots = 0;
    this.#dispatches = 0;
    for (const b of this.#staging) b.destroy(); // destruction waits for the submitted copies
    this.#staging = [];
  }

  /** Submits pending work and reads `bytes` bytes of `source` back to the host. */
  async read(source: GPUBuffer, bytes: number): Promise<ArrayBuffer> {
    const size = Math.max(4, Math.ceil(bytes / 4) * 4);
    const staging = this.device.createBuffer({
      size,
      usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
    });
    this.#endPass().copyBufferToBuffer(source, 0, staging, 0, size);
    this.flush();
    await staging.mapAsync(GPUMapMode.READ);
    const copy = staging.getMappedRange().slice(0, bytes);
    staging.unmap();
    staging.destroy();
    this.throwErrors();
    return copy;
  }

  /** Waits until the GPU has finished everything submitted (for benchmarks). */
  async sync(): Promise<void> {
    this.flush();
    await this.device.queue.onSubmittedWorkDone();
    this.throwErrors();
  }

  /** Turns WebGPU validation errors seen so far into an exception. */
  throwErrors(): void {
    if (this.#errors.length === 0) return;
    const messages = this.#errors.splice(0);
    throw new Error(`WebGPU reported ${messages.length} error(s): ${messages.join(" | ")}`);
  }
}

/**
 * Opens the default adapter and device, with a clear error and the fix where none exists.
 */
export async function createContext(): Promise<GpuContext> {
  const gpu = (globalThis as { navigator?: { gpu?: GPU } }).navigator?.gpu;
  if (gpu === undefined) {
    throw new Error(
      "WebGPU is not available in this runtime (navigator.gpu is missing): use Deno 2 " +
        "(npx -y deno@2.9.6) or a browser with WebGPU, or run with --backend cpu",
    );
  }
  const adapter = await gpu.requestAdapter();
  if (adapter === null) {
    throw new Error(
      "No WebGPU adapter was found. On Linux install a Vulkan driver (Debian/Ubuntu: " +
        "`apt-get install mesa-vulkan-drivers` gives the llvmpipe software adapter) and make " +
        'sure XDG_RUNTIME_DIR is set; or use the CPU backend (useBackend("cpu"))',
    );
  }
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    // Timestamps let benchmarks report kernel time next to wall time.
    requiredFeatures: adapter.features.has("timestamp-query") ? ["timestamp-query"] : [],
    requiredLimits: {
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeWorkgroupSizeY: limits.maxComputeWorkgroupSizeY,
      maxTextureDimension2D: limits.maxTextureDimension2D,
    },
  });
  return new GpuContext(device, adapter.info);
}
