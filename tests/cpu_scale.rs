//! The CPU path at N where long f32 running sums drift (2^21 + 1 patterns): one step of
//! retrieval against an f64 accumulation of the same formula over the stored values, at
//! ≤ 1e-5 relative error (Frobenius, per batch), fused and unfused, f32 and f16 storage, one
//! chunk and several.
//!
//! Spread weights: β = 1 and patterns of norm ≈ 1 sharing a component of norm 0.5, so every
//! pattern has a weight within a factor e² of every other, the result does not cancel to
//! nothing, and the sums run over all N terms.

mod common;

use hopfield::{Device, Memory, MemoryOptions, Precision, RetrieveOptions};
use ndarray::{Array2, ArrayView2};

const BETA: f32 = 1.0;
const TOL: f64 = 1e-5;

/// softmax(β Q Xᵀ) X in f64, one pass over X with a running max (streaming: N×B scores would
/// not be smaller than X).
fn streamed(x: ArrayView2<f32>, q: ArrayView2<f32>, beta: f64) -> Array2<f64> {
    let (b, d) = q.dim();
    let mut out = Array2::zeros((b, d));
    for (qi, mut o) in q.rows().into_iter().zip(out.rows_mut()) {
        let (mut max, mut sum) = (f64::NEG_INFINITY, 0.0);
        let mut acc = vec![0.0f64; d];
        for r in x.rows() {
            let s = beta
                * r.iter()
                    .zip(&qi)
                    .map(|(a, c)| f64::from(a * c))
                    .sum::<f64>();
            if s > max {
                let k = (max - s).exp();
                sum *= k;
                acc.iter_mut().for_each(|a| *a *= k);
                max = s;
            }
            let w = (s - max).exp();
            sum += w;
            acc.iter_mut()
                .zip(r)
                .for_each(|(a, v)| *a += w * f64::from(*v));
        }
        o.iter_mut().zip(&acc).for_each(|(o, a)| *o = a / sum);
    }
    out
}

fn spread(rng: &mut rand::rngs::StdRng, n: usize, d: usize) -> Array2<f32> {
    let shared = common::normal(rng, 1, d, 0.5);
    common::normal(rng, n, d, 1.0) + &shared
}

#[test]
fn long_sums_stay_accurate() {
    let mut rng = common::rng("long_sums_stay_accurate");
    let cpu = Device::cpu();
    for (n, d, b) in [(65_537, 32, 3), (131_075, 8, 1), (2_097_153, 16, 2)] {
        let patterns = spread(&mut rng, n, d);
        let queries = common::normal(&mut rng, b, d, 1.0);
        for precision in [Precision::F32, Precision::F16] {
            let row = precision.row_bytes(d);
            for chunk in [None, Some(row * (n as u64 / 3 + 1))] {
                let mut opts = MemoryOptions::default().precision(precision);
                opts.max_chunk_bytes = chunk;
                let mut memory = Memory::with_options(&cpu, d, opts).unwrap();
                memory.append(patterns.view()).unwrap();
                let want = streamed(
                    memory.patterns().unwrap().view(),
                    queries.view(),
                    BETA.into(),
                );
                let plain = RetrieveOptions::new(BETA);
                for (path, o) in [("fused", plain.clone()), ("unfused", plain.with_top_k(1))] {
                    let got = memory.retrieve(queries.view(), &o).unwrap().states;
                    let e = common::rel_err(got.view(), want.view());
                    let what = format!("N={n} d={d} B={b} {precision} chunk={chunk:?} {path}");
                    eprintln!("{what}: rel err {e:.2e}");
                    assert!(e <= TOL, "{what}: rel err {e:e}");
                }
            }
        }
    }
}
