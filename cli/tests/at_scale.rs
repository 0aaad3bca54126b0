//! The command line at scale: `hopfield retrieve` past 2^16 patterns, where the library's own
//! scale tests (tests/scale.rs at the repository root) hold the kernels to their loop bounds.
//! The same shapes and tolerance as there: patterns and queries of norm ≈ 1, β = 2√d so the
//! weights are spread and every pattern counts, and ‖out − ref‖_F / ‖ref‖_F ≤ 1e-5 against the
//! streaming f64 evaluation of one step shared with those tests.

#[path = "../../tests/common/mod.rs"]
mod common;

use common::{normal, one_step_f64, rel_err};
use ndarray::Array2;

const TOLERANCE: f64 = 1e-5;

/// The command line at scale: `hopfield retrieve` on the CPU path and on the GPU, states and
/// top-k written to .npy, against the same f64 evaluation.
fn cli_at_scale(device: &str) {
    use ndarray_npy::{read_npy, write_npy};
    let (b, n, d) = (2, 65_537, 24);
    let mut rng = common::rng("cli_at_scale");
    let x = normal(&mut rng, n, d, 1.0);
    let q = normal(&mut rng, b, d, 1.0);
    let beta = 2.0 * (d as f32).sqrt();
    let (expected, top) = one_step_f64(x.view(), q.view(), f64::from(beta));
    let dir = tempfile::tempdir().unwrap();
    let path = |name: &str| dir.path().join(name).to_str().unwrap().to_string();
    write_npy(path("x.npy"), &x).unwrap();
    write_npy(path("q.npy"), &q).unwrap();
    let beta_arg = beta.to_string();
    let (xs, qs, out_path, top_path) = (path("x.npy"), path("q.npy"), path("o.npy"), path("t.npy"));
    for extra in [&[][..], &["--topk", "3", "--topk-out", &top_path][..]] {
        let mut args = vec!["retrieve", "--device", device, "--patterns", &xs];
        args.extend(["--queries", &qs, "--beta", &beta_arg, "--out", &out_path]);
        args.extend(extra);
        let run = std::process::Command::new(env!("CARGO_BIN_EXE_hopfield"))
            .args(&args)
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&run.stderr);
        assert!(run.status.success(), "{args:?}: {err}");
        let states: Array2<f32> = read_npy(&out_path).unwrap();
        let e = rel_err(states.view(), expected.view());
        assert!(e <= TOLERANCE, "{device} {extra:?}: states rel err {e:e}");
        if !extra.is_empty() {
            let t: Array2<i64> = read_npy(&top_path).unwrap();
            for (r, want) in top.iter().enumerate() {
                let got: Vec<usize> = t.row(r).iter().map(|&i| i as usize).collect();
                assert_eq!(&got, want, "{device}: top-3 of query {r}");
            }
        }
    }
}

#[test]
fn cli_at_scale_cpu() {
    cli_at_scale("cpu");
}

#[test]
fn cli_at_scale_gpu() {
    if common::gpu().is_some() {
        cli_at_scale("gpu");
    }
}
