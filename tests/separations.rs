//! The separations beyond softmax (issue 15 items 1–2): the f64 reference against closed forms
//! and the rules' properties, then the CPU path and the GPU (`cpu::` and `gpu::` runs of the
//! same bodies) against the reference: single steps, trajectories, energies, rows of many
//! segments.
//!
//! Tolerances (f32 paths against the f64 reference, data of norm ≈ 1, β ≤ 8):
//! - states: ‖out − ref‖_F / ‖ref‖_F ≤ 1e-5 per step taken, as for softmax (tests/parity.rs):
//!   each rule's Jacobian is bounded like softmax's (sparsemax and entmax are 1-Lipschitz in z);
//! - weights: max |out − ref| ≤ 1e-5;
//! - supports: an entry may be zero on one side and not on the other only when its score is
//!   within `score_slack` of the reference's threshold τ (the k-th score for top-k), where
//!   `score_slack` = 2 · 2d·2⁻²⁴ · β‖xᵢ‖‖ξ‖ bounds an f32 dot product's rounding twice over (the
//!   path's τ moves by at most the largest score error); there its weight must be ≤ 1e-5, except
//!   for top-k, whose weights jump at τ: there the path's weights are compared with the
//!   reference's softmax over the patterns the path kept;
//! - energies: |path − ref| ≤ 1e-5 · (1 + |ref|); along a trajectory E never rises by more
//!   than 1e-5 · (1 + |E|) on either path (f32 states) and 1e-10 · (1 + |E|) in the reference.

#[path = "bodies/separations.rs"]
mod bodies;
mod common;

use common::{awkward, normal, rel_err, to64};
use hopfield::reference::{self, separations as sep};
use hopfield::{Device, Error, Memory, RetrieveOptions, Separation};
use ndarray::{Array2, ArrayView2};
use rand::rngs::StdRng;
use rand::RngExt;

/// Every rule, with a random α and k (k ≤ n).
fn every_separation(rng: &mut StdRng, n: usize) -> Vec<Separation> {
    vec![
        Separation::Softmax,
        Separation::Sparsemax,
        Separation::Entmax(1.5),
        Separation::Entmax(rng.random_range(1.05f32..4.0)),
        Separation::Softmax1,
        Separation::TopK(rng.random_range(1..=n)),
    ]
}

/// Random cases per body: fewer on a GPU, where every call of a software adapter costs
/// milliseconds (the kernels are the same for every case; the shapes are what vary).
fn cases(device: &Device, cpu: usize, gpu: usize) -> usize {
    common::cases(if device.is_gpu() { gpu } else { cpu })
}

fn random_scores(rng: &mut StdRng, n: usize, spread: f64) -> Vec<f64> {
    (0..n).map(|_| rng.random_range(-spread..spread)).collect()
}

fn close(a: &[f64], b: &[f64], tol: f64) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
}

#[test]
fn closed_forms() {
    // Sparsemax of (0.5, 0.2): both in the support, τ = (0.7 − 1)/2.
    let (p, tau) = sep::sparsemax(&[0.5, 0.2]);
    assert!(close(&p, &[0.65, 0.35], 1e-15) && (tau + 0.15).abs() < 1e-15);
    // A gap ≥ 1 leaves one pattern alone.
    assert_eq!(sep::sparsemax(&[2.0, 1.0, -3.0]).0, vec![1.0, 0.0, 0.0]);
    // 1.5-entmax of (1, 0): a = y₁ − τ, b = y₂ − τ with a − b = ½ and a² + b² = 1.
    let b = (-0.5 + 1.75f64.sqrt()) / 2.0;
    let (p, _) = sep::entmax(&[1.0, 0.0], 1.5);
    assert!(close(&p, &[(b + 0.5).powi(2), b * b], 1e-12), "{p:?}");
    // softmax₁ of (0, 0): e⁰ / (1 + 2e⁰) each; of very negative scores: nearly nothing.
    assert!(close(&sep::softmax1(&[0.0, 0.0]), &[1.0 / 3.0; 2], 1e-15));
    assert!(sep::softmax1(&[-50.0, -60.0]).iter().sum::<f64>() < 1e-21);
    // softmax₁ of huge scores stays finite (the shift by max(m, 0)).
    assert!(close(&sep::softmax1(&[800.0, 800.0]), &[0.5; 2], 1e-15));
    // Equal scores: every rule is uniform (top-k over its k).
    for s in [Separation::Sparsemax, Separation::Entmax(3.0)] {
        assert!(close(&sep::separate(s, &[0.3; 4]).0, &[0.25; 4], 1e-12));
    }
    let top2 = sep::top_k_softmax(&[1.0; 4], 2);
    assert!(close(&top2, &[0.5, 0.5, 0.0, 0.0], 1e-15) && top2[2..] == [0.0, 0.0]);
}

