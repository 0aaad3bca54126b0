//! The host CPU backend in f32: the same steps as the GPU kernels.
//!
//! Unless the weights are asked for, a step is fused (`fused`): online softmax over pieces of X
//! shared among threads, merged by log-sum-exp, so the B×N scores never exist. A few queries use
//! per-query dot products (`simd`, bound by reading X once); more use register-tiled AVX2
//! kernels (`tiles`), compute-bound like a GEMM. The GEMM path (`unfused`, matrixmultiply)
//! remains for the weights, and for large batches on CPUs without AVX2 + FMA, where the fused
//! path would have only the untiled per-query loops. The separations other than softmax take
//! the GEMM path (`separate` forms their weights from the scores).

mod fused;
pub(crate) mod separate;
mod simd;
#[cfg(target_arch = "x86_64")]
mod tiles;
mod unfused;
#[cfg(target_arch = "x86_64")]
mod x86;

use std::sync::OnceLock;

use ndarray::{ArrayView2, ArrayViewMut2};

use crate::retrieve::{self, BlockOut, RetrieveOptions};
use crate::Separation;

/// Largest batch for the per-query fused loops when the tiled kernels are unavailable.
const FUSED_MAX_BATCH: usize = 16;
/// Multiply-adds per thread below which the fused path stays on one thread: spawning one costs
/// tens of microseconds.
const MIN_MACS_PER_THREAD: usize = 1 << 21;

/// Runs a block of queries through the update steps; with `clamp` (B×d, a partial cue's known
/// features), those features are put back to the queries' values after every step.
pub(crate) fn retrieve_block(
    patterns: ArrayView2<f32>,
    queries: ArrayView2<f32>,
    opts: &RetrieveOptions,
    clamp: Option<&[bool]>,
) -> BlockOut {
    let (b, n, d) = (queries.nrows(), patterns.nrows(), patterns.ncols());
    let x = patterns.as_standard_layout();
    let xs = x.as_slice().expect("standard layout is contiguous");
    // Softmax₁ rides the fused softmax and is rescaled after it (`separate::softmax1_of`).
    let fused = opts.separation.fuses()
        && !opts.needs_weights()
        && (b <= FUSED_MAX_BATCH || simd::use_tiles(b));
    let threads = threads_for(b * n * d, MIN_MACS_PER_THREAD);
    log_decision(fused, b, n, threads, opts.separation);
    let mut scores = Vec::new();
    let step = |scores: &mut Vec<f32>, states: &[f32], out: Option<&mut [f32]>, lse: &mut [f32]| {
        if fused {
            let mut out = out;
            fused::step(xs, states, d, opts.beta, threads, out.as_deref_mut(), lse);
            if opts.separation == Separation::Softmax1 {
                separate::softmax1_of(out, lse, d);
            }
        } else {
            let states = ArrayView2::from_shape((b, d), states).expect("B×d states");
            let out = out.map(|o| ArrayViewMut2::from_shape((b, d), o).expect("B×d states"));
            let normalise = opts.needs_weights();
            // Refilled when the weights were handed out before an energy pass.
            scores.resize(b * n, 0.0);
            let (beta, sep) = (opts.beta, opts.separation);
            unfused::step(x.view(), states, beta, sep, scores, normalise, out, lse);
        }
    };

    let mut states: Vec<f32> = queries.iter().copied().collect();
    // The values a clamped cue's known features return to after every step.
    let cue = clamp.map(|_| states.clone());
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
        if let (Some(known), Some(cue)) = (clamp, &cue) {
            retrieve::clamp_known(&mut next, cue, known);
        }
        retrieve::max_changes(&states, &next, d, &mut max_change);
        std::mem::swap(&mut states, &mut next);
        steps += 1;
        if let Some(eps) = opts.eps() {
            if max_change.iter().all(|&c| c <= eps) {
                break;
            }
        }
    }
    let weights = opts.needs_weights().then(|| std::mem::take(&mut scores));
    let lse_last = opts.keep_lse.then(|| lse.clone());
    let lse_after = opts.energy.then(|| {
        step(&mut scores, &states, None, &mut lse);
        lse
    });
    BlockOut {
        states,
        weights,
        lse_before,
        lse_after,
        lse_last,
        max_change,
        top_k: None,
        steps,
        device_time: None,
    }
}

