//! A 6×8 f32 GEMM micro-kernel for wasm `simd128`, registered with tract-linalg's kernel
//! inventory and picked by a dispatch tier above tract's own.
//!
//! 95 % of an embed is tract's `OptMatMul` (every convolution is im2col + GEMM). tract's only
//! wasm GEMM tile, 8×8, keeps 16 `v128` accumulators live, and reads A as two vectors broadcast
//! lane by lane with shuffles; V8 on x64 has 15 allocatable XMM registers, so it spills in the
//! inner loop. This tile keeps 12 accumulators, two B vectors and one A broadcast live (15) and
//! broadcasts A straight from memory with `v128.load32_splat` (one `vbroadcastss` on x64), the
//! shape XNNPACK picks on x86 hosts. Measured in Chromium on this project's 2-vCPU EPYC:
//! docs/performance.md.
//!
//! Nothing here is faceverify's: it is written against tract-linalg's public kernel interface
//! (`DynKernel`, `FusedKerSpec`, `MmmRoutine`, `MmmTier`) so that it can move upstream as is.
//! Every `FusedKerSpec` arm keeps the operand order of tract's own wasm kernels (`*Sub` is
//! `operand − acc`, `*SubF` is `acc − operand`). The browser tests hold the networks' outputs
//! through this kernel to the native build's within 1e-4.
use std::arch::wasm32::*;

use tract_linalg::isa::{Arch, IsaSet};
use tract_linalg::mmm::{DynKernel, FusedKerSpec, MatMatMul, OutputStoreKer, Query, Suitable};
use tract_linalg::mmm_routines::MmmRoutine;
use tract_linalg::mmm_tiers::MmmTier;
use tract_linalg::pack::Packing;
use tract_linalg::Scaler;
use tract_nnef::prelude::DatumType;

const MR: usize = 6;
const NR: usize = 8;

/// The kernel's name in tract's registry (and in `Verifier`'s backend report).
pub const NAME: &str = "faceverify_wasm_f32_6x8";

/// Row `r` of the C tile: columns 0–3 and 4–7.
type Tile = [[v128; 2]; MR];

#[inline(always)]
fn each(c: &mut Tile, f: impl Fn(v128) -> v128) {
    for row in c.iter_mut() {
        row[0] = f(row[0]);
        row[1] = f(row[1]);
    }
}

/// `f(splat(rows[r]), c[r])` for every row.
#[inline(always)]
unsafe fn per_row(c: &mut Tile, rows: *const f32, f: impl Fn(v128, v128) -> v128) {
    for (r, row) in c.iter_mut().enumerate() {
        let s = unsafe { f32x4_splat(*rows.add(r)) };
        row[0] = f(s, row[0]);
        row[1] = f(s, row[1]);
    }
}

/// `f(cols[0..4], c[r][0])` and `f(cols[4..8], c[r][1])` for every row.
#[inline(always)]
unsafe fn per_col(c: &mut Tile, cols: *const f32, f: impl Fn(v128, v128) -> v128) {
    let p = cols as *const v128;
    let (lo, hi) = unsafe { (v128_load(p), v128_load(p.add(1))) };
    for row in c.iter_mut() {
        row[0] = f(lo, row[0]);
        row[1] = f(hi, row[1]);
    }
}

#[inline(always)]
unsafe fn tile_ptr(tile: &OutputStoreKer, r: usize, j: usize) -> *mut f32 {
    unsafe { tile.ptr.offset(r as isize * tile.row_byte_stride + j as isize * tile.col_byte_stride) as *mut f32 }
}

#[cfg(not(target_feature = "relaxed-simd"))]
#[inline(always)]
fn madd(acc: v128, a: v128, b: v128) -> v128 {
    f32x4_add(acc, f32x4_mul(a, b))
}

#[cfg(target_feature = "relaxed-simd")]
#[inline(always)]
fn madd(acc: v128, a: v128, b: v128) -> v128 {
    f32x4_relaxed_madd(a, b, acc)
}

