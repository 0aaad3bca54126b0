//! The diagnostics of the continuous network (THEORY.md) on measured retrievals, both backends.
//!
//! - Theorem 3: the paper's worked capacities to 1e-4; Lambert W₀ satisfies w·eʷ = x to
//!   1e-12 relative on random arguments across [−1/e, 1e300].
//! - Theorem 5: on random (not orthogonal) well-separated patterns, the measured one-step
//!   error ‖f(ξ) − x_i‖ from queries inside S_i is under the bound, plus 1e-6 for the f32
//!   state; at each β the largest error / bound must exceed 1e-2, so the bound is not vacuous
//!   (measured: 0.2–0.3).
//! - Fixed points: a query near the mean of a group of similar patterns ends at a single
//!   pattern for large β, at a metastable state of that group for intermediate β, and at the
//!   global average for small β.

mod common;

use common::normal;
use hopfield::diagnostics::{
    capacity, effective_patterns, fixed_point, lambert_w0, separation, separations, suggest_beta,
    theorem5_bound, well_separated, FixedPoint, Suggestion,
};
use hopfield::{Device, Error, Memory, RetrieveOptions};
use ndarray::{s, Array1, Array2, Axis};
use rand::RngExt;

#[test]
fn theorem_3_worked_values() {
    let first = capacity(1.0, 3.0, 20, 0.001).unwrap();
    let second = capacity(1.0, 1.0, 75, 0.001).unwrap();
    eprintln!("{first:?}\n{second:?}");
    assert!((first.c - 3.1546).abs() < 1e-4, "c = {}", first.c);
    assert!((second.c - 1.3718).abs() < 1e-4, "c = {}", second.c);
    assert!(first.assumption_holds && second.assumption_holds);
    // N = √p · c^{(d−1)/4}.
    assert!((first.patterns - 0.001f64.sqrt() * first.c.powf(19.0 / 4.0)).abs() < 1e-9);
}

#[test]
fn lambert_w0_inverts_w_exp_w() {
    let mut rng = common::rng("lambert_w0_inverts_w_exp_w");
    let branch = -(-1.0f64).exp();
    assert_eq!(lambert_w0(0.0), 0.0);
    assert!((lambert_w0(std::f64::consts::E) - 1.0).abs() < 1e-15);
    assert!((lambert_w0(branch) + 1.0).abs() < 1e-7);
    assert!(lambert_w0(branch - 1e-9).is_nan());
    for _ in 0..2000 {
        let x = match rng.random_range(0..3) {
            0 => rng.random_range(branch..0.0),
            1 => rng.random_range(0.0..10.0),
            _ => 10f64.powf(rng.random_range(1.0..300.0)),
        };
        let w = lambert_w0(x);
        assert!(w >= -1.0, "W0({x}) = {w} is off the principal branch");
        let back = w * w.exp();
        assert!(
            (back - x).abs() <= 1e-12 * x.abs().max(1e-300) + 1e-16,
            "W0({x}) = {w}: w·e^w = {back}"
        );
    }
}

/// Rows scaled to norm `radius`.
fn on_sphere(mut x: Array2<f32>, radius: f32) -> Array2<f32> {
    for mut row in x.rows_mut() {
        let n = row.dot(&row).sqrt();
        row.mapv_inplace(|v| v * radius / n);
    }
    x
}

fn theorem_5_bound_holds_on_measured_retrievals(device: &Device) {
    let mut rng = common::rng("theorem_5_bound_holds_on_measured_retrievals");
    let (n, d) = (12, 257);
    let x = on_sphere(normal(&mut rng, n, d, 1.0), 1.0);
    let memory = Memory::from_array(device, x.view()).unwrap();
    for &beta in &[12.0f64, 13.0, 14.0] {
        let mut worst = 0.0f64;
        let radius = 1.0 / (beta * n as f64);
        let mut queries = x.clone();
        let noise = on_sphere(normal(&mut rng, n, d, 1.0), 1.0);
        for (i, mut q) in queries.rows_mut().into_iter().enumerate() {
            // Anywhere from the pattern itself to the rim of S_i.
            let r = radius * (i as f64 / n as f64) * 0.999;
            q.scaled_add(r as f32, &noise.row(i));
        }
        let out = memory
            .retrieve(queries.view(), &RetrieveOptions::new(beta as f32))
            .unwrap();
        for i in 0..n {
            assert!(
                well_separated(x.view(), i, beta).unwrap(),
                "beta {beta} i {i}"
            );
            let bound = theorem5_bound(x.view(), i, queries.row(i), beta).unwrap();
            let err = (&out.states.row(i) - &x.row(i))
                .mapv(|v| f64::from(v).powi(2))
                .sum()
                .sqrt();
            worst = worst.max(err / bound);
            assert!(
                err <= bound + 1e-6,
                "beta {beta} pattern {i}: error {err:e} over Theorem 5's bound {bound:e}"
            );
        }
        eprintln!("beta {beta}: largest error / bound {worst:.3e}");
        // The bound binds: within two orders of magnitude of the measured error.
        assert!(
            worst > 1e-2,
            "beta {beta}: bound vacuous, error / bound at most {worst:e}"
        );
    }
}

