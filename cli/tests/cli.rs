//! The `hopfield` binary: `retrieve` on .npy files against the f64 reference, a one-line
//! `error:` (never a panic) for every kind of bad input, `info`, small `demo` runs, and the
//! `shaders` export.

#[path = "../../tests/common/mod.rs"]
mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hopfield::reference;
use ndarray::{Array1, Array2, Array3};
use ndarray_npy::{read_npy, write_npy};

/// Runs the binary. Mesa's EGL probe prints its own "error:" line when it finds no runtime
/// directory; a private one keeps stderr to what the tool says.
fn hopfield(args: &[&str]) -> Output {
    hopfield_env(args, &[])
}

/// Runs the binary with `env` added to its environment.
fn hopfield_env(args: &[&str], env: &[(&str, &str)]) -> Output {
    let runtime = tempfile::tempdir().unwrap();
    Command::new(env!("CARGO_BIN_EXE_hopfield"))
        .args(args)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .envs(env.iter().copied())
        .output()
        .expect("the binary runs")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn succeeds(out: &Output) {
    assert!(out.status.success(), "failed: {}", stderr(out));
    assert!(!stderr(out).contains("panicked"), "{}", stderr(out));
}

/// Exit code `code`, and stderr exactly one line: "error: …" naming `hint` (in any case: the
/// system's own I/O messages are capitalised); no panic.
fn fails_with(out: &Output, code: i32, hint: &str) {
    let err = stderr(out);
    assert!(!err.contains("panicked"), "panicked: {err}");
    assert_eq!(out.status.code(), Some(code), "exit code; stderr: {err}");
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "one line on stderr: {err:?}");
    assert!(lines[0].starts_with("error: "), "{:?}", lines[0]);
    assert!(
        lines[0].to_lowercase().contains(&hint.to_lowercase()),
        "{:?} should mention {hint:?}",
        lines[0]
    );
}

/// Whether a GPU adapter exists. Without one the test is skipped, unless
/// `HOPFIELD_REQUIRE_GPU=1`, where it fails.
fn gpu_available() -> bool {
    match hopfield::Device::gpu() {
        Ok(device) => {
            eprintln!("GPU: {}", device.info());
            true
        }
        Err(e) if std::env::var("HOPFIELD_REQUIRE_GPU").as_deref() == Ok("1") => {
            panic!("HOPFIELD_REQUIRE_GPU=1 but Device::gpu() failed: {e}")
        }
        Err(e) => {
            eprintln!("skipped: no GPU adapter ({e})");
            false
        }
    }
}

fn s(path: &Path) -> &str {
    path.to_str().expect("temp paths are UTF-8")
}

/// Patterns x.npy (N×d) and queries q.npy (B×d) in a temporary directory.
struct Files {
    dir: tempfile::TempDir,
    x: Array2<f32>,
    q: Array2<f32>,
}

