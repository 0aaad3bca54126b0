//! Clamped neurons of the binary networks (`RecallOptions::clamped`), on both backends.
//!
//! A clamped neuron is checked as one whose field is always zero: the sign rule then keeps its
//! state, so every sweep is replayed against the f64 fields (binary_check, tolerance 1e-4 of
//! the terms' magnitudes as in tests/classical.rs and tests/dense.rs) with the clamped neurons
//! held exactly. Over whole recalls the clamped neurons must equal the query bit for bit.
//! Hebbian and quadratic dense fields are exact integers in f32, so there the GPU must equal
//! the CPU path bit for bit, sweep counts included, also across several dispatches per sweep.

mod binary_check;
mod common;

use binary_check::{check_sweep, signs};
use hopfield::binary::{Recall, RecallOptions, Update};
use hopfield::classical::{Classical, Rule};
use hopfield::dense::{Dense, Interaction};
use hopfield::{Device, Error, Result};
use ndarray::{s, Array1, Array2, ArrayView2, Axis};
use rand::rngs::StdRng;
use rand::RngExt;

const TOL: f64 = 1e-4;

/// A network under test.
enum Net {
    Classical(Classical),
    Dense(Dense),
}

impl Net {
    fn classical(device: &Device, patterns: ArrayView2<f32>, rule: Rule) -> Net {
        Net::Classical(Classical::train(device, patterns, rule).unwrap())
    }

    fn dense(device: &Device, patterns: ArrayView2<f32>, f: Interaction) -> Net {
        Net::Dense(Dense::new(device, patterns, f).unwrap())
    }

    fn name(&self) -> String {
        match self {
            Net::Classical(c) => format!("classical {:?}", c.rule()),
            Net::Dense(d) => format!("dense {:?}", d.interaction()),
        }
    }

    fn recall(&self, queries: ArrayView2<f32>, opts: &RecallOptions) -> Result<Recall> {
        match self {
            Net::Classical(c) => c.recall(queries, opts),
            Net::Dense(d) => d.recall(queries, opts),
        }
    }

    fn energy(&self, states: ArrayView2<f32>) -> Array1<f64> {
        match self {
            Net::Classical(c) => c.energy(states),
            Net::Dense(d) => d.energy(states),
        }
        .unwrap()
    }

    /// The f64 field of neuron l and the sum of the magnitudes of its terms.
    fn field(&self, s: &[f32], l: usize) -> (f64, f64) {
        match self {
            Net::Classical(c) => {
                let (w, theta) = (c.weights(), c.thresholds());
                let terms = (0..s.len()).map(|j| w[[l, j]] * f64::from(s[j]));
                let h = terms.clone().sum::<f64>() - theta[l];
                (h, terms.map(f64::abs).sum::<f64>() + theta[l].abs())
            }
            Net::Dense(d) => {
                let f = d.interaction();
                let (mut h, mut scale) = (0.0, 0.0);
                for x in d.patterns().rows() {
                    let rest: f64 = (0..s.len())
                        .filter(|&j| j != l)
                        .map(|j| f64::from(x[j] * s[j]))
                        .sum();
                    let plus = f.apply(rest + f64::from(x[l]));
                    let minus = f.apply(rest - f64::from(x[l]));
                    h += plus - minus;
                    scale += plus.abs() + minus.abs();
                }
                (h, scale)
            }
        }
    }
}

fn updates(rng: &mut StdRng) -> [Update; 2] {
    [
        Update::Synchronous,
        Update::Asynchronous { seed: rng.random() },
    ]
}

/// `rows`×`d` flags, each set with probability `p`.
fn mask(rng: &mut StdRng, rows: usize, d: usize, p: f64) -> Array2<bool> {
    Array2::from_shape_simple_fn((rows, d), || rng.random_bool(p))
}

/// Row `q` of a B×d or 1×d mask.
fn row_of(mask: &Array2<bool>, q: usize) -> Vec<bool> {
    mask.row(if mask.nrows() == 1 { 0 } else { q }).to_vec()
}

/// Every entry of `states` that `mask` clamps equals the query's, bit for bit.
fn assert_clamped_kept(
    what: &str,
    queries: &Array2<f32>,
    states: &Array2<f32>,
    mask: &Array2<bool>,
) {
    for (q, (a, b)) in queries.rows().into_iter().zip(states.rows()).enumerate() {
        for (l, &c) in row_of(mask, q).iter().enumerate() {
            assert!(
                !c || a[l].to_bits() == b[l].to_bits(),
                "{what}: query {q}: clamped neuron {l} went from {} to {}",
                a[l],
                b[l]
            );
        }
    }
}

/// A classical network (both rules, thresholds on Storkey's) and dense ones over `patterns`.
fn networks(device: &Device, rng: &mut StdRng, patterns: &Array2<f32>) -> Vec<Net> {
    let d = patterns.ncols();
    let mut storkey = Classical::train(device, patterns.view(), Rule::Storkey).unwrap();
    let theta = Array1::from_shape_simple_fn(d, || rng.random_range(-0.2f32..0.2));
    storkey.set_thresholds(theta.view()).unwrap();
    vec![
        Net::classical(device, patterns.view(), Rule::Hebbian),
        Net::Classical(storkey),
        Net::dense(device, patterns.view(), Interaction::Polynomial(3)),
        Net::dense(
            device,
            patterns.view(),
            Interaction::Exponential { beta: 0.5 },
        ),
    ]
}