/// Sums, signs, supports, and each rule against the one it generalises, on random rows.
#[test]
fn reference_properties() {
    let mut rng = common::rng("reference_properties");
    for _ in 0..200 {
        let n = awkward(&mut rng);
        let spread = rng.random_range(0.1..20.0);
        let z = random_scores(&mut rng, n, spread);
        for s in every_separation(&mut rng, n) {
            let (p, _) = sep::separate(s, &z);
            let total: f64 = p.iter().sum();
            assert!(p.iter().all(|&v| v >= 0.0), "{s}: a negative weight");
            if s == Separation::Softmax1 {
                assert!(total < 1.0, "softmax1 sums to {total}");
            } else {
                assert!((total - 1.0).abs() < 1e-12, "{s}: sums to {total}");
            }
            if let Some(tau) = sep::threshold(s, &z) {
                for (&zi, &pi) in z.iter().zip(&p) {
                    let inside = if matches!(s, Separation::TopK(_)) {
                        zi >= tau
                    } else {
                        zi > tau
                    };
                    assert_eq!(pi > 0.0, inside, "{s}: z = {zi}, τ = {tau}, p = {pi}");
                }
            }
        }
        check_special_cases(&z, &mut rng);
    }
}

fn check_special_cases(z: &[f64], rng: &mut StdRng) {
    let n = z.len();
    let soft = sep::softmax(z);
    // α = 2 by bisection is sparsemax by sorting.
    let (bisected, _) = sep::entmax(z, 2.0);
    assert!(close(&bisected, &sep::sparsemax(z).0, 1e-12));
    // α → 1 approaches softmax: within 1e-3·(spread of z)² at α = 1 + 1e-5.
    let spread = z.iter().fold(0.0f64, |m, v| m.max(v.abs()));
    let (near, _) = sep::entmax(z, 1.0 + 1e-5);
    assert!(close(&near, &soft, 1e-3 * (1.0 + spread * spread)));
    // Top-k is the softmax restricted to its k, renormalised; top-N is softmax.
    let k = rng.random_range(1..=n);
    let top = sep::top_k_indices(z, k);
    let mass: f64 = top.iter().map(|&i| soft[i]).sum();
    let topk = sep::top_k_softmax(z, k);
    for (i, &w) in topk.iter().enumerate() {
        let want = if top.contains(&i) {
            soft[i] / mass
        } else {
            0.0
        };
        assert!((w - want).abs() < 1e-12);
    }
    assert!(close(&sep::top_k_softmax(z, n), &soft, 1e-12));
    // softmax₁ is the softmax over z and a zero score, that score's weight dropped.
    let mut with_zero = z.to_vec();
    with_zero.push(0.0);
    assert!(close(
        &sep::softmax1(z),
        &sep::softmax(&with_zero)[..n],
        1e-13
    ));
}

/// The energies' Ψ* are the conjugates the updates are gradients of: a central difference of
/// Ψ* along each score is that pattern's weight (what makes every update a CCCP step), and
/// max z ≤ Ψ*(z) ≤ max z + H_max.
#[test]
fn conjugates_have_the_weights_as_gradient() {
    let mut rng = common::rng("conjugates_have_the_weights_as_gradient");
    for _ in 0..40 {
        let n = awkward(&mut rng).min(33);
        let spread = rng.random_range(0.1..5.0);
        let z = random_scores(&mut rng, n, spread);
        for s in every_separation(&mut rng, n) {
            let (p, conj) = sep::separate(s, &z);
            let top = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
            // softmax₁'s extra score 0 counts among the maxima.
            let most = if s == Separation::Softmax1 {
                top.max(0.0)
            } else {
                top
            };
            let bounds = top - 1e-12..=most + s.max_entropy(n) + 1e-12;
            assert!(
                bounds.contains(&conj),
                "{s}: Ψ* = {conj} outside {bounds:?}"
            );
            let h = 1e-6;
            for i in 0..n {
                let at = |d: f64| {
                    let mut moved = z.clone();
                    moved[i] += d;
                    sep::separate(s, &moved).1
                };
                let slope = (at(h) - at(-h)) / (2.0 * h);
                assert!(
                    (slope - p[i]).abs() < 1e-6,
                    "{s}: ∂Ψ*/∂z{i} {slope} vs {}",
                    p[i]
                );
            }
        }
    }
}

