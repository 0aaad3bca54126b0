//! Hopfield layers against hflayers itself: every case of the reference fixtures
//! (`tests/fixtures/hflayers`, or the folder in `HOPFIELD_HFLAYERS_FIXTURES`), on the CPU
//! path and on the GPU.
//!
//! Tolerances (the fixtures' README, `tests/fixtures/hflayers/README.md`): the output within `max|out − ref| / max|ref| ≤ 1e-5` of
//! the float64 reference, the association matrix within 1e-5 absolute (probabilities), and the
//! same number of softmaxes as hflayers took (`derived.softmax_iterations`; every stopping
//! decision there is at least 10 % of ε from the threshold). A case this crate cannot express
//! fails. The two `quirk_*` cases pin hflayers bugs that this crate does not reproduce: their
//! tests check the corrected output against an independent computation and show it differs
//! from hflayers' where the bug bites.
//!
//! The random tests check the GPU attention (offsets of many problems in one buffer, masks,
//! update steps) against an f64 recomputation on awkward shapes, on both backends, within 1e-4
//! (output, relative to its largest value; association, absolute): up to three update steps
//! through softmaxes with scores near 10 chain f32 rounding (200 seeded cases: worst 1.1e-5,
//! typically below 3e-6).

#[path = "bodies/layers.rs"]
mod bodies;
mod common;
#[path = "bodies/fixtures.rs"]
mod fixtures;

use std::io::ErrorKind;

use bodies::*;
use hopfield::layers::{Activation, Hopfield, HopfieldConfig, Scaling, Weights};
use hopfield::{Device, Error, FileOp};

on_every_backend_async!(
    every_fixture_case_matches_hflayers,
    quirk_scaling_tensor_is_applied_per_head,
    quirk_static_batch_items_stay_apart,
    attention_matches_f64_on_awkward_shapes,
    fully_masked_row_is_nan_as_in_pytorch,
    input_errors_are_typed,
);

/// The browser's compiled-in fixtures (tests/bodies/fixtures.rs) are exactly the folder's.
#[test]
fn compiled_in_fixtures_are_the_folder() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hflayers");
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .collect();
    on_disk.sort();
    let compiled: Vec<&str> = fixtures::FIXTURES.iter().map(|(n, _)| *n).collect();
    assert_eq!(compiled, on_disk, "regenerate tests/bodies/fixtures.rs");
    for (name, bytes) in fixtures::FIXTURES {
        let file = std::fs::read(dir.join(format!("{name}.safetensors"))).unwrap();
        assert!(file == *bytes, "{name}");
    }
}

#[test]
fn weight_errors_name_the_tensor() {
    let case = Case::named("hopfield_tuple_h2");
    let device = Device::cpu();
    let good = case.weights();
    assert!(Hopfield::new(&device, case.config(), &good).is_ok());

    let mut missing = Weights::new();
    for name in good
        .names()
        .filter(|n| *n != "association_core.k_proj_weight")
    {
        let (shape, data) = good.get(name).unwrap();
        missing.insert(name, shape, data.to_vec()).unwrap();
    }
    let e = Hopfield::new(&device, case.config(), &missing).unwrap_err();
    assert_eq!(
        e,
        Error::MissingTensor {
            name: "association_core.k_proj_weight".into(),
            expected: vec![12, 10]
        }
    );

    let mut extra = good.clone();
    extra
        .insert("association_core.surprise", &[1], vec![0.0])
        .unwrap();
    let e = Hopfield::new(&device, case.config(), &extra).unwrap_err();
    assert!(
        matches!(&e, Error::UnexpectedTensor { name, .. } if name == "association_core.surprise"),
        "{e}"
    );

    let mut shaped = good.clone();
    shaped
        .insert("association_core.out_proj.weight", &[12, 5], vec![0.0; 60])
        .unwrap();
    let e = Hopfield::new(&device, case.config(), &shaped).unwrap_err();
    assert_eq!(
        e,
        Error::TensorShape {
            name: "association_core.out_proj.weight".into(),
            expected: vec![5, 12],
            got: vec![12, 5]
        }
    );

    // The same weights under another configuration: the first tensor that does not fit.
    let e = Hopfield::new(&device, case.config().hidden_size(5), &good).unwrap_err();
    assert_eq!(
        e,
        Error::TensorShape {
            name: "association_core.q_proj_weight".into(),
            expected: vec![2 * 5, 12],
            got: vec![12, 12]
        }
    );

    // A NaN weight.
    let mut nan = good.clone();
    let (shape, data) = good.get("norm_state_pattern.bias").unwrap();
    let mut data = data.to_vec();
    data[3] = f32::NAN;
    nan.insert("norm_state_pattern.bias", shape, data).unwrap();
    let e = Hopfield::new(&device, case.config(), &nan).unwrap_err();
    assert!(
        matches!(&e, Error::TensorFile(m) if m.contains("norm_state_pattern.bias")),
        "{e}"
    );

    // Not a safetensors file; a file that is not there.
    assert!(matches!(
        Weights::from_safetensors(b"nonsense", ""),
        Err(Error::TensorFile(_))
    ));
    assert!(matches!(
        Weights::load("/nonexistent/layer.safetensors"),
        Err(Error::Io { op: FileOp::Read, ref source, .. }) if source.kind() == ErrorKind::NotFound
    ));
}