unsafe fn kernel_f32_6x8(mut pnl: *const FusedKerSpec<f32>) -> isize {
    unsafe {
        let mut c: Tile = [[f32x4_splat(0.0); 2]; MR];
        while !pnl.is_null() {
            match *pnl {
                FusedKerSpec::Done => break,
                FusedKerSpec::Clear => c = [[f32x4_splat(0.0); 2]; MR],
                // Row-major MR × NR, as tract's scratch lays a tile out.
                FusedKerSpec::LoadTile(_cols, rows) => {
                    let p = rows as *const v128;
                    for (r, row) in c.iter_mut().enumerate() {
                        row[0] = v128_load(p.add(2 * r));
                        row[1] = v128_load(p.add(2 * r + 1));
                    }
                }
                FusedKerSpec::ScalarMin(a) => each(&mut c, |x| f32x4_min(f32x4_splat(a), x)),
                FusedKerSpec::ScalarMax(a) => each(&mut c, |x| f32x4_max(f32x4_splat(a), x)),
                FusedKerSpec::ScalarAdd(a) => each(&mut c, |x| f32x4_add(f32x4_splat(a), x)),
                FusedKerSpec::ScalarMul(a) => each(&mut c, |x| f32x4_mul(f32x4_splat(a), x)),
                FusedKerSpec::ScalarSub(a) => each(&mut c, |x| f32x4_sub(f32x4_splat(a), x)),
                FusedKerSpec::ScalarSubF(a) => each(&mut c, |x| f32x4_sub(x, f32x4_splat(a))),
                FusedKerSpec::LeakyRelu(a) => each(&mut c, |x| {
                    v128_bitselect(x, f32x4_mul(f32x4_splat(a), x), f32x4_gt(x, f32x4_splat(0.0)))
                }),
                FusedKerSpec::PerRowMin(p) => per_row(&mut c, p, |s, x| f32x4_min(s, x)),
                FusedKerSpec::PerRowMax(p) => per_row(&mut c, p, |s, x| f32x4_max(s, x)),
                FusedKerSpec::PerRowAdd(p) => per_row(&mut c, p, |s, x| f32x4_add(s, x)),
                FusedKerSpec::PerRowMul(p) => per_row(&mut c, p, |s, x| f32x4_mul(s, x)),
                FusedKerSpec::PerRowSub(p) => per_row(&mut c, p, |s, x| f32x4_sub(s, x)),
                FusedKerSpec::PerRowSubF(p) => per_row(&mut c, p, |s, x| f32x4_sub(x, s)),
                FusedKerSpec::PerColMin(p) => per_col(&mut c, p, |s, x| f32x4_min(s, x)),
                FusedKerSpec::PerColMax(p) => per_col(&mut c, p, |s, x| f32x4_max(s, x)),
                FusedKerSpec::PerColAdd(p) => per_col(&mut c, p, |s, x| f32x4_add(s, x)),
                FusedKerSpec::PerColMul(p) => per_col(&mut c, p, |s, x| f32x4_mul(s, x)),
                FusedKerSpec::PerColSub(p) => per_col(&mut c, p, |s, x| f32x4_sub(s, x)),
                FusedKerSpec::PerColSubF(p) => per_col(&mut c, p, |s, x| f32x4_sub(x, s)),
                // f32 accumulators carry quantisation steps as plain scales.
                FusedKerSpec::QScale(shift, policy, mult) => {
                    let s = Scaler::from_fuse_params(shift, policy, mult).scale;
                    each(&mut c, |x| f32x4_mul(f32x4_splat(s), x))
                }
                FusedKerSpec::RoundingShiftRight(shift, _) => {
                    let s = 2f32.powi(-(shift as i32));
                    each(&mut c, |x| f32x4_mul(f32x4_splat(s), x))
                }
                FusedKerSpec::ShiftLeft(shift) => {
                    let s = 2f32.powi(shift as i32);
                    each(&mut c, |x| f32x4_mul(f32x4_splat(s), x))
                }
                FusedKerSpec::AddUnicast(tile) => {
                    for (r, row) in c.iter_mut().enumerate() {
                        let m = |j| *tile_ptr(&tile, r, j);
                        row[0] = f32x4_add(row[0], f32x4(m(0), m(1), m(2), m(3)));
                        row[1] = f32x4_add(row[1], f32x4(m(4), m(5), m(6), m(7)));
                    }
                }
                FusedKerSpec::AddRowColProducts(rows, cols) => {
                    let p = cols as *const v128;
                    let (lo, hi) = (v128_load(p), v128_load(p.add(1)));
                    for (r, row) in c.iter_mut().enumerate() {
                        let s = f32x4_splat(*rows.add(r));
                        row[0] = madd(row[0], s, lo);
                        row[1] = madd(row[1], s, hi);
                    }
                }
                FusedKerSpec::Store(tile) => {
                    // A row of C contiguous (a convolution's output along its spatial axis):
                    // two vector stores per row instead of eight lane extractions.
                    if tile.col_byte_stride == 4 {
                        for (r, row) in c.iter().enumerate() {
                            let p = tile_ptr(&tile, r, 0) as *mut v128;
                            v128_store(p, row[0]);
                            v128_store(p.add(1), row[1]);
                        }
                    } else {
                        for (r, row) in c.iter().enumerate() {
                            *tile_ptr(&tile, r, 0) = f32x4_extract_lane::<0>(row[0]);
                            *tile_ptr(&tile, r, 1) = f32x4_extract_lane::<1>(row[0]);
                            *tile_ptr(&tile, r, 2) = f32x4_extract_lane::<2>(row[0]);
                            *tile_ptr(&tile, r, 3) = f32x4_extract_lane::<3>(row[0]);
                            *tile_ptr(&tile, r, 4) = f32x4_extract_lane::<0>(row[1]);
                            *tile_ptr(&tile, r, 5) = f32x4_extract_lane::<1>(row[1]);
                            *tile_ptr(&tile, r, 6) = f32x4_extract_lane::<2>(row[1]);
                            *tile_ptr(&tile, r, 7) = f32x4_extract_lane::<3>(row[1]);
                        }
                    }
                }
                FusedKerSpec::AddMatMul { k, pa, pb, packing: _ } => {
                    // A packed [k][6], each value broadcast from memory; B packed [k][8], two
                    // vectors. Twelve named accumulators, and each broadcast used up before the
                    // next is loaded: 15 vectors live. That order holds only with LLVM's
                    // source-order scheduler (the Makefile's `-pre-RA-sched=source`): LLVM sees
                    // no register limit in wasm, and by default hoists all six broadcasts, 20
                    // vectors live, which V8 spills on x64.
                    let a = pa as *const u32;
                    let b = pb as *const v128;
                    let [[mut c0l, mut c0h], [mut c1l, mut c1h], [mut c2l, mut c2h], [mut c3l, mut c3h], [mut c4l, mut c4h], [mut c5l, mut c5h]] = c;
                    for i in 0..k {
                        let a = a.add(MR * i);
                        let bl = v128_load(b.add(2 * i));
                        let bh = v128_load(b.add(2 * i + 1));
                        macro_rules! row {
                            ($r:expr, $lo:ident, $hi:ident) => {
                                let s = v128_load32_splat(a.add($r));
                                $lo = madd($lo, s, bl);
                                $hi = madd($hi, s, bh);
                            };
                        }
                        row!(0, c0l, c0h);
                        row!(1, c1l, c1h);
                        row!(2, c2l, c2h);
                        row!(3, c3l, c3h);
                        row!(4, c4l, c4h);
                        row!(5, c5l, c5h);
                    }
                    c = [[c0l, c0h], [c1l, c1h], [c2l, c2h], [c3l, c3h], [c4l, c4h], [c5l, c5h]];
                }
            }
            pnl = pnl.add(1);
        }
        0
    }
}

unsafe fn run(ops: &[FusedKerSpec<f32>]) -> isize {
    unsafe { kernel_f32_6x8(ops.as_ptr()) }
}

fn kernel() -> DynKernel<MR, NR, f32> {
    let mut k = DynKernel::<MR, NR, f32>::new(NAME, run, f32::packing(MR), f32::packing(NR));
    k.arch = Some(Arch::Wasm32Simd128);
    k
}

fn make() -> Box<dyn MatMatMul> {
    kernel().mmm()
}

inventory::submit! { MmmRoutine { make } }

/// Every f32 GEMM (N > 1) on this tile; matrix-vector products and other accumulators are left
/// to tract's own wasm tier (precedence 1) below.
fn preferred(_: &IsaSet, dt: DatumType, query: &Query, _: &[Suitable]) -> Option<&'static str> {
    (dt == DatumType::F32 && query.n != Some(1)).then_some(NAME)
}

inventory::submit! {
    MmmTier {
        arch: Some(Arch::Wasm32Simd128),
        precedence: 2,
        name: "faceverify-wasm-6x8",
        applies: |_| true,
        preferred,
    }
}
