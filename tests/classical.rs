//! The classical binary Hopfield network on both backends.
//!
//! Parity: every sweep (synchronous and asynchronous, Hebbian and Storkey, with and without
//! thresholds) on random awkward shapes is replayed against f64 fields (binary_check); a
//! decision may differ from the f64 sign only where |field| ≤ 1e-4 · Σ_j |W_ij σ_j| (f32
//! summation). Hebbian weights are kept as integers (d·W), so with zero thresholds the fields
//! are exact and the GPU must equal the CPU path bit for bit over whole recalls.
//! Energies: asynchronous sweeps never raise E beyond 1e-9·(1 + |E|) (f64 energies of f32
//! decisions). Capacity runs on the CPU path only, with fixed seeds: the GPU takes the same
//! decisions (the parity tests) and would only be slower on a software adapter.

mod binary_check;
mod common;

use binary_check::{check_sweep, corrupt, exact_rate, signs};
use hopfield::binary::{RecallOptions, Update};
use hopfield::classical::{Classical, Rule};
use hopfield::{Device, Error};
use ndarray::{Array1, Array2};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

const TOL: f64 = 1e-4;

fn check(net: &Classical, what: &str, before: &Array2<f32>, after: &Array2<f32>, u: Update) {
    let w = net.weights();
    let theta = net.thresholds();
    check_sweep(what, before.view(), after.view(), u, TOL, |s, l| {
        let terms = (0..s.len()).map(|j| w[[l, j]] * f64::from(s[j]));
        let h = terms.clone().sum::<f64>() - theta[l];
        (h, terms.map(f64::abs).sum::<f64>() + theta[l].abs())
    });
}

fn updates(seed: u64) -> [Update; 2] {
    [Update::Synchronous, Update::Asynchronous { seed }]
}

/// Sweep by sweep on random awkward shapes, each sweep against the f64 fields.
fn sweeps_follow_the_f64_fields(device: &Device) {
    let mut rng = common::rng("sweeps_follow_the_f64_fields");
    for case in 0..common::cases(6) {
        let d = common::awkward(&mut rng).max(2);
        let p = rng.random_range(1..=(d / 4).max(1) + 2);
        let b = [1, 3, 17][case % 3];
        let rule = [Rule::Hebbian, Rule::Storkey][case % 2];
        let patterns = signs(&mut rng, p, d);
        let mut net = Classical::train(device, patterns.view(), rule).unwrap();
        if case % 3 == 2 {
            let theta = Array1::from_shape_simple_fn(d, || rng.random_range(-0.3f32..0.3));
            net.set_thresholds(theta.view()).unwrap();
        }
        for update in updates(rng.random()) {
            let what = format!("case {case}: d={d} P={p} B={b} {rule:?} {update:?}");
            let mut states = corrupt(
                &mut rng,
                patterns.select(ndarray::Axis(0), &vec![0; b]).view(),
                0.3,
            );
            for _ in 0..3 {
                let opts = RecallOptions::new(update).max_sweeps(1);
                let out = net.recall(states.view(), &opts).unwrap();
                check(&net, &what, &states, &out.states, update);
                let e = net.energy(out.states.view()).unwrap();
                assert_eq!(e, out.energy, "{what}: energies");
                states = out.states;
            }
        }
    }
}

/// Hebbian fields are sums of integers: the GPU takes exactly the CPU path's decisions.
#[test]
fn hebbian_recall_is_identical_on_gpu_and_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let mut rng = common::rng("hebbian_recall_is_identical_on_gpu_and_cpu");
    for case in 0..common::cases(4) {
        let d = common::awkward(&mut rng).max(2);
        let p = rng.random_range(1..=d / 3 + 2);
        let b = common::awkward(&mut rng).min(40);
        let patterns = signs(&mut rng, p, d);
        let queries = signs(&mut rng, b, d);
        for update in updates(rng.random()) {
            let opts = RecallOptions::new(update).max_sweeps(30);
            let outs: Vec<_> = [Device::cpu(), gpu.clone()]
                .iter()
                .map(|dev| {
                    Classical::train(dev, patterns.view(), Rule::Hebbian)
                        .unwrap()
                        .recall(queries.view(), &opts)
                        .unwrap()
                })
                .collect();
            assert_eq!(
                outs[0], outs[1],
                "case {case}: d={d} P={p} B={b} {update:?}"
            );
        }
    }
}