/// Single sweeps on random awkward shapes and masks (1×d and B×d), each replayed against the
/// f64 fields with the clamped neurons' fields taken as zero; then whole recalls, whose
/// clamped neurons must be the queries' and whose energies those of the final states.
fn sweeps_hold_clamped_neurons_and_follow_the_f64_fields(device: &Device) {
    let mut rng = common::rng("sweeps_hold_clamped_neurons_and_follow_the_f64_fields");
    for case in 0..common::cases(4) {
        let d = common::awkward(&mut rng).max(2);
        let p = rng.random_range(1..=(d / 4).max(1) + 2);
        let b = [1, 4, 9][case % 3];
        let patterns = signs(&mut rng, p, d);
        let clamp = mask(&mut rng, [1, b][case % 2], d, 0.3);
        for net in networks(device, &mut rng, &patterns) {
            for update in updates(&mut rng) {
                let what = format!("case {case}: d={d} P={p} B={b} {} {update:?}", net.name());
                let queries = signs(&mut rng, b, d);
                let mut states = queries.clone();
                for _ in 0..3 {
                    let opts = RecallOptions::new(update)
                        .max_sweeps(1)
                        .clamped(clamp.clone());
                    let out = net.recall(states.view(), &opts).unwrap();
                    for q in 0..b {
                        let held = row_of(&clamp, q);
                        let rows = s![q..q + 1, ..];
                        let (before, after) = (states.slice(rows), out.states.slice(rows));
                        check_sweep(&what, before, after, update, TOL, |s, l| {
                            if held[l] {
                                (0.0, 0.0)
                            } else {
                                net.field(s, l)
                            }
                        });
                    }
                    states = out.states;
                }
                let opts = RecallOptions::new(update)
                    .max_sweeps(30)
                    .clamped(clamp.clone());
                let out = net.recall(queries.view(), &opts).unwrap();
                assert_clamped_kept(&what, &queries, &out.states, &clamp);
                assert_eq!(
                    out.energy,
                    net.energy(out.states.view()),
                    "{what}: energies"
                );
            }
        }
    }
}

/// The shapes of the parity test: random awkward ones, and ones whose sweeps take several
/// dispatches (a classical asynchronous sweep over d = 700 neurons; dense sweeps over
/// N = 1700 patterns), where clamped neurons must sit out every dispatch but write the last.
fn parity_shapes(rng: &mut StdRng) -> Vec<(usize, usize, usize)> {
    let mut shapes: Vec<_> = (0..common::cases(3))
        .map(|_| {
            let d = common::awkward(rng).clamp(2, 129);
            (
                d,
                rng.random_range(1..=d / 3 + 2),
                common::awkward(rng).min(20),
            )
        })
        .collect();
    shapes.extend([(700, 9, 3), (16, 1700, 5), (130, 1700, 3)]);
    shapes
}

/// Where the fields are exact in f32 (Hebbian weights; quadratic dense fields, and cubic ones
/// up to d = 129, whose terms stay below 2^24) the GPU takes exactly the CPU path's decisions with clamps: same states,
/// sweeps, convergence and energies.
#[test]
fn clamped_recall_is_identical_on_gpu_and_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let mut rng = common::rng("clamped_recall_is_identical_on_gpu_and_cpu");
    for (case, (d, p, b)) in parity_shapes(&mut rng).into_iter().enumerate() {
        let patterns = signs(&mut rng, p, d);
        let queries = signs(&mut rng, b, d);
        let mut kinds: Vec<fn(&Device, &Array2<f32>) -> Net> =
            vec![|dev, x| Net::dense(dev, x.view(), Interaction::Polynomial(2))];
        if p < 1000 {
            kinds.push(|dev, x| Net::classical(dev, x.view(), Rule::Hebbian));
        }
        if p < 1000 && d <= 129 {
            kinds.push(|dev, x| Net::dense(dev, x.view(), Interaction::Polynomial(3)));
        }
        for (k, make) in kinds.iter().enumerate() {
            // Alternately one mask for the batch and one per query.
            let clamp = mask(&mut rng, [1, b][(case + k) % 2], d, 0.4);
            for update in updates(&mut rng) {
                let opts = RecallOptions::new(update)
                    .max_sweeps(25)
                    .clamped(clamp.clone());
                let nets = [make(&Device::cpu(), &patterns), make(&gpu, &patterns)];
                let what = format!(
                    "case {case}: d={d} P={p} B={b} {} {update:?}",
                    nets[0].name()
                );
                let cpu = nets[0].recall(queries.view(), &opts).unwrap();
                let on_gpu = nets[1].recall(queries.view(), &opts).unwrap();
                assert_eq!(cpu, on_gpu, "{what}");
                assert_clamped_kept(&what, &queries, &on_gpu.states, &clamp);
            }
        }
    }
}

