//! Partial cues (issue 15 item 4): retrieval from queries of which only some features are
//! known, on the CPU path and the GPU, against the f64 reference.
//!
//! The reference: the first step's scores are β·X(m ⊙ ξ) (m the mask), every new state is
//! Xᵀp, and with clamping the known features go back to their given values after every step.
//! Tolerances: one step ≤ 1e-5 relative (as tests/parity.rs); three clamped steps at β ≤ 4
//! ≤ 1e-4 (f32 rounding carried through three Jacobians); clamped features exactly the given
//! values, bit for bit.

mod common;

use common::{awkward, normal, rel_err, to64};
use hopfield::reference;
use hopfield::{Device, Error, Fusion, Memory, RetrieveOptions, Separation};
use ndarray::{Array2, ArrayView2};
use rand::rngs::StdRng;
use rand::RngExt;

on_every_backend!(
    first_step_sees_known_features_only,
    clamped_steps_match_reference,
    a_half_cue_completes_a_pattern,
    bad_masks_are_typed_errors,
);

/// A random mask with each feature known with probability `known`, at least one per row.
fn random_mask(rng: &mut StdRng, b: usize, d: usize, known: f64) -> Array2<bool> {
    let mut m = Array2::from_shape_simple_fn((b, d), || rng.random_bool(known));
    for mut row in m.rows_mut() {
        let j = rng.random_range(0..d);
        row[j] = true;
    }
    m
}

fn masked(q: ArrayView2<f32>, m: ArrayView2<bool>) -> Array2<f64> {
    let mut out = to64(q);
    for ((r, c), v) in out.indexed_iter_mut() {
        let k = if m.nrows() == 1 { m[[0, c]] } else { m[[r, c]] };
        if !k {
            *v = 0.0;
        }
    }
    out
}

/// One step from a partial cue is one step from the cue with its unknown features at 0, for
/// softmax and sparsemax, per-query and whole-batch masks; the unknown features may hold NaN.
fn first_step_sees_known_features_only(device: &Device) {
    let mut rng = common::rng("first_step_sees_known_features_only");
    for _ in 0..common::cases(12) {
        let (b, n, d) = (
            awkward(&mut rng).min(33),
            awkward(&mut rng),
            awkward(&mut rng),
        );
        let x = normal(&mut rng, n, d, 1.0);
        let given = normal(&mut rng, b, d, 1.0);
        let beta = rng.random_range(0.5f32..8.0);
        let memory = Memory::from_array(device, x.view()).unwrap();
        for mask in [
            random_mask(&mut rng, b, d, 0.5),
            random_mask(&mut rng, 1, d, 0.5),
        ] {
            let mut q = given.clone();
            let cue = masked(q.view(), mask.view());
            for ((r, c), v) in q.indexed_iter_mut() {
                if cue[[r, c]] == 0.0 && rng.random_bool(0.5) {
                    *v = f32::NAN;
                }
            }
            for s in [Separation::Softmax, Separation::Sparsemax] {
                let what = format!("{s} B={b} N={n} d={d} mask {:?}", mask.dim());
                let opts = RetrieveOptions::new(beta).separation(s).known(mask.clone());
                let out = memory.retrieve(q.view(), &opts).unwrap();
                let (want, _) =
                    reference::update_with(to64(x.view()).view(), cue.view(), beta.into(), s);
                let e = rel_err(out.states.view(), want.view());
                assert!(e <= 1e-5, "{what}: rel err {e:e}");
            }
        }
    }
}

