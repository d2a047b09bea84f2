// Small helpers for writing WebAssembly text (WAT) from TypeScript, used by the kernel
// generators (`*_wat.ts`). A kernel generator is a function returning the text of one
// or more `(func …)` definitions, as a WGSL kernel generator returns shader text: the
// loops are written once and the per-op arithmetic is passed in. tools/wasm/build.ts
// assembles the text (wabt) into the module bytes the backend loads.
//
// Conventions in the generated code: pointers are byte addresses (i32); a kernel's
// parameter block is read through `$p`; v128 values hold four float32 lanes.

/** The signature every kernel has (see layouts.ts). */
export const KERNEL_PARAMS =
  "(param $p i32) (param $start i32) (param $end i32) (param $thread i32)";

/** Reads an i32 field of the parameter block. */
export function param(offset: number): string {
  return `(i32.load offset=${offset} (local.get $p))`;
}

/** Reads an f32 field of the parameter block. */
export function paramF32(offset: number): string {
  return `(f32.load offset=${offset} (local.get $p))`;
}

/** Declares locals: `locals("i32", "i", "j")` → `(local $i i32) (local $j i32)`. */
export function locals(type: string, ...names: string[]): string {
  return names.map((n) => `(local $${n} ${type})`).join(" ");
}

/** `$name = value`. */
export function set(name: string, value: string): string {
  return `(local.set $${name} ${value})`;
}

/** `(local.get $name)`. */
export function get(name: string): string {
  return `(local.get $${name})`;
}

/** `$name += by` for an i32 local (by: a WAT expression or a constant). */
export function inc(name: string, by: string | number): string {
  const amount = typeof by === "number" ? `(i32.const ${by})` : by;
  return set(name, `(i32.add ${get(name)} ${amount})`);
}

/** `while (condition) { body }`, with `label` naming the loop (`br $label_done` leaves it). */
export function whileLoop(label: string, condition: string, body: string): string {
  return `(block $${label}_done (loop $${label}
    (br_if $${label}_done (i32.eqz ${condition}))
    ${body}
    (br $${label})))`;
}

/** An i32 constant. */
export function i32(value: number): string {
  return `(i32.const ${value})`;
}

/** Four float32 lanes of one constant. */
export function f32x4(value: number): string {
  const v = Number.isFinite(value) ? String(value) : value > 0 ? "inf" : "-inf";
  return `(v128.const f32x4 ${v} ${v} ${v} ${v})`;
}

/** Unsigned minimum of two i32 expressions (each evaluated once: pass locals). */
export function minU(a: string, b: string): string {
  return `(select ${a} ${b} (i32.lt_u ${a} ${b}))`;
}

/** `a · b + c` on f32x4: fused where `fma` (relaxed SIMD), else a product and a sum. */
export function madd(fma: boolean, a: string, b: string, c: string): string {
  return fma ? `(f32x4.relaxed_madd ${a} ${b} ${c})` : `(f32x4.add (f32x4.mul ${a} ${b}) ${c})`;
}

/**
 * Horner's rule `((c0·x + c1)·x + c2)…` on f32x4, with x a WAT expression read
 * repeatedly (pass a local) and the coefficients from `scope`.
 */
export function horner(scope: Scope, x: string, coefficients: readonly number[]): string {
  let acc = scope.f32(coefficients[0]);
  for (const c of coefficients.slice(1)) {
    acc = `(f32x4.add (f32x4.mul ${acc} ${x}) ${scope.f32(c)})`;
  }
  return acc;
}

/** Σ of the two float64 lanes of a f64x2 expression (lane 0 + lane 1). */
export function sumLanes(v: string): string {
  return `(f64.add (f64x2.extract_lane 0 ${v}) (f64x2.extract_lane 1 ${v}))`;
}

/** The low two float32 lanes of a v128 expression, widened to float64 (an f64x2). */
export function promoteLow(v: string): string {
  return `(f64x2.promote_low_f32x4 ${v})`;
}

/** The high two float32 lanes of a v128 expression, widened to float64 (an f64x2). */
export function promoteHigh(v: string): string {
  return `(f64x2.promote_low_f32x4 (i8x16.shuffle 8 9 10 11 12 13 14 15 8 9 10 11 12 13 14 15 ${v} ${v}))`;
}

/**
 * Collects what a kernel's inlined math needs: f32x4 constants, which become locals set
 * once at the kernel's entry (V8 rebuilds a `v128.const` at every use inside a loop,
 * which cost the exp kernel 40 % of its speed), and v128 temporaries.
 */
export class Scope {
  #constants = new Map<number, string>();
  #temps = new Set<string>();

  /** A float32 constant on four lanes, as a local read. */
  f32(value: number): string {
    let name = this.#constants.get(value);
    if (name === undefined) {
      name = `k${this.#constants.size}`;
      this.#constants.set(value, name);
    }
    return get(name);
  }

  /**
   * Appended to temporaries' names: code emitted under another suffix has temporaries of
   * its own, so two copies of an op can be interleaved (independent chains the CPU
   * overlaps).
   */
  suffix = "";

  /** A v128 temporary named `name` (declared once however often asked for). */
  temp(name: string): string {
    const full = name + this.suffix;
    this.#temps.add(full);
    return full;
  }

  /** Declarations of the constants and temporaries (they go with the kernel's locals). */
  locals(): string {
    return locals("v128", ...this.#constants.values(), ...this.#temps);
  }

  /** The constants' initialisation (after every local declaration of the kernel). */
  init(): string {
    return [...this.#constants].map(([value, name]) => set(name, f32x4(value))).join(" ");
  }
}