/// A group of 4 similar patterns (a centre plus noise) among 8 unrelated ones, and queries
/// near the group's mean: β decides which fixed point they reach (THEORY.md).
fn fixed_point_kinds_follow_beta(device: &Device) {
    let mut rng = common::rng("fixed_point_kinds_follow_beta");
    let d = 128;
    let centre = normal(&mut rng, 1, d, 1.0);
    let group = on_sphere(&centre + &normal(&mut rng, 4, d, 0.3), 1.0);
    let others = on_sphere(normal(&mut rng, 8, d, 1.0), 1.0);
    let x = ndarray::concatenate![Axis(0), group, others];
    let memory = Memory::from_array(device, x.view()).unwrap();
    let mean = group.mean_axis(Axis(0)).unwrap();
    let queries = &mean.broadcast((3, d)).unwrap() + &normal(&mut rng, 3, d, 0.05);
    let kinds = |beta: f32| {
        let out = memory
            .retrieve(
                queries.view(),
                &RetrieveOptions::new(beta)
                    .until_converged(1e-6, 200)
                    .with_weights(),
            )
            .unwrap();
        let w = out.weights.as_ref().unwrap();
        let eff: Vec<f64> = w.rows().into_iter().map(effective_patterns).collect();
        eprintln!("beta {beta}: effective patterns {eff:?}");
        (out.fixed_points().unwrap(), out.states)
    };
    let (single, states) = kinds(400.0);
    for (q, k) in single.iter().enumerate() {
        let FixedPoint::Single { pattern } = k else {
            panic!("beta 400, query {q}: {k:?}, not a single pattern");
        };
        assert!(
            *pattern < 4,
            "query {q} went to pattern {pattern}, outside the group"
        );
        let gap = (&states.row(q) - &x.row(*pattern)).mapv(f32::abs).sum();
        assert!(gap < 1e-3, "query {q} is {gap} from pattern {pattern}");
    }
    let (meta, states) = kinds(12.0);
    for (q, k) in meta.iter().enumerate() {
        let FixedPoint::Metastable { patterns } = k else {
            panic!("beta 12, query {q}: {k:?}, not metastable");
        };
        assert!(
            patterns.len() >= 2 && patterns.iter().all(|&i| i < 4),
            "query {q}: metastable group {patterns:?} is not inside the group 0..4"
        );
        let off = (&states.row(q) - &mean).mapv(|v| v * v).sum().sqrt();
        assert!(
            off < 0.3,
            "query {q}: metastable state {off} from the group's mean"
        );
    }
    let (global, states) = kinds(1e-3);
    let all = x.mean_axis(Axis(0)).unwrap();
    for (q, k) in global.iter().enumerate() {
        assert_eq!(*k, FixedPoint::Global, "beta 1e-3, query {q}");
        let off = (&states.row(q) - &all).mapv(|v| v * v).sum().sqrt();
        assert!(
            off < 1e-2,
            "query {q}: global state {off} from the mean of all patterns"
        );
    }
}

#[test]
fn separation_matches_its_definitions() {
    let mut rng = common::rng("separation_matches_its_definitions");
    let x = on_sphere(normal(&mut rng, 9, 31, 1.0), 2.0);
    for i in 0..9 {
        // With equal norms, Δ_i = ½ min_j ‖x_i − x_j‖².
        let half_min: f64 = (0..9)
            .filter(|&j| j != i)
            .map(|j| 0.5 * (&x.row(i) - &x.row(j)).mapv(|v| f64::from(v).powi(2)).sum())
            .fold(f64::INFINITY, f64::min);
        let delta = separation(x.view(), i).unwrap();
        assert!((delta - half_min).abs() < 1e-5, "{delta} vs {half_min}");
    }
    let w = Array1::from(vec![0.5f32, 0.5, 0.0]);
    assert_eq!(
        fixed_point(w.view()),
        FixedPoint::Global,
        "two equal weights of three patterns"
    );
}

