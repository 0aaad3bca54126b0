//! One update step through the B×N scores: GEMM, row-wise softmax, GEMM. Needed when the
//! caller wants the weights, and the faster path for large batches, where the products are
//! compute-bound and matrixmultiply's packed kernels beat the fused path's dot products. The
//! separations other than softmax always come this way (`separate`), as normalised weights.

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, ArrayView2, ArrayViewMut2};

use super::{separate, simd};
use crate::Separation;

/// Exponentials per thread below which a second thread costs more than it saves.
const MIN_EXPS_PER_THREAD: usize = 1 << 16;
/// Patterns per block of the row sums and of the weighted sum. A single f32 running sum over N
/// terms loses accuracy as N grows (≈ 2e-6 relative at N = 2^21); block sums of this many
/// terms, added in f64, keep the error what it is at N = 2^12 for any N.
const BLOCK: usize = 4096;

/// `scores ← e^(β states Xᵀ − max)` per row (divided by the row sum when `normalise`), and
/// `lse ← max + ln Σ`; then, when `out` is given, `out ← softmax(β states Xᵀ) X`. Another
/// `sep` writes its weights to `scores` whatever `normalise` says, and its conjugate Ψ* to `lse`.
#[allow(clippy::too_many_arguments)]
pub(super) fn step(
    x: ArrayView2<f32>,
    states: ArrayView2<f32>,
    beta: f32,
    sep: Separation,
    scores: &mut [f32],
    normalise: bool,
    out: Option<ArrayViewMut2<f32>>,
    lse: &mut [f32],
) {
    let (b, n) = (states.nrows(), x.nrows());
    let mut s = ArrayViewMut2::from_shape((b, n), &mut *scores).expect("B×N scores");
    general_mat_mul(beta, &states, &x.t(), 0.0, &mut s);
    let mut sums = vec![0.0; b];
    let threads = super::threads_for(b * n, MIN_EXPS_PER_THREAD).min(b);
    let rows_per = b.div_ceil(threads);
    let mut jobs: Vec<_> = scores
        .chunks_mut(rows_per * n)
        .zip(lse.chunks_mut(rows_per).zip(sums.chunks_mut(rows_per)))
        .map(|(rows, (l, sum))| move || separate_rows(sep, rows, n, normalise, l, sum))
        .collect();
    let mut mine = jobs.pop().expect("at least one row");
    std::thread::scope(|sc| {
        for job in jobs {
            sc.spawn(job);
        }
        mine();
    });
    if let Some(mut out) = out {
        let p = ArrayView2::from_shape((b, n), &*scores).expect("B×N scores");
        weighted_sum(p, x, &mut out);
        if !normalise && sep == Separation::Softmax {
            // Cheaper to divide B×d results than B×N weights.
            for (mut row, sum) in out.rows_mut().into_iter().zip(&sums) {
                let k = 1.0 / sum;
                row.mapv_inplace(|v| v * k);
            }
        }
    }
}

/// `out ← p x`, one GEMM per block of BLOCK patterns, the blocks' products added in f64.
fn weighted_sum(p: ArrayView2<f32>, x: ArrayView2<f32>, out: &mut ArrayViewMut2<f32>) {
    let n = x.nrows();
    if n <= BLOCK {
        general_mat_mul(1.0, &p, &x, 0.0, out);
        return;
    }
    let mut total = Array2::<f64>::zeros(out.dim());
    for first in (0..n).step_by(BLOCK) {
        let rows = first..(first + BLOCK).min(n);
        general_mat_mul(
            1.0,
            &p.slice(s![.., rows.clone()]),
            &x.slice(s![rows, ..]),
            0.0,
            out,
        );
        total.zip_mut_with(out, |t, &v| *t += f64::from(v));
    }
    out.zip_mut_with(&total, |o, &t| *o = t as f32);
}

/// Each row's weights under `sep`; softmax's are left unnormalised unless `normalise`, their
/// sums in `sums` for the caller to divide the states by.
fn separate_rows(
    sep: Separation,
    s: &mut [f32],
    n: usize,
    normalise: bool,
    lse: &mut [f32],
    sums: &mut [f32],
) {
    if sep == Separation::Softmax {
        return softmax_rows(s, n, normalise, lse, sums);
    }
    for (row, l) in s.chunks_exact_mut(n).zip(lse) {
        *l = separate::apply(sep, row);
    }
}

fn softmax_rows(s: &mut [f32], n: usize, normalise: bool, lse: &mut [f32], sums: &mut [f32]) {
    for ((row, l), sum) in s.chunks_exact_mut(n).zip(lse).zip(sums) {
        let m = simd::max(row);
        let blocks = row.chunks_mut(BLOCK);
        *sum = blocks
            .map(|c| f64::from(simd::exp_shifted(c, m)))
            .sum::<f64>() as f32;
        if normalise {
            simd::scale(row, 1.0 / *sum);
        }
        *l = m + sum.ln();
    }
}