impl Files {
    fn new(n: usize, d: usize, b: usize) -> Files {
        let mut rng = common::rng("cli");
        let dir = tempfile::tempdir().unwrap();
        let x = common::normal(&mut rng, n, d, 1.0);
        let q = common::normal(&mut rng, b, d, 1.0);
        write_npy(dir.path().join("x.npy"), &x).unwrap();
        write_npy(dir.path().join("q.npy"), &q).unwrap();
        Files { dir, x, q }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `retrieve` on `patterns` and `queries` (file names in the directory) into out.npy, with
    /// `extra` arguments, on the CPU unless they name a device.
    fn retrieve(&self, patterns: &str, queries: &str, beta: &str, extra: &[&str]) -> Output {
        let (x, q, out) = (
            self.path(patterns),
            self.path(queries),
            self.path("out.npy"),
        );
        let mut args = vec![
            "retrieve",
            "--patterns",
            s(&x),
            "--queries",
            s(&q),
            "--beta",
            beta,
            "--out",
            s(&out),
        ];
        if !extra.contains(&"--device") {
            args.extend(["--device", "cpu"]);
        }
        args.extend_from_slice(extra);
        hopfield(&args)
    }

    /// Asserts that a failed run wrote no output.
    fn no_output(&self) {
        assert!(
            !self.path("out.npy").exists(),
            "no output is written on failure"
        );
    }
}

/// `steps` steps at β = 3 with every output, against the f64 reference.
fn round_trip_on(device: &str, steps: usize) {
    let (n, d, b, k, beta) = (37, 13, 11, 4, 3.0);
    let steps_arg = steps.to_string();
    let f = Files::new(n, d, b);
    let (out, w, t, tw, e) = (
        f.path("out.npy"),
        f.path("w.npy"),
        f.path("t.npy"),
        f.path("tw.npy"),
        f.path("e.npy"),
    );
    let run = hopfield(&[
        "retrieve",
        "--patterns",
        s(&f.path("x.npy")),
        "--queries",
        s(&f.path("q.npy")),
        "--beta",
        "3",
        "--steps",
        &steps_arg,
        "--out",
        s(&out),
        "--weights",
        s(&w),
        "--topk",
        "4",
        "--topk-out",
        s(&t),
        "--topk-weights-out",
        s(&tw),
        "--energy-out",
        s(&e),
        "--device",
        device,
    ]);
    succeeds(&run);
    let summary = stderr(&run);
    // Many steps may end early at a fixed point, where the states are the reference's too.
    assert!(
        summary.contains(&format!("B={b} N={n} d={d}"))
            && (summary.contains(&format!("{steps} steps")) || summary.contains("a fixed point")),
        "{summary}"
    );

    let (x, q) = (common::to64(f.x.view()), common::to64(f.q.view()));
    let (states, weights, _) = reference::retrieve(x.view(), q.view(), beta, steps);

    let got: Array2<f32> = read_npy(&out).unwrap();
    let err = common::rel_err(got.view(), states.view());
    eprintln!("{device}: states relative error {err:e}");
    assert!(err <= 1e-5, "states: relative error {err:e}");

    let got_w: Array2<f32> = read_npy(&w).unwrap();
    let err = common::max_abs_err(got_w.view(), weights.view());
    assert!(err <= 1e-5, "weights: max error {err:e}");

    // Top-k: the reported weights are the reference's for those indices, strongest first, and
    // no pattern left out is stronger than the last one kept (robust to near-ties).
    let idx: Array2<i64> = read_npy(&t).unwrap();
    let top_w: Array2<f32> = read_npy(&tw).unwrap();
    assert_eq!(idx.dim(), (b, k));
    assert_eq!(top_w.dim(), (b, k));
    for r in 0..b {
        let kept: Vec<usize> = idx.row(r).iter().map(|&i| i as usize).collect();
        for (c, &i) in kept.iter().enumerate() {
            assert!(i < n, "index {i} out of range");
            assert!((f64::from(top_w[[r, c]]) - weights[[r, i]]).abs() <= 1e-5);
            if c > 0 {
                assert!(top_w[[r, c - 1]] >= top_w[[r, c]], "row {r} not sorted");
            }
        }
        let last = weights[[r, kept[k - 1]]];
        for i in (0..n).filter(|i| !kept.contains(i)) {
            assert!(
                weights[[r, i]] <= last + 1e-5,
                "row {r}: {i} should be kept"
            );
        }
    }

    let energy: Array2<f32> = read_npy(&e).unwrap();
    assert_eq!(energy.dim(), (b, 2));
    let before = reference::energy(x.view(), q.view(), beta);
    let after = reference::energy(x.view(), states.view(), beta);
    for r in 0..b {
        for (c, want) in [before[r], after[r]].into_iter().enumerate() {
            let got = f64::from(energy[[r, c]]);
            assert!(
                (got - want).abs() <= 1e-5 * (1.0 + want.abs()),
                "energy [{r}, {c}]: {got} vs {want}"
            );
        }
    }
}

#[test]
fn round_trip_cpu() {
    round_trip_on("cpu", 2);
}

/// More steps than one slice: the energy before is still the queries', the weights and top-k
/// the last step's.
#[test]
fn round_trip_many_steps_cpu() {
    round_trip_on("cpu", 70);
}

#[test]
fn round_trip_gpu() {
    if gpu_available() {
        round_trip_on("gpu", 2);
    }
}

#[test]
fn one_step_by_default() {
    let f = Files::new(9, 5, 3);
    succeeds(&f.retrieve("x.npy", "q.npy", "1.5", &[]));
    let (x, q) = (common::to64(f.x.view()), common::to64(f.q.view()));
    let (want, _) = reference::update(x.view(), q.view(), 1.5);
    let got: Array2<f32> = read_npy(f.path("out.npy")).unwrap();
    assert!(common::rel_err(got.view(), want.view()) <= 1e-5);
}

#[test]
fn until_converged_reaches_a_fixed_point() {
    let f = Files::new(23, 7, 5);
    // The update's Jacobian is β times the weighted covariance of the patterns, whose norm is at
    // most max ‖x‖²: this β makes the update a contraction by at least 1/2, so 200 steps reach
    // 1e-6 from any query. A fixed β = 2 once met random patterns whose trajectories shrank by
    // only 4 % a step and needed about 220 steps.
    let max_sq =
        f.x.rows()
            .into_iter()
            .map(|r| r.dot(&r))
            .fold(0.0, f32::max);
    let beta = 0.5 / max_sq;
    let beta_arg = beta.to_string();
    let run = f.retrieve(
        "x.npy",
        "q.npy",
        &beta_arg,
        &["--until-converged", "--eps", "1e-6", "--max-steps", "200"],
    );
    succeeds(&run);
    assert!(
        stderr(&run).contains("5 of 5 converged"),
        "{}",
        stderr(&run)
    );
    let got: Array2<f32> = read_npy(f.path("out.npy")).unwrap();
    let x = common::to64(f.x.view());
    let beta = beta_arg.parse::<f64>().unwrap();
    let (next, _) = reference::update(x.view(), common::to64(got.view()).view(), beta);
    let err = common::max_abs_err(got.view(), next.view());
    assert!(err <= 1e-5, "one more step moves the state by {err:e}");
}

#[test]
fn conflicting_and_incomplete_options() {
    let f = Files::new(4, 3, 2);
    for extra in [
        &["--steps", "2", "--until-converged"][..],
        &["--eps", "1e-3"],
        &["--max-steps", "5"],
        &["--topk", "2"],
        &["--topk-out", "t.npy"],
    ] {
        let run = f.retrieve("x.npy", "q.npy", "1", extra);
        let err = stderr(&run);
        assert_eq!(run.status.code(), Some(2), "{extra:?}: {err}");
        assert!(
            err.starts_with("error:") && !err.contains("panicked"),
            "{err}"
        );
        f.no_output();
    }
}

#[test]
fn missing_and_non_npy_files() {
    let f = Files::new(5, 3, 2);
    fails_with(
        &f.retrieve("missing.npy", "q.npy", "1", &[]),
        2,
        "missing.npy: no such file",
    );
    std::fs::write(f.path("text.npy"), "not an npy file, just text\n").unwrap();
    fails_with(
        &f.retrieve("text.npy", "q.npy", "1", &[]),
        2,
        "text.npy: not a .npy file",
    );
    std::fs::write(f.path("empty.npy"), "").unwrap();
    fails_with(
        &f.retrieve("x.npy", "empty.npy", "1", &[]),
        2,
        "empty.npy: not a .npy file",
    );
    // A valid header, with the data cut short.
    let bytes = std::fs::read(f.path("x.npy")).unwrap();
    std::fs::write(f.path("cut.npy"), &bytes[..bytes.len() - 5]).unwrap();
    fails_with(
        &f.retrieve("cut.npy", "q.npy", "1", &[]),
        2,
        "cut.npy: is truncated",
    );
    f.no_output();
}

#[test]
fn wrong_dtype() {
    let f = Files::new(5, 3, 2);
    write_npy(f.path("f64.npy"), &f.x.mapv(f64::from)).unwrap();
    fails_with(&f.retrieve("f64.npy", "q.npy", "1", &[]), 2, "float64");
    write_npy(f.path("i32.npy"), &Array2::<i32>::zeros((2, 3))).unwrap();
    fails_with(&f.retrieve("x.npy", "i32.npy", "1", &[]), 2, "int32");
    f.no_output();
}

#[test]
fn not_two_dimensional() {
    let f = Files::new(5, 3, 2);
    write_npy(f.path("1d.npy"), &Array1::<f32>::zeros(3)).unwrap();
    fails_with(&f.retrieve("x.npy", "1d.npy", "1", &[]), 2, "1-D");
    write_npy(f.path("3d.npy"), &Array3::<f32>::zeros((2, 5, 3))).unwrap();
    fails_with(&f.retrieve("3d.npy", "q.npy", "1", &[]), 2, "3-D");
    f.no_output();
}

#[test]
fn mismatched_dimensions() {
    let f = Files::new(5, 3, 2);
    write_npy(f.path("q4.npy"), &Array2::<f32>::ones((2, 4))).unwrap();
    fails_with(
        &f.retrieve("x.npy", "q4.npy", "1", &[]),
        2,
        "dimension mismatch",
    );
    f.no_output();
}

#[test]
fn non_finite_data() {
    let f = Files::new(5, 3, 4);
    let mut nan = f.q.clone();
    nan[[2, 1]] = f32::NAN;
    write_npy(f.path("nan.npy"), &nan).unwrap();
    fails_with(&f.retrieve("x.npy", "nan.npy", "1", &[]), 2, "non-finite");
    let mut inf = f.x.clone();
    inf[[4, 0]] = f32::INFINITY;
    write_npy(f.path("inf.npy"), &inf).unwrap();
    fails_with(&f.retrieve("inf.npy", "q.npy", "1", &[]), 2, "non-finite");
    f.no_output();
}

#[test]
fn bad_beta() {
    let f = Files::new(5, 3, 2);
    for beta in ["0", "-2", "nan", "inf"] {
        fails_with(&f.retrieve("x.npy", "q.npy", beta, &[]), 2, "beta");
    }
    f.no_output();
}

#[test]
fn bad_counts() {
    let f = Files::new(5, 3, 2);
    let t = f.path("t.npy");
    fails_with(
        &f.retrieve("x.npy", "q.npy", "1", &["--steps", "0"]),
        2,
        "steps",
    );
    fails_with(
        &f.retrieve(
            "x.npy",
            "q.npy",
            "1",
            &["--until-converged", "--max-steps", "0"],
        ),
        2,
        "steps",
    );
    fails_with(
        &f.retrieve("x.npy", "q.npy", "1", &["--until-converged", "--eps", "-1"]),
        2,
        "eps",
    );
    fails_with(
        &f.retrieve("x.npy", "q.npy", "1", &["--topk", "0", "--topk-out", s(&t)]),
        2,
        "top-k",
    );
    fails_with(
        &f.retrieve("x.npy", "q.npy", "1", &["--topk", "6", "--topk-out", s(&t)]),
        2,
        "top-k",
    );
    f.no_output();
    assert!(!t.exists());
}

#[test]
fn unknown_adapter() {
    let f = Files::new(5, 3, 2);
    let run = f.retrieve("x.npy", "q.npy", "1", &["--device", "no-such-adapter-77"]);
    fails_with(&run, 2, "--device no-such-adapter-77");
    f.no_output();
}

#[test]
fn unwritable_output() {
    let f = Files::new(5, 3, 2);
    let out = f.path("no-such-dir/out.npy");
    let run = hopfield(&[
        "retrieve",
        "--patterns",
        s(&f.path("x.npy")),
        "--queries",
        s(&f.path("q.npy")),
        "--beta",
        "1",
        "--out",
        s(&out),
        "--device",
        "cpu",
    ]);
    fails_with(&run, 2, "--out");
    assert!(
        stderr(&run).contains("no such directory"),
        "{}",
        stderr(&run)
    );
}

#[test]
fn info_lists_the_cpu_and_the_auto_choice() {
    let run = hopfield(&["info"]);
    succeeds(&run);
    let text = stdout(&run);
    assert!(text.contains("host CPU"), "{text}");
    assert!(text.contains("--device auto picks: "), "{text}");
}

/// The counts of a demo's "recovered a/b sign-flipped, c/e half-masked" lines.
fn recovered(text: &str) -> Vec<[usize; 4]> {
    text.lines()
        .filter_map(|l| l.trim().strip_prefix("recovered "))
        .map(|rest| {
            let nums: Vec<usize> = rest
                .split(|c: char| !c.is_ascii_digit())
                .filter(|w| !w.is_empty())
                .take(4)
                .map(|w| w.parse().unwrap())
                .collect();
            [nums[0], nums[1], nums[2], nums[3]]
        })
        .collect()
}

fn demo_small(device: &str) -> String {
    let run = hopfield(&[
        "demo",
        "--patterns",
        "200",
        "--dim",
        "64",
        "--queries",
        "20",
        "--device",
        device,
    ]);
    succeeds(&run);
    let text = stdout(&run);
    let counts = recovered(&text);
    assert_eq!(counts.len(), 2, "a device run and a CPU run: {text}");
    for [flip_ok, flip_all, mask_ok, mask_all] in counts {
        assert_eq!((flip_all, mask_all), (10, 10), "{text}");
        // β = 32 recovers every one of these (N = 200, d = 64, 13 flips or 32 zeros).
        assert_eq!((flip_ok, mask_ok), (10, 10), "{text}");
    }
    assert!(
        text.contains("device vs cpu: max |state difference|"),
        "{text}"
    );
    text
}

#[test]
fn demo_cpu() {
    let text = demo_small("cpu");
    assert!(text.contains("IS the host CPU"), "{text}");
}

#[test]
fn demo_gpu() {
    if gpu_available() {
        let text = demo_small("gpu");
        assert!(!text.contains("IS the host CPU"), "{text}");
    }
}

#[test]
fn demo_rejects_empty_sizes() {
    fails_with(
        &hopfield(&["demo", "--patterns", "0", "--device", "cpu"]),
        2,
        "at least 1",
    );
}

#[test]
fn retrieve_in_small_chunks_matches_one_buffer() {
    let f = Files::new(300, 24, 7);
    let whole = || read_npy::<_, Array2<f32>>(f.path("out.npy")).unwrap();
    for device in ["cpu", "gpu"] {
        if device == "gpu" && !gpu_available() {
            continue;
        }
        succeeds(&f.retrieve("x.npy", "q.npy", "4", &["--device", device]));
        let one = whole();
        // 1 KiB holds 10 rows of 24 f32: 30 chunks on a GPU.
        let run = f.retrieve(
            "x.npy",
            "q.npy",
            "4",
            &["--device", device, "--max-chunk-bytes", "1024"],
        );
        if device == "cpu" {
            // The CPU path has no buffers to size: the flag is refused, not ignored.
            fails_with(&run, 2, "sets the size of GPU buffers");
            continue;
        }
        succeeds(&run);
        if device == "gpu" {
            assert!(stderr(&run).contains("in 30 chunks"), "{}", stderr(&run));
        }
        let chunked = whole();
        let err = common::max_abs_err(chunked.view(), one.mapv(f64::from).view());
        assert!(err <= 1e-5, "{device}: chunked differs by {err:e}");
    }
}

/// Every GPU path (fused, unfused, f16 storage, small chunks) agrees with the f64 reference
/// under the adapter's limits and under WebGPU's defaults, where the fused kernels take their
/// compact tiles and fused_rows takes many-query blocks.
#[test]
fn every_path_under_both_limits() {
    if !gpu_available() {
        return;
    }
    // 70 queries: past the few-query kernel's 8, so the many-query one runs where it fits.
    for (n, d, b) in [(257, 131, 70), (1, 5, 3)] {
        let f = Files::new(n, d, b);
        let (x, q) = (common::to64(f.x.view()), common::to64(f.q.view()));
        let (want, _) = reference::update(x.view(), q.view(), 2.0);
        let paths: [(&str, &[&str], f64); 4] = [
            ("fused", &["--fusion", "fused"], 1e-5),
            ("unfused", &["--fusion", "unfused"], 1e-5),
            // f16 rounds each stored element by up to 2^-11 relative.
            ("f16", &["--precision", "f16"], 2e-3),
            ("chunked", &["--max-chunk-bytes", "4096"], 1e-5),
        ];
        for limits in ["adapter", "webgpu"] {
            for (path, extra, tolerance) in paths {
                let mut args = vec!["--device", "gpu", "--limits", limits];
                args.extend_from_slice(extra);
                let run = f.retrieve("x.npy", "q.npy", "2", &args);
                succeeds(&run);
                let got: Array2<f32> = read_npy(f.path("out.npy")).unwrap();
                let err = common::rel_err(got.view(), want.view());
                eprintln!("({n}, {d}, {b}) {path} --limits {limits}: relative error {err:e}");
                assert!(err <= tolerance, "{path} --limits {limits}: {err:e}");
            }
        }
    }
}

#[test]
fn bad_limits_and_fusion() {
    let f = Files::new(5, 3, 2);
    fails_with(
        &f.retrieve("x.npy", "q.npy", "1", &["--limits", "huge"]),
        2,
        "--limits",
    );
    fails_with(
        &f.retrieve("x.npy", "q.npy", "1", &["--fusion", "half"]),
        2,
        "--fusion",
    );
    f.no_output();
}

#[test]
fn retrieve_stores_f16() {
    let f = Files::new(50, 16, 5);
    let (x, q) = (common::to64(f.x.view()), common::to64(f.q.view()));
    let (want, _) = reference::update(x.view(), q.view(), 2.0);
    for device in ["cpu", "gpu"] {
        if device == "gpu" && !gpu_available() {
            continue;
        }
        let run = f.retrieve(
            "x.npy",
            "q.npy",
            "2",
            &["--device", device, "--precision", "f16"],
        );
        succeeds(&run);
        assert!(stderr(&run).contains("f16"), "{}", stderr(&run));
        let got: Array2<f32> = read_npy(f.path("out.npy")).unwrap();
        let err = common::rel_err(got.view(), want.view());
        // f16 rounds each stored element by up to 2^-11 relative.
        assert!(err <= 2e-3, "{device}: f16 relative error {err:e}");
        assert!(err > 0.0, "{device}: f16 storage should round something");
    }
}

#[test]
fn retrieve_rejects_bad_storage_options() {
    let f = Files::new(5, 3, 2);
    fails_with(
        &f.retrieve("x.npy", "q.npy", "1", &["--precision", "f8"]),
        2,
        "precision must be f32 or f16",
    );
    if gpu_available() {
        fails_with(
            &f.retrieve(
                "x.npy",
                "q.npy",
                "1",
                &["--max-chunk-bytes", "4", "--device", "gpu"],
            ),
            2,
            "cannot hold one pattern",
        );
    }
    f.no_output();
}

/// Runs `bench` on `device` with S4 and two repetitions, writing JSON; returns stdout and the
/// parsed JSON.
fn bench_s4(device: &str) -> (String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let run = hopfield(&[
        "bench",
        "--device",
        device,
        "--workloads",
        "S4",
        "--reps",
        "2",
        "--warmup",
        "1",
        "--json",
        s(&json),
    ]);
    succeeds(&run);
    let text = std::fs::read_to_string(&json).unwrap();
    let doc: serde_json::Value = serde_json::from_str(&text).expect("valid JSON");
    (stdout(&run), doc)
}

/// The fields every measured workload row carries.
fn check_bench_row(row: &serde_json::Value) {
    assert_eq!(row["name"], "S4", "{row}");
    assert_eq!(row["status"], "ok", "{row}");
    assert_eq!(
        (row["b"].as_u64(), row["n"].as_u64(), row["d"].as_u64()),
        (Some(1), Some(1024), Some(64))
    );
    assert_eq!(row["reps"], 2, "{row}");
    assert_eq!(row["chunks"], 1, "{row}");
    let e2e = &row["end_to_end_ms"];
    for key in ["median", "min", "max", "p10", "p90"] {
        assert!(e2e[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {row}");
    }
    assert!(e2e["min"].as_f64() <= e2e["median"].as_f64());
    assert!(e2e["median"].as_f64() <= e2e["max"].as_f64());
    for key in ["gb_per_s", "tflop_per_s", "throughput_time_ms"] {
        assert!(row[key].as_f64().is_some_and(|v| v > 0.0), "{key}: {row}");
    }
    let err = row["rel_err"].as_f64().expect("rel_err");
    assert!((0.0..1e-5).contains(&err), "relative error {err:e}");
    assert_eq!(row["rel_err_rows"], 1);
}

#[test]
fn bench_cpu_writes_json() {
    let (text, doc) = bench_s4("cpu");
    assert!(doc["workloads"][0]["per_call"].is_null(), "{doc}");
    assert!(text.contains("host CPU") && text.contains("S4"), "{text}");
    assert!(text.contains("n/a (CPU path)"), "{text}");
    assert_eq!(doc["adapter"]["backend"], "host");
    assert!(
        doc["date"]
            .as_str()
            .is_some_and(|d| d.len() == 20 && d.ends_with('Z')),
        "{doc}"
    );
    assert!(doc["unix_time"].as_u64().is_some());
    assert_eq!(doc["config"]["precision"], "f32");
    assert_eq!(doc["config"]["beta"], 8.0);
    assert_eq!(doc["config"]["kernels"], "cpu");
    let rows = doc["workloads"].as_array().expect("workloads");
    assert_eq!(rows.len(), 1);
    check_bench_row(&rows[0]);
    assert!(rows[0]["device_time_ms"].is_null());
    assert_eq!(rows[0]["throughput_time"], "end_to_end");
}

#[test]
fn bench_gpu() {
    if !gpu_available() {
        return;
    }
    let (text, doc) = bench_s4("gpu");
    assert!(!text.contains("host CPU"), "{text}");
    assert_eq!(doc["config"]["kernels"], "fused");
    let row = &doc["workloads"][0];
    check_bench_row(row);
    // Per call in steady state: no pipeline built, S4's state (64 floats) and its change read.
    let per_call = &row["per_call"];
    assert_eq!(per_call["pipelines_created"], 0.0, "{row}");
    assert!(per_call["submissions"].as_f64() >= Some(1.0), "{row}");
    assert_eq!(per_call["bytes_read_back"], (64 * 4 + 4) as f64, "{row}");
    if doc["adapter"]["features"]["timestamps"] == true {
        assert!(
            row["device_time_ms"]["median"]
                .as_f64()
                .is_some_and(|v| v > 0.0),
            "{row}"
        );
        assert_eq!(row["throughput_time"], "device");
    } else {
        assert!(text.contains("n/a (no timestamp queries)"), "{text}");
    }
}

#[test]
fn bench_defaults_to_small_off_hardware() {
    let run = hopfield(&["bench", "--device", "cpu", "--reps", "1", "--warmup", "0"]);
    succeeds(&run);
    let text = stdout(&run);
    assert!(text.contains("workloads small (the default"), "{text}");
    let names: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| w.len() == 2 && (w.starts_with('S') || w.starts_with('W')))
        .collect();
    assert_eq!(names, ["S1", "S2", "S3", "S4"], "{text}");
}

#[test]
fn bench_rejects_bad_input() {
    fails_with(
        &hopfield(&["bench", "--device", "cpu", "--workloads", "S4,X9"]),
        2,
        "unknown workload \"X9\"",
    );
    fails_with(
        &hopfield(&["bench", "--device", "cpu", "--precision", "f8"]),
        2,
        "precision must be f32 or f16, got \"f8\"",
    );
    fails_with(
        &hopfield(&["bench", "--device", "cpu", "--fusion", "half"]),
        2,
        "--fusion",
    );
    fails_with(
        &hopfield(&["bench", "--device", "cpu", "--reps", "0"]),
        2,
        "--reps",
    );
    fails_with(
        &hopfield(&["bench", "--device", "cpu", "--beta", "-1"]),
        2,
        "beta",
    );
    fails_with(
        &hopfield(&["bench", "--device", "no-such-adapter-77"]),
        2,
        "no-such-adapter-77",
    );
}

/// Runs `bench --shape 3,37,5` with `extra` flags and one repetition on `device`; returns
/// stdout and the parsed JSON.
fn bench_shape(device: &str, extra: &[&str]) -> (String, serde_json::Value) {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("out.json");
    let mut args = vec!["bench", "--device", device, "--shape", "3,37,5"];
    args.extend(["--reps", "1", "--warmup", "1", "--json", s(&json)]);
    args.extend(extra);
    let run = hopfield(&args);
    succeeds(&run);
    let text = std::fs::read_to_string(&json).unwrap();
    (
        stdout(&run),
        serde_json::from_str(&text).expect("valid JSON"),
    )
}

/// The row of shape 3,37,5: its name, shape, counters (null on the CPU path), k, and the error
/// against the f64 reference on all three queries.
fn check_shape_row(row: &serde_json::Value, k: Option<u64>, gpu: bool) {
    assert_eq!(row["name"], "B3_N37_d5", "{row}");
    assert_eq!(row["status"], "ok", "{row}");
    assert_eq!(
        (row["b"].as_u64(), row["n"].as_u64(), row["d"].as_u64()),
        (Some(3), Some(37), Some(5))
    );
    assert_eq!(row["top_k"].as_u64(), k, "{row}");
    assert_eq!(row["reps"], 1, "{row}");
    assert!(row["end_to_end_ms"]["median"].as_f64() > Some(0.0), "{row}");
    let err = row["rel_err"].as_f64().expect("rel_err");
    assert!((0.0..1e-5).contains(&err), "relative error {err:e}");
    assert_eq!(row["rel_err_rows"], 3);
    let per_call = row.get("per_call").expect("per_call is reported");
    if !gpu {
        assert!(per_call.is_null(), "{row}");
        return;
    }
    for key in [
        "buffers_created",
        "bind_groups_created",
        "pipelines_created",
        "submissions",
        "bytes_uploaded",
        "bytes_read_back",
    ] {
        assert!(per_call[key].as_f64().is_some(), "{key}: {row}");
    }
    assert_eq!(per_call["pipelines_created"], 0.0, "{row}");
    // At least the 3×5 states come back.
    assert!(per_call["bytes_read_back"].as_f64() >= Some(60.0), "{row}");
}

#[test]
fn bench_shape_cpu() {
    let (text, doc) = bench_shape("cpu", &[]);
    assert!(text.contains("workloads shapes B3_N37_d5"), "{text}");
    assert!(
        text.lines().any(|l| l
            .split_whitespace()
            .take(5)
            .eq(["B3_N37_d5", "3", "37", "5", "-"])),
        "{text}"
    );
    assert!(doc["config"]["top_k"].is_null(), "{doc}");
    let rows = doc["workloads"].as_array().expect("workloads");
    assert_eq!(rows.len(), 1, "only the shape runs without --workloads");
    check_shape_row(&rows[0], None, false);
}

#[test]
fn bench_topk_cpu() {
    // The same shape twice is measured once; S4 runs beside it.
    let extra = ["--topk", "2", "--shape", "3,37,5", "--workloads", "S4"];
    let (text, doc) = bench_shape("cpu", &extra);
    assert_eq!(doc["config"]["top_k"], 2, "{doc}");
    assert_eq!(doc["config"]["workload_set"], "S4 + shapes B3_N37_d5");
    let rows = doc["workloads"].as_array().expect("workloads");
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["S4", "B3_N37_d5"], "{doc}");
    assert_eq!(rows[0]["top_k"], 2, "{doc}");
    check_shape_row(&rows[1], Some(2), false);
    for name in ["S4", "B3_N37_d5"] {
        assert!(
            text.lines().any(|l| {
                let cols: Vec<&str> = l.split_whitespace().collect();
                cols.first() == Some(&name) && cols.get(4) == Some(&"2")
            }),
            "column k of {name}: {text}"
        );
    }
}

/// `--separation` times every retrieval with that rule and measures its error against the
/// reference of the same rule, on the CPU path and a GPU (where only softmax1 keeps the fused
/// kernels: the header and the JSON say which ran).
#[test]
fn bench_separation() {
    let devices: &[&str] = if gpu_available() {
        &["cpu", "gpu"]
    } else {
        &["cpu"]
    };
    for &device in devices {
        for rule in ["sparsemax", "entmax:1.5", "softmax1", "topk:4"] {
            let (text, doc) = bench_shape(device, &["--separation", rule]);
            assert_eq!(doc["config"]["separation"], rule, "{doc}");
            assert!(text.contains(&format!("separation: {rule}")), "{text}");
            let rows = doc["workloads"].as_array().expect("workloads");
            check_shape_row(&rows[0], None, device == "gpu");
            if device == "gpu" {
                let kernels = if rule == "softmax1" {
                    "fused"
                } else {
                    "unfused"
                };
                assert_eq!(doc["config"]["kernels"], kernels, "{rule}: {doc}");
            }
        }
    }
    let run = hopfield(&["bench", "--separation", "entmax:0.5", "--workloads", "S4"]);
    fails_with(&run, 2, "finite α > 1");
}

#[test]
fn bench_shape_gpu() {
    if !gpu_available() {
        return;
    }
    let (_, doc) = bench_shape("gpu", &[]);
    check_shape_row(&doc["workloads"][0], None, true);
    let (_, doc) = bench_shape("gpu", &["--topk", "2"]);
    assert_eq!(
        doc["config"]["kernels"], "auto",
        "top-k leaves the kernels to the library"
    );
    check_shape_row(&doc["workloads"][0], Some(2), true);
}

/// A clap error: exit 2, "error: invalid value …" naming `hint`, no panic.
fn clap_rejects(out: &Output, hint: &str) {
    let err = stderr(out);
    assert!(!err.contains("panicked"), "panicked: {err}");
    assert_eq!(out.status.code(), Some(2), "exit code; stderr: {err}");
    let first = err.lines().next().unwrap_or_default();
    assert!(first.starts_with("error: invalid value"), "{err}");
    assert!(first.contains(hint), "{first:?} should mention {hint:?}");
}

#[test]
fn bench_rejects_bad_shapes_before_opening_a_device() {
    // An adapter that does not exist: every error below comes before any device opens.
    let bench = |extra: &[&str]| {
        let mut args = vec!["bench", "--device", "no-such-adapter-77"];
        args.extend(extra);
        hopfield(&args)
    };
    for (shape, hint) in [
        ("3,37", "got 2 fields"),
        ("3,37,5,2", "got 4 fields"),
        ("", "got 1 field"),
        ("0,37,5", "B (queries) must be at least 1"),
        ("3,0,5", "N (patterns) must be at least 1"),
        ("3,37,0", "d (dimension) must be at least 1"),
        ("3,x,5", "N (patterns) must be a whole number"),
        ("3,37,-5", "d (dimension) must be a whole number"),
        (
            "3,37,99999999999999999999999",
            "d (dimension) must be a whole number",
        ),
        ("1048576,1048576,1048576", "too large"),
    ] {
        clap_rejects(&bench(&["--shape", "3,37,5", "--shape", shape]), hint);
    }
    clap_rejects(&bench(&["--shape", "3,37,5", "--topk", "0"]), "at least 1");
    fails_with(
        &bench(&["--shape", "3,37,5", "--shape", "9,40,2", "--topk", "38"]),
        2,
        "--topk 38 is more than the N = 37 stored patterns of workload B3_N37_d5",
    );
    fails_with(
        &bench(&["--workloads", "S4", "--topk", "1025"]),
        2,
        "N = 1024 stored patterns of workload S4",
    );
}

/// `store` then `retrieve --memory` gives exactly what `retrieve --patterns` gives on the same
/// device and precision, and top-k ids are the stored ids of the top-k indices.
fn store_then_retrieve_on(device: &str) {
    let f = Files::new(40, 9, 6);
    let ids: Array1<u64> = (0..40).map(|i| 1000 + 3 * i).collect();
    write_npy(f.path("ids.npy"), &ids).unwrap();
    let mem = f.path("m.safetensors");
    let run = hopfield(&[
        "store",
        "--patterns",
        s(&f.path("x.npy")),
        "--out",
        s(&mem),
        "--precision",
        "f16",
        "--ids",
        s(&f.path("ids.npy")),
    ]);
    succeeds(&run);
    assert!(stderr(&run).contains("N=40"), "{}", stderr(&run));

    let (q, out, t, ti) = (
        f.path("q.npy"),
        f.path("out.npy"),
        f.path("t.npy"),
        f.path("ti.npy"),
    );
    let topk = ["--topk", "3", "--topk-out", s(&t), "--topk-ids-out", s(&ti)];
    let mut args = vec!["retrieve", "--memory", s(&mem), "--queries", s(&q)];
    args.extend(["--beta", "3", "--steps", "2", "--out", s(&out)]);
    args.extend(["--device", device]);
    args.extend(topk);
    succeeds(&hopfield(&args));
    let from_memory: Array2<f32> = read_npy(&out).unwrap();
    let idx: Array2<i64> = read_npy(&t).unwrap();
    let got_ids: Array2<u64> = read_npy(&ti).unwrap();
    assert_eq!(got_ids, idx.mapv(|i| ids[i as usize]));

    let mut same = vec!["--steps", "2", "--precision", "f16", "--device", device];
    same.extend(topk);
    let run = f.retrieve("x.npy", "q.npy", "3", &same);
    succeeds(&run);
    let from_npy: Array2<f32> = read_npy(&out).unwrap();
    assert_eq!(
        from_memory, from_npy,
        "{device}: the memory file retrieves as the .npy does"
    );
}

#[test]
fn store_then_retrieve_cpu() {
    store_then_retrieve_on("cpu");
}

#[test]
fn store_then_retrieve_gpu() {
    if gpu_available() {
        store_then_retrieve_on("gpu");
    }
}

#[test]
fn bad_memory_files() {
    let f = Files::new(8, 3, 2);
    let mem = f.path("m.safetensors");
    succeeds(&hopfield(&[
        "store",
        "--patterns",
        s(&f.path("x.npy")),
        "--out",
        s(&mem),
    ]));
    let retrieve = |memory: &Path| {
        hopfield(&[
            "retrieve",
            "--memory",
            s(memory),
            "--queries",
            s(&f.path("q.npy")),
            "--beta",
            "1",
            "--out",
            s(&f.path("out.npy")),
            "--device",
            "cpu",
        ])
    };
    let mut bytes = std::fs::read(&mem).unwrap();
    let last = bytes.len() - 1;
    bytes[last] ^= 0x10;
    std::fs::write(f.path("flipped.safetensors"), &bytes).unwrap();
    fails_with(
        &retrieve(&f.path("flipped.safetensors")),
        2,
        "checksum mismatch",
    );
    std::fs::write(f.path("cut.safetensors"), &bytes[..100]).unwrap();
    fails_with(&retrieve(&f.path("cut.safetensors")), 2, "truncated");
    fails_with(&retrieve(&f.path("x.npy")), 2, "memory ");
    fails_with(&retrieve(&f.path("none.safetensors")), 2, "no such file");
    f.no_output();

    // Exactly one source of patterns.
    let (x, q, out) = (f.path("x.npy"), f.path("q.npy"), f.path("out.npy"));
    for extra in [&["--patterns", s(&x)][..], &[]] {
        let mut args = vec!["retrieve", "--queries", s(&q)];
        args.extend(["--beta", "1", "--out", s(&out)]);
        if !extra.is_empty() {
            args.extend(["--memory", s(&mem)]);
        }
        args.extend_from_slice(extra);
        let run = hopfield(&args);
        assert_eq!(run.status.code(), Some(2), "{args:?}: {}", stderr(&run));
    }
    // Ids that do not fit the patterns.
    write_npy(
        f.path("ids.npy"),
        &Array1::<u64>::from(vec![1, 2, 2, 3, 4, 5, 6, 7]),
    )
    .unwrap();
    let store = |ids: &Path| {
        hopfield(&[
            "store",
            "--patterns",
            s(&f.path("x.npy")),
            "--out",
            s(&f.path("new.safetensors")),
            "--ids",
            s(ids),
        ])
    };
    fails_with(
        &store(&f.path("ids.npy")),
        2,
        "pattern id 2 is already taken",
    );
    write_npy(f.path("ids32.npy"), &Array1::<i32>::zeros(8)).unwrap();
    fails_with(&store(&f.path("ids32.npy")), 2, "expected uint64");
    let nowhere = f.path("no-such-dir").join("m.safetensors");
    fails_with(
        &hopfield(&[
            "store",
            "--patterns",
            s(&f.path("x.npy")),
            "--out",
            s(&nowhere),
        ]),
        2,
        "no-such-dir",
    );
    assert!(!f.path("new.safetensors").exists());
    f.no_output();
}

/// `-v` shows the library's decisions on stderr; without it the tool says only its summary.
#[test]
fn verbose_logs_the_device_choice() {
    let f = Files::new(5, 3, 2);
    let quiet = f.retrieve("x.npy", "q.npy", "1", &["--device", "auto"]);
    succeeds(&quiet);
    assert!(!stderr(&quiet).contains("hopfield::"), "{}", stderr(&quiet));
    let loud = f.retrieve("x.npy", "q.npy", "1", &["--device", "auto", "-v"]);
    succeeds(&loud);
    assert!(
        stderr(&loud).contains("INFO") && stderr(&loud).contains("hopfield::device"),
        "{}",
        stderr(&loud)
    );
}

/// Every output path is checked before anything runs: an output that is an input (by name,
/// through `..`, or through a link), two outputs on one file, a directory, or a directory that
/// is not there are exit code 2 naming the flag, and the inputs stay as they were.
#[test]
fn outputs_are_checked_before_computing() {
    let f = Files::new(6, 3, 2);
    let q_bytes = std::fs::read(f.path("q.npy")).unwrap();
    let (x, q, w) = (f.path("x.npy"), f.path("q.npy"), f.path("w.npy"));
    std::fs::create_dir(f.path("sub")).unwrap();
    let through_dotdot = f.path("sub").join("..").join("q.npy");
    let (sub, no_dir, out) = (f.path("sub"), f.path("none/e.npy"), f.path("out.npy"));
    let cases: Vec<(Vec<&str>, &str)> = vec![
        (vec!["--out", s(&q)], "--queries"),
        (vec!["--out", s(&through_dotdot)], "--queries"),
        (vec!["--weights", s(&x)], "--patterns"),
        (vec!["--weights", s(&w), "--energy-out", s(&w)], "--weights"),
        (vec!["--out", s(&sub)], "is a directory"),
        (vec!["--energy-out", s(&no_dir)], "no such directory"),
    ];
    for (extra, hint) in cases {
        let mut args = vec!["retrieve", "--patterns", s(&x), "--queries", s(&q)];
        args.extend(["--beta", "1", "--device", "cpu"]);
        if !extra.contains(&"--out") {
            args.extend(["--out", s(&out)]);
        }
        args.extend(&extra);
        let run = hopfield(&args);
        fails_with(&run, 2, hint);
        let flag = extra.iter().rev().find(|a| a.starts_with("--")).unwrap();
        assert!(stderr(&run).contains(flag), "{flag}: {}", stderr(&run));
        assert_eq!(std::fs::read(&q).unwrap(), q_bytes, "{extra:?}");
    }
    #[cfg(unix)]
    {
        let link = f.path("link.npy");
        std::os::unix::fs::symlink(&x, &link).unwrap();
        let run = f.retrieve("x.npy", "q.npy", "1", &["--weights", s(&link)]);
        fails_with(&run, 2, "same file as --patterns");
        let hard = f.path("hard.npy");
        std::fs::hard_link(&q, &hard).unwrap();
        let run = f.retrieve("x.npy", "q.npy", "1", &["--energy-out", s(&hard)]);
        fails_with(&run, 2, "same file as --queries");
    }
    f.no_output();
    assert_no_leftovers(f.dir.path());
    // `store` checks its output too.
    let run = hopfield(&["store", "--patterns", s(&x), "--out", s(&x)]);
    fails_with(&run, 2, "--out");
}

/// No temporary file is left in `dir`.
fn assert_no_leftovers(dir: &Path) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let name = entry.unwrap().file_name();
        let name = name.to_string_lossy();
        assert!(!name.ends_with(".partial"), "left behind: {name}");
    }
}