/// The reference's energy never rises along its own trajectories.
#[test]
fn reference_energy_descends() {
    let mut rng = common::rng("reference_energy_descends");
    for _ in 0..30 {
        let (b, n, d) = (
            awkward(&mut rng).min(17),
            awkward(&mut rng),
            awkward(&mut rng),
        );
        let beta = rng.random_range(0.5..10.0);
        let x = to64(normal(&mut rng, n, d, 1.0).view());
        let mut q = to64(normal(&mut rng, b, d, 1.5).view());
        for s in every_separation(&mut rng, n) {
            let mut e = reference::energy_with(x.view(), q.view(), beta, s);
            for t in 0..6 {
                q = reference::update_with(x.view(), q.view(), beta, s).0;
                let next = reference::energy_with(x.view(), q.view(), beta, s);
                for (a, z) in e.iter().zip(&next) {
                    assert!(*z <= a + 1e-10 * (1.0 + a.abs()), "{s} step {t}: {a} → {z}");
                    assert!(*z >= -1e-10, "{s}: negative energy {z}");
                }
                e = next;
            }
        }
    }
}

#[test]
fn softmax_energy_is_the_original() {
    let mut rng = common::rng("softmax_energy_is_the_original");
    let x = to64(normal(&mut rng, 13, 7, 1.0).view());
    let q = to64(normal(&mut rng, 5, 7, 1.0).view());
    let e = reference::energy(x.view(), q.view(), 3.0);
    let (_, lse) = reference::softmax_rows(reference::scores(x.view(), q.view(), 3.0).view());
    let m2 = x.rows().into_iter().map(|r| r.dot(&r)).fold(0.0, f64::max);
    for (r, (e, l)) in e.iter().zip(&lse).enumerate() {
        let want = -l / 3.0 + 0.5 * q.row(r).dot(&q.row(r)) + 13f64.ln() / 3.0 + 0.5 * m2;
        assert!((e - want).abs() < 1e-12);
    }
}

/// Bad parameters are typed errors before anything runs; Entmax(2) is sparsemax, bit for bit.
#[test]
fn parameters_are_checked() {
    let memory = Memory::from_rows(&Device::cpu(), 2, &[1.0, 0.0, 0.0, 1.0, 0.5, 0.5]).unwrap();
    let q = ndarray::array![[0.7f32, 0.2]];
    let bad = [
        Separation::Entmax(1.0),
        Separation::Entmax(0.5),
        Separation::Entmax(f32::NAN),
        Separation::Entmax(f32::INFINITY),
        Separation::TopK(0),
        Separation::TopK(4),
    ];
    for s in bad {
        let err = memory
            .retrieve(q.view(), &RetrieveOptions::new(2.0).separation(s))
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidOptions(ref why) if why.contains("Separation::")),
            "{s}: {err}"
        );
    }
    let run = |s| {
        let opts = RetrieveOptions::new(3.0).separation(s).with_weights();
        memory.retrieve(q.view(), &opts).unwrap()
    };
    assert_eq!(run(Separation::Entmax(2.0)), run(Separation::Sparsemax));
    for s in ["softmax", "sparsemax", "entmax:1.5", "softmax1", "topk:3"] {
        assert_eq!(s.parse::<Separation>().unwrap().to_string(), s);
    }
    for s in ["entmax", "topk:x", "softmax:2", "gauss"] {
        assert!(matches!(
            s.parse::<Separation>(),
            Err(Error::InvalidOptions(_))
        ));
    }
}

on_every_backend!(
    one_step_matches_reference,
    trajectories_match_reference,
    energy_descends,
    long_rows_match_reference,
    fused_softmax1_is_unfused,
);

