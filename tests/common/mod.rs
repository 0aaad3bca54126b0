//! Shared by the integration tests: devices, seeded random data, error measures.
#![allow(dead_code)]

#[cfg(not(target_arch = "wasm32"))]
use hopfield::{Device, GpuOptions, Limits};
use ndarray::{Array2, ArrayView2};
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

/// The GPU under test, opened once per test binary with output poisoning on, or `None` (the
/// test is then skipped, loudly) — unless `HOPFIELD_REQUIRE_GPU=1`, where no adapter is a
/// failure. `HOPFIELD_TEST_LIMITS=webgpu` opens it with WebGPU's default limits instead of the
/// adapter's, as a browser would.
#[cfg(not(target_arch = "wasm32"))]
pub fn gpu() -> Option<Device> {
    use std::sync::OnceLock;
    static GPU: OnceLock<Result<Device, String>> = OnceLock::new();
    required(GPU.get_or_init(open_gpu))
}

/// A GPU of its own for one test (opened as [`gpu`] opens the shared one), for tests that
/// count what the device does, which other tests' calls on a shared device would disturb.
#[cfg(not(target_arch = "wasm32"))]
pub fn own_gpu() -> Option<Device> {
    required(&open_gpu())
}

#[cfg(not(target_arch = "wasm32"))]
fn open_gpu() -> Result<Device, String> {
    let limits = match std::env::var("HOPFIELD_TEST_LIMITS") {
        Ok(s) if !s.is_empty() => s.parse::<Limits>().map_err(|e| e.to_string())?,
        _ => Limits::Adapter,
    };
    Device::gpu_with(&GpuOptions::default().with_poisoned_outputs().limits(limits))
        .map_err(|e| e.to_string())
}

/// A GPU on one backend ("vulkan", "gl"), opened with output poisoning, skipped or required
/// as [`gpu`] is.
#[cfg(not(target_arch = "wasm32"))]
pub fn gpu_on(backend: &str) -> Option<Device> {
    let options = GpuOptions::default()
        .backends(backend)
        .with_poisoned_outputs();
    required(&Device::gpu_with(&options).map_err(|e| format!("{backend}: {e}")))
}

/// The device, or `None` (loudly) where there is no adapter, or a panic where one is required.
#[cfg(not(target_arch = "wasm32"))]
fn required(opened: &Result<Device, String>) -> Option<Device> {
    match opened {
        Ok(d) => Some(d.clone()),
        Err(e) if std::env::var("HOPFIELD_REQUIRE_GPU").as_deref() == Ok("1") => {
            panic!("HOPFIELD_REQUIRE_GPU=1 but no GPU adapter: {e}")
        }
        Err(e) => {
            eprintln!("SKIPPED: no GPU adapter ({e}); set HOPFIELD_REQUIRE_GPU=1 to fail instead");
            None
        }
    }
}

/// Writes each test body once and runs it on the CPU path and on the GPU.
#[macro_export]
macro_rules! on_every_backend {
    ($($name:ident),* $(,)?) => {
        mod cpu {
            $(#[test] fn $name() { super::$name(&hopfield::Device::cpu()) })*
        }
        mod gpu {
            $(#[test] fn $name() {
                if let Some(device) = $crate::common::gpu() {
                    eprintln!("GPU: {}", device.info());
                    super::$name(&device)
                }
            })*
        }
    };
}

/// Writes each async test body (shared with tests/web.rs) once and runs it on the CPU path and
/// on the GPU, waiting for it here.
#[macro_export]
macro_rules! on_every_backend_async {
    ($($name:ident),* $(,)?) => {
        mod cpu {
            $(#[test] fn $name() {
                pollster::block_on(super::$name(&hopfield::Device::cpu()))
            })*
        }
        mod gpu {
            $(#[test] fn $name() {
                if let Some(device) = $crate::common::gpu() {
                    eprintln!("GPU: {}", device.info());
                    pollster::block_on(super::$name(&device))
                }
            })*
        }
    };
}

/// A fresh seed per run (printed, so a failure can be replayed with `HOPFIELD_TEST_SEED`).
#[cfg(not(target_arch = "wasm32"))]
pub fn rng(test: &str) -> StdRng {
    let seed = std::env::var("HOPFIELD_TEST_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
        });
    eprintln!("{test}: HOPFIELD_TEST_SEED={seed}");
    StdRng::seed_from_u64(seed)
}

