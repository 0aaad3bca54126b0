//! The claims of Ramsauer et al. (2020) that a retrieval must satisfy (THEORY.md), checked on
//! both backends with random data.

mod common;

use common::normal;
use hopfield::{reference, Device, Memory, RetrieveOptions};
use ndarray::{Array1, Array2, Axis};

/// Theorem 1: the update never increases E. Each step is taken as its own retrieval so the
/// energies before and after it come from one call; f32 rounding allowance 1e-5·(1 + |E|).
fn energy_never_increases(device: &Device) {
    let mut rng = common::rng("energy_never_increases");
    for &beta in &[0.1f32, 1.0, 4.0, 16.0, 64.0] {
        for &(n, d, b) in &[(50, 16, 8), (7, 3, 5), (129, 33, 4)] {
            let x = normal(&mut rng, n, d, 1.0);
            let mut states = normal(&mut rng, b, d, 1.5);
            let memory = Memory::from_array(device, x.view()).unwrap();
            for step in 0..12 {
                let out = memory
                    .retrieve(states.view(), &RetrieveOptions::new(beta).with_energy())
                    .unwrap();
                let e = out.energy.unwrap();
                for (before, after) in e.before.iter().zip(&e.after) {
                    assert!(
                        *after <= before + 1e-5 * (1.0 + before.abs()),
                        "beta={beta} N={n} d={d} step {step}: E rose from {before} to {after}"
                    );
                    // 0 ≤ E ≤ 2M² (with rounding room) for states in the patterns' hull.
                    let m2 = memory.max_norm().powi(2);
                    assert!(
                        *after >= -1e-5 && *after <= 2.0 * m2 + 1e-5,
                        "E={after} outside [0, 2M²={}]",
                        2.0 * m2
                    );
                }
                states = out.states;
            }
        }
    }
}

/// The reference itself, in f64, decreases E strictly until a fixed point (to 1e-12).
#[test]
fn reference_energy_never_increases() {
    let mut rng = common::rng("reference_energy_never_increases");
    let x = common::to64(normal(&mut rng, 40, 10, 1.0).view());
    let mut s = common::to64(normal(&mut rng, 6, 10, 1.0).view());
    for _ in 0..20 {
        let before = reference::energy(x.view(), s.view(), 3.0);
        s = reference::update(x.view(), s.view(), 3.0).0;
        let after = reference::energy(x.view(), s.view(), 3.0);
        assert!(after.iter().zip(&before).all(|(a, b)| *a <= b + 1e-12));
    }
}

/// Theorem 5: from ξ in the ball S_i around a well-separated pattern x_i, one update lands within
/// 2(N−1) exp(−β(Δ_i − 2 max{‖ξ − x_i‖, ‖x_i* − x_i‖} M)) M of x_i, and the error falls
/// exponentially with β. Orthonormal patterns make Δ_i = 1 exactly; the fixed point x_i* lies
/// in S_i, so ‖x_i* − x_i‖ ≤ 1/(βNM) bounds the term we cannot measure.
fn one_step_retrieval_within_theorem_5(device: &Device) {
    let mut rng = common::rng("one_step_retrieval_within_theorem_5");
    let (n, d) = (8, 64);
    let x = orthonormal_rows(&normal(&mut rng, n, d, 1.0));
    let memory = Memory::from_array(device, x.view()).unwrap();
    let m = 1.0f64;
    let mut errors = Vec::new();
    for &beta in &[8.0f64, 10.0, 12.0, 14.0] {
        let nf = n as f64;
        let separation = 1.0;
        let needed = 2.0 / (beta * nf) + (2.0 * (nf - 1.0) * nf * beta * m * m).ln() / beta;
        assert!(
            separation >= needed,
            "beta {beta}: not well separated ({needed})"
        );
        let radius = 1.0 / (beta * nf * m);
        // A query inside S_i: x_i plus noise of norm radius/2.
        let noise = normal(&mut rng, n, d, (radius / 2.0) as f32);
        let q = &x + &noise;
        let out = memory
            .retrieve(q.view(), &RetrieveOptions::new(beta as f32))
            .unwrap();
        let mut worst: f64 = 0.0;
        for i in 0..n {
            let dist_q = (&q.row(i) - &x.row(i))
                .mapv(|v| f64::from(v).powi(2))
                .sum()
                .sqrt();
            let bound =
                2.0 * (nf - 1.0) * (-beta * (separation - 2.0 * dist_q.max(radius) * m)).exp() * m;
            let err = (&out.states.row(i) - &x.row(i))
                .mapv(|v| f64::from(v).powi(2))
                .sum()
                .sqrt();
            assert!(
                err <= bound,
                "beta {beta} pattern {i}: error {err:e} over Theorem 5's bound {bound:e}"
            );
            worst = worst.max(err);
        }
        errors.push(worst);
    }
    // Exponential decay: the error ≈ √(N−1)·e^{−β}, so +2 in β divides it by ≈ e² ≈ 7.4.
    for w in errors.windows(2) {
        assert!(
            w[1] < w[0] / 4.0,
            "error not shrinking exponentially with beta: {errors:?}"
        );
    }
}

/// Gram–Schmidt on the rows.
fn orthonormal_rows(a: &Array2<f32>) -> Array2<f32> {
    let mut q = a.mapv(f64::from);
    for i in 0..q.nrows() {
        for j in 0..i {
            let proj = q.row(i).dot(&q.row(j));
            let rj = q.row(j).to_owned();
            q.row_mut(i).scaled_add(-proj, &rj);
        }
        let norm = q.row(i).dot(&q.row(i)).sqrt();
        q.row_mut(i).mapv_inplace(|v| v / norm);
    }
    q.mapv(|v| v as f32)
}

/// With β → 0 every pattern weighs the same: one step takes any query to the patterns' mean
/// (the global fixed point), within O(β·‖ξ‖·M²).
fn tiny_beta_goes_to_the_mean(device: &Device) {
    let mut rng = common::rng("tiny_beta_goes_to_the_mean");
    let x = normal(&mut rng, 97, 13, 1.0);
    let q = normal(&mut rng, 5, 13, 1.0);
    let memory = Memory::from_array(device, x.view()).unwrap();
    let out = memory
        .retrieve(q.view(), &RetrieveOptions::new(1e-6).with_weights())
        .unwrap();
    let mean: Array1<f32> = x.mean_axis(Axis(0)).unwrap();
    for row in out.states.rows() {
        let e = (&row - &mean).mapv(f32::abs).fold(0.0f32, |a, &b| a.max(b));
        assert!(e <= 1e-5, "state off the mean by {e}");
    }
    let w = out.weights.unwrap();
    assert!(w.iter().all(|&p| (p - 1.0 / 97.0).abs() < 1e-6));
}

on_every_backend!(
    energy_never_increases,
    one_step_retrieval_within_theorem_5,
    tiny_beta_goes_to_the_mean,
);