/// What the GPU path logs of its plan, for the CPU: which kernels, threads and blocks.
fn log_decision(fused: bool, b: usize, n: usize, threads: usize, sep: Separation) {
    let kernels = simd::kernel_name();
    if fused {
        let shape = if simd::use_tiles(b) {
            "tiled"
        } else {
            "per-query"
        };
        log::debug!(
            "CPU step for {b} queries: fused, {shape} {kernels} kernels, {threads} thread(s), \
             {} blocks of up to {} patterns merged pairwise",
            n.div_ceil(fused::BLOCK_ROWS),
            fused::BLOCK_ROWS
        );
    } else {
        log::debug!(
            "CPU step for {b} queries: unfused (GEMM, {sep} weights, exponentials with \
             {kernels} kernels), {n} patterns"
        );
    }
}

/// Threads worth using for `work` units when each should get at least `min_per_thread`.
fn threads_for(work: usize, min_per_thread: usize) -> usize {
    (work / min_per_thread).clamp(1, cores())
}

/// Cores the CPU path may spread over. The web has no threads: there it is 1, and the same
/// code then runs every piece on the calling thread, spawning none.
fn cores() -> usize {
    if cfg!(target_arch = "wasm32") {
        return 1;
    }
    static CORES: OnceLock<usize> = OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, |c| c.get()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reference;
    use ndarray::Array2;

    /// Rows of norm ≈ 1 from a fixed integer hash, so the test needs no RNG.
    fn data(rows: usize, cols: usize, salt: usize) -> Array2<f32> {
        Array2::from_shape_fn((rows, cols), |(i, j)| {
            let h = (i * 7919 + j * 104_729 + salt * 15_485_863) % 2003;
            (h as f32 / 2003.0 - 0.5) * (12.0 / cols as f32).sqrt()
        })
    }

    /// Both paths, on one and several threads, against the f64 reference on shapes that leave
    /// remainders everywhere (rows of a chunk, a thread's range, the 8 lanes).
    #[test]
    fn paths_match_reference() {
        check_paths();
    }

    /// The same checks with every kernel in its portable version.
    #[test]
    fn portable_kernels_and_paths() {
        use std::sync::atomic::Ordering;
        simd::FORCE_PORTABLE.store(true, Ordering::Relaxed);
        let result = std::panic::catch_unwind(|| {
            simd::tests::check_kernels();
            check_paths();
        });
        simd::FORCE_PORTABLE.store(false, Ordering::Relaxed);
        result.unwrap();
    }

    fn check_paths() {
        let shapes = [
            (1, 1, 1),
            (3, 5, 7),
            (2, 300, 13),
            (5, 257, 64),
            (17, 129, 33),
        ];
        for &(b, n, d) in shapes.iter().chain(&[(1, 1000, 128), (4, 999, 67)]) {
            for beta in [0.3f32, 8.0] {
                let (x, q) = (data(n, d, 1), data(b, d, 2));
                let (x64, q64) = (x.mapv(f64::from), q.mapv(f64::from));
                let s = reference::scores(x64.view(), q64.view(), beta.into());
                let (_, want_lse) = reference::softmax_rows(s.view());
                let (want, _) = reference::update(x64.view(), q64.view(), beta.into());
                let check = |what: &str, got: &[f32], lse: &[f32]| {
                    let err: f64 = got
                        .iter()
                        .zip(&want)
                        .map(|(g, w)| (f64::from(*g) - w).powi(2))
                        .sum();
                    let norm: f64 = want.iter().map(|w| w * w).sum();
                    let e = (err / norm).sqrt();
                    assert!(
                        e <= 1e-5,
                        "{what} B={b} N={n} d={d} beta={beta}: rel err {e:e}"
                    );
                    for (g, w) in lse.iter().zip(&want_lse) {
                        let e = (f64::from(*g) - w).abs();
                        assert!(e <= 1e-5 * (1.0 + w.abs()), "{what}: lse {g} vs {w}");
                    }
                };
                let qs = q.as_slice().unwrap();
                for threads in [1, 3] {
                    let (mut out, mut lse) = (vec![0.0; b * d], vec![0.0; b]);
                    fused::step(
                        x.as_slice().unwrap(),
                        qs,
                        d,
                        beta,
                        threads,
                        Some(&mut out),
                        &mut lse,
                    );
                    check(&format!("fused×{threads}"), &out, &lse);
                }
                for normalise in [false, true] {
                    let (mut out, mut lse) = (Array2::zeros((b, d)), vec![0.0; b]);
                    let mut scores = vec![0.0; b * n];
                    let o = Some(out.view_mut());
                    unfused::step(
                        x.view(),
                        q.view(),
                        beta,
                        Separation::Softmax,
                        &mut scores,
                        normalise,
                        o,
                        &mut lse,
                    );
                    check("gemm", out.as_slice().unwrap(), &lse);
                }
            }
        }
    }
}