/// A run that fails after its outputs were reserved writes none of them, leaves an existing
/// output as it was, and removes its temporary files.
#[test]
fn a_failed_run_leaves_every_output_as_it_was() {
    let f = Files::new(5, 3, 2);
    std::fs::write(f.path("out.npy"), b"an older result").unwrap();
    let (w, e, t) = (f.path("w.npy"), f.path("e.npy"), f.path("t.npy"));
    // k > N fails in the library, after every output passed its checks.
    let extra = [
        "--weights",
        s(&w),
        "--energy-out",
        s(&e),
        "--topk",
        "6",
        "--topk-out",
        s(&t),
    ];
    fails_with(&f.retrieve("x.npy", "q.npy", "1", &extra), 2, "top-k");
    assert_eq!(
        std::fs::read(f.path("out.npy")).unwrap(),
        b"an older result"
    );
    for path in [&w, &e, &t] {
        assert!(!path.exists(), "{} was written", path.display());
    }
    assert_no_leftovers(f.dir.path());
    // The same run with a k that fits writes all of them and nothing else.
    let extra = [
        "--weights",
        s(&w),
        "--energy-out",
        s(&e),
        "--topk",
        "2",
        "--topk-out",
        s(&t),
    ];
    succeeds(&f.retrieve("x.npy", "q.npy", "1", &extra));
    for path in [&w, &e, &t] {
        assert!(path.exists(), "{} is missing", path.display());
    }
    let _: Array2<f32> = read_npy(f.path("out.npy")).unwrap();
    assert_no_leftovers(f.dir.path());
}

