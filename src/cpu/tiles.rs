//! The fused step for many queries on AVX2 + FMA: both products as register-tiled micro-kernels
//! (6 queries × 16 floats, twelve accumulators), so a batch runs compute-bound like a GEMM but
//! without materialising or packing the B×N weights. Per chunk of X: pack it transposed once for
//! all queries, then per tile of queries form the scores, update the online softmax and add the
//! weighted rows, all while the chunk sits in L2.
//!
//! Safety: every function here requires AVX2 and FMA; the caller checks both.

use std::arch::x86_64::*;

use super::fused::Partial;
use super::simd;

/// Patterns per chunk (a multiple of [`PANEL`]).
const CHUNK: usize = 128;
/// Queries per tile: their scores over a chunk (24 KiB) stay in L1.
const QUERY_TILE: usize = 48;
/// Queries per micro-kernel.
const ROWS: usize = 6;
/// Floats per micro-kernel row: two registers.
const PANEL: usize = 16;
// Query tiles must start on the groups of ROWS that `accumulate` interleaves.
const _: () = assert!(QUERY_TILE.is_multiple_of(ROWS) && CHUNK.is_multiple_of(PANEL));

/// Adds the patterns `x` (row-major, `d` columns) to the softmax state `p` of `states`.
#[target_feature(enable = "avx2,fma")]
pub(super) fn accumulate(x: &[f32], states: &[f32], d: usize, beta: f32, p: &mut Partial) {
    let b = states.len() / d;
    let accumulate = !p.acc.is_empty();
    // Each group of ROWS queries interleaved ([k][i]), so a kernel walks one pointer.
    let mut queries = vec![0.0f32; b * d];
    for (g, q) in queries.chunks_mut(ROWS * d).zip(states.chunks(ROWS * d)) {
        let r = q.len() / d;
        for (i, row) in q.chunks_exact(d).enumerate() {
            for (k, &v) in row.iter().enumerate() {
                g[k * r + i] = v;
            }
        }
    }
    let mut packed = vec![0.0f32; CHUNK * d];
    let mut scores = vec![0.0f32; QUERY_TILE * CHUNK];
    for chunk in x.chunks(CHUNK * d) {
        let rows = chunk.len() / d;
        pack(chunk, d, &mut packed);
        for t0 in (0..b).step_by(QUERY_TILE) {
            let tile = QUERY_TILE.min(b - t0);
            for i in (0..tile).step_by(ROWS) {
                let r = ROWS.min(tile - i);
                let q = &queries[(t0 + i) * d..(t0 + i + r) * d];
                let s = &mut scores[i * CHUNK..];
                match r {
                    6 => scores_kernel::<6>(q, &packed, rows, beta, s),
                    5 => scores_kernel::<5>(q, &packed, rows, beta, s),
                    4 => scores_kernel::<4>(q, &packed, rows, beta, s),
                    3 => scores_kernel::<3>(q, &packed, rows, beta, s),
                    2 => scores_kernel::<2>(q, &packed, rows, beta, s),
                    _ => scores_kernel::<1>(q, &packed, rows, beta, s),
                }
            }
            for i in 0..tile {
                let s = &mut scores[i * CHUNK..i * CHUNK + rows];
                let g = t0 + i;
                let m = simd::max(s);
                if m > p.max[g] {
                    let k = (p.max[g] - m).exp();
                    p.sum[g] *= k;
                    if accumulate {
                        simd::scale(&mut p.acc[g * d..(g + 1) * d], k);
                    }
                    p.max[g] = m;
                }
                p.sum[g] += simd::exp_shifted(s, p.max[g]);
            }
            if !accumulate {
                continue;
            }
            for i in (0..tile).step_by(ROWS) {
                let r = ROWS.min(tile - i);
                let w = &scores[i * CHUNK..(i + r - 1) * CHUNK + rows];
                let acc = &mut p.acc[(t0 + i) * d..(t0 + i + r) * d];
                match r {
                    6 => weighted_kernel::<6>(w, chunk, d, acc),
                    5 => weighted_kernel::<5>(w, chunk, d, acc),
                    4 => weighted_kernel::<4>(w, chunk, d, acc),
                    3 => weighted_kernel::<3>(w, chunk, d, acc),
                    2 => weighted_kernel::<2>(w, chunk, d, acc),
                    _ => weighted_kernel::<1>(w, chunk, d, acc),
                }
            }
        }
    }
}

/// Lays the chunk out as panels of [`PANEL`] patterns, each column `k` of a panel contiguous,
/// zero-padded to a whole panel (the padding's scores are never read). Eight rows at a time
/// through an 8×8 register transpose: element by element, packing cost as much as the scores
/// of a few queries.
#[target_feature(enable = "avx2,fma")]
fn pack(chunk: &[f32], d: usize, packed: &mut [f32]) {
    let rows = chunk.len() / d;
    let body = d - d % 8;
    let panels = packed
        .chunks_exact_mut(PANEL * d)
        .take(rows.div_ceil(PANEL));
    for (p, panel) in panels.enumerate() {
        for half in [0, 8] {
            let j0 = p * PANEL + half;
            if j0 + 8 > rows {
                for k in 0..d {
                    for i in 0..8 {
                        let j = j0 + i;
                        panel[k * PANEL + half + i] = if j < rows { chunk[j * d + k] } else { 0.0 };
                    }
                }
                continue;
            }
            let r: [&[f32]; 8] = std::array::from_fn(|i| &chunk[(j0 + i) * d..(j0 + i + 1) * d]);
            for k in (0..body).step_by(8) {
                let cols = transpose8(std::array::from_fn(|i| load(r[i], k)));
                for (kk, c) in cols.into_iter().enumerate() {
                    store(panel, (k + kk) * PANEL + half, c);
                }
            }
            for k in body..d {
                for i in 0..8 {
                    panel[k * PANEL + half + i] = r[i][k];
                }
            }
        }
    }
}

