// The CPU backend's thread pool: worker threads that share the heap's memory and each
// hold an instance of the kernel module, so a kernel's tasks can be split among them.
//
// One job at a time, through a small shared control block (an Int32Array):
//   the caller writes the kernel's number, the parameter block's address and each
//   thread's task range, sets PENDING to the number of workers, bumps GENERATION and
//   wakes the workers; it runs range 0 itself, then waits until PENDING is 0.
//   A worker waits for GENERATION to change (a short spin, then Atomics.wait), runs its
//   range, and decrements PENDING (the last one wakes the caller).
// Ranges are contiguous and fixed by the task count and the number of threads; kernels
// give each output the same arithmetic whoever computes it, so results do not depend on
// the number of threads.
//
// Workers start on the first job that asks for more than one thread (a tiny script never
// starts any), are unref'd (they never keep a process alive), and use no message ports
// after their start (nothing for a test's sanitizers to find). In Deno they are
// node:worker_threads workers (the one kind that can be unref'd); where that module is
// missing (a browser) the pool has one thread.

/** Control block word indices. */
const GENERATION = 0;
const PENDING = 1;
const KERNEL = 2;
const PARAMS = 3;
const FAILED = 4;
const STARTED = 5;
const ACTIVE = 6; // threads taking part in the current job: the caller and workers 1 … ACTIVE − 1
const RANGES = 8; // [start, end) of thread t at RANGES + 2t
/**
 * How long an idle worker spins before it sleeps, in milliseconds: long enough to bridge
 * the caller's JavaScript between two kernels (a sleeping worker takes tens of µs to
 * wake), short enough not to hold a core when the caller is busy elsewhere.
 */
const SPIN_MS = 0.2;
/** How long a job waits for workers that never started before giving up on them. */
const STARTUP_LIMIT_MS = 30000;
/** The most threads a pool runs (its per-thread scratch is sized for this many). */
export const MAX_THREADS = 64;

/**
 * The worker's program (plain JavaScript, run with `eval`): instantiate the module on the
 * shared memory, then loop over jobs.
 */
const WORKER_SOURCE = `
const { workerData } = require("node:worker_threads");
const { kernelModule, memory, control, index, generation } = workerData;
const ctl = new Int32Array(control);
let kernels = null; // stays null if instantiation fails: every job then reports failure
try {
  const instance = new WebAssembly.Instance(kernelModule, { env: { memory } });
  kernels = WebAssembly.Module.exports(kernelModule)
    .filter((e) => e.kind === "function")
    .map((e) => instance.exports[e.name]);
} catch {}
Atomics.add(ctl, ${STARTED}, 1);
let seen = generation;
for (;;) {
  // Spin for a while (the next kernel usually follows within microseconds), then sleep.
  const since = performance.now();
  for (let spins = 0; Atomics.load(ctl, ${GENERATION}) === seen; spins++) {
    if ((spins & 255) === 0 && performance.now() - since > ${SPIN_MS}) {
      Atomics.wait(ctl, ${GENERATION}, seen);
    }
  }
  seen = Atomics.load(ctl, ${GENERATION});
  if (index >= ctl[${ACTIVE}]) continue; // not part of this job
  const start = ctl[${RANGES} + 2 * index];
  const end = ctl[${RANGES} + 2 * index + 1];
  try {
    if (start < end) kernels[ctl[${KERNEL}]](ctl[${PARAMS}], start, end, index);
  } catch {
    Atomics.store(ctl, ${FAILED}, 1);
  }
  if (Atomics.sub(ctl, ${PENDING}, 1) === 1) Atomics.notify(ctl, ${PENDING});
}
`;

interface NodeWorker {
  unref(): void;
  terminate(): Promise<number>;
}

type WorkerConstructor = new (
  source: string,
  options: { eval: true; workerData: unknown },
) => NodeWorker;

/** node:worker_threads' Worker where the runtime has it (Deno, Node), else null. */
function workerConstructor(): WorkerConstructor | null {
  const process = (globalThis as { process?: { getBuiltinModule?(name: string): unknown } })
    .process;
  try {
    const threads = process?.getBuiltinModule?.("node:worker_threads") as
      | { Worker?: WorkerConstructor }
      | undefined;
    return threads?.Worker ?? null;
  } catch {
    return null;
  }
}

/** A kernel as the pool calls it. */
export type KernelFn = (params: number, start: number, end: number, thread: number) => void;

/** Splits [0, tasks) into `parts` contiguous ranges whose inner ends are multiples of `grain`. */
export function splitTasks(tasks: number, parts: number, grain: number): [number, number][] {
  const ranges: [number, number][] = [];
  let start = 0;
  for (let t = 0; t < parts; t++) {
    const end = t === parts - 1
      ? tasks
      : Math.min(tasks, Math.round((tasks * (t + 1)) / parts / grain) * grain);
    ranges.push([start, Math.max(start, end)]);
    start = Math.max(start, end);
  }
  return ranges;
}

