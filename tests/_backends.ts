// Running tests on every backend. CPU is always there; WebGPU when an adapter exists.
// With REQUIRE_WEBGPU=1 (set by CI) a missing adapter is a failure, not a skip.

import { currentBackend, openBackend, useBackend } from "../mod.ts";

export const REQUIRE_WEBGPU = Deno.env.get("REQUIRE_WEBGPU") === "1";

async function probeWebGPU(): Promise<string | null> {
  try {
    await openBackend("webgpu");
    return null;
  } catch (error) {
    return error instanceof Error ? error.message : String(error);
  }
}

/** Why WebGPU is unavailable (null when it is available). */
export const WEBGPU_PROBLEM: string | null = await probeWebGPU();
export const HAS_WEBGPU: boolean = WEBGPU_PROBLEM === null;

if (!HAS_WEBGPU && REQUIRE_WEBGPU) {
  throw new Error(`REQUIRE_WEBGPU=1 but WebGPU is unavailable: ${WEBGPU_PROBLEM}`);
}

/** Backends to test on. */
export const BACKENDS: string[] = HAS_WEBGPU ? ["cpu", "webgpu"] : ["cpu"];

/**
 * Registers `fn` once per backend as `name [backend]`, with that backend as the default
 * while it runs. Without an adapter the WebGPU variant is registered as ignored, so the
 * skip shows in the report.
 */
export function testOnBackends(name: string, fn: (backend: string) => void | Promise<void>): void {
  for (const backend of ["cpu", "webgpu"]) {
    Deno.test({
      name: `${name} [${backend}]`,
      ignore: backend === "webgpu" && !HAS_WEBGPU,
      sanitizeResources: false,
      sanitizeOps: false,
      fn: async () => {
        const previous = currentBackend();
        await useBackend(backend);
        try {
          await fn(backend);
        } finally {
          await useBackend(previous);
        }
      },
    });
  }
}
