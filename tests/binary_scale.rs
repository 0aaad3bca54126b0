//! The binary networks at sizes where one shader invocation walking a whole axis would pass
//! the 65,535 loop iterations after which Mesa's llvmpipe/lavapipe silently cuts it: d in the
//! thousands (the asynchronous sweeps walk d neurons, each a pass over d or N), N in the
//! thousands (each dense field is a pass over N), d past 65,535 (each overlap is a pass over d).
//!
//! Parity: one sweep from a corrupted pattern, synchronous and asynchronous, replayed against
//! the f64 fields (binary_check, tolerance 1e-4 of the terms' magnitudes) on both backends;
//! where every field is an integer below 2^24 (Hebbian weights d·W with zero thresholds, the
//! polynomial F(z) = z² at these sizes), whole recalls on the GPU equal the CPU path's bit for
//! bit. Few queries and cases keep the file under a minute on lavapipe.

mod binary_check;
mod common;

use std::cell::RefCell;

use binary_check::{check_sweep, corrupt, signs};
use hopfield::binary::{RecallOptions, Update};
use hopfield::classical::{Classical, Rule};
use hopfield::dense::{Dense, Interaction};
use hopfield::Device;
use ndarray::{Array2, Axis};
use rand::rngs::StdRng;
use rand::RngExt;

const TOL: f64 = 1e-4;

fn updates(rng: &mut StdRng) -> [Update; 2] {
    [
        Update::Synchronous,
        Update::Asynchronous { seed: rng.random() },
    ]
}

/// `b` copies of pattern 0 with 20 % of the signs flipped.
fn queries(rng: &mut StdRng, patterns: &Array2<f32>, b: usize) -> Array2<f32> {
    corrupt(rng, patterns.select(Axis(0), &vec![0; b]).view(), 0.2)
}

fn one_sweep(update: Update) -> RecallOptions {
    RecallOptions::new(update).max_sweeps(1)
}

/// One sweep of a classical network (d thousands) against its f64 fields.
fn classical_sweeps_at_scale(device: &Device) {
    let mut rng = common::rng("classical_sweeps_at_scale");
    for (rule, d, p, b) in [(Rule::Hebbian, 4099, 37, 2), (Rule::Storkey, 3001, 23, 1)] {
        let patterns = signs(&mut rng, p, d);
        let net = Classical::train(device, patterns.view(), rule).unwrap();
        let w = net.weights();
        for update in updates(&mut rng) {
            let what = format!("{rule:?} d={d} P={p} B={b} {update:?}");
            let before = queries(&mut rng, &patterns, b);
            let after = net
                .recall(before.view(), &one_sweep(update))
                .unwrap()
                .states;
            check_sweep(&what, before.view(), after.view(), update, TOL, |s, l| {
                let terms = (0..d).map(|j| w[[l, j]] * f64::from(s[j]));
                (terms.clone().sum(), terms.map(f64::abs).sum())
            });
        }
    }
}

/// The f64 field of neuron l of a dense network, from overlaps kept in step with the state
/// (recomputing them per neuron would cost N·d² per sweep).
fn dense_field(net: &Dense) -> impl Fn(&[f32], usize) -> (f64, f64) + '_ {
    let cache: RefCell<Option<(Vec<f32>, Vec<f64>)>> = RefCell::new(None);
    let x = net.patterns();
    let f = net.interaction();
    move |s, l| {
        let mut cache = cache.borrow_mut();
        let (state, overlaps) = cache.get_or_insert_with(|| {
            let m = x.rows().into_iter().map(|r| overlap(r, s)).collect();
            (s.to_vec(), m)
        });
        for j in 0..s.len() {
            if state[j] != s[j] {
                let moved = f64::from(s[j] - state[j]);
                for (m, r) in overlaps.iter_mut().zip(x.rows()) {
                    *m += moved * f64::from(r[j]);
                }
                state[j] = s[j];
            }
        }
        let (mut h, mut scale) = (0.0, 0.0);
        for (m, r) in overlaps.iter().zip(x.rows()) {
            let xl = f64::from(r[l]);
            let rest = m - f64::from(s[l]) * xl;
            let (plus, minus) = (f.apply(rest + xl), f.apply(rest - xl));
            h += plus - minus;
            scale += plus.abs() + minus.abs();
        }
        (h, scale)
    }
}