/**
 * The control words the threads share. A page that is not cross-origin isolated has no
 * SharedArrayBuffer (and no shared memory, so the pool has one thread): a plain buffer
 * serves, since nothing waits on it.
 */
function controlWords(bytes: number): Int32Array {
  return new Int32Array(
    typeof SharedArrayBuffer === "function" ? new SharedArrayBuffer(bytes) : new ArrayBuffer(bytes),
  );
}

/** Worker threads sharing one memory; see the header. */
export class ThreadPool {
  #workers: NodeWorker[] = [];
  #control = controlWords(4 * (RANGES + 2 * MAX_THREADS));
  #size: number;
  readonly #spawn: WorkerConstructor | null;

  /**
   * @param module the compiled kernel module (imports a shared memory)
   * @param memory the heap's shared memory
   * @param kernels this thread's kernel functions, by number
   * @param size threads to use, counting the caller
   */
  constructor(
    private readonly module: WebAssembly.Module,
    private readonly memory: WebAssembly.Memory,
    private readonly kernels: readonly KernelFn[],
    size: number,
  ) {
    this.#spawn = workerConstructor();
    this.#size = this.#clamp(size);
  }

  /** Threads a job may use, counting the caller. */
  get size(): number {
    return this.#size;
  }

  /** Whether this runtime can start worker threads. */
  get canSpawn(): boolean {
    return this.#spawn !== null;
  }

  /**
   * Changes the number of threads. Workers beyond it stay, asleep, and take part again
   * after a resize up (a stopped worker could outlive `terminate()` while blocked in a
   * wait, and must never share its number with a new one); new ones start lazily.
   */
  resize(size: number): void {
    this.#size = this.#clamp(size);
  }

  #clamp(size: number): number {
    if (this.#spawn === null) return 1;
    return Math.max(1, Math.min(MAX_THREADS, Math.floor(size)));
  }

  /**
   * Runs kernel `kernel` on tasks [0, tasks): on this thread alone when `parallel` is
   * false or the pool has one thread, else split among the threads (range boundaries at
   * multiples of `grain`).
   */
  run(kernel: number, params: number, tasks: number, grain: number, parallel: boolean): void {
    if (tasks <= 0) return;
    const threads = parallel ? Math.min(this.#size, Math.ceil(tasks / grain)) : 1;
    if (threads <= 1) {
      this.kernels[kernel](params, 0, tasks, 0);
      return;
    }
    this.#start(threads - 1);
    const ctl = this.#control;
    const ranges = splitTasks(tasks, threads, grain);
    for (let t = 1; t < threads; t++) {
      ctl[RANGES + 2 * t] = ranges[t][0];
      ctl[RANGES + 2 * t + 1] = ranges[t][1];
    }
    ctl[KERNEL] = kernel;
    ctl[PARAMS] = params;
    ctl[ACTIVE] = threads;
    Atomics.store(ctl, PENDING, threads - 1);
    Atomics.add(ctl, GENERATION, 1);
    Atomics.notify(ctl, GENERATION);
    let finished = false;
    try {
      this.kernels[kernel](params, ranges[0][0], ranges[0][1], 0);
    } finally {
      // Wait for the workers even if this thread's part failed: the next job reuses the block.
      finished = this.#wait();
    }
    if (!finished) {
      // Workers that never started: do their ranges here, and use one thread from now on.
      this.#abandon();
      for (const [start, end] of ranges.slice(1)) this.kernels[kernel](params, start, end, 0);
      return;
    }
    if (Atomics.exchange(ctl, FAILED, 0) !== 0) {
      throw new Error(`A worker thread failed in CPU kernel ${kernel}`);
    }
  }

  /** Waits until no worker has the job pending; false if some never started (see STARTUP_LIMIT_MS). */
  #wait(): boolean {
    const ctl = this.#control;
    const since = performance.now();
    for (let spins = 0;; spins++) {
      const pending = Atomics.load(ctl, PENDING);
      if (pending === 0) return true;
      if (spins > 20000) Atomics.wait(ctl, PENDING, pending, 100);
      if (
        spins % 1024 === 0 && Atomics.load(ctl, STARTED) < ctl[ACTIVE] - 1 &&
        performance.now() - since > STARTUP_LIMIT_MS
      ) {
        return false;
      }
    }
  }

  /** Stops every worker and runs on this thread alone from now on. */
  #abandon(): void {
    for (const worker of this.#workers) void worker.terminate();
    this.#workers = [];
    this.#size = 1;
    this.#control = controlWords(this.#control.byteLength);
  }

  /** Starts workers until `count` exist. */
  #start(count: number): void {
    while (this.#workers.length < count) {
      const worker = new this.#spawn!(WORKER_SOURCE, {
        eval: true,
        workerData: {
          kernelModule: this.module,
          memory: this.memory,
          control: this.#control.buffer,
          index: this.#workers.length + 1,
          generation: Atomics.load(this.#control, GENERATION),
        },
      });
      worker.unref();
      this.#workers.push(worker);
    }
  }
}