/// The fused kernels take softmax and softmax₁ only: asking for them with another rule is a
/// typed error on every device, before anything runs.
#[test]
fn fused_refuses_other_separations() {
    let memory = Memory::from_rows(&Device::cpu(), 2, &[1.0, 0.0, 0.0, 1.0]).unwrap();
    let q = ndarray::array![[0.7f32, 0.2]];
    let mut rng = common::rng("fused_refuses_other_separations");
    for s in every_separation(&mut rng, 2) {
        let opts = RetrieveOptions::new(2.0)
            .separation(s)
            .fusion(hopfield::Fusion::Fused);
        match memory.retrieve(q.view(), &opts) {
            Ok(_) => assert!(
                matches!(s, Separation::Softmax | Separation::Softmax1),
                "{s}"
            ),
            Err(Error::InvalidOptions(why)) => {
                assert!(why.contains("softmax and softmax1 only"), "{s}: {why}")
            }
            Err(e) => panic!("{s}: {e}"),
        }
    }
}

/// 1e-5 per step, but entmax with α > 2 turns score errors δ into weight errors up to
/// δ^{1/(α−1)} at the edge of its support (see `weight_error`).
fn state_tolerance(s: Separation) -> f64 {
    match s {
        Separation::Entmax(alpha) if alpha > 2.0 => 1e-3,
        _ => 1e-5,
    }
}

struct Case {
    x: Array2<f32>,
    q: Array2<f32>,
    beta: f32,
}

fn random_case(rng: &mut StdRng) -> Case {
    let (b, n, d) = (awkward(rng), awkward(rng), awkward(rng));
    // log-uniform β in [0.1, 8]: from wide supports to single patterns.
    let beta = rng.random_range(0.1f32.ln()..8f32.ln()).exp();
    Case {
        x: normal(rng, n, d, 1.0),
        q: normal(rng, b, d, 1.0),
        beta,
    }
}

fn describe(c: &Case, s: Separation) -> String {
    let (b, (n, d)) = (c.q.nrows(), c.x.dim());
    format!("{s} B={b} N={n} d={d} beta={}", c.beta)
}

/// One step's weights and states against the reference, supports included.
fn one_step_matches_reference(device: &Device) {
    let mut rng = common::rng("one_step_matches_reference");
    for _ in 0..cases(device, 60, 16) {
        let c = random_case(&mut rng);
        let memory = Memory::from_array(device, c.x.view()).unwrap();
        for s in every_separation(&mut rng, c.x.nrows()) {
            let opts = RetrieveOptions::new(c.beta).separation(s).with_weights();
            let out = memory.retrieve(c.q.view(), &opts).unwrap();
            check_step(&c, s, &out, &describe(&c, s));
        }
    }
}

/// Weights within 1e-5 of the reference (for top-k, of the reference's softmax over the
/// patterns the path kept), and zero on both sides except at scores within `score_slack` of τ
/// (see the module's doc).
fn check_weights(c: &Case, s: Separation, got: ArrayView2<f32>, what: &str) {
    let (x, q) = (to64(c.x.view()), to64(c.q.view()));
    let beta = f64::from(c.beta);
    let z = reference::scores(x.view(), q.view(), beta);
    let (want, _) = reference::separate_rows(s, z.view());
    for r in 0..z.nrows() {
        let row = z.row(r).to_vec();
        let tau = sep::threshold(s, &row);
        let slack = |i: usize| common::score_slack(x.row(i), q.row(r), beta);
        let most = (0..row.len()).map(slack).fold(0.0, f64::max);
        let kept = |i: usize| got[[r, i]] != 0.0;
        let values = if matches!(s, Separation::TopK(_))
            && (0..row.len()).any(|i| kept(i) != (want[[r, i]] != 0.0))
        {
            // Top-k's weights jump at τ: where the k-th and (k+1)-th scores tie within
            // rounding the path may keep either, and its weights are then the softmax over
            // the patterns it kept (which patterns may differ is checked below).
            common::softmax_over(&row, kept)
        } else {
            want.row(r).to_vec()
        };
        for i in 0..row.len() {
            let (g, w) = (f64::from(got[[r, i]]), want[[r, i]]);
            let (err, tol) = weight_error(s, g, values[i], most);
            assert!(err <= tol, "{what}: weight [{r},{i}] {g} vs {}", values[i]);
            // A weight near or below the bottom of f32's normal range (1.2e-38) may underflow
            // to 0: entmax near α = 1 has weights like 1e-65 far below τ's edge, and the f32
            // exponentials of softmax flush a little above 1.2e-38. Rounding, not support.
            let underflow = g == 0.0 && w < 1e-36;
            if (g == 0.0) != (w == 0.0) && !underflow {
                let tau = tau.unwrap_or_else(|| panic!("{what}: [{r},{i}] {g} vs {w}"));
                assert!(
                    (row[i] - tau).abs() <= slack(i),
                    "{what}: [{r},{i}] is {g} on the CPU and {w} in f64, score {} vs τ {tau}",
                    row[i]
                );
            }
        }
    }
}