/// A converged state is a fixed point: one more sweep from it changes nothing.
fn converged_states_are_fixed_points(device: &Device) {
    let mut rng = common::rng("converged_states_are_fixed_points");
    let patterns = signs(&mut rng, 7, 61);
    let net = Classical::train(device, patterns.view(), Rule::Storkey).unwrap();
    let queries = signs(&mut rng, 9, 61);
    let out = net
        .recall(queries.view(), &RecallOptions::asynchronous(rng.random()))
        .unwrap();
    assert!(out.converged.iter().all(|&c| c), "{:?}", out.sweeps);
    let again = net
        .recall(
            out.states.view(),
            &RecallOptions::asynchronous(rng.random()),
        )
        .unwrap();
    assert_eq!(again.states, out.states);
    assert!(again.sweeps.iter().all(|&s| s == 1));
    // An empty batch is an empty result, not an error.
    let none = net
        .recall(
            Array2::<f32>::zeros((0, 61)).view(),
            &RecallOptions::synchronous(),
        )
        .unwrap();
    assert_eq!(none.states.dim(), (0, 61));
    assert!(none.sweeps.is_empty() && none.energy.is_empty());
}

/// Hopfield (1982): asynchronous updates never raise E = −½σᵀWσ + θᵀσ.
fn asynchronous_updates_never_increase_energy(device: &Device) {
    let mut rng = common::rng("asynchronous_updates_never_increase_energy");
    for case in 0..common::cases(4) {
        let d = [13, 64, 97, 128][case % 4];
        let patterns = signs(&mut rng, d / 5 + 1, d);
        let rule = [Rule::Hebbian, Rule::Storkey][case % 2];
        let mut net = Classical::train(device, patterns.view(), rule).unwrap();
        let theta = Array1::from_shape_simple_fn(d, || rng.random_range(-0.2f32..0.2));
        net.set_thresholds(theta.view()).unwrap();
        let mut states = signs(&mut rng, 8, d);
        let mut energy = net.energy(states.view()).unwrap();
        for sweep in 0..6 {
            let opts = RecallOptions::asynchronous(rng.random()).max_sweeps(1);
            let out = net.recall(states.view(), &opts).unwrap();
            for (q, (after, before)) in out.energy.iter().zip(&energy).enumerate() {
                assert!(
                    *after <= before + 1e-9 * (1.0 + before.abs()),
                    "case {case} {rule:?} sweep {sweep} query {q}: E rose {before} -> {after}"
                );
            }
            energy = out.energy;
            states = out.states;
        }
    }
}

/// Synchronous updates with symmetric weights end in a fixed point or a 2-cycle (Goles;
/// Peretto): after a transient, σ(t + 2) = σ(t), and no longer cycle appears.
fn synchronous_updates_end_in_a_fixed_point_or_a_two_cycle(device: &Device) {
    let mut rng = common::rng("synchronous_updates_end_in_a_fixed_point_or_a_two_cycle");
    let mut two_cycles = 0;
    for case in 0..common::cases(4) {
        let d = [31, 64, 100, 129][case % 4];
        let rule = [Rule::Hebbian, Rule::Storkey][case % 2];
        // Overloaded, so that 2-cycles occur.
        let patterns = signs(&mut rng, d / 2, d);
        let net = Classical::train(device, patterns.view(), rule).unwrap();
        let queries = signs(&mut rng, 16, d);
        let settled = net
            .recall(queries.view(), &RecallOptions::synchronous().max_sweeps(60))
            .unwrap();
        let one = RecallOptions::synchronous().max_sweeps(1);
        let s1 = net.recall(settled.states.view(), &one).unwrap().states;
        let s2 = net.recall(s1.view(), &one).unwrap().states;
        for q in 0..queries.nrows() {
            assert_eq!(
                s2.row(q),
                settled.states.row(q),
                "case {case} {rule:?} query {q}: not periodic with period 1 or 2 after 60 sweeps"
            );
            if s1.row(q) != settled.states.row(q) {
                two_cycles += 1;
                assert!(!settled.converged[q], "a 2-cycle reported as converged");
            }
        }
    }
    eprintln!("{two_cycles} queries ended in a 2-cycle");
}