/// The classic use: half of each query's neurons (its own random half) clamped to a stored
/// pattern's values, the rest random; recall completes that pattern.
fn a_clamped_half_completes_its_pattern(device: &Device) {
    let mut rng = common::rng("a_clamped_half_completes_its_pattern");
    let d = 127;
    // Four patterns at d = 127 (load 0.03): every one a fixed point of Hebb's rule.
    let patterns = signs(&mut rng, 4, d);
    let nets = [
        Net::classical(device, patterns.view(), Rule::Hebbian),
        Net::dense(
            device,
            patterns.view(),
            Interaction::Exponential { beta: 0.5 },
        ),
    ];
    let picks: Vec<usize> = (0..12).map(|q| q % patterns.nrows()).collect();
    let targets = patterns.select(Axis(0), &picks);
    let mut clamp = Array2::from_elem((picks.len(), d), false);
    for mut row in clamp.rows_mut() {
        let mut order: Vec<usize> = (0..d).collect();
        for i in (1..d).rev() {
            order.swap(i, rng.random_range(0..=i));
        }
        for &l in &order[..d / 2] {
            row[l] = true;
        }
    }
    let noise = signs(&mut rng, picks.len(), d);
    let mut cues = targets.clone();
    ndarray::Zip::from(&mut cues)
        .and(&clamp)
        .and(&noise)
        .for_each(|c, &held, &n| {
            if !held {
                *c = n;
            }
        });
    for net in &nets {
        for update in updates(&mut rng) {
            let opts = RecallOptions::new(update)
                .max_sweeps(30)
                .clamped(clamp.clone());
            let out = net.recall(cues.view(), &opts).unwrap();
            let what = format!("{} {update:?}", net.name());
            assert_eq!(out.states, targets, "{what}: not completed");
            assert!(out.converged.iter().all(|&c| c), "{what}: {:?}", out.sweeps);
        }
    }
}

/// With every neuron clamped nothing can move: the queries come back as they are, converged
/// after one sweep, with their own energies; one mask for the batch or one per query.
fn a_fully_clamped_query_stays_and_converges_in_one_sweep(device: &Device) {
    let mut rng = common::rng("a_fully_clamped_query_stays_and_converges_in_one_sweep");
    let d = common::awkward(&mut rng).max(2);
    let b = common::awkward(&mut rng).min(20);
    let patterns = signs(&mut rng, 3, d);
    // Random queries: unclamped, most of them would move.
    let queries = signs(&mut rng, b, d);
    for net in networks(device, &mut rng, &patterns) {
        for rows in [1, b] {
            for update in updates(&mut rng) {
                let clamp = Array2::from_elem((rows, d), true);
                let opts = RecallOptions::new(update).clamped(clamp);
                let out = net.recall(queries.view(), &opts).unwrap();
                let what = format!("d={d} B={b} {} {update:?} mask {rows}×{d}", net.name());
                assert_eq!(out.states, queries, "{what}");
                assert_eq!(out.sweeps, vec![1; b], "{what}");
                assert_eq!(out.converged, vec![true; b], "{what}");
                assert_eq!(out.energy, net.energy(queries.view()), "{what}");
            }
        }
    }
}

/// A mask neither B×d nor 1×d is `Error::InvalidOptions` naming its shape, for either update.
fn bad_masks_are_typed_errors(device: &Device) {
    let mut rng = common::rng("bad_masks_are_typed_errors");
    let (d, b) = (7, 3);
    let patterns = signs(&mut rng, 2, d);
    let queries = signs(&mut rng, b, d);
    for net in networks(device, &mut rng, &patterns) {
        for update in updates(&mut rng) {
            for (rows, cols) in [(1, d + 1), (1, d - 1), (2, d), (0, d), (b + 1, d), (b, 1)] {
                let opts =
                    RecallOptions::new(update).clamped(Array2::from_elem((rows, cols), true));
                let what = format!("{} {update:?} mask {rows}×{cols}", net.name());
                match net.recall(queries.view(), &opts) {
                    Err(Error::InvalidOptions(msg)) => assert!(
                        msg.contains(&format!("clamp mask is {rows}×{cols}")),
                        "{what}: {msg}"
                    ),
                    other => panic!("{what}: {other:?}"),
                }
            }
            // The shapes that are right, an empty batch's 0×d among them.
            let none = Array2::<f32>::zeros((0, d));
            let opts = RecallOptions::new(update).clamped(Array2::from_elem((0, d), true));
            assert_eq!(net.recall(none.view(), &opts).unwrap().states.dim(), (0, d));
            for rows in [1, b] {
                let opts = RecallOptions::new(update).clamped(Array2::from_elem((rows, d), false));
                assert!(net.recall(queries.view(), &opts).is_ok(), "{rows}×{d}");
            }
        }
    }
}

on_every_backend!(
    sweeps_hold_clamped_neurons_and_follow_the_f64_fields,
    a_clamped_half_completes_its_pattern,
    a_fully_clamped_query_stays_and_converges_in_one_sweep,
    bad_masks_are_typed_errors,
);