fn overlap(row: ndarray::ArrayView1<f32>, s: &[f32]) -> f64 {
    row.iter().zip(s).map(|(a, b)| f64::from(a * b)).sum()
}

/// Dense shapes past the loop limit: (interaction, d, N, B).
const DENSE: [(Interaction, usize, usize, usize); 4] = [
    (Interaction::Polynomial(2), 4096, 1501, 2),
    (Interaction::Exponential { beta: 0.01 }, 4093, 701, 1),
    (Interaction::Polynomial(2), 67, 14_001, 3),
    (Interaction::RectifiedPolynomial(2), 70_001, 5, 1),
];

/// One sweep of a dense network at each shape of [`DENSE`] against its f64 fields.
fn dense_sweeps_at_scale(device: &Device) {
    let mut rng = common::rng("dense_sweeps_at_scale");
    for (interaction, d, n, b) in DENSE {
        let patterns = signs(&mut rng, n, d);
        let net = Dense::new(device, patterns.view(), interaction).unwrap();
        for update in updates(&mut rng) {
            let what = format!("{interaction:?} d={d} N={n} B={b} {update:?}");
            let before = queries(&mut rng, &patterns, b);
            let after = net
                .recall(before.view(), &one_sweep(update))
                .unwrap()
                .states;
            let field = dense_field(&net);
            check_sweep(&what, before.view(), after.view(), update, TOL, field);
        }
    }
}

on_every_backend!(classical_sweeps_at_scale, dense_sweeps_at_scale);

fn recall_until(max_sweeps: usize, update: Update) -> RecallOptions {
    RecallOptions::new(update).max_sweeps(max_sweeps)
}

/// Integer fields: whole recalls on the GPU equal the CPU path's, sweep counts included.
#[test]
fn integer_recalls_are_identical_on_gpu_and_cpu() {
    let Some(gpu) = common::gpu() else { return };
    let mut rng = common::rng("integer_recalls_are_identical_on_gpu_and_cpu");
    let cpu = Device::cpu();
    let (d, p, b) = (4099, 37, 2);
    let patterns = signs(&mut rng, p, d);
    let nets = [&cpu, &gpu].map(|dev| Classical::train(dev, patterns.view(), Rule::Hebbian));
    for update in updates(&mut rng) {
        let q = queries(&mut rng, &patterns, b);
        let outs = nets.each_ref().map(|n| {
            n.as_ref()
                .unwrap()
                .recall(q.view(), &recall_until(3, update))
        });
        let what = format!("Hebbian d={d} P={p} B={b} {update:?}");
        assert_eq!(
            outs[0].as_ref().unwrap(),
            outs[1].as_ref().unwrap(),
            "{what}"
        );
    }
    for (interaction, d, n, b) in [DENSE[0], DENSE[2]] {
        let patterns = signs(&mut rng, n, d);
        let nets = [&cpu, &gpu].map(|dev| Dense::new(dev, patterns.view(), interaction));
        for update in updates(&mut rng) {
            let q = queries(&mut rng, &patterns, b);
            let outs = nets.each_ref().map(|n| {
                n.as_ref()
                    .unwrap()
                    .recall(q.view(), &recall_until(2, update))
            });
            let what = format!("{interaction:?} d={d} N={n} B={b} {update:?}");
            assert_eq!(
                outs[0].as_ref().unwrap(),
                outs[1].as_ref().unwrap(),
                "{what}"
            );
        }
    }
}

/// An asynchronous dense sweep whose per-neuron field would pass the loop budget in one
/// workgroup is refused before it runs; the synchronous sweep splits it and runs.
#[test]
fn dense_async_past_the_loop_budget_is_a_typed_error() {
    let Some(gpu) = common::gpu() else { return };
    let mut rng = common::rng("dense_async_past_the_loop_budget_is_a_typed_error");
    let patterns = signs(&mut rng, 100_003, 3);
    let net = Dense::new(&gpu, patterns.view(), Interaction::Polynomial(2)).unwrap();
    let q = queries(&mut rng, &patterns, 1);
    let update = Update::Asynchronous { seed: 1 };
    let err = net.recall(q.view(), &one_sweep(update)).unwrap_err();
    assert!(matches!(err, hopfield::Error::InvalidOptions(_)), "{err}");
    net.recall(q.view(), &one_sweep(Update::Synchronous))
        .unwrap();
}