/// A fresh seed per run, from the browser's clock (wasm32 has no `SystemTime`), printed to
/// the console the runner shows on failure.
#[cfg(target_arch = "wasm32")]
pub fn rng(test: &str) -> StdRng {
    let seed = (js_sys::Date::now() * 1e3) as u64 ^ (js_sys::Math::random() * 1e15) as u64;
    wasm_bindgen_test::console_log!("{test}: seed {seed}");
    StdRng::seed_from_u64(seed)
}

/// How many random cases a test runs: `default`, or `HOPFIELD_TEST_CASES` where a slow adapter
/// needs fewer.
pub fn cases(default: usize) -> usize {
    std::env::var("HOPFIELD_TEST_CASES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(default)
}

/// Rows of i.i.d. N(0, scale²/cols) entries: norms near `scale`.
pub fn normal(rng: &mut StdRng, rows: usize, cols: usize, scale: f32) -> Array2<f32> {
    let s = scale / (cols as f32).sqrt();
    Array2::from_shape_simple_fn((rows, cols), || s * rng.sample::<f32, _>(StandardNormal))
}

/// Sizes that break tile assumptions: 1, primes, tile edges ± 1.
pub const AWKWARD: &[usize] = &[
    1, 2, 3, 5, 7, 8, 13, 16, 17, 31, 32, 33, 61, 63, 64, 65, 97, 127, 128, 129, 191, 257, 300,
];

pub fn awkward(rng: &mut StdRng) -> usize {
    AWKWARD[rng.random_range(0..AWKWARD.len())]
}

pub fn to64(a: ArrayView2<f32>) -> Array2<f64> {
    a.mapv(f64::from)
}

/// ‖a − b‖_F / ‖b‖_F, with a NaN anywhere (an unwritten, poisoned element) giving +∞.
pub fn rel_err(a: ArrayView2<f32>, b: ArrayView2<f64>) -> f64 {
    assert_eq!(a.dim(), b.dim(), "shapes differ");
    let mut num = 0.0;
    let mut den = 0.0;
    for (x, y) in a.iter().zip(b) {
        let x = f64::from(*x);
        if x.is_nan() {
            return f64::INFINITY;
        }
        num += (x - y) * (x - y);
        den += y * y;
    }
    (num / den.max(f64::MIN_POSITIVE)).sqrt()
}

/// max |a − b|, NaN giving +∞.
pub fn max_abs_err(a: ArrayView2<f32>, b: ArrayView2<f64>) -> f64 {
    assert_eq!(a.dim(), b.dim(), "shapes differ");
    a.iter().zip(b).fold(0.0, |m, (x, y)| {
        let e = (f64::from(*x) - y).abs();
        if e.is_nan() {
            f64::INFINITY
        } else {
            m.max(e)
        }
    })
}

/// One step `softmax(β Q Xᵀ) X` in f64, streaming over the patterns (the reference module's
/// matrices would be B×N of f64 at N = 2^20), and each query's top-3 patterns.
pub fn one_step_f64(
    x: ArrayView2<f32>,
    q: ArrayView2<f32>,
    beta: f64,
) -> (Array2<f64>, Vec<Vec<usize>>) {
    let (b, d) = q.dim();
    let mut out = Array2::zeros((b, d));
    let mut top = Vec::with_capacity(b);
    for r in 0..b {
        let qr: Vec<f64> = q.row(r).iter().map(|&v| f64::from(v)).collect();
        let scores: Vec<f64> = x
            .rows()
            .into_iter()
            .map(|xi| {
                beta * xi
                    .iter()
                    .zip(&qr)
                    .map(|(&a, b)| f64::from(a) * b)
                    .sum::<f64>()
            })
            .collect();
        let m = scores.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let mut l = 0.0;
        let mut acc = vec![0.0; d];
        for (xi, s) in x.rows().into_iter().zip(&scores) {
            let w = (s - m).exp();
            l += w;
            for (a, &v) in acc.iter_mut().zip(xi) {
                *a += w * f64::from(v);
            }
        }
        for (o, a) in out.row_mut(r).iter_mut().zip(acc) {
            *o = a / l;
        }
        let mut order: Vec<usize> = (0..scores.len()).collect();
        order.sort_by(|&i, &j| scores[j].total_cmp(&scores[i]).then(i.cmp(&j)));
        top.push(order[..3.min(order.len())].to_vec());
    }
    (out, top)
}

/// A dot product's f32 rounding bound, twice over (the path's τ moves by at most the largest
/// score error): 4·d·2⁻²⁴·β‖x‖‖q‖ for the score of pattern `x` and query `q`.
pub fn score_slack(x: ndarray::ArrayView1<f64>, q: ndarray::ArrayView1<f64>, beta: f64) -> f64 {
    4.0 * x.len() as f64 * 2f64.powi(-24) * beta * x.dot(&x).sqrt() * q.dot(&q).sqrt()
}

/// The reference for a top-k step over the patterns the path kept. Top-k's weights jump at
/// τ, the k-th score: a pattern whose score ties τ's within f32's rounding may be kept by the
/// path and left by the reference, or the other way round, which no tolerance on the weights
/// absorbs. So this checks that the path kept exactly k patterns per row (`got`: its weights,
/// nonzero where kept) and that every pattern kept on one side only ties τ within
/// `slack(row, pattern)`, then gives the f64 scores' softmax over the path's support.
pub fn top_k_as_kept(
    k: usize,
    z: ArrayView2<f64>,
    got: ArrayView2<f32>,
    slack: impl Fn(usize, usize) -> f64,
    what: &str,
) -> Array2<f64> {
    use hopfield::{reference, Separation};
    let (want, _) = reference::separate_rows(Separation::TopK(k), z);
    let mut kept = Array2::zeros(z.dim());
    for r in 0..z.nrows() {
        let row = z.row(r).to_vec();
        let tau = reference::separations::threshold(Separation::TopK(k), &row).unwrap();
        let support: Vec<usize> = (0..row.len()).filter(|&i| got[[r, i]] != 0.0).collect();
        assert_eq!(
            support.len(),
            k,
            "{what}: row {r} keeps {} patterns",
            support.len()
        );
        for i in 0..row.len() {
            if (got[[r, i]] != 0.0) != (want[[r, i]] != 0.0) {
                let slack = slack(r, i);
                assert!(
                    (row[i] - tau).abs() <= slack,
                    "{what}: row {r} pattern {i} kept on one side only, score {} vs τ {tau} \
                     (slack {slack:e})",
                    row[i]
                );
            }
        }
        let values = softmax_over(&row, |i| got[[r, i]] != 0.0);
        kept.row_mut(r).assign(&ndarray::ArrayView1::from(&values));
    }
    kept
}

/// The softmax of the scores `row` over the patterns `kept` says, 0 elsewhere: a top-k
/// step's weights for the support it kept.
pub fn softmax_over(row: &[f64], kept: impl Fn(usize) -> bool) -> Vec<f64> {
    let top = (0..row.len())
        .filter(|&i| kept(i))
        .map(|i| row[i])
        .fold(f64::NEG_INFINITY, f64::max);
    let e: Vec<f64> = (0..row.len())
        .map(|i| if kept(i) { (row[i] - top).exp() } else { 0.0 })
        .collect();
    let sum: f64 = e.iter().sum();
    e.iter().map(|v| v / sum).collect()
}

/// A top-k against a reference memory's `want`, given that memory's B×N `weights`, whose
/// columns hold the ids `columns`: rank by rank the same weights within `slack`, the pattern
/// each rank names truly of its rank's weight (so near-ties, which devices and merges round
/// differently, may come in either order), no pattern twice in a row, and indices that name
/// the ids (`ids`: the ids that `top`'s indices count).
pub fn check_top_by_weight(
    top: &hopfield::TopK,
    want: &hopfield::TopK,
    weights: ArrayView2<f32>,
    columns: &[u64],
    ids: &[u64],
    slack: f64,
    what: &str,
) {
    let column: std::collections::HashMap<u64, usize> =
        columns.iter().enumerate().map(|(c, &id)| (id, c)).collect();
    assert_eq!(top.ids.dim(), want.ids.dim(), "{what}: top-k shape");
    for ((r, c), &w) in want.weights.indexed_iter() {
        let (id, index) = (top.ids[[r, c]], top.indices[[r, c]]);
        assert_eq!(
            ids[index], id,
            "{what}: row {r} rank {c}: index {index} is not id {id}"
        );
        let got = top.weights[[r, c]];
        assert!(
            f64::from((got - w).abs()) <= slack,
            "{what}: row {r} rank {c}: weight {got} vs {w}"
        );
        let own = weights[[r, column[&id]]];
        assert!(
            f64::from((own - w).abs()) <= slack,
            "{what}: row {r} rank {c}: pattern {id} weighs {own}, the rank {w}"
        );
        assert!(
            !top.ids.row(r).iter().take(c).any(|&other| other == id),
            "{what}: row {r}: pattern {id} twice"
        );
    }
}
