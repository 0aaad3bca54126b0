//! Sparsemax and α-entmax against the `entmax` Python package (issue 15, "independent
//! outputs"): every case of `tests/fixtures/entmax` (see its README for how they were made)
//! through `Memory::retrieve` with weights, on the CPU path and on the GPU.
//!
//! The package's `sparsemax` and `entmax15` (sorting) and `entmax_bisect` at α ∈ {1.25, 1.5,
//! 2, 3} (bisection) computed the weights in float64 from the float32 X and Q stored beside
//! them; its α-entmax is [(α−1)z − τ]₊^{1/(α−1)}, the crate's `Entmax(α)`, and α = 2 through
//! `entmax_bisect` is checked against `Entmax(2.0)`, which the crate computes as sparsemax.
//!
//! Tolerances, for every case:
//! - weights: max |got − package| ≤ 1e-5 (they are probabilities);
//! - supports: a weight may be zero on one side and not on the other only where the package's
//!   weight is < 1e-6 (a score within f32 rounding of the threshold, or a weight below f32's
//!   range); a crate weight where the package has zero is bounded by the 1e-5 above;
//! - states (one step, Xᵀp): ‖got − package‖_F / ‖package‖_F ≤ 1e-5.

mod common;

use std::path::{Path, PathBuf};

use common::rel_err;
use hopfield::{Device, Memory, RetrieveOptions, Separation};
use ndarray::{Array2, ArrayView2};
use ndarray_npy::ReadNpyExt;

const WEIGHT_TOL: f64 = 1e-5;
const SUPPORT_TOL: f64 = 1e-6;
const STATE_TOL: f64 = 1e-5;

/// The package calls the fixtures hold, by the tag in their file names.
const RULES: &[&str] = &[
    "sparsemax",
    "entmax15",
    "bisect1p25",
    "bisect1p5",
    "bisect2",
    "bisect3",
];

on_every_backend!(every_case_matches_the_package);

/// One entry of index.json: a case's inputs and one package rule's outputs for them.
struct Case {
    name: String,
    separation: Separation,
    beta: f32,
    x: Array2<f32>,
    q: Array2<f32>,
    weights: Array2<f64>,
    states: Array2<f64>,
}

impl Case {
    fn describe(&self) -> String {
        let ((b, _), (n, d)) = (self.q.dim(), self.x.dim());
        format!(
            "{} ({}, B={b} N={n} d={d} beta={})",
            self.name, self.separation, self.beta
        )
    }
}

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/entmax")
}

fn load<T: ndarray_npy::ReadableElement>(file: &str) -> Array2<T> {
    let path = dir().join(file);
    let f = std::fs::File::open(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Array2::read_npy(std::io::BufReader::new(f))
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Every case of index.json, each rule present at least once (an empty or partial folder
/// fails here rather than passing on nothing).
fn cases() -> Vec<Case> {
    let text = std::fs::read_to_string(dir().join("index.json")).expect("index.json");
    let index: serde_json::Value = serde_json::from_str(&text).expect("index.json is JSON");
    let entries = index["cases"].as_array().expect("index.json: cases");
    let field = |e: &serde_json::Value, k: &str| -> String {
        e[k].as_str()
            .unwrap_or_else(|| panic!("index.json: {k} in {e}"))
            .to_string()
    };
    for rule in RULES {
        assert!(
            entries.iter().any(|e| e["rule"] == *rule),
            "index.json has no {rule} case"
        );
    }
    entries
        .iter()
        .map(|e| {
            let beta = e["beta"].as_f64().expect("index.json: beta");
            // The package scored with this β in f64; the crate takes it as f32.
            assert_eq!(f64::from(beta as f32), beta, "β {beta} is not an f32");
            Case {
                name: format!("{}/{}", field(e, "case"), field(e, "rule")),
                separation: field(e, "separation").parse().unwrap(),
                beta: beta as f32,
                x: load(&field(e, "x")),
                q: load(&field(e, "q")),
                weights: load(&field(e, "weights")),
                states: load(&field(e, "states")),
            }
        })
        .collect()
}

/// Every disagreement beyond the module's tolerances, each as a line; the worst weight error.
fn weight_failures(case: &Case, got: ArrayView2<f32>) -> (Vec<String>, f64) {
    let mut failures = Vec::new();
    let mut worst = 0.0f64;
    if got.dim() != case.weights.dim() {
        let msg = format!("weights {:?}, want {:?}", got.dim(), case.weights.dim());
        return (vec![msg], f64::INFINITY);
    }
    for ((at, &g), &w) in got.indexed_iter().zip(&case.weights) {
        let g = f64::from(g);
        // NaN (a poisoned, unwritten output) is an infinite error.
        let err = match (g - w).abs() {
            e if e.is_nan() => f64::INFINITY,
            e => e,
        };
        worst = worst.max(err);
        if err > WEIGHT_TOL {
            failures.push(format!("weight {at:?}: {g:e} vs {w:e}"));
        } else if g == 0.0 && w >= SUPPORT_TOL {
            failures.push(format!("weight {at:?}: 0 vs {w:e}, outside the support"));
        }
    }
    (failures, worst)
}

fn every_case_matches_the_package(device: &Device) {
    let cases = cases();
    let mut failures = Vec::new();
    let (mut worst_weight, mut worst_state) = (0.0f64, 0.0f64);
    for case in &cases {
        let memory = Memory::from_array(device, case.x.view()).unwrap();
        let opts = RetrieveOptions::new(case.beta)
            .separation(case.separation)
            .with_weights();
        let out = memory.retrieve(case.q.view(), &opts).unwrap();
        let got = out.weights.as_ref().expect("weights were asked for");
        let (mut lines, w) = weight_failures(case, got.view());
        let s = if out.states.dim() == case.states.dim() {
            rel_err(out.states.view(), case.states.view())
        } else {
            f64::INFINITY
        };
        if s.is_nan() || s > STATE_TOL {
            lines.push(format!("states: relative error {s:e}"));
        }
        failures.extend(lines.iter().map(|l| format!("{}: {l}", case.describe())));
        worst_weight = worst_weight.max(w);
        worst_state = worst_state.max(s);
    }
    eprintln!(
        "{} cases: worst weight error {worst_weight:e}, worst state error {worst_state:e}",
        cases.len()
    );
    let shown: Vec<&String> = failures.iter().take(20).collect();
    assert!(
        failures.is_empty(),
        "{} disagreements with the entmax package, first {}:\n{shown:#?}",
        failures.len(),
        shown.len()
    );
}
