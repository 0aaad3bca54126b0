//! Dense associative memory (polynomial, rectified polynomial, exponential) on both backends.
//!
//! Parity: every sweep (synchronous and asynchronous, each interaction) on random awkward
//! shapes is replayed against f64 fields computed straight from the definition,
//! Σ_μ F(ξ_μ·σ^{(l+)}) − F(ξ_μ·σ^{(l−)}) (binary_check); a decision may differ from the f64
//! sign only where |field| ≤ 1e-4 · Σ_μ (|F(ξ_μ·σ^{(l+)})| + |F(ξ_μ·σ^{(l−)})|) (f32 sums and
//! exponentials). Exponential cases include β·d far past f32's exp range (88), so the kernels'
//! max-shift is exercised. Energies: asynchronous sweeps never raise E = −Σ_μ F(ξ_μ·σ) beyond
//! 1e-9·(1 + |E|). Capacity runs on the CPU path with fixed seeds (parity covers the GPU).

mod binary_check;
mod common;

use binary_check::{check_sweep, corrupt, exact_rate, signs};
use hopfield::binary::{RecallOptions, Update};
use hopfield::dense::{Dense, Interaction};
use hopfield::{Device, Error};
use ndarray::{Array2, Axis};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const TOL: f64 = 1e-4;

const INTERACTIONS: [Interaction; 5] = [
    Interaction::Polynomial(2),
    Interaction::Polynomial(3),
    Interaction::RectifiedPolynomial(4),
    Interaction::Exponential { beta: 0.5 },
    Interaction::Exponential { beta: 2.0 },
];

/// The f64 field of neuron l from the definition, and the sum of its terms' magnitudes.
fn field(net: &Dense, s: &[f32], l: usize) -> (f64, f64) {
    let f = net.interaction();
    let (mut h, mut scale) = (0.0, 0.0);
    for x in net.patterns().rows() {
        let rest: f64 = (0..s.len())
            .filter(|&j| j != l)
            .map(|j| f64::from(x[j] * s[j]))
            .sum();
        let (plus, minus) = (
            f.apply(rest + f64::from(x[l])),
            f.apply(rest - f64::from(x[l])),
        );
        h += plus - minus;
        scale += plus.abs() + minus.abs();
    }
    (h, scale)
}

fn sweeps_follow_the_f64_fields(device: &Device) {
    let mut rng = common::rng("sweeps_follow_the_f64_fields");
    for case in 0..common::cases(10) {
        let interaction = INTERACTIONS[case % INTERACTIONS.len()];
        // d ≤ 300 keeps exp(β·d) inside f64 for the reference.
        let d = common::awkward(&mut rng).max(2);
        let n = common::awkward(&mut rng).min(70);
        let b = [1, 5, 33][case % 3];
        let patterns = signs(&mut rng, n, d);
        let net = Dense::new(device, patterns.view(), interaction).unwrap();
        for update in [
            Update::Synchronous,
            Update::Asynchronous { seed: rng.random() },
        ] {
            let what = format!("case {case}: d={d} N={n} B={b} {interaction:?} {update:?}");
            let picks: Vec<usize> = (0..b).map(|_| rng.random_range(0..n)).collect();
            let mut states = corrupt(&mut rng, patterns.select(Axis(0), &picks).view(), 0.35);
            for _ in 0..2 {
                let opts = RecallOptions::new(update).max_sweeps(1);
                let out = net.recall(states.view(), &opts).unwrap();
                check_sweep(
                    &what,
                    states.view(),
                    out.states.view(),
                    update,
                    TOL,
                    |s, l| field(&net, s, l),
                );
                assert_eq!(net.energy(out.states.view()).unwrap(), out.energy, "{what}");
                states = out.states;
            }
        }
    }
}

/// Krotov & Hopfield: each asynchronous flip lowers E = −Σ_μ F(ξ_μ·σ).
fn asynchronous_updates_never_increase_energy(device: &Device) {
    let mut rng = common::rng("asynchronous_updates_never_increase_energy");
    for (case, interaction) in INTERACTIONS.iter().enumerate() {
        let d = [17, 64, 100][case % 3];
        let patterns = signs(&mut rng, 2 * d, d);
        let net = Dense::new(device, patterns.view(), *interaction).unwrap();
        let mut states = signs(&mut rng, 6, d);
        let mut energy = net.energy(states.view()).unwrap();
        for sweep in 0..4 {
            let opts = RecallOptions::asynchronous(rng.random()).max_sweeps(1);
            let out = net.recall(states.view(), &opts).unwrap();
            for (q, (after, before)) in out.energy.iter().zip(&energy).enumerate() {
                assert!(
                    *after <= before + 1e-9 * (1.0 + before.abs()),
                    "{interaction:?} sweep {sweep} query {q}: E rose {before} -> {after}"
                );
            }
            energy = out.energy;
            states = out.states;
        }
    }
}