/// Recall rate from stored patterns with 5 % of the bits flipped, asynchronous, CPU path.
fn recall_rate(rule: Rule, d: usize, p: usize, seed: u64) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed);
    let patterns = signs(&mut rng, p, d);
    let net = Classical::train(&Device::cpu(), patterns.view(), rule).unwrap();
    let noisy = corrupt(&mut rng, patterns.view(), 0.05);
    let out = net
        .recall(
            noisy.view(),
            &RecallOptions::asynchronous(seed).max_sweeps(30),
        )
        .unwrap();
    exact_rate(out.states.view(), patterns.view())
}

/// Amit–Gutfreund–Sompolinsky: Hebbian recall is near-perfect at 0.05·d and gone well before
/// 0.3·d (d = 200); Storkey's rule still recalls at a load where Hebb's has broken down.
#[test]
fn capacity_hebbian_and_storkey() {
    let d = 200;
    let low = recall_rate(Rule::Hebbian, d, 10, 11);
    let high = recall_rate(Rule::Hebbian, d, 60, 12);
    let hebb_mid = recall_rate(Rule::Hebbian, d, 36, 13);
    let storkey_mid = recall_rate(Rule::Storkey, d, 36, 13);
    eprintln!(
        "Hebbian 0.05d: {low}, 0.3d: {high}; at 0.18d Hebbian {hebb_mid}, Storkey {storkey_mid}"
    );
    assert!(low >= 0.95, "Hebbian at 0.05·d recalled only {low}");
    assert!(high <= 0.1, "Hebbian at 0.3·d still recalled {high}");
    assert!(
        storkey_mid >= hebb_mid + 0.3,
        "Storkey {storkey_mid} not beyond Hebbian {hebb_mid} at 0.18·d"
    );
}

#[test]
fn bad_input_is_a_typed_error() {
    let dev = Device::cpu();
    let mut bad = ndarray::array![[1.0f32, -1.0, 1.0], [1.0, 0.5, -1.0]];
    assert!(matches!(
        Classical::train(&dev, bad.view(), Rule::Hebbian),
        Err(Error::NotBinary { row: 1, col: 1, .. })
    ));
    bad[[1, 1]] = f32::NAN;
    assert!(matches!(
        Classical::train(&dev, bad.view(), Rule::Storkey),
        Err(Error::NonFinite { row: 1, col: 1, .. })
    ));
    let empty = Array2::<f32>::zeros((0, 3));
    assert_eq!(
        Classical::train(&dev, empty.view(), Rule::Hebbian).err(),
        Some(Error::EmptyMemory)
    );
    let patterns = ndarray::array![[1.0f32, -1.0, 1.0]];
    let mut net = Classical::train(&dev, patterns.view(), Rule::Hebbian).unwrap();
    let q = ndarray::array![[1.0f32, -1.0]];
    assert!(matches!(
        net.recall(q.view(), &RecallOptions::synchronous()),
        Err(Error::DimensionMismatch {
            expected: 3,
            got: 2,
            ..
        })
    ));
    assert_eq!(
        net.recall(patterns.view(), &RecallOptions::synchronous().max_sweeps(0))
            .err(),
        Some(Error::InvalidSteps(0))
    );
    let before = net.thresholds();
    assert!(net
        .set_thresholds(ndarray::array![0.1f32, f32::INFINITY, 0.0].view())
        .is_err());
    assert!(net.set_thresholds(ndarray::array![0.1f32].view()).is_err());
    assert_eq!(
        net.thresholds(),
        before,
        "a failed call changed the thresholds"
    );
}

on_every_backend!(
    sweeps_follow_the_f64_fields,
    converged_states_are_fixed_points,
    asynchronous_updates_never_increase_energy,
    synchronous_updates_end_in_a_fixed_point_or_a_two_cycle,
);
