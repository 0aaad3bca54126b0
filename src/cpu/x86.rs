//! AVX2 + FMA versions of the kernels in [`super::simd`], for x86-64 CPUs that have them
//! (checked at run time there). LLVM does not vectorise the dot products' reductions or the
//! exponential's bit tricks well from plain loops, and these are most of the CPU time.
//!
//! Safety: every function here requires AVX2 and FMA; the only caller, `simd`, checks both.

use std::arch::x86_64::*;

use super::simd::LANES;

/// Sum of the eight lanes.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn hsum(v: __m256) -> f32 {
    let s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    let s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)))
}

/// Loads the group of [`LANES`] at `s[k..]`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn load(s: &[f32], k: usize) -> __m256 {
    let g = &s[k..k + LANES];
    // SAFETY: `g` holds exactly the eight floats read.
    unsafe { _mm256_loadu_ps(g.as_ptr()) }
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn store(s: &mut [f32], k: usize, v: __m256) {
    let g = &mut s[k..k + LANES];
    // SAFETY: `g` holds exactly the eight floats written.
    unsafe { _mm256_storeu_ps(g.as_mut_ptr(), v) }
}

/// See [`super::simd::scores`]. One row at a time with four accumulators (enough chains to
/// cover the FMA latency): interleaving several rows, to share the loads of `q`, is faster from
/// L1 but splits the read of X into strided streams that the hardware prefetcher follows badly,
/// three times slower from memory.
#[target_feature(enable = "avx2,fma")]
pub(super) fn scores(rows: &[f32], q: &[f32], beta: f32, out: &mut [f32]) {
    let d = q.len();
    let body = d - d % LANES;
    let blocks = d - d % (4 * LANES);
    for (x, o) in rows.chunks_exact(d).zip(out) {
        let mut a = [_mm256_setzero_ps(); 4];
        for k in (0..blocks).step_by(4 * LANES) {
            for (i, ai) in a.iter_mut().enumerate() {
                let j = k + i * LANES;
                *ai = _mm256_fmadd_ps(load(x, j), load(q, j), *ai);
            }
        }
        for k in (blocks..body).step_by(LANES) {
            a[0] = _mm256_fmadd_ps(load(x, k), load(q, k), a[0]);
        }
        let a = _mm256_add_ps(_mm256_add_ps(a[0], a[1]), _mm256_add_ps(a[2], a[3]));
        let tail: f32 = q[body..].iter().zip(&x[body..]).map(|(u, v)| u * v).sum();
        *o = beta * (hsum(a) + tail);
    }
}

/// See [`super::simd::weighted_add`]. Columns in blocks of 32 held in registers across all the
/// rows, so each FMA costs one load of X and `acc` is read and written once per call.
#[target_feature(enable = "avx2,fma")]
pub(super) fn weighted_add(rows: &[f32], p: &[f32], acc: &mut [f32]) {
    let d = acc.len();
    let body = d - d % LANES;
    let blocks = d - d % (4 * LANES);
    for k in (0..blocks).step_by(4 * LANES) {
        let mut a: [__m256; 4] = std::array::from_fn(|i| load(acc, k + i * LANES));
        for (x, &w) in rows.chunks_exact(d).zip(p) {
            let w = _mm256_set1_ps(w);
            for (i, ai) in a.iter_mut().enumerate() {
                *ai = _mm256_fmadd_ps(w, load(x, k + i * LANES), *ai);
            }
        }
        for (i, ai) in a.into_iter().enumerate() {
            store(acc, k + i * LANES, ai);
        }
    }
    for k in (blocks..body).step_by(LANES) {
        let mut a = load(acc, k);
        for (x, &w) in rows.chunks_exact(d).zip(p) {
            a = _mm256_fmadd_ps(_mm256_set1_ps(w), load(x, k), a);
        }
        store(acc, k, a);
    }
    for (x, &w) in rows.chunks_exact(d).zip(p) {
        for (a, v) in acc[body..].iter_mut().zip(&x[body..]) {
            *a += w * v;
        }
    }
}

/// e^x lane-wise for x ≤ 0: the same algorithm and constants as [`super::simd::exp`].
#[inline]
#[target_feature(enable = "avx2,fma")]
fn exp(x: __m256) -> __m256 {
    use super::simd::exp_consts as c;
    let lo = _mm256_set1_ps(c::LO);
    let shifter = _mm256_set1_ps(c::SHIFTER);
    let xc = _mm256_max_ps(x, lo);
    let t = _mm256_fmadd_ps(xc, _mm256_set1_ps(std::f32::consts::LOG2_E), shifter);
    let n = _mm256_sub_ps(t, shifter);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(c::LN2_HI), xc);
    let r = _mm256_fnmadd_ps(n, _mm256_set1_ps(c::LN2_LO), r);
    let mut p = _mm256_set1_ps(c::POLY[0]);
    for &k in &c::POLY[1..] {
        p = _mm256_fmadd_ps(p, r, _mm256_set1_ps(k));
    }
    let p = _mm256_add_ps(
        _mm256_fmadd_ps(p, _mm256_mul_ps(r, r), r),
        _mm256_set1_ps(1.0),
    );
    let n_bits = _mm256_sub_epi32(_mm256_castps_si256(t), _mm256_castps_si256(shifter));
    let e = _mm256_add_epi32(_mm256_castps_si256(p), _mm256_slli_epi32(n_bits, 23));
    _mm256_andnot_ps(_mm256_cmp_ps(x, lo, _CMP_LT_OQ), _mm256_castsi256_ps(e))
}

/// See [`super::simd::exp_shifted`].
#[target_feature(enable = "avx2,fma")]
pub(super) fn exp_shifted(s: &mut [f32], shift: f32) -> f32 {
    let body = s.len() - s.len() % LANES;
    let m = _mm256_set1_ps(shift);
    let mut sum = _mm256_setzero_ps();
    for k in (0..body).step_by(LANES) {
        let e = exp(_mm256_sub_ps(load(s, k), m));
        store(s, k, e);
        sum = _mm256_add_ps(sum, e);
    }
    hsum(sum) + super::simd::exp_shifted_portable(&mut s[body..], shift)
}

/// See [`super::simd::max`].
#[target_feature(enable = "avx2,fma")]
pub(super) fn max(s: &[f32]) -> f32 {
    let body = s.len() - s.len() % LANES;
    let mut m = _mm256_set1_ps(f32::NEG_INFINITY);
    for k in (0..body).step_by(LANES) {
        m = _mm256_max_ps(m, load(s, k));
    }
    let m = _mm_max_ps(_mm256_castps256_ps128(m), _mm256_extractf128_ps(m, 1));
    let m = _mm_max_ps(m, _mm_movehl_ps(m, m));
    let m = _mm_cvtss_f32(_mm_max_ss(m, _mm_movehdup_ps(m)));
    s[body..].iter().fold(m, |a, &v| a.max(v))
}