/// The error of a weight and its tolerance. Entmax with α > 2 has weights [t]₊^{1/(α−1)}
/// whose slope is unbounded at t = 0: a score error δ moves a small weight by up to
/// δ^{1/(α−1)}. Its t = p^{α−1} = (α−1)z − τ is 1-Lipschitz in (α−1)z and τ, each off by at
/// most (α−1)·(the largest score error), so for those rules t is compared instead.
fn weight_error(s: Separation, got: f64, want: f64, score_slack: f64) -> (f64, f64) {
    match s {
        Separation::Entmax(alpha) if alpha > 2.0 => {
            let a = f64::from(alpha) - 1.0;
            let err = (got.powf(a) - want.powf(a)).abs();
            (err, 2.0 * a * score_slack + 1e-6)
        }
        _ => ((got - want).abs(), 1e-5),
    }
}

/// Fixed steps and until converged: every step against the reference's step from
/// the same state (`check_step`), and the multi-step call bit for bit the chain of its single
/// steps, stopping where the chain first has every change ≤ eps. Whole trajectories are not
/// compared with the reference's whole trajectory: near a saddle, or where top-k's k-th and
/// (k+1)-th scores nearly tie, f32 rounding rightly sends a state elsewhere.
fn trajectories_match_reference(device: &Device) {
    let mut rng = common::rng("trajectories_match_reference");
    let eps = 1e-6;
    for _ in 0..cases(device, 30, 6) {
        let c = random_case(&mut rng);
        let memory = Memory::from_array(device, c.x.view()).unwrap();
        for s in every_separation(&mut rng, c.x.nrows()) {
            let what = describe(&c, s);
            let one = RetrieveOptions::new(c.beta).separation(s).with_weights();
            let mut chain = vec![(c.q.clone(), ndarray::Array1::zeros(c.q.nrows()))];
            for _ in 0..8 {
                let state = &chain.last().unwrap().0;
                let out = memory.retrieve(state.view(), &one).unwrap();
                let at = Case {
                    x: c.x.clone(),
                    q: state.clone(),
                    beta: c.beta,
                };
                check_step(&at, s, &out, &what);
                chain.push((out.states, out.max_change));
            }
            let steps = rng.random_range(2..=4);
            let fixed = memory
                .retrieve(c.q.view(), &one.clone().steps(steps))
                .unwrap();
            assert_eq!(fixed.states, chain[steps].0, "{what}: {steps} steps");
            assert_eq!(fixed.max_change, chain[steps].1, "{what}: {steps} steps");
            let until = one.until_converged(eps, 8);
            let out = memory.retrieve(c.q.view(), &until).unwrap();
            let want = (1..=8)
                .find(|&t| chain[t].1.iter().all(|&m| m <= eps))
                .unwrap_or(8);
            assert_eq!(out.steps[0], want, "{what}: steps until converged");
            assert_eq!(out.states, chain[want].0, "{what}: until converged");
            let flags: Vec<bool> = chain[want].1.iter().map(|&m| m <= eps).collect();
            assert_eq!(out.converged, Some(flags), "{what}: converged flags");
        }
    }
}