/// A directory the tool may not write into is the user's to fix (2), found before computing.
#[cfg(unix)]
#[test]
fn unwritable_directory() {
    use std::os::unix::fs::PermissionsExt;
    let f = Files::new(5, 3, 2);
    let locked = f.path("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o555)).unwrap();
    if std::fs::write(locked.join("probe"), b"").is_ok() {
        eprintln!("skipped: permissions do not bind this user (root)");
        return;
    }
    let out = locked.join("out.npy");
    let run = f.retrieve("x.npy", "q.npy", "1", &["--weights", s(&out)]);
    fails_with(&run, 2, "--weights");
    f.no_output();
}

/// `store` of no pattern at all is refused, and writes nothing.
#[test]
fn store_of_zero_patterns() {
    let f = Files::new(5, 3, 2);
    write_npy(f.path("none.npy"), &Array2::<f32>::zeros((0, 3))).unwrap();
    let mem = f.path("m.safetensors");
    let run = hopfield(&[
        "store",
        "--patterns",
        s(&f.path("none.npy")),
        "--out",
        s(&mem),
    ]);
    fails_with(&run, 2, "holds no pattern");
    assert!(!mem.exists());
    assert_no_leftovers(f.dir.path());
}

/// `WGPU_BACKEND` set but empty means unset; a misspelt one is exit 2 naming the accepted
/// values, on every path that reads it.
#[test]
fn wgpu_backend_from_the_environment() {
    let f = Files::new(5, 3, 2);
    let (x, q, out) = (f.path("x.npy"), f.path("q.npy"), f.path("out.npy"));
    let args = |device| {
        vec![
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
            device,
        ]
    };
    for device in ["auto", "gpu"] {
        let run = hopfield_env(&args(device), &[("WGPU_BACKEND", "vulkn")]);
        fails_with(&run, 2, "WGPU_BACKEND=\"vulkn\"");
        let err = stderr(&run);
        for name in ["vulkan", "metal", "dx12", "gl"] {
            assert!(err.contains(name), "{name} missing: {err}");
        }
        assert!(!err.contains("install a Vulkan driver"), "{err}");
        f.no_output();
    }
    let run = hopfield_env(&args("auto"), &[("WGPU_BACKEND", "")]);
    succeeds(&run);
    let run = hopfield_env(&["info"], &[("WGPU_BACKEND", "vulkn")]);
    fails_with(&run, 2, "unknown backend");
}

/// Patterns and queries of a near-tie: pattern 1 is pattern 0 tilted by 1e-8 rad, closer to
/// the queries than f32 resolves at these scores; pattern 2 is far.
fn near_tie() -> (tempfile::TempDir, PathBuf, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let x = ndarray::array![[1.0f32, 0.0], [1.0, 1e-8], [0.0, 1.0]];
    let q = ndarray::array![[1.0f32, 1.0], [1.0, 0.25]];
    let (xp, qp) = (dir.path().join("x.npy"), dir.path().join("q.npy"));
    write_npy(&xp, &x).unwrap();
    write_npy(&qp, &q).unwrap();
    (dir, xp, qp)
}

/// Scores so large that f32 cannot order the two strongest patterns: a warning on stderr, and
/// the top-k the user asked for (k = 1) unchanged by the check, which needs two.
#[test]
fn warns_when_f32_cannot_tell_the_top_two_apart() {
    let (dir, x, q) = near_tie();
    let (out, t) = (dir.path().join("out.npy"), dir.path().join("t.npy"));
    let run = |beta: &str, extra: &[&str]| {
        let mut args = vec!["retrieve", "--patterns", s(&x), "--queries", s(&q)];
        args.extend(["--beta", beta, "--out", s(&out), "--device", "cpu"]);
        args.extend_from_slice(extra);
        hopfield(&args)
    };
    let loud = run("1e6", &["--topk", "1", "--topk-out", s(&t)]);
    succeeds(&loud);
    let err = stderr(&loud);
    assert!(
        err.contains("warning: for 2 of 2 queries") && err.contains("f32's rounding"),
        "{err}"
    );
    let top: Array2<i64> = read_npy(&t).unwrap();
    assert_eq!(top.dim(), (2, 1));
    // The same check without any top-k asked for, over several steps.
    let loud = run("1e6", &["--steps", "3"]);
    succeeds(&loud);
    assert!(stderr(&loud).contains("warning: "), "{}", stderr(&loud));
    // At a β where a near-tie cannot move a weight by more than 0.1%, nothing to say.
    let quiet = run("1", &[]);
    succeeds(&quiet);
    assert!(!stderr(&quiet).contains("warning"), "{}", stderr(&quiet));
}

/// A huge `--steps` stops at the first fixed point (or cycle of f32 rounding) it sees and says
/// how many steps it took; `-v` logs it.
#[test]
fn many_steps_stop_at_a_fixed_point() {
    let f = Files::new(9, 4, 3);
    let run = f.retrieve("x.npy", "q.npy", "8", &["--steps", "100000000", "-v"]);
    succeeds(&run);
    let err = stderr(&run);
    assert!(
        err.contains("a fixed point") || err.contains("a cycle"),
        "{err}"
    );
    let taken: usize = err
        .split(" steps (a ")
        .next()
        .and_then(|head| head.rsplit(' ').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no step count: {err}"));
    assert!(taken < 1000, "{taken} steps");
    assert!(err.contains("hopfield::steps"), "-v logs the stop: {err}");
    // The state is the reference's after as many steps.
    let (x, q) = (common::to64(f.x.view()), common::to64(f.q.view()));
    let (want, _, _) = reference::retrieve(x.view(), q.view(), 8.0, taken);
    let got: Array2<f32> = read_npy(f.path("out.npy")).unwrap();
    let err = common::rel_err(got.view(), want.view());
    assert!(err <= 1e-5, "relative error {err:e}");
}

/// The files `shaders --out` wrote: name → contents.
fn exported(dir: &Path) -> std::collections::BTreeMap<String, String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_str().unwrap().to_string();
            (name, std::fs::read_to_string(&path).unwrap())
        })
        .collect()
}

