//! One retrieval step on the host CPU, for the workloads `scripts/numpy_baseline.py` times with
//! NumPy/OpenBLAS: `cargo bench --bench cpu`, then `python3 scripts/numpy_baseline.py`.
//!
//! Data are i.i.d. N(0, 1/d) (norms near 1) with a fixed seed, β = 4, as in the script, so both
//! sides see scores of the same range.

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hopfield::{Device, Memory, RetrieveOptions};
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use rand_distr::StandardNormal;

/// (B, N, d): one query against a big memory, a large batch (the CPU row of docs/workloads.md), latency.
const SHAPES: &[(usize, usize, usize)] = &[(1, 1 << 16, 128), (256, 1 << 14, 128), (1, 1024, 64)];
const BETA: f32 = 4.0;

fn normal(rng: &mut StdRng, rows: usize, cols: usize) -> Array2<f32> {
    let s = 1.0 / (cols as f32).sqrt();
    Array2::from_shape_simple_fn((rows, cols), || s * rng.sample::<f32, _>(StandardNormal))
}

fn bench(c: &mut Criterion) {
    let device = Device::cpu();
    let mut rng = StdRng::seed_from_u64(0);
    let mut group = c.benchmark_group("cpu");
    for &(b, n, d) in SHAPES {
        let memory = Memory::from_array(&device, normal(&mut rng, n, d).view()).unwrap();
        let queries = normal(&mut rng, b, d);
        // Flops of the two products; a single query is bound by reading X instead.
        group.throughput(Throughput::Elements((4 * b * n * d) as u64));
        let mut variants = vec![("states", RetrieveOptions::new(BETA))];
        if b > 1 {
            variants.push(("weights", RetrieveOptions::new(BETA).with_weights()));
        }
        for (what, opts) in variants {
            group.bench_function(format!("B{b}_N{n}_d{d}/{what}"), |bench| {
                bench.iter(|| {
                    memory
                        .retrieve(black_box(queries.view()), black_box(&opts))
                        .unwrap()
                })
            });
        }
    }
    group.finish();
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