/// One step from `at.q` (its weights and states in `out`) against the reference: the weights
/// by `check_weights`, the states as those weights times X within 1e-5, and, for the rules that
/// are continuous in the scores, as the reference's states within `state_tolerance`.
fn check_step(at: &Case, s: Separation, out: &hopfield::Retrieval, what: &str) {
    let weights = out.weights.as_ref().expect("weights were asked for");
    check_weights(at, s, weights.view(), what);
    let (x, q) = (to64(at.x.view()), to64(at.q.view()));
    let e = rel_err(out.states.view(), to64(weights.view()).dot(&x).view());
    assert!(e <= 1e-5, "{what}: states vs weights·X rel err {e:e}");
    if !matches!(s, Separation::TopK(_)) {
        let (states, _) = reference::update_with(x.view(), q.view(), at.beta.into(), s);
        let e = rel_err(out.states.view(), states.view());
        assert!(e <= state_tolerance(s), "{what}: states rel err {e:e}");
    }
}

/// The energies are the reference's, at the queries and at the states returned, and never
/// rise along a trajectory, for every rule (without weights asked for, so that a GPU takes its
/// fused path for softmax and softmax₁).
fn energy_descends(device: &Device) {
    let mut rng = common::rng("energy_descends");
    for _ in 0..cases(device, 20, 6) {
        let c = random_case(&mut rng);
        let memory = Memory::from_array(device, c.x.view()).unwrap();
        let x = to64(c.x.view());
        for s in every_separation(&mut rng, c.x.nrows()) {
            let opts = RetrieveOptions::new(c.beta).separation(s).with_energy();
            let mut state = c.q.clone();
            let mut last: Option<ndarray::Array1<f64>> = None;
            for t in 0..6 {
                let out = memory.retrieve(state.view(), &opts).unwrap();
                let energy = out.energy.unwrap();
                let what = format!("{} step {t}", describe(&c, s));
                let beta = f64::from(c.beta);
                for (e, at) in [(&energy.before, &state), (&energy.after, &out.states)] {
                    let want = reference::energy_with(x.view(), to64(at.view()).view(), beta, s);
                    for (g, w) in e.iter().zip(&want) {
                        assert!(
                            (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                            "{what}: {g} vs {w}"
                        );
                    }
                }
                for (r, (b, a)) in energy.before.iter().zip(&energy.after).enumerate() {
                    assert!(
                        *a <= b + 1e-5 * (1.0 + b.abs()),
                        "{what} row {r}: {b} → {a}"
                    );
                }
                if let Some(prev) = &last {
                    // Each call's energy before is the last call's after, recomputed.
                    for (p, b) in prev.iter().zip(&energy.before) {
                        assert!((p - b).abs() <= 1e-5 * (1.0 + p.abs()), "{what}");
                    }
                }
                last = Some(energy.after.clone());
                state = out.states;
            }
        }
    }
}

/// Rows longer than one 4096-score segment (each a workgroup of the GPU's softmax and
/// threshold kernels, whose per-row steps then merge segments): one step with weights against
/// the reference, at lengths around the segment edges.
fn long_rows_match_reference(device: &Device) {
    let mut rng = common::rng("long_rows_match_reference");
    for n in [4095, 4097, 3 * 4096 + 5] {
        let (b, d) = (3, 7);
        let c = Case {
            x: normal(&mut rng, n, d, 1.0),
            q: normal(&mut rng, b, d, 1.0),
            // Supports from a handful to hundreds of patterns.
            beta: rng.random_range(2.0f32..60.0),
        };
        let memory = Memory::from_array(device, c.x.view()).unwrap();
        for s in every_separation(&mut rng, n) {
            let opts = RetrieveOptions::new(c.beta).separation(s).with_weights();
            let out = memory.retrieve(c.q.view(), &opts).unwrap();
            check_step(&c, s, &out, &describe(&c, s));
        }
    }
}

/// The energies before of a retrieval asked for them.
fn ef_before(out: &hopfield::Retrieval) -> Vec<f64> {
    out.energy
        .as_ref()
        .expect("energies were asked for")
        .before
        .to_vec()
}

/// softmax₁ without weights takes the fused kernels (on the CPU path, the fused softmax
/// rescaled by σ(lse)): against the unfused path and the reference within 1e-5, energies
/// included, and a query that matches nothing comes back near zero, as the rule promises.
fn fused_softmax1_is_unfused(device: &Device) {
    let mut rng = common::rng("fused_softmax1_is_unfused");
    for _ in 0..common::cases(10) {
        let c = random_case(&mut rng);
        let memory = Memory::from_array(device, c.x.view()).unwrap();
        let what = describe(&c, Separation::Softmax1);
        let opts = RetrieveOptions::new(c.beta)
            .separation(Separation::Softmax1)
            .with_energy();
        let fused = memory
            .retrieve(c.q.view(), &opts.clone().fusion(hopfield::Fusion::Fused))
            .unwrap();
        let unfused = memory
            // Weights force the unfused path on the CPU too.
            .retrieve(
                c.q.view(),
                &opts.fusion(hopfield::Fusion::Unfused).with_weights(),
            )
            .unwrap();
        let e = rel_err(fused.states.view(), to64(unfused.states.view()).view());
        assert!(e <= 1e-5, "{what}: fused vs unfused rel err {e:e}");
        let (x, q) = (to64(c.x.view()), to64(c.q.view()));
        let (want, _) =
            reference::update_with(x.view(), q.view(), c.beta.into(), Separation::Softmax1);
        let e = rel_err(fused.states.view(), want.view());
        assert!(e <= 1e-5, "{what}: fused vs the reference rel err {e:e}");
        let energy =
            reference::energy_with(x.view(), q.view(), c.beta.into(), Separation::Softmax1);
        for (g, w) in ef_before(&fused).iter().zip(&energy) {
            assert!(
                (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                "{what}: energy {g} vs {w}"
            );
        }
        let (ef, eu) = (fused.energy.unwrap(), unfused.energy.unwrap());
        for (f, u) in ef.after.iter().zip(&eu.after) {
            assert!(
                (f - u).abs() <= 1e-5 * (1.0 + u.abs()),
                "{what}: {f} vs {u}"
            );
        }
    }
    // Orthogonal to every pattern: all scores 0, weights 1/(N + 1) each, far from a pattern.
    let memory = Memory::from_rows(device, 3, &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]).unwrap();
    let opts = RetrieveOptions::new(4.0).separation(Separation::Softmax1);
    let out = memory
        .retrieve(ndarray::array![[0.0f32, 0.0, 5.0]].view(), &opts)
        .unwrap();
    let want = ndarray::array![[1.0 / 3.0, 1.0 / 3.0, 0.0]];
    assert!(
        rel_err(out.states.view(), want.view()) <= 1e-6,
        "{}",
        out.states
    );
}

/// The fixed-point kinds read any rule's weights: sparsemax's exact single pattern, a top-k
/// mixture, and softmax₁'s query that retrieves nothing.
#[test]
fn fixed_point_kinds_of_every_rule() {
    use hopfield::diagnostics::FixedPoint;
    let kinds = |x: ndarray::Array2<f32>, s: Separation, beta: f32, q: ndarray::Array2<f32>| {
        let memory = Memory::from_array(&Device::cpu(), x.view()).unwrap();
        let opts = RetrieveOptions::new(beta).separation(s).with_weights();
        memory
            .retrieve(q.view(), &opts)
            .unwrap()
            .fixed_points()
            .unwrap()
    };
    // Six unit patterns around the circle.
    let ring = ndarray::Array2::from_shape_fn((6, 2), |(i, j)| {
        let a = i as f32 * std::f32::consts::PI / 3.0;
        if j == 0 {
            a.cos()
        } else {
            a.sin()
        }
    });
    let near_first = ndarray::array![[0.95f32, 0.2]];
    assert_eq!(
        kinds(
            ring.clone(),
            Separation::Sparsemax,
            20.0,
            near_first.clone()
        ),
        [FixedPoint::Single { pattern: 0 }]
    );
    assert!(matches!(
        &kinds(ring, Separation::TopK(2), 0.5, near_first)[0],
        FixedPoint::Metastable { patterns } if patterns.len() == 2
    ));
    let quadrant = ndarray::array![[1.0f32, 0.0], [0.8, 0.6], [0.0, 1.0]];
    assert_eq!(
        kinds(
            quadrant,
            Separation::Softmax1,
            8.0,
            ndarray::array![[-1.0f32, -1.0]]
        ),
        [FixedPoint::Nothing]
    );
}

/// The browser's body (tests/bodies/separations.rs), here on the CPU path and the GPU.
#[test]
fn browser_body_on_both_paths() {
    pollster::block_on(bodies::every_rule_matches_reference(&Device::cpu()));
    if let Some(gpu) = common::gpu() {
        pollster::block_on(bodies::every_rule_matches_reference(&gpu));
    }
}