/// What the library's registry says `shaders` writes, as file name → program.
fn registry(dialect: hopfield::shaders::Dialect, subgroups: bool) -> Vec<(String, String)> {
    hopfield::shaders::programs(dialect, &wgpu::Limits::default(), subgroups)
        .into_iter()
        .map(|s| (format!("{}.wgsl", s.name), s.wgsl))
        .collect()
}

#[test]
fn shaders_writes_every_program_variant() {
    use hopfield::shaders::Dialect;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("shaders");
    let run = |extra: &[&str]| {
        let mut args = vec!["shaders", "--out", s(&out), "--limits", "webgpu"];
        args.extend(extra);
        succeeds(&hopfield(&args));
        exported(&out)
    };
    let webgpu = run(&["--subgroups"]);
    assert_eq!(webgpu.clone().into_iter().collect::<Vec<_>>(), {
        let mut r = registry(Dialect::WebGpu, true);
        r.sort();
        r
    });
    for name in ["mask.wgsl", "similarity-f16.wgsl", "merge-subgroups.wgsl"] {
        assert!(
            webgpu.contains_key(name),
            "{name} missing: {:?}",
            webgpu.keys()
        );
    }
    for (name, wgsl) in &webgpu {
        assert!(wgsl.contains("fn main("), "{name} is no program");
        let subgroups = name.ends_with("-subgroups.wgsl");
        assert_eq!(wgsl.starts_with("enable subgroups;"), subgroups, "{name}");
    }
    // Over the earlier export: replaced whole, so the subgroup programs are gone.
    let plain = run(&[]);
    assert!(!plain.is_empty() && plain.keys().all(|n| !n.contains("subgroups")));
    let with_subgroups = webgpu
        .keys()
        .filter(|n| n.ends_with("-subgroups.wgsl"))
        .count();
    assert!(with_subgroups >= 3, "{:?}", webgpu.keys());
    assert_eq!(plain.len(), webgpu.len() - with_subgroups);
    let naga = run(&["--subgroups", "--dialect", "naga"]);
    assert_eq!(naga.len(), webgpu.len());
    assert!(naga.values().all(|w| !w.contains("enable subgroups")));
    assert!(naga.keys().any(|n| n.ends_with("-subgroups.wgsl")));
    // Nothing but the folder itself was left beside it.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
}