#[test]
fn configuration_errors_are_typed() {
    let device = Device::cpu();
    let none = Weights::new();
    let bad = |c: HopfieldConfig| Hopfield::new(&device, c, &none).unwrap_err();
    assert!(matches!(
        bad(HopfieldConfig::new(8).num_heads(3)),
        Error::InvalidOptions(_)
    ));
    assert!(matches!(
        bad(HopfieldConfig::new(8).num_heads(0)),
        Error::InvalidOptions(_)
    ));
    assert!(matches!(
        bad(HopfieldConfig::new(8).normalize_state_pattern(false)),
        Error::InvalidOptions(_)
    ));
    assert!(matches!(
        bad(HopfieldConfig::new(8).scaling(Scaling::Scalar(f32::NAN))),
        Error::InvalidBeta(_)
    ));
    assert!(matches!(
        bad(HopfieldConfig::new(8)
            .num_heads(2)
            .scaling(Scaling::PerHead(vec![1.0]))),
        Error::InvalidOptions(_)
    ));
    assert!(matches!(
        bad(HopfieldConfig::default()),
        Error::InvalidOptions(_)
    ));
    assert!(matches!(
        "softmax".parse::<Activation>(),
        Err(Error::InvalidOptions(_))
    ));
}

/// On a GPU a layer's forward — norms, projections, attention, output projection and
/// activation — is one submission that reads back exactly the output, and the association
/// when asked for, in steady state (the weights went up with the first call).
#[test]
fn a_gpu_forward_is_one_submission_and_reads_back_only_its_results() {
    let Some(device) = common::own_gpu() else {
        return;
    };
    for name in [
        "hopfield_activation_tanh",
        "hopfield_hspace_norm_h2",
        "hopfield_zero_assoc_h2",
        "hopfield_self_h2",
        "hopfield_static_stored_h1",
    ] {
        let case = bodies::Case::named(name);
        let layer = Hopfield::new(&device, case.config(), &case.weights()).unwrap();
        // Self-attention cases have one input.
        let input = |k: &str| {
            case.input(if case.has(&format!("input.{k}")) {
                k
            } else {
                "input"
            })
        };
        let (s, q, p) = (input("stored"), input("state"), input("projection"));
        for association in [false, true] {
            let mut options = hopfield::layers::ForwardOptions::new();
            if association {
                options = options.with_association();
            }
            let forward = || {
                layer
                    .forward_with(s.view(), q.view(), p.view(), &options)
                    .unwrap()
            };
            forward();
            let before = device.stats();
            let got = forward();
            let call = device.stats().since(before);
            let xi = got.association.as_ref().map_or(0, |a| a.len());
            assert_eq!(xi > 0, association, "{name}");
            assert_eq!(call.submissions, 1, "{name}: {call:?}");
            assert_eq!(
                call.bytes_read_back,
                ((got.out.len() + xi) * 4) as u64,
                "{name}: {call:?}"
            );
        }
    }
}
