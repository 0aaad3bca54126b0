//! The examples run in quick mode, as CI would run them, and what they write is well formed:
//! the PNG decodes to the grid's size, and every CSV row has the header's columns with the
//! numbers in range.
//!
//! The example binaries are found beside this test, in `target/debug/examples/`, where
//! `cargo build --profile test --examples` puts them (`scripts/test.sh` runs it before the
//! suite; `cargo test` alone builds examples as test harnesses, not as these programs).

use std::path::{Path, PathBuf};
use std::process::Command;

/// An example's binary, built by the same `cargo test` run.
fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test knows its path");
    let profile = exe
        .parent()
        .and_then(Path::parent)
        .expect("tests run from target/<profile>/deps");
    let path = profile
        .join("examples")
        .join(name)
        .with_extension(std::env::consts::EXE_EXTENSION);
    assert!(
        path.exists(),
        "{} is missing: build the examples first with `cargo build --examples`",
        path.display()
    );
    path
}

/// Runs `name --quick --out DIR` and returns DIR.
fn run_quick(name: &str) -> tempfile::TempDir {
    let out = tempfile::tempdir().unwrap();
    let runtime = tempfile::tempdir().unwrap();
    let run = Command::new(example(name))
        .args(["--quick", "--out"])
        .arg(out.path())
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .expect("the example runs");
    let stderr = String::from_utf8_lossy(&run.stderr);
    assert!(run.status.success(), "{name} failed: {stderr}");
    println!("{}", String::from_utf8_lossy(&run.stdout));
    out
}

/// The rows of a CSV with `columns`, as strings, after checking every row's width.
fn csv(path: &Path, columns: &[&str]) -> Vec<Vec<String>> {
    let text = std::fs::read_to_string(path).unwrap();
    let mut lines = text.lines();
    assert_eq!(lines.next(), Some(columns.join(",").as_str()), "header");
    let rows: Vec<Vec<String>> = lines
        .map(|l| l.split(',').map(str::to_string).collect())
        .collect();
    assert!(!rows.is_empty(), "{} has no rows", path.display());
    for row in &rows {
        assert_eq!(row.len(), columns.len(), "{row:?}");
    }
    rows
}

fn fraction(s: &str) -> f64 {
    let v: f64 = s
        .parse()
        .unwrap_or_else(|_| panic!("{s:?} is not a number"));
    assert!((0.0..=1.0).contains(&v), "{v} is not a fraction");
    v
}

#[test]
fn image_completion_writes_a_png_grid() {
    let out = run_quick("image_completion");
    let png = image::open(out.path().join("image_completion.png"))
        .expect("the PNG decodes")
        .to_luma8();
    // Quick mode: 6 glyphs x 2 corruptions; original, corrupted and four retrievers, 16x16
    // images at 4x with 4px gaps.
    let cell = 16 * 4 + 4;
    assert_eq!(png.dimensions(), (4 + 6 * cell, 4 + 12 * cell));
    let columns = [
        "retriever",
        "corruption",
        "trials",
        "pixel_accuracy",
        "exact",
    ];
    let rows = csv(&out.path().join("image_completion.csv"), &columns);
    assert_eq!(rows.len(), 8, "four retrievers, two corruptions");
    for row in &rows {
        fraction(&row[3]);
        fraction(&row[4]);
    }
    // The picture's story: with 20% of the pixels flipped, the exponential memories restore
    // the correlated glyphs and Hebb's rule does not.
    let noisy = |name: &str| {
        let row = rows
            .iter()
            .find(|r| r[0] == name && r[1].contains("flipped"))
            .unwrap_or_else(|| panic!("no row for {name}"));
        fraction(&row[3])
    };
    assert!(noisy("dense (exponential)") >= 0.99);
    assert!(noisy("modern (continuous)") >= 0.99);
    assert!(noisy("classical (Hebbian)") < 0.95);
}

#[test]
fn semantic_lookup_writes_its_table() {
    let out = run_quick("semantic_lookup");
    let columns = [
        "noise",
        "queries",
        "item_found",
        "topic_found",
        "mean_top1_weight",
        "mean_steps",
        "single",
        "metastable",
        "global",
    ];
    let rows = csv(&out.path().join("semantic_lookup.csv"), &columns);
    assert_eq!(rows.len(), 3, "three noise levels in quick mode");
    for row in rows {
        let queries: usize = row[1].parse().unwrap();
        let item: usize = row[2].parse().unwrap();
        let topic: usize = row[3].parse().unwrap();
        assert!(item <= topic && topic <= queries, "{row:?}");
        fraction(&row[4]);
        let kinds: usize = row[6..9].iter().map(|c| c.parse::<usize>().unwrap()).sum();
        assert_eq!(
            kinds, queries,
            "every query reaches one kind of fixed point: {row:?}"
        );
    }
    assert!(out.path().join("semantic_lookup.safetensors").exists());
}

#[test]
fn pooling_pools_every_bag() {
    let runtime = tempfile::tempdir().unwrap();
    let run = Command::new(example("pooling"))
        .arg("--quick")
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "pooling failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    // Quick mode: 3 bags, 2 pooling states of 32 features each.
    assert!(stdout.contains("into (3, 64)"), "{stdout}");
    assert_eq!(stdout.matches("most attended").count(), 3, "{stdout}");
}

/// With stdout closed before it prints anything (`… | head -0`), each example stops quietly,
/// with success, instead of panicking on "Broken pipe".
#[test]
fn examples_stop_quietly_on_a_closed_pipe() {
    for name in [
        "semantic_lookup",
        "pooling",
        "metastable",
        "image_completion",
    ] {
        let out = tempfile::tempdir().unwrap();
        let runtime = tempfile::tempdir().unwrap();
        let mut command = Command::new(example(name));
        command.arg("--quick");
        // pooling writes no files.
        if name != "pooling" {
            command.arg("--out").arg(out.path());
        }
        let mut child = command
            .env("XDG_RUNTIME_DIR", runtime.path())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("the example starts");
        // The reader is gone before the first line: every write meets a closed pipe.
        drop(child.stdout.take());
        let run = child.wait_with_output().expect("the example runs");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert!(
            run.status.success() && !stderr.contains("panicked"),
            "{name}: {:?}, {stderr}",
            run.status
        );
    }
}