#[test]
fn shaders_writes_all_or_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("taken");
    std::fs::write(&file, "mine").unwrap();
    let out = hopfield(&["shaders", "--out", s(&file), "--limits", "webgpu"]);
    fails_with(&out, 2, "not a folder");
    assert_eq!(std::fs::read_to_string(&file).unwrap(), "mine");

    let foreign = dir.path().join("mixed");
    std::fs::create_dir(&foreign).unwrap();
    std::fs::write(foreign.join("notes.txt"), "mine").unwrap();
    let out = hopfield(&["shaders", "--out", s(&foreign), "--limits", "webgpu"]);
    fails_with(&out, 2, "notes.txt");
    assert_eq!(exported(&foreign).len(), 1);

    let fresh = dir.path().join("fresh");
    let out = hopfield(&["shaders", "--out", s(&fresh), "--limits", "fast"]);
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(stderr(&out).contains("--limits"), "{}", stderr(&out));
    // With no adapter to read limits from: the machine's fault, before anything is written.
    let out = hopfield_env(
        &["shaders", "--out", s(&fresh), "--limits", "adapter"],
        &[("WGPU_ADAPTER_NAME", "no adapter is called this")],
    );
    fails_with(&out, 1, "no adapter");
    let left: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
    assert_eq!(left.len(), 2, "only the two folders given: {left:?}");
}

