;; A float32 matrix-product kernel in WebAssembly SIMD, for the CPU backend.
;;
;;   C[M, N] = A[M, K] · B[K, N]      M a multiple of 4, N a multiple of 8 (the caller pads)
;;
;; A is packed in blocks of 4 rows, [M/4][K][4]: one v128 load gives a[i..i+3, k].
;; B is packed in panels of 8 columns, [N/8][K][8]: two v128 loads give b[k, j..j+7].
;; Each 4×8 block of C lives in 8 v128 registers while k runs: per k, 3 loads, 4 lane
;; broadcasts and 8 multiply-adds of 4 lanes (64 flops). C is row-major [M][N].
;;
;; Assembled by tools/wasm/build.ts (wabt) into tensor/backend/cpu/matmul_wasm_bytes.ts.
(module
  (memory (export "memory") 1)
  (func (export "gemm") (param $a i32) (param $b i32) (param $c i32) (param $m i32) (param $k i32) (param $n i32)
    (local $i i32) (local $j i32) (local $p i32) (local $ap i32) (local $bp i32) (local $crow i32) (local $rowbytes i32)
    (local $c00 v128) (local $c01 v128) (local $c10 v128) (local $c11 v128)
    (local $c20 v128) (local $c21 v128) (local $c30 v128) (local $c31 v128)
    (local $b0 v128) (local $b1 v128) (local $av v128) (local $x v128)
    (local.set $rowbytes (i32.shl (local.get $n) (i32.const 2)))
    (local.set $i (i32.const 0))
    (block $done_i (loop $loop_i
      (br_if $done_i (i32.ge_u (local.get $i) (local.get $m)))
      (local.set $j (i32.const 0))
      (block $done_j (loop $loop_j
        (br_if $done_j (i32.ge_u (local.get $j) (local.get $n)))
        (local.set $c00 (v128.const i32x4 0 0 0 0)) (local.set $c01 (v128.const i32x4 0 0 0 0))
        (local.set $c10 (v128.const i32x4 0 0 0 0)) (local.set $c11 (v128.const i32x4 0 0 0 0))
        (local.set $c20 (v128.const i32x4 0 0 0 0)) (local.set $c21 (v128.const i32x4 0 0 0 0))
        (local.set $c30 (v128.const i32x4 0 0 0 0)) (local.set $c31 (v128.const i32x4 0 0 0 0))
        ;; block i/4 of A starts at float i·K; panel j/8 of B at float j·K
        (local.set $ap (i32.add (local.get $a) (i32.shl (i32.mul (local.get $i) (local.get $k)) (i32.const 2))))
        (local.set $bp (i32.add (local.get $b) (i32.shl (i32.mul (local.get $j) (local.get $k)) (i32.const 2))))
        (local.set $p (local.get $k))
        (block $done_p (loop $loop_p
          (br_if $done_p (i32.eqz (local.get $p)))
          (local.set $b0 (v128.load (local.get $bp)))
          (local.set $b1 (v128.load offset=16 (local.get $bp)))
          (local.set $av (v128.load (local.get $ap)))
          (local.set $x (f32x4.splat (f32x4.extract_lane 0 (local.get $av))))
          (local.set $c00 (f32x4.add (local.get $c00) (f32x4.mul (local.get $x) (local.get $b0))))
          (local.set $c01 (f32x4.add (local.get $c01) (f32x4.mul (local.get $x) (local.get $b1))))
          (local.set $x (f32x4.splat (f32x4.extract_lane 1 (local.get $av))))
          (local.set $c10 (f32x4.add (local.get $c10) (f32x4.mul (local.get $x) (local.get $b0))))
          (local.set $c11 (f32x4.add (local.get $c11) (f32x4.mul (local.get $x) (local.get $b1))))
          (local.set $x (f32x4.splat (f32x4.extract_lane 2 (local.get $av))))
          (local.set $c20 (f32x4.add (local.get $c20) (f32x4.mul (local.get $x) (local.get $b0))))
          (local.set $c21 (f32x4.add (local.get $c21) (f32x4.mul (local.get $x) (local.get $b1))))
          (local.set $x (f32x4.splat (f32x4.extract_lane 3 (local.get $av))))
          (local.set $c30 (f32x4.add (local.get $c30) (f32x4.mul (local.get $x) (local.get $b0))))
          (local.set $c31 (f32x4.add (local.get $c31) (f32x4.mul (local.get $x) (local.get $b1))))
          (local.set $ap (i32.add (local.get $ap) (i32.const 16)))
          (local.set $bp (i32.add (local.get $bp) (i32.const 32)))
          (local.set $p (i32.sub (local.get $p) (i32.const 1)))
          (br $loop_p)))
        (local.set $crow (i32.add (local.get $c) (i32.shl (i32.add (i32.mul (local.get $i) (local.get $n)) (local.get $j)) (i32.const 2))))
        (v128.store (local.get $crow) (local.get $c00))
        (v128.store offset=16 (local.get $crow) (local.get $c01))
        (local.set $crow (i32.add (local.get $crow) (local.get $rowbytes)))
        (v128.store (local.get $crow) (local.get $c10))
        (v128.store offset=16 (local.get $crow) (local.get $c11))
        (local.set $crow (i32.add (local.get $crow) (local.get $rowbytes)))
        (v128.store (local.get $crow) (local.get $c20))
        (v128.store offset=16 (local.get $crow) (local.get $c21))
        (local.set $crow (i32.add (local.get $crow) (local.get $rowbytes)))
        (v128.store (local.get $crow) (local.get $c30))
        (v128.store offset=16 (local.get $crow) (local.get $c31))
        (local.set $crow (i32.add (local.get $crow) (local.get $rowbytes)))
        (local.set $j (i32.add (local.get $j) (i32.const 8)))
        (br $loop_j)))
      (local.set $i (i32.add (local.get $i) (i32.const 4)))
      (br $loop_i)))
  )
)
