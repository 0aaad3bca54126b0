//! The host CPU backend in f32: the same steps as the GPU kernels, on multi-threaded GEMM.

use ndarray::linalg::general_mat_mul;
use ndarray::{Array2, ArrayView2, Axis};

use crate::retrieve::{BlockOut, RetrieveOptions};

/// Runs a block of queries through the update steps.
pub(crate) fn retrieve_block(
    patterns: ArrayView2<f32>,
    queries: ArrayView2<f32>,
    opts: &RetrieveOptions,
) -> BlockOut {
    let (b, n) = (queries.nrows(), patterns.nrows());
    let mut states = queries.to_owned();
    let mut scores = Array2::<f32>::zeros((b, n));
    let mut lse = vec![0.0; b];
    let mut lse_before = None;
    let mut max_change = vec![0.0; b];
    let mut steps = 0;
    while steps < opts.max_steps() {
        weights_into(patterns, states.view(), opts.beta, &mut scores, &mut lse);
        if steps == 0 && opts.energy {
            lse_before = Some(lse.clone());
        }
        let next = scores.dot(&patterns);
        for (r, (a, z)) in states.rows().into_iter().zip(next.rows()).enumerate() {
            max_change[r] = a
                .iter()
                .zip(z)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
        }
        states = next;
        steps += 1;
        if let Some(eps) = opts.eps() {
            if max_change.iter().all(|&c| c <= eps) {
                break;
            }
        }
    }
    let weights = opts
        .needs_weights()
        .then(|| scores.iter().copied().collect());
    let lse_after = opts.energy.then(|| {
        weights_into(patterns, states.view(), opts.beta, &mut scores, &mut lse);
        lse.clone()
    });
    BlockOut {
        states: states.into_iter().collect(),
        weights,
        lse_before,
        lse_after,
        max_change,
        steps,
        device_time: None,
    }
}

/// `out ← softmax(β states Xᵀ)` row by row, with each row's scaled log-sum-exp in `lse`.
fn weights_into(
    patterns: ArrayView2<f32>,
    states: ArrayView2<f32>,
    beta: f32,
    out: &mut Array2<f32>,
    lse: &mut [f32],
) {
    general_mat_mul(beta, &states, &patterns.t(), 0.0, out);
    for (row, l) in out.axis_iter_mut(Axis(0)).zip(lse.iter_mut()) {
        let mut row = row;
        let m = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let mut sum = 0.0f32;
        row.mapv_inplace(|v| {
            let e = (v - m).exp();
            sum += e;
            e
        });
        let inv = 1.0 / sum;
        row.mapv_inplace(|v| v * inv);
        *l = m + sum.ln();
    }
}
