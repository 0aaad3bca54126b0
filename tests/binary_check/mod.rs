//! The f64 check of binary sweeps shared by `tests/classical.rs` and `tests/dense.rs`.
//!
//! A sweep's decisions are replayed from its start and end states: an asynchronous sweep
//! visits neurons in `sweep_order`, so when neuron l is visited, the neurons before it in the
//! order already hold their end values and the rest their start values. Every decision is
//! checked against the sign of the f64 field, and a decision that differs is accepted only if
//! that field is within `tol` × (the sum of the magnitudes of its terms) of zero, the f32
//! rounding a backend may make.
#![allow(dead_code)]

use hopfield::binary::{sign, sweep_order, Update};
use ndarray::ArrayView2;

/// `field(state, l)` gives (the f64 field of neuron l, the sum of |terms| it was summed from).
pub fn check_sweep(
    what: &str,
    before: ArrayView2<f32>,
    after: ArrayView2<f32>,
    update: Update,
    tol: f64,
    field: impl Fn(&[f32], usize) -> (f64, f64),
) {
    assert_eq!(before.dim(), after.dim(), "{what}: shapes differ");
    let d = before.ncols();
    for (q, (b, a)) in before.rows().into_iter().zip(after.rows()).enumerate() {
        let mut state = b.to_vec();
        let judge = |state: &[f32], l: usize, got: f32| {
            let (h, scale) = field(state, l);
            let want = sign(h, state[l]);
            assert!(
                got == want || h.abs() <= tol * scale,
                "{what}: query {q} neuron {l}: got {got}, field {h:e} (terms {scale:e}) says {want}"
            );
        };
        match update {
            Update::Synchronous => (0..d).for_each(|l| judge(&state, l, a[l])),
            Update::Asynchronous { seed } => {
                for l in sweep_order(seed, 0, d) {
                    let l = l as usize;
                    judge(&state, l, a[l]);
                    state[l] = a[l];
                }
            }
        }
    }
}

/// Random ±1 rows.
pub fn signs(rng: &mut impl rand::Rng, rows: usize, cols: usize) -> ndarray::Array2<f32> {
    ndarray::Array2::from_shape_simple_fn((rows, cols), || {
        if rng.next_u32() & 1 == 0 {
            1.0
        } else {
            -1.0
        }
    })
}

/// `patterns` with each entry flipped with probability `p`.
pub fn corrupt(
    rng: &mut impl rand::Rng,
    patterns: ArrayView2<f32>,
    p: f64,
) -> ndarray::Array2<f32> {
    patterns.mapv(|v| {
        if (rng.next_u64() as f64 / u64::MAX as f64) < p {
            -v
        } else {
            v
        }
    })
}

/// Fraction of rows of `states` equal to the same row of `patterns`.
pub fn exact_rate(states: ArrayView2<f32>, patterns: ArrayView2<f32>) -> f64 {
    let hits = states
        .rows()
        .into_iter()
        .zip(patterns.rows())
        .filter(|(s, p)| s == p)
        .count();
    hits as f64 / states.nrows() as f64
}