/// Three clamped steps, fused and unfused on a GPU, until-converged too: the f64 chain within
/// 1e-4, the known features exactly as given.
fn clamped_steps_match_reference(device: &Device) {
    let mut rng = common::rng("clamped_steps_match_reference");
    for _ in 0..common::cases(8) {
        let (b, n, d) = (
            awkward(&mut rng).min(33),
            awkward(&mut rng),
            awkward(&mut rng),
        );
        let x = normal(&mut rng, n, d, 1.0);
        let q = normal(&mut rng, b, d, 1.0);
        let beta = rng.random_range(0.5f32..4.0);
        let mask = random_mask(&mut rng, b, d, 0.6);
        let memory = Memory::from_array(device, x.view()).unwrap();
        let x64 = to64(x.view());
        let mut want = masked(q.view(), mask.view());
        for _ in 0..3 {
            let (next, _) =
                reference::update_with(x64.view(), want.view(), beta.into(), Separation::Softmax);
            want = next;
            for ((r, c), v) in want.indexed_iter_mut() {
                if mask[[r, c]] {
                    *v = q[[r, c]].into();
                }
            }
        }
        let base = RetrieveOptions::new(beta)
            .steps(3)
            .known(mask.clone())
            .clamp_known();
        for fusion in [Fusion::Auto, Fusion::Fused, Fusion::Unfused] {
            let what = format!("B={b} N={n} d={d} beta={beta} {fusion:?}");
            let out = match memory.retrieve(q.view(), &base.clone().fusion(fusion)) {
                Err(Error::InvalidOptions(why)) if fusion == Fusion::Fused => {
                    eprintln!("{what}: {why}");
                    continue;
                }
                other => other.unwrap(),
            };
            let e = rel_err(out.states.view(), want.view());
            assert!(e <= 1e-4, "{what}: rel err {e:e}");
            for ((r, c), &k) in mask.indexed_iter() {
                if k {
                    assert_eq!(
                        out.states[[r, c]].to_bits(),
                        q[[r, c]].to_bits(),
                        "{what}: [{r},{c}]"
                    );
                }
            }
        }
        // Until converged: the change tested is the clamped states', so the call stops where
        // the same number of fixed steps ends, with every change within eps.
        let eps = 1e-6;
        let until = RetrieveOptions::new(beta)
            .until_converged(eps, 50)
            .known(mask.clone())
            .clamp_known();
        let out = memory.retrieve(q.view(), &until).unwrap();
        let steps = out.steps[0];
        let fixed = memory
            .retrieve(q.view(), &base.clone().steps(steps))
            .unwrap();
        assert_eq!(out.states, fixed.states, "B={b} N={n} d={d}: {steps} steps");
        if steps < 50 {
            assert!(
                out.max_change.iter().all(|&c| c <= eps),
                "{:?}",
                out.max_change
            );
        }
    }
}

/// The use the feature is for: ±1 patterns, a cue that knows half of one pattern's features
/// (the rest NaN), completed to that pattern with the known half kept.
fn a_half_cue_completes_a_pattern(device: &Device) {
    let mut rng = common::rng("a_half_cue_completes_a_pattern");
    let (n, d) = (40, 64);
    let x =
        Array2::from_shape_simple_fn((n, d), || if rng.random_bool(0.5) { 1.0f32 } else { -1.0 });
    let memory = Memory::from_array(device, x.view()).unwrap();
    let target = 17;
    let mask = Array2::from_shape_fn((1, d), |(_, c)| c % 2 == 0);
    let q = Array2::from_shape_fn(
        (1, d),
        |(_, c)| if c % 2 == 0 { x[[target, c]] } else { f32::NAN },
    );
    let opts = RetrieveOptions::new(1.0).steps(3).known(mask).clamp_known();
    let out = memory.retrieve(q.view(), &opts).unwrap();
    let e = rel_err(
        out.states.view(),
        to64(x.slice(ndarray::s![target..target + 1, ..])).view(),
    );
    assert!(e <= 1e-3, "completed state rel err {e:e}");
}

/// A mask of the wrong shape, or clamping without a mask, is a typed error that says so.
fn bad_masks_are_typed_errors(device: &Device) {
    let memory = Memory::from_rows(device, 3, &[1.0, 0.0, 0.0, 0.0, 1.0, 0.0]).unwrap();
    let q = ndarray::array![[1.0f32, 0.0, 0.0], [0.0, 1.0, 0.0]];
    for mask in [
        Array2::from_elem((2, 2), true),
        Array2::from_elem((3, 3), true),
    ] {
        let err = memory
            .retrieve(q.view(), &RetrieveOptions::new(1.0).known(mask))
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidOptions(ref why) if why.contains("B×d or 1×d")),
            "{err}"
        );
    }
    let err = memory
        .retrieve(q.view(), &RetrieveOptions::new(1.0).clamp_known())
        .unwrap_err();
    assert!(
        matches!(err, Error::InvalidOptions(ref why) if why.contains("RetrieveOptions::known")),
        "{err}"
    );
}
