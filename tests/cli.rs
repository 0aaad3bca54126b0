//! The `hopfield` binary on .npy files: a round trip against the f64 reference, and a one-line
//! error (never a panic) for every kind of bad input.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hopfield::reference;
use ndarray::{Array1, Array2, Array3};
use ndarray_npy::{read_npy, write_npy};

fn hopfield(args: &[&str]) -> Output {
    // Mesa's EGL probe prints its own "error:" line when it finds no runtime directory; give it
    // a private one so stderr holds only what the tool says.
    let runtime = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_hopfield"))
        .args(args)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .expect("the binary runs")
}

fn p(dir: &Path, name: &str) -> PathBuf {
    dir.join(name)
}

fn s(path: &Path) -> &str {
    path.to_str().unwrap()
}

/// Exit code ≠ 0, one line on stderr starting with "error:", naming `hint`; no panic.
fn fails_with(out: &Output, hint: &str) {
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "should fail: {err}");
    assert!(!err.contains("panicked"), "panicked: {err}");
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("error:")).collect();
    assert_eq!(lines.len(), 1, "one error line: {err}");
    assert!(
        lines[0].contains(hint),
        "{:?} should mention {hint:?}",
        lines[0]
    );
}

struct Files {
    dir: tempfile::TempDir,
    x: Array2<f32>,
    q: Array2<f32>,
}

fn files() -> Files {
    let mut rng = common::rng("cli");
    let dir = tempfile::tempdir().unwrap();
    let x = common::normal(&mut rng, 23, 7, 1.0);
    let q = common::normal(&mut rng, 5, 7, 1.0);
    write_npy(p(dir.path(), "x.npy"), &x).unwrap();
    write_npy(p(dir.path(), "q.npy"), &q).unwrap();
    Files { dir, x, q }
}

fn round_trip_on(device: &str) {
    let f = files();
    let d = f.dir.path();
    let (out, w, t, tw) = (
        p(d, "out.npy"),
        p(d, "w.npy"),
        p(d, "t.npy"),
        p(d, "tw.npy"),
    );
    let run = hopfield(&[
        "retrieve",
        "--patterns",
        s(&p(d, "x.npy")),
        "--queries",
        s(&p(d, "q.npy")),
        "--beta",
        "3",
        "--steps",
        "2",
        "--out",
        s(&out),
        "--weights",
        s(&w),
        "--topk",
        "3",
        "--topk-out",
        s(&t),
        "--topk-weights-out",
        s(&tw),
        "--device",
        device,
    ]);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    let (x, q) = (common::to64(f.x.view()), common::to64(f.q.view()));
    let (states, weights, _) = reference::retrieve(x.view(), q.view(), 3.0, 2);
    let got: Array2<f32> = read_npy(&out).unwrap();
    assert!(common::rel_err(got.view(), states.view()) <= 2e-5);
    let got_w: Array2<f32> = read_npy(&w).unwrap();
    assert!(common::max_abs_err(got_w.view(), weights.view()) <= 1e-5);
    let idx: Array2<i64> = read_npy(&t).unwrap();
    let top_w: Array2<f32> = read_npy(&tw).unwrap();
    assert_eq!(idx.dim(), (5, 3));
    for r in 0..5 {
        for c in 0..3 {
            let i = idx[[r, c]] as usize;
            assert!((f64::from(top_w[[r, c]]) - weights[[r, i]]).abs() <= 1e-5);
        }
        assert!(top_w[[r, 0]] >= top_w[[r, 1]] && top_w[[r, 1]] >= top_w[[r, 2]]);
    }
}

#[test]
fn round_trip_cpu() {
    round_trip_on("cpu");
}

#[test]
fn round_trip_gpu() {
    if common::gpu().is_some() {
        round_trip_on("gpu");
    }
}

#[test]
fn until_converged() {
    let f = files();
    let d = f.dir.path();
    let run = hopfield(&[
        "retrieve",
        "--patterns",
        s(&p(d, "x.npy")),
        "--queries",
        s(&p(d, "q.npy")),
        "--beta",
        "2",
        "--until-converged",
        "--eps",
        "1e-5",
        "--max-steps",
        "50",
        "--out",
        s(&p(d, "o.npy")),
        "--device",
        "cpu",
    ]);
    assert!(run.status.success());
    assert!(String::from_utf8_lossy(&run.stderr).contains("converged"));
}

#[test]
fn bad_inputs() {
    let f = files();
    let d = f.dir.path();
    let (x, q, out) = (p(d, "x.npy"), p(d, "q.npy"), p(d, "out.npy"));
    let retrieve = |patterns: &Path, queries: &Path, beta: &str| {
        hopfield(&[
            "retrieve",
            "--patterns",
            s(patterns),
            "--queries",
            s(queries),
            "--beta",
            beta,
            "--out",
            s(&out),
            "--device",
            "cpu",
        ])
    };
    fails_with(&retrieve(&p(d, "missing.npy"), &q, "1"), "missing.npy");
    std::fs::write(p(d, "text.npy"), "not an npy file").unwrap();
    fails_with(&retrieve(&p(d, "text.npy"), &q, "1"), "text.npy");
    std::fs::write(p(d, "empty.npy"), "").unwrap();
    fails_with(&retrieve(&x, &p(d, "empty.npy"), "1"), "empty.npy");
    write_npy(p(d, "f64.npy"), &f.x.mapv(f64::from)).unwrap();
    fails_with(&retrieve(&p(d, "f64.npy"), &q, "1"), "float32");
    write_npy(p(d, "i32.npy"), &Array2::<i32>::zeros((3, 7))).unwrap();
    fails_with(&retrieve(&x, &p(d, "i32.npy"), "1"), "i32.npy");
    write_npy(p(d, "1d.npy"), &Array1::<f32>::zeros(7)).unwrap();
    fails_with(&retrieve(&x, &p(d, "1d.npy"), "1"), "2-D");
    write_npy(p(d, "3d.npy"), &Array3::<f32>::zeros((2, 3, 7))).unwrap();
    fails_with(&retrieve(&p(d, "3d.npy"), &q, "1"), "2-D");
    write_npy(p(d, "q6.npy"), &Array2::<f32>::zeros((2, 6))).unwrap();
    fails_with(&retrieve(&x, &p(d, "q6.npy"), "1"), "dimension mismatch");
    let mut nan = f.q.clone();
    nan[[2, 4]] = f32::NAN;
    write_npy(p(d, "nan.npy"), &nan).unwrap();
    fails_with(&retrieve(&x, &p(d, "nan.npy"), "1"), "non-finite");
    fails_with(&retrieve(&x, &q, "0"), "beta");
    fails_with(&retrieve(&x, &q, "-2"), "beta");
    assert!(!out.exists(), "no output is written on failure");
    let no_gpu = hopfield(&[
        "retrieve",
        "--patterns",
        s(&x),
        "--queries",
        s(&q),
        "--beta",
        "1",
        "--out",
        s(&out),
        "--device",
        "no-such-adapter-77",
    ]);
    fails_with(&no_gpu, "no-such-adapter-77");
}

#[test]
fn demo_runs_small() {
    let run = hopfield(&[
        "demo",
        "--patterns",
        "200",
        "--dim",
        "64",
        "--queries",
        "20",
        "--device",
        "cpu",
    ]);
    let text = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "{}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(
        text.contains("recovered") && text.contains("sign-flipped"),
        "{text}"
    );
}
