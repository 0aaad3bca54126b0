//! The host CPU backend in f32: the same steps as the GPU kernels. A few queries take the fused
//! path (X read once, split over threads); many queries, or a request for the weights, take the
//! GEMM path.

mod fused;
mod simd;
mod unfused;

use std::sync::OnceLock;

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::retrieve::{BlockOut, RetrieveOptions};

/// Largest batch for the fused path: above it the GEMM path's packed kernels win.
const FUSED_MAX_BATCH: usize = 16;
/// Multiply-adds per thread below which the fused path stays on one thread: spawning one costs
/// tens of microseconds.
const MIN_MACS_PER_THREAD: usize = 1 << 21;

/// Runs a block of queries through the update steps.
pub(crate) fn retrieve_block(
    patterns: ArrayView2<f32>,
    queries: ArrayView2<f32>,
    opts: &RetrieveOptions,
) -> BlockOut {
    let (b, n, d) = (queries.nrows(), patterns.nrows(), patterns.ncols());
    let x = patterns.as_standard_layout();
    let xs = x.as_slice().expect("standard layout is contiguous");
    let fused = !opts.needs_weights() && b <= FUSED_MAX_BATCH;
    let threads = threads_for(b * n * d, MIN_MACS_PER_THREAD);
    let mut scores = Vec::new();
    let step = |scores: &mut Vec<f32>, states: &[f32], out: Option<&mut [f32]>, lse: &mut [f32]| {
        if fused {
            fused::step(xs, states, d, opts.beta, threads, out, lse);
        } else {
            let states = ArrayView2::from_shape((b, d), states).expect("B×d states");
            let out = out.map(|o| ArrayViewMut2::from_shape((b, d), o).expect("B×d states"));
            let normalise = opts.needs_weights();
            // Refilled when the weights were handed out before an energy pass.
            scores.resize(b * n, 0.0);
            unfused::step(x.view(), states, opts.beta, scores, normalise, out, lse);
        }
    };

    let mut states: Vec<f32> = queries.iter().copied().collect();
    let mut next = vec![0.0; b * d];
    let mut lse = vec![0.0; b];
    let mut lse_before = None;
    let mut max_change = vec![0.0; b];
    let mut steps = 0;
    while steps < opts.max_steps() {
        step(&mut scores, &states, Some(&mut next), &mut lse);
        if steps == 0 && opts.energy {
            lse_before = Some(lse.clone());
        }
        for ((c, a), z) in max_change
            .iter_mut()
            .zip(states.chunks_exact(d))
            .zip(next.chunks_exact(d))
        {
            *c = a
                .iter()
                .zip(z)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f32::max);
        }
        std::mem::swap(&mut states, &mut next);
        steps += 1;
        if let Some(eps) = opts.eps() {
            if max_change.iter().all(|&c| c <= eps) {
                break;
            }
        }
    }
    let weights = opts.needs_weights().then(|| std::mem::take(&mut scores));
    let lse_after = opts.energy.then(|| {
        step(&mut scores, &states, None, &mut lse);
        lse
    });
    BlockOut {
        states,
        weights,
        lse_before,
        lse_after,
        max_change,
        steps,
        device_time: None,
    }
}

/// Threads worth using for `work` units when each should get at least `min_per_thread`.
fn threads_for(work: usize, min_per_thread: usize) -> usize {
    static CORES: OnceLock<usize> = OnceLock::new();
    let cores = *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |c| c.get()));
    (work / min_per_thread).clamp(1, cores)
}
