//! The examples of the network family run in quick mode and write what they promise: a CSV
//! that parses with the expected columns and values, and a PNG that decodes.
//!
//! The example binaries are found next to this test's executable (`target/<profile>/examples/`);
//! `cargo test --all-targets` builds them. Run alone, build them first with
//! `cargo build --examples`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test>-<hash> → target/<profile>/examples/<name>
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("target/<profile>")
        .join("examples");
    let path = dir.join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.exists(),
        "example binary {} is missing: run `cargo build --examples` (or `cargo test \
         --all-targets`, which builds them) first",
        path.display()
    );
    path
}

/// Runs an example in quick mode into a fresh directory; returns the directory.
fn run_quick(name: &str) -> tempfile::TempDir {
    let out = tempfile::tempdir().expect("temporary directory");
    let status = Command::new(example(name))
        .args(["--quick", "--out"])
        .arg(out.path())
        .env("XDG_RUNTIME_DIR", std::env::temp_dir())
        .status()
        .expect("example starts");
    assert!(status.success(), "{name} --quick failed: {status}");
    out
}

/// The CSV's header and rows, split on commas.
fn read_csv(path: &Path) -> (Vec<String>, Vec<Vec<String>>) {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut lines = text
        .lines()
        .map(|l| l.split(',').map(str::to_string).collect::<Vec<_>>());
    let header = lines.next().expect("a header line");
    let rows: Vec<_> = lines.collect();
    for r in &rows {
        assert_eq!(
            r.len(),
            header.len(),
            "ragged row {r:?} in {}",
            path.display()
        );
    }
    (header, rows)
}

/// Decodes a chart, of the examples' chart size (plot and legend).
fn check_png(path: &Path) -> image::RgbImage {
    let img =
        image::open(path).unwrap_or_else(|e| panic!("{} does not decode: {e}", path.display()));
    assert_eq!((img.width(), img.height()), (1100, 620));
    img.to_rgb8()
}

#[test]
fn capacity_example_writes_curves() {
    let out = run_quick("capacity");
    let (header, rows) = read_csv(&out.path().join("capacity.csv"));
    assert_eq!(
        header,
        ["model", "dimension", "patterns", "load", "recall_rate"]
    );
    let models = [
        "hebbian",
        "storkey",
        "dense_cubic",
        "dense_exp",
        "continuous",
    ];
    assert!(rows.len() >= 2 * models.len(), "{} rows", rows.len());
    let rate = |model: &str, last: bool| -> f64 {
        let mut it = rows.iter().filter(|r| r[0] == model);
        let row = if last { it.next_back() } else { it.next() };
        row.unwrap_or_else(|| panic!("no row for {model}"))[4]
            .parse()
            .expect("a rate")
    };
    for r in &rows {
        assert!(models.contains(&r[0].as_str()), "unknown model {}", r[0]);
        let v: f64 = r[4].parse().expect("a rate");
        assert!((0.0..=1.0).contains(&v), "rate {v}");
    }
    // What the curves are meant to show: everything recalls at the lightest load; at some load
    // the classical network has failed while the exponential memory has not.
    for m in models {
        assert!(
            rate(m, false) >= 0.9,
            "{m} at the lightest load: {}",
            rate(m, false)
        );
    }
    let at = |model: &str, patterns: &str| {
        rows.iter()
            .find(|r| r[0] == model && r[2] == patterns)
            .map(|r| r[4].parse::<f64>().expect("a rate"))
    };
    assert!(
        rows.iter().any(|r| r[0] == "hebbian"
            && r[4].parse::<f64>().unwrap() <= 0.1
            && at("dense_exp", &r[2]).is_some_and(|v| v >= 0.9)),
        "no load where Hebbian has failed and the exponential memory recalls"
    );
    // The axis goes far enough to show where each network fails, and they fail in the
    // order of their capacities: classical, then cubic, then exponential.
    for m in models {
        assert!(
            rate(m, true) <= 0.1,
            "{m} at the heaviest load: {}",
            rate(m, true)
        );
    }
    let limit = |model: &str| -> f64 {
        rows.iter()
            .filter(|r| r[0] == model)
            .find(|r| r[4].parse::<f64>().unwrap() < 0.5)
            .unwrap_or_else(|| panic!("{model} never falls below one half"))[3]
            .parse()
            .expect("a load")
    };
    let limits = models.map(limit);
    assert!(
        limits[0] <= limits[1] && limits[1] < limits[2] && limits[2] < limits[3],
        "limits (first load below one half) out of order: {models:?} {limits:?}"
    );
    check_png(&out.path().join("capacity.png"));
}

#[test]
fn metastable_example_moves_through_the_three_fixed_points() {
    let out = run_quick("metastable");
    let (header, rows) = read_csv(&out.path().join("metastable.csv"));
    assert_eq!(header[..3], ["beta", "effective_patterns", "kind"]);
    let kinds: Vec<&str> = rows.iter().map(|r| r[2].as_str()).collect();
    // β rises down the table: global average, then metastable, then single, in that order.
    let rank = |k: &str| {
        ["global", "metastable", "single"]
            .iter()
            .position(|&x| x == k)
    };
    let ranks: Vec<usize> = kinds
        .iter()
        .map(|k| rank(k).expect("a known kind"))
        .collect();
    assert!(
        ranks.windows(2).all(|w| w[0] <= w[1]),
        "kinds out of order: {kinds:?}"
    );
    for k in ["global", "metastable", "single"] {
        assert!(kinds.contains(&k), "{k} never reached: {kinds:?}");
    }
    // The three regimes are shaded: three tints (not gray, not white) each fill a large area
    // of the plot, far more than any line.
    let png = check_png(&out.path().join("metastable.png"));
    let mut counts = std::collections::HashMap::new();
    for p in png.pixels() {
        if !(p[0] == p[1] && p[1] == p[2]) {
            *counts.entry(p.0).or_insert(0usize) += 1;
        }
    }
    let tints = counts.values().filter(|&&n| n >= 10_000).count();
    assert!(
        tints >= 3,
        "shaded regimes: {tints} large tinted areas: {counts:?}"
    );
}