/// Whole recalls with the exponential at β·d = 257 ≫ 88 (where an unshifted f32 exp would
/// overflow) bring corrupted patterns back.
fn recall_reaches_stored_patterns(device: &Device) {
    let mut rng = common::rng("recall_reaches_stored_patterns");
    let d = 257;
    let patterns = signs(&mut rng, 40, d);
    let net = Dense::new(
        device,
        patterns.view(),
        Interaction::Exponential { beta: 1.0 },
    )
    .unwrap();
    let noisy = corrupt(&mut rng, patterns.view(), 0.2);
    for update in [Update::Synchronous, Update::Asynchronous { seed: 3 }] {
        let out = net
            .recall(noisy.view(), &RecallOptions::new(update).max_sweeps(20))
            .unwrap();
        assert_eq!(out.states, patterns, "{update:?}");
        assert!(out.converged.iter().all(|&c| c));
    }
}

/// Recall rate from stored patterns with 10 % of the bits flipped, asynchronous, CPU path.
fn recall_rate(interaction: Interaction, d: usize, n: usize, seed: u64) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let patterns = signs(&mut rng, n, d);
    let net = Dense::new(&Device::cpu(), patterns.view(), interaction).unwrap();
    let noisy = corrupt(&mut rng, patterns.view(), 0.1);
    let out = net
        .recall(
            noisy.view(),
            &RecallOptions::asynchronous(seed).max_sweeps(20),
        )
        .unwrap();
    exact_rate(out.states.view(), patterns.view())
}

/// Polynomial n = 3 (capacity ~ d²) and exponential (~ 2^{d/2}) memories recall at 1.0·d
/// patterns, seven times the classical network's 0.14·d, where n = 2 (the classical network)
/// fails.
#[test]
fn capacity_far_beyond_the_classical_network() {
    let (d, n) = (100, 100);
    let classical = recall_rate(Interaction::Polynomial(2), d, n, 21);
    let cubic = recall_rate(Interaction::Polynomial(3), d, n, 22);
    let exponential = recall_rate(Interaction::Exponential { beta: 1.0 }, d, n, 23);
    eprintln!("N = d = {d}: n=2 {classical}, n=3 {cubic}, exp {exponential}");
    assert!(classical <= 0.1, "n = 2 recalled {classical} at N = d");
    assert!(cubic >= 0.95, "n = 3 recalled only {cubic} at N = d");
    assert!(
        exponential >= 0.99,
        "exponential recalled only {exponential} at N = d"
    );
}

#[test]
fn bad_input_is_a_typed_error() {
    let dev = Device::cpu();
    let p = ndarray::array![[1.0f32, -1.0, 1.0]];
    let bad = ndarray::array![[1.0f32, 0.0, 1.0]];
    assert!(matches!(
        Dense::new(&dev, bad.view(), Interaction::Polynomial(3)),
        Err(Error::NotBinary { col: 1, .. })
    ));
    assert!(matches!(
        Dense::new(&dev, p.view(), Interaction::Polynomial(0)),
        Err(Error::InvalidOptions(_))
    ));
    let wide = Array2::<f32>::ones((1, 100));
    assert!(matches!(
        Dense::new(&dev, wide.view(), Interaction::Polynomial(40)),
        Err(Error::InvalidOptions(_))
    ));
    assert!(matches!(
        Dense::new(&dev, p.view(), Interaction::Exponential { beta: f32::NAN }),
        Err(Error::InvalidBeta(_))
    ));
    assert!(matches!(
        Dense::new(&dev, p.view(), Interaction::Exponential { beta: -1.0 }),
        Err(Error::InvalidBeta(_))
    ));
    assert_eq!(
        Dense::new(
            &dev,
            Array2::<f32>::zeros((0, 4)).view(),
            Interaction::Polynomial(3)
        )
        .err(),
        Some(Error::EmptyMemory)
    );
    let net = Dense::new(&dev, p.view(), Interaction::Polynomial(3)).unwrap();
    assert!(matches!(
        net.recall(
            ndarray::array![[1.0f32, f32::NAN, 1.0]].view(),
            &RecallOptions::synchronous()
        ),
        Err(Error::NonFinite { .. })
    ));
    assert!(matches!(
        net.energy(ndarray::array![[1.0f32]].view()),
        Err(Error::DimensionMismatch { .. })
    ));
}

on_every_backend!(
    sweeps_follow_the_f64_fields,
    asynchronous_updates_never_increase_energy,
    recall_reaches_stored_patterns,
);
