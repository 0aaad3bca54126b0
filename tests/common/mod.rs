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
