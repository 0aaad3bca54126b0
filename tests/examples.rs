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
    run_quick_into(out.path(), name);
    out
}

/// Runs `name --quick --out out`, checks that it succeeded, and returns its stderr.
fn run_quick_into(out: &Path, name: &str) -> String {
    run_quick_with(out, name, &[])
}

/// Runs `name --quick --out out` with `extra` arguments, checks that it succeeded, and
/// returns its stderr.
fn run_quick_with(out: &Path, name: &str, extra: &[&str]) -> String {
    let runtime = tempfile::tempdir().unwrap();
    let run = Command::new(example(name))
        .args(["--quick", "--out"])
        .arg(out)
        .args(extra)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .expect("the example runs");
    let stderr = String::from_utf8_lossy(&run.stderr).into_owned();
    assert!(run.status.success(), "{name} failed: {stderr}");
    println!("{}", String::from_utf8_lossy(&run.stdout));
    stderr
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
    let out = tempfile::tempdir().unwrap();
    let stderr = run_quick_into(out.path(), "image_completion");
    let png = image::open(out.path().join("image_completion.png"))
        .expect("the PNG decodes")
        .to_rgb8();
    // Quick mode: 6 glyphs under 2 corruptions; original, corrupted and four retrievers, 16x16
    // images at 5x with 4px gaps, under a 30px strip of headers, each group of rows under a
    // 28px title.
    let (tile, cell, header, title) = (16 * 5, 16 * 5 + 4, 30, 28);
    let group = title + 6 * cell;
    assert_eq!(png.dimensions(), (4 + 6 * cell, header + 2 * group));
    // Every original glyph is a tile of pure black and white exactly where the layout puts
    // it, with the background's gray just outside.
    for (k, g) in (0..2).flat_map(|k| (0..6).map(move |g| (k, g))) {
        let (left, top) = (4, header + k * group + title + g * cell);
        for (x, y) in (0..tile).flat_map(|x| (0..tile).map(move |y| (x, y))) {
            let v = png.get_pixel(left + x, top + y)[0];
            assert!(
                v == 0 || v == 255,
                "glyph {g}, group {k}: {v} at ({x}, {y})"
            );
        }
        assert_eq!(
            png.get_pixel(left - 1, top)[0],
            200,
            "the gap left of glyph {g}"
        );
        assert_eq!(
            png.get_pixel(left, top + tile)[0],
            200,
            "the gap under glyph {g}"
        );
    }
    // The column headers and the groups' titles are written (dark text on the gray), unless
    // the machine has no font, which the example says.
    if !stderr.contains("no TrueType font") {
        let dark = |rows: std::ops::Range<u32>| {
            rows.flat_map(|y| (0..png.width()).map(move |x| (x, y)))
                .filter(|&(x, y)| png.get_pixel(x, y)[0] < 100)
                .count()
        };
        assert!(dark(0..header) > 200, "no column headers");
        for k in 0..2 {
            let top = header + k * group;
            assert!(dark(top..top + title) > 100, "no title over group {k}");
        }
    }
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

const SPARSE_COLUMNS: [&str; 8] = [
    "corruption",
    "glyph",
    "rule",
    "support",
    "glyphs_in_support",
    "error_pixels",
    "right",
    "best_weight",
];

#[test]
fn sparse_retrieval_writes_a_png_grid() {
    let out = tempfile::tempdir().unwrap();
    let stderr = run_quick_into(out.path(), "sparse_retrieval");
    let png = image::open(out.path().join("sparse_retrieval.png"))
        .expect("the PNG decodes")
        .to_rgb8();
    // Quick mode: 6 queries in each of two panels of five columns (80px tiles, 4px gaps, 24px
    // between the panels) under a 48px caption, a 28px title and 24px of headers; a row is a
    // tile, its 20px label and a gap.
    let (tile, cell_w, cell_h, panel) = (80, 84, 104, 5 * 84 + 24);
    let top = 48 + 28 + 24;
    assert_eq!(png.dimensions(), (4 + 2 * panel - 24, top + 6 * cell_h));
    let coloured = |left: u32, top: u32| {
        (0..tile)
            .flat_map(|x| (tile..tile + 20).map(move |y| (x, y)))
            .filter(|&(x, y)| {
                let [r, g, b] = png.get_pixel(left + x, top + y).0;
                r.abs_diff(g) > 40 || g.abs_diff(b) > 40
            })
            .count()
    };
    for (p, q) in (0..2).flat_map(|p| (0..6).map(move |q| (p, q))) {
        let (left, y) = (4 + p * panel, top + q * cell_h);
        for (x, y) in (0..tile).flat_map(|x| (0..tile).map(move |dy| (x, y + dy))) {
            let v = png.get_pixel(left + x, y)[0];
            assert!(v == 0 || v == 255, "original {q}, panel {p}: {v}");
        }
        assert_eq!(png.get_pixel(left - 1, y)[0], 200, "the gap left of {q}");
        // Each result's support and verdict, in green or red, unless there is no font.
        if !stderr.contains("no TrueType font") {
            for c in 2..5 {
                let n = coloured(left + c * cell_w, y);
                assert!(n > 10, "no label under panel {p}, query {q}, column {c}");
            }
        }
    }
    let rows = csv(&out.path().join("sparse_retrieval.csv"), &SPARSE_COLUMNS);
    assert_eq!(
        rows.len(),
        2 * 6 * 3,
        "two corruptions, six glyphs, three rules"
    );
    let mut right = [0; 3];
    for query in rows.chunks(3) {
        let rules: Vec<&str> = query.iter().map(|r| r[2].as_str()).collect();
        assert_eq!(rules, ["softmax", "sparsemax", "entmax:1.5"]);
        let support: Vec<usize> = query.iter().map(|r| r[3].parse().unwrap()).collect();
        for (r, row) in query.iter().enumerate() {
            assert_eq!((&row[0], &row[1]), (&query[0][0], &query[0][1]), "{row:?}");
            let glyphs: usize = row[4].parse().unwrap();
            assert!(
                (1..=support[r]).contains(&glyphs) && support[r] <= 180,
                "{row:?}"
            );
            assert!(row[5].parse::<usize>().unwrap() <= 256, "{row:?}");
            right[r] += usize::from(row[6].parse::<bool>().unwrap());
            assert!(fraction(&row[7]) > 0.0, "{row:?}");
        }
        // The picture's story: softmax spreads over most of the memory, sparsemax keeps a
        // few variants, and entmax lies between, never beyond softmax.
        assert!(support[1] * 10 < support[0], "{query:?}");
        assert!(
            support[1] <= support[2] && support[2] <= support[0],
            "{query:?}"
        );
        assert!(fraction(&query[1][7]) > fraction(&query[0][7]), "{query:?}");
    }
    assert!(
        right[1] >= right[0] && right[2] >= right[0],
        "right: {right:?}"
    );
}

/// On a GPU the example reaches the same verdicts, supports and errors as on the CPU path.
#[test]
fn sparse_retrieval_agrees_on_the_gpu() {
    if let Err(e) = hopfield::Device::gpu() {
        if std::env::var("HOPFIELD_REQUIRE_GPU").as_deref() == Ok("1") {
            panic!("HOPFIELD_REQUIRE_GPU=1 but no GPU adapter: {e}");
        }
        eprintln!("SKIPPED: no GPU adapter ({e}); set HOPFIELD_REQUIRE_GPU=1 to fail instead");
        return;
    }
    let (cpu, gpu) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    run_quick_with(cpu.path(), "sparse_retrieval", &["--device", "cpu"]);
    run_quick_with(gpu.path(), "sparse_retrieval", &["--device", "gpu"]);
    let on =
        |dir: &tempfile::TempDir| csv(&dir.path().join("sparse_retrieval.csv"), &SPARSE_COLUMNS);
    let (cpu, gpu) = (on(&cpu), on(&gpu));
    assert_eq!(cpu.len(), gpu.len());
    for (c, g) in cpu.iter().zip(&gpu) {
        // Scores are β times whole overlaps, far from a threshold but for rounding: every
        // count and verdict matches; the best weight to f32 rounding of the sums.
        assert_eq!(c[..7], g[..7], "cpu {c:?}, gpu {g:?}");
        let (wc, wg) = (fraction(&c[7]), fraction(&g[7]));
        assert!((wc - wg).abs() <= 1e-5, "cpu {c:?}, gpu {g:?}");
    }
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
    let out = tempfile::tempdir().unwrap();
    run_quick_into(out.path(), "pooling");
    let columns = ["bag", "instances", "most_attended", "weight", "pooled_norm"];
    let rows = csv(&out.path().join("pooling.csv"), &columns);
    // Quick mode: 3 bags of 5 to 7 instances.
    assert_eq!(rows.len(), 3, "one row per bag");
    for (b, row) in rows.iter().enumerate() {
        assert_eq!(row[0], b.to_string());
        let n: usize = row[1].parse().unwrap();
        assert!((5..=7).contains(&n), "{row:?}");
        let best: usize = row[2].parse().unwrap();
        assert!(best < n, "attends to padding: {row:?}");
        // The largest of n weights that sum to one.
        let w = fraction(&row[3]);
        assert!(w >= 1.0 / n as f64 - 1e-6, "{row:?}");
        let norm: f64 = row[4].parse().unwrap();
        assert!(norm.is_finite() && norm > 0.0, "{row:?}");
    }
}

#[test]
fn pooling_prints_what_it_pooled() {
    let runtime = tempfile::tempdir().unwrap();
    let out = tempfile::tempdir().unwrap();
    let run = Command::new(example("pooling"))
        .args(["--quick", "--device", "cpu", "--out"])
        .arg(out.path())
        .env("XDG_RUNTIME_DIR", runtime.path())
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&run.stdout);
    assert!(
        run.status.success(),
        "pooling failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    assert!(stdout.contains("host CPU"), "--device cpu: {stdout}");
    // Quick mode: 3 bags, 2 pooling states of 32 features each.
    assert!(stdout.contains("into (3, 64)"), "{stdout}");
    assert_eq!(stdout.matches("most attended").count(), 3, "{stdout}");
}

/// Every example takes `--device` with the same values, and refuses one it does not know
/// before it computes anything.
#[test]
fn examples_refuse_an_unknown_device() {
    for name in EXAMPLES {
        let out = tempfile::tempdir().unwrap();
        let run = Command::new(example(name))
            .args(["--quick", "--device", "tpu", "--out"])
            .arg(out.path())
            .output()
            .expect("the example runs");
        let stderr = String::from_utf8_lossy(&run.stderr);
        assert_eq!(run.status.code(), Some(2), "{name}: {stderr}");
        assert!(stderr.contains("auto, cpu, gpu"), "{name}: {stderr}");
        assert_eq!(
            std::fs::read_dir(out.path()).unwrap().count(),
            0,
            "{name} wrote files"
        );
    }
}

const EXAMPLES: [&str; 6] = [
    "semantic_lookup",
    "pooling",
    "metastable",
    "image_completion",
    "capacity",
    "sparse_retrieval",
];

/// With stdout closed before it prints anything (`… | head -0`), each example stops quietly,
/// with success, instead of panicking on "Broken pipe".
#[test]
fn examples_stop_quietly_on_a_closed_pipe() {
    for name in EXAMPLES {
        let out = tempfile::tempdir().unwrap();
        let runtime = tempfile::tempdir().unwrap();
        let mut child = Command::new(example(name))
            .arg("--quick")
            .arg("--out")
            .arg(out.path())
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