#[test]
fn shaders_reads_the_adapters_limits() {
    if !gpu_available() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("adapter");
    let run = hopfield(&["shaders", "--out", s(&out), "--subgroups"]);
    succeeds(&run);
    assert!(
        stderr(&run).contains("the default adapter's limits"),
        "{}",
        stderr(&run)
    );
    assert!(exported(&out).contains_key("mask.wgsl"));
}

/// `inspect` reports the geometry and the library's suggested beta, from a .npy or a memory
/// file alike; duplicates are named as the reason there is none; bad input is exit 2.
#[test]
fn inspect_suggests_a_beta_or_says_why_not() {
    let f = Files::new(40, 16, 1);
    // At one norm, distinct random patterns are separated (at mixed norms a longer pattern
    // may outscore a shorter one against itself).
    let mut unit = f.x.clone();
    for mut row in unit.rows_mut() {
        let norm = row.dot(&row).sqrt();
        row /= norm;
    }
    let x = f.path("unit.npy");
    write_npy(&x, &unit).unwrap();
    let out = hopfield(&["inspect", "--patterns", s(&x)]);
    succeeds(&out);
    let text = stdout(&out);
    let want = hopfield::diagnostics::suggest_beta(unit.view(), 1e-3).unwrap();
    let hopfield::diagnostics::Suggestion::Beta(beta) = want.beta else {
        panic!("random patterns are separated")
    };
    assert!(text.contains("N = 40, d = 16"), "{text}");
    assert!(
        text.contains(&format!("suggested beta: {beta:.6}")),
        "{text}"
    );
    assert!(text.contains("well separated: yes"), "{text}");
    assert!(text.contains("capacity (Theorem 3"), "{text}");

    let mem = f.path("m.safetensors");
    succeeds(&hopfield(&["store", "--patterns", s(&x), "--out", s(&mem)]));
    let from_memory = hopfield(&["inspect", "--memory", s(&mem)]);
    succeeds(&from_memory);
    assert_eq!(stdout(&from_memory), text);

    let mut dup = unit.clone();
    dup.row_mut(7).assign(&unit.row(3));
    write_npy(f.path("dup.npy"), &dup).unwrap();
    let out = hopfield(&["inspect", "--patterns", s(&f.path("dup.npy"))]);
    succeeds(&out);
    let text = stdout(&out);
    assert!(text.contains("well separated: no. Pattern 3"), "{text}");
    assert!(text.contains("suggested beta: none"), "{text}");

    fails_with(
        &hopfield(&["inspect", "--patterns", s(&x), "--tolerance", "2"]),
        2,
        "tolerance",
    );
    // clap's own usage error, several lines.
    let out = hopfield(&["inspect"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("--patterns"), "{}", stderr(&out));
    fails_with(
        &hopfield(&["inspect", "--patterns", s(&f.path("none.npy"))]),
        2,
        "no such file",
    );
}

/// With the weights at hand, a retrieval that ends at a mixture says so, and one that ends at
/// single patterns says nothing of it.
#[test]
fn mixtures_are_reported_with_the_weights() {
    let f = Files::new(37, 8, 3);
    let w = f.path("w.npy");
    let low = f.retrieve("x.npy", "q.npy", "0.01", &["--weights", s(&w)]);
    succeeds(&low);
    let text = stderr(&low);
    assert!(
        text.contains("fixed points: 0 single pattern, 0 metastable, 3 at the global average"),
        "{text}"
    );
    assert!(text.contains("hopfield inspect"), "{text}");
    // At one norm no pattern outscores another against itself: each query at a stored
    // pattern ends there.
    let mut unit = f.x.clone();
    for mut row in unit.rows_mut() {
        let norm = row.dot(&row).sqrt();
        row /= norm;
    }
    write_npy(f.path("unit.npy"), &unit).unwrap();
    let high = f.retrieve("unit.npy", "unit.npy", "400", &["--weights", s(&w)]);
    succeeds(&high);
    assert!(!stderr(&high).contains("fixed points"), "{}", stderr(&high));
}

/// `--separation` reaches every step of a sliced run: five sparsemax steps equal the library's
/// five in one call; a bad rule or parameter is exit 2 with the reason.
#[test]
fn retrieve_with_a_separation() {
    let f = Files::new(41, 9, 4);
    for (rule, separation) in [
        ("sparsemax", hopfield::Separation::Sparsemax),
        ("entmax:1.5", hopfield::Separation::Entmax(1.5)),
        ("topk:3", hopfield::Separation::TopK(3)),
    ] {
        let run = f.retrieve(
            "x.npy",
            "q.npy",
            "6",
            &["--steps", "5", "--separation", rule],
        );
        succeeds(&run);
        let got: Array2<f32> = read_npy(f.path("out.npy")).unwrap();
        let memory = hopfield::Memory::from_array(&hopfield::Device::cpu(), f.x.view()).unwrap();
        let options = hopfield::RetrieveOptions::new(6.0)
            .steps(5)
            .separation(separation);
        let want = memory.retrieve(f.q.view(), &options).unwrap().states;
        assert_eq!(got, want, "{rule}");
    }
    fails_with(
        &f.retrieve("x.npy", "q.npy", "6", &["--separation", "entmax:1"]),
        2,
        "finite α > 1",
    );
    fails_with(
        &f.retrieve("x.npy", "q.npy", "6", &["--separation", "topk:99"]),
        2,
        "k <= N",
    );
    let run = f.retrieve("x.npy", "q.npy", "6", &["--separation", "sparse"]);
    assert_eq!(run.status.code(), Some(2));
    assert!(stderr(&run).contains("unknown name"), "{}", stderr(&run));
    if gpu_available() {
        let run = f.retrieve(
            "x.npy",
            "q.npy",
            "6",
            &["--separation", "sparsemax", "--device", "gpu"],
        );
        succeeds(&run);
        let got: Array2<f32> = read_npy(f.path("out.npy")).unwrap();
        let memory = hopfield::Memory::from_array(&hopfield::Device::cpu(), f.x.view()).unwrap();
        let options =
            hopfield::RetrieveOptions::new(6.0).separation(hopfield::Separation::Sparsemax);
        let want = memory.retrieve(f.q.view(), &options).unwrap().states;
        let err = (&got - &want).iter().fold(0f32, |m, v| m.max(v.abs()));
        assert!(err <= 1e-5, "GPU sparsemax vs the CPU's: {err}");
    }
}

/// `--known MASK.npy` (bool, or 0/1 as uint8 or float32; per query or one row for all) with
/// and without `--clamp-known` is the library's partial-cue retrieval, steps and all; a mask of
/// other values or shape, or `--clamp-known` alone, is exit 2 with the reason.
#[test]
fn retrieve_from_a_partial_cue() {
    let f = Files::new(43, 9, 4);
    let (b, d) = f.q.dim();
    let mask = Array2::from_shape_fn((b, d), |(r, c)| (r + c) % 3 != 0);
    let memory = hopfield::Memory::from_array(&hopfield::Device::cpu(), f.x.view()).unwrap();
    write_npy(f.path("known.npy"), &mask).unwrap();
    write_npy(f.path("known_u8.npy"), &mask.mapv(u8::from)).unwrap();
    let row = mask.slice(ndarray::s![0..1, ..]).to_owned();
    write_npy(
        f.path("known_row.npy"),
        &row.mapv(|k| if k { 1.0f32 } else { 0.0 }),
    )
    .unwrap();
    for (file, m) in [
        ("known.npy", &mask),
        ("known_u8.npy", &mask),
        ("known_row.npy", &row),
    ] {
        for clamp in [false, true] {
            let path = f.path(file);
            let mut extra = vec!["--steps", "3", "--known", s(&path)];
            let mut options = hopfield::RetrieveOptions::new(4.0)
                .steps(3)
                .known(m.clone());
            if clamp {
                extra.push("--clamp-known");
                options = options.clamp_known();
            }
            let run = f.retrieve("x.npy", "q.npy", "4", &extra);
            succeeds(&run);
            let got: Array2<f32> = read_npy(f.path("out.npy")).unwrap();
            let want = memory.retrieve(f.q.view(), &options).unwrap().states;
            assert_eq!(got, want, "{file} clamp {clamp}");
        }
    }
    write_npy(f.path("twos.npy"), &Array2::from_elem((b, d), 2u8)).unwrap();
    fails_with(
        &f.retrieve("x.npy", "q.npy", "4", &["--known", s(&f.path("twos.npy"))]),
        2,
        "0 (unknown) and 1 (known) only",
    );
    write_npy(f.path("narrow.npy"), &Array2::from_elem((b, d - 1), true)).unwrap();
    fails_with(
        &f.retrieve(
            "x.npy",
            "q.npy",
            "4",
            &["--known", s(&f.path("narrow.npy"))],
        ),
        2,
        "B×d or 1×d",
    );
    let run = f.retrieve("x.npy", "q.npy", "4", &["--clamp-known"]);
    assert_eq!(run.status.code(), Some(2), "{}", stderr(&run));
}

/// `--device` with a list shards the memory over those devices, and gives what one device
/// gives (within f32 rounding, top-k ids exactly); the summary names every shard.
#[test]
fn retrieve_on_a_device_list_is_one_device() {
    let f = Files::new(300, 17, 6);
    let (ids_path, e_path) = (f.path("ids.npy"), f.path("e.npy"));
    let extra = [
        "--steps",
        "2",
        "--topk",
        "3",
        "--topk-ids-out",
        s(&ids_path),
        "--energy-out",
        s(&e_path),
    ];
    succeeds(&f.retrieve("x.npy", "q.npy", "3", &extra));
    let want: Array2<f32> = read_npy(f.path("out.npy")).unwrap();
    let want_ids: Array2<u64> = read_npy(f.path("ids.npy")).unwrap();
    let want_e: Array2<f32> = read_npy(f.path("e.npy")).unwrap();
    let mut lists = vec!["cpu,cpu"];
    if gpu_available() {
        lists.push("vulkan:0,gl:0,cpu");
    }
    for list in lists {
        let mut args = extra.to_vec();
        args.extend(["--device", list]);
        let run = f.retrieve("x.npy", "q.npy", "3", &args);
        succeeds(&run);
        let shards = list.split(',').count();
        assert!(
            stderr(&run).contains(&format!("{shards} shards: ")),
            "{list}: {}",
            stderr(&run)
        );
        let got: Array2<f32> = read_npy(f.path("out.npy")).unwrap();
        let err = common::max_abs_err(got.view(), common::to64(want.view()).view());
        assert!(err <= 1e-5, "{list}: states off by {err:e}");
        let ids: Array2<u64> = read_npy(f.path("ids.npy")).unwrap();
        assert_eq!(ids, want_ids, "{list}: top-k ids");
        let e: Array2<f32> = read_npy(f.path("e.npy")).unwrap();
        let err = common::max_abs_err(e.view(), common::to64(want_e.view()).view());
        assert!(err <= 1e-4, "{list}: energies off by {err:e}");
    }
}

/// What a device list cannot do is refused before anything runs.
#[test]
fn device_list_refusals() {
    let f = Files::new(5, 3, 2);
    fails_with(
        &f.retrieve(
            "x.npy",
            "q.npy",
            "1",
            &["--device", "cpu,cpu", "--weights", s(&f.path("w.npy"))],
        ),
        2,
        "top-k",
    );
    fails_with(
        &f.retrieve(
            "x.npy",
            "q.npy",
            "1",
            &["--device", "cpu,cpu", "--precision", "f16"],
        ),
        2,
        "one device",
    );
    fails_with(
        &f.retrieve("x.npy", "q.npy", "1", &["--device", "cpu,nosuchbackend:0"]),
        2,
        "unknown backend",
    );
    fails_with(
        &f.retrieve("x.npy", "q.npy", "1", &["--device", "cpu,"]),
        2,
        "empty device",
    );
    fails_with(
        &hopfield(&["demo", "--device", "cpu,cpu"]),
        2,
        "a list of devices",
    );
    assert!(
        !f.path("out.npy").exists(),
        "a refused retrieval writes nothing"
    );
}
