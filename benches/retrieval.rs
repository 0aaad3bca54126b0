//! Retrieval time of every path: the GPU's fused and unfused kernels with f32 and f16 storage,
//! and the host CPU path.
//!
//! `cargo bench --bench retrieval` runs the small workloads S1–S4, which a software adapter
//! (lavapipe) finishes in minutes; `HOPFIELD_BENCH_FULL=1` adds W1–W4 (docs/workloads.md). The adapter
//! is the one `Device::gpu()` picks (`WGPU_BACKEND`, `WGPU_ADAPTER_NAME` narrow it); without
//! one the GPU groups are skipped with a note. Each GPU workload is timed twice: end to end
//! (wall clock of `Memory::retrieve`, query upload and readback included) and, where the adapter
//! has timestamp queries, by the device's own clock (`<workload>/device`). Throughput is bytes
//! of patterns read once per retrieval. `hopfield bench` reports the same workloads as a table.

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use hopfield::workloads::{Workload, FULL, SMALL};
use hopfield::{Device, Error, Fusion, Memory, MemoryOptions, Precision, RetrieveOptions};
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

/// With unit-norm patterns and queries near them, β = 8 spreads the weight over many patterns
/// (as `hopfield bench` does), so no kernel can shortcut a saturated softmax.
const BETA: f32 = 8.0;

/// Normal entries of variance 1/d: rows of norm ≈ 1.
fn normal(rng: &mut StdRng, rows: usize, d: usize) -> Array2<f32> {
    let scale = 1.0 / (d as f32).sqrt();
    Array2::from_shape_simple_fn((rows, d), || rng.sample::<f32, _>(StandardNormal) * scale)
}

/// S1–S4, then W1–W4 where asked for (`hopfield::workloads`, the table `hopfield bench` reads).
fn workloads() -> Vec<&'static Workload> {
    let mut list: Vec<_> = SMALL.iter().collect();
    if std::env::var("HOPFIELD_BENCH_FULL").as_deref() == Ok("1") {
        list.extend(FULL);
    } else {
        eprintln!("note: W1-W4 skipped; HOPFIELD_BENCH_FULL=1 runs them too");
    }
    list
}

/// One path: where it runs, how the patterns are stored, which kernels.
struct Variant {
    tag: String,
    device: Device,
    precision: Precision,
    fusion: Fusion,
}

fn paths() -> Vec<Variant> {
    let mut paths = vec![Variant {
        tag: "cpu/f32".into(),
        device: Device::cpu(),
        precision: Precision::F32,
        fusion: Fusion::Auto,
    }];
    match Device::gpu() {
        Ok(gpu) => {
            eprintln!("GPU: {}", gpu.info());
            for (fusion, name) in [(Fusion::Fused, "fused"), (Fusion::Unfused, "unfused")] {
                for precision in [Precision::F32, Precision::F16] {
                    paths.push(Variant {
                        tag: format!("gpu/{name}/{precision}"),
                        device: gpu.clone(),
                        precision,
                        fusion,
                    });
                }
            }
        }
        Err(e) => eprintln!("note: GPU groups skipped, no adapter: {e}"),
    }
    paths
}

/// The memory of a workload on a path, or why it does not fit that device.
fn memory(path: &Variant, x: &Array2<f32>) -> Result<Memory, Error> {
    let options = MemoryOptions::default().precision(path.precision);
    let mut memory = Memory::with_options(&path.device, x.ncols(), options)?;
    memory.append(x.view())?;
    Ok(memory)
}

fn bench(c: &mut Criterion) {
    let workloads = workloads();
    let data: Vec<_> = workloads
        .iter()
        .enumerate()
        .map(|(i, &&Workload { b, n, d, .. })| {
            let mut rng = StdRng::seed_from_u64(0x4f9e_1d2c + i as u64);
            let x = normal(&mut rng, n, d);
            let mut q = normal(&mut rng, b, d);
            // Queries near stored patterns, as retrieval is used.
            for (r, mut row) in q.rows_mut().into_iter().enumerate() {
                row.zip_mut_with(&x.row(r * 7919 % n), |v, &t| *v = t + 0.5 * *v);
                let norm = row.dot(&row).sqrt();
                row /= norm;
            }
            (x, q)
        })
        .collect();

    for path in paths() {
        let mut group = c.benchmark_group(format!("retrieve/{}", path.tag));
        // Flat sampling: a software adapter takes up to a second per S3 retrieval, and linear
        // sampling would run 55 of them per sample set.
        group.sampling_mode(SamplingMode::Flat);
        group.sample_size(10);
        group.warm_up_time(Duration::from_millis(500));
        group.measurement_time(Duration::from_secs(3));
        let timestamps = path.device.info().features.timestamps;
        for (w, (x, q)) in workloads.iter().zip(&data) {
            let memory = match memory(&path, x) {
                Ok(m) => m,
                Err(e) => {
                    eprintln!("note: {}/{} skipped: {e}", path.tag, w.name);
                    continue;
                }
            };
            let opts = RetrieveOptions::new(BETA).fusion(path.fusion);
            group.throughput(Throughput::Bytes(w.bytes_read(path.precision)));
            let id = format!("{}_B{}_N{}_d{}", w.name, w.b, w.n, w.d);
            group.bench_function(&id, |bench| {
                bench.iter(|| black_box(memory.retrieve(q.view(), &opts).expect("retrieve")))
            });
            if path.device.is_gpu() && timestamps {
                let timed = opts.clone().with_timing();
                group.bench_function(format!("{id}/device"), |bench| {
                    bench.iter_custom(|iters| {
                        (0..iters)
                            .map(|_| {
                                let out = memory.retrieve(q.view(), &timed).expect("retrieve");
                                out.device_time.unwrap_or_default()
                            })
                            .sum()
                    })
                });
            }
        }
        group.finish();
    }
}

// The HTML reports' charts need a system font, which a bare CI machine lacks (plotters then
// fails the whole run after the first measurement); the numbers are in the terminal output and
// target/criterion either way.
criterion_group! {
    name = benches;
    config = Criterion::default().without_plots();
    targets = bench
}
criterion_main!(benches);