/// The columns of the 8×8 block whose rows are `r`.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn transpose8(r: [__m256; 8]) -> [__m256; 8] {
    let t: [__m256; 8] = std::array::from_fn(|i| {
        let (a, b) = (r[i / 2 * 2], r[i / 2 * 2 + 1]);
        if i % 2 == 0 {
            _mm256_unpacklo_ps(a, b)
        } else {
            _mm256_unpackhi_ps(a, b)
        }
    });
    let s = [
        _mm256_shuffle_ps::<0x44>(t[0], t[2]),
        _mm256_shuffle_ps::<0xEE>(t[0], t[2]),
        _mm256_shuffle_ps::<0x44>(t[1], t[3]),
        _mm256_shuffle_ps::<0xEE>(t[1], t[3]),
        _mm256_shuffle_ps::<0x44>(t[4], t[6]),
        _mm256_shuffle_ps::<0xEE>(t[4], t[6]),
        _mm256_shuffle_ps::<0x44>(t[5], t[7]),
        _mm256_shuffle_ps::<0xEE>(t[5], t[7]),
    ];
    std::array::from_fn(|k| {
        if k < 4 {
            _mm256_permute2f128_ps::<0x20>(s[k], s[k + 4])
        } else {
            _mm256_permute2f128_ps::<0x31>(s[k - 4], s[k])
        }
    })
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn load(s: &[f32], k: usize) -> __m256 {
    let g = &s[k..k + 8];
    // SAFETY: `g` holds exactly the eight floats read.
    unsafe { _mm256_loadu_ps(g.as_ptr()) }
}

#[inline]
#[target_feature(enable = "avx2,fma")]
fn store(s: &mut [f32], k: usize, v: __m256) {
    let g = &mut s[k..k + 8];
    // SAFETY: `g` holds exactly the eight floats written.
    unsafe { _mm256_storeu_ps(g.as_mut_ptr(), v) }
}

/// `s[i][j] ← beta · q_i · x_j` for R queries `q` (interleaved: `q[k·R + i]`) and the `rows`
/// packed patterns; `s` rows are [`CHUNK`] apart.
#[inline]
#[target_feature(enable = "avx2,fma")]
fn scores_kernel<const R: usize>(q: &[f32], packed: &[f32], rows: usize, beta: f32, s: &mut [f32]) {
    let d = q.len() / R;
    let beta = _mm256_set1_ps(beta);
    for (p, panel) in packed
        .chunks_exact(PANEL * d)
        .take(rows.div_ceil(PANEL))
        .enumerate()
    {
        let mut a = [[_mm256_setzero_ps(); 2]; R];
        for (col, qk) in panel.chunks_exact(PANEL).zip(q.chunks_exact(R)) {
            let (x0, x1) = (load(col, 0), load(col, 8));
            for i in 0..R {
                let qb = _mm256_set1_ps(qk[i]);
                a[i][0] = _mm256_fmadd_ps(qb, x0, a[i][0]);
                a[i][1] = _mm256_fmadd_ps(qb, x1, a[i][1]);
            }
        }
        for (i, ai) in a.iter().enumerate() {
            store(s, i * CHUNK + p * PANEL, _mm256_mul_ps(ai[0], beta));
            store(s, i * CHUNK + p * PANEL + 8, _mm256_mul_ps(ai[1], beta));
        }
    }
}

/// `acc_i ← acc_i + Σ_j w[i·CHUNK + j] x_j` for R queries (`acc` rows of `d`) over the rows
/// `x_j` of `chunk`. One slice for all R rows of weights, so with R and [`CHUNK`] constant the
/// loads share a pointer (six would spill).
#[inline]
#[target_feature(enable = "avx2,fma")]
fn weighted_kernel<const R: usize>(w: &[f32], chunk: &[f32], d: usize, acc: &mut [f32]) {
    let wide = d - d % PANEL;
    for c in (0..wide).step_by(PANEL) {
        let mut a: [[__m256; 2]; R] =
            std::array::from_fn(|i| [load(acc, i * d + c), load(acc, i * d + c + 8)]);
        for (j, x) in chunk.chunks_exact(d).enumerate() {
            let (x0, x1) = (load(x, c), load(x, c + 8));
            for i in 0..R {
                let wb = _mm256_set1_ps(w[i * CHUNK + j]);
                a[i][0] = _mm256_fmadd_ps(wb, x0, a[i][0]);
                a[i][1] = _mm256_fmadd_ps(wb, x1, a[i][1]);
            }
        }
        for (i, ai) in a.iter().enumerate() {
            store(acc, i * d + c, ai[0]);
            store(acc, i * d + c + 8, ai[1]);
        }
    }
    // The last d mod 16 columns, rarely present: plain loops.
    for (j, x) in chunk.chunks_exact(d).enumerate() {
        for i in 0..R {
            let wi = w[i * CHUNK + j];
            let row = &mut acc[i * d + wide..(i + 1) * d];
            for (a, v) in row.iter_mut().zip(&x[wide..]) {
                *a = wi.mul_add(*v, *a);
            }
        }
    }
}