#[test]
fn bad_input_is_a_typed_error() {
    let x = ndarray::array![[1.0f32, 0.0], [0.0, 1.0]];
    assert!(matches!(
        separation(x.view(), 2),
        Err(Error::IndexOutOfRange { .. })
    ));
    assert!(matches!(
        separation(x.slice(s![..1, ..]), 0),
        Err(Error::InvalidOptions(_))
    ));
    assert!(matches!(
        well_separated(x.view(), 0, 0.0),
        Err(Error::InvalidBeta(_))
    ));
    assert!(matches!(
        capacity(1.0, 1.0, 20, 1.5),
        Err(Error::InvalidOptions(_))
    ));
    assert!(matches!(
        capacity(1.0, 1.0, 1, 0.1),
        Err(Error::InvalidOptions(_))
    ));
    assert!(matches!(
        theorem5_bound(x.view(), 0, ndarray::array![1.0f32].view(), 50.0),
        Err(Error::DimensionMismatch { .. })
    ));
    // Far outside S_0.
    assert!(matches!(
        theorem5_bound(x.view(), 0, ndarray::array![0.0f32, 1.0].view(), 50.0),
        Err(Error::InvalidOptions(_))
    ));
    // Not well separated at β = 1.
    assert!(matches!(
        theorem5_bound(x.view(), 0, x.row(0), 1.0),
        Err(Error::InvalidOptions(_))
    ));
    let nan = ndarray::array![[1.0f32, f32::NAN], [0.0, 1.0]];
    assert!(matches!(
        separation(nan.view(), 0),
        Err(Error::NonFinite { .. })
    ));
}

/// At the suggested β one update from every stored pattern lands within the tolerance of it
/// (relative to the largest norm), as Theorem 5 promises; at a quarter of it the worst pattern
/// is no longer held that tightly, so the suggestion is not needlessly large.
fn suggested_beta_retrieves_every_pattern(device: &Device) {
    let mut rng = common::rng("suggested_beta_retrieves_every_pattern");
    let tolerance = 1e-3;
    for (n, d) in [(50, 64), (7, 3), (300, 32)] {
        let x = on_sphere(normal(&mut rng, n, d, 1.0), 3.0);
        let advice = suggest_beta(x.view(), tolerance).unwrap();
        let Suggestion::Beta(beta) = advice.beta else {
            panic!("random patterns on a sphere are separated: {advice:?}")
        };
        assert_eq!(
            advice.separation.min,
            separations(x.view()).unwrap()[advice.least_separated]
        );
        let memory = Memory::from_array(device, x.view()).unwrap();
        let worst = |beta: f64| {
            let out = memory
                .retrieve(x.view(), &RetrieveOptions::new(beta as f32))
                .unwrap();
            (&out.states - &x)
                .rows()
                .into_iter()
                .map(|r| f64::from(r.dot(&r)).sqrt())
                .fold(0.0, f64::max)
        };
        let at = worst(beta);
        assert!(
            at <= tolerance * 3.0 + 1e-5,
            "N={n} d={d} β={beta}: error {at}"
        );
        let below = worst(beta / 4.0);
        assert!(below > at, "N={n} d={d}: error {below} at β/4, {at} at β");
    }
}

#[test]
fn suggest_beta_says_why_not() {
    let x = ndarray::array![[1.0f32, 0.0], [0.0, 1.0], [1.0, 0.0], [0.5, 0.5]];
    let advice = suggest_beta(x.view(), 1e-3).unwrap();
    assert_eq!(
        advice.beta,
        Suggestion::NotSeparated {
            pattern: 0,
            separation: 0.0
        }
    );
    assert!(advice.capacity.is_none());
    // A longer pattern in the same direction outscores the shorter one against itself.
    let y = ndarray::array![[1.0f32, 0.0], [2.0, 0.1], [0.0, 1.0]];
    let advice = suggest_beta(y.view(), 1e-3).unwrap();
    assert!(
        matches!(advice.beta, Suggestion::NotSeparated { pattern: 0, separation } if separation < 0.0)
    );
    for bad in [0.0, 1.0, f64::NAN] {
        assert!(matches!(
            suggest_beta(x.view(), bad),
            Err(Error::InvalidOptions(_))
        ));
    }
    assert!(matches!(
        suggest_beta(x.slice(s![..1, ..]), 1e-3),
        Err(Error::InvalidOptions(_))
    ));
}

on_every_backend!(
    theorem_5_bound_holds_on_measured_retrievals,
    fixed_point_kinds_follow_beta,
    suggested_beta_retrieves_every_pattern,
);
