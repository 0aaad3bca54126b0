//! Retrieval time of the unfused path on the host CPU and on the default GPU adapter.
//!
//! `cargo bench --bench retrieval`. Shapes are kept small enough for a software adapter;
//! throughput is reported as bytes of patterns read once per query batch.

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use hopfield::{Device, Memory, RetrieveOptions};
use ndarray::Array2;

/// (B, N, d): one query against a mid-size memory, and a batch.
const SHAPES: &[(usize, usize, usize)] = &[(1, 16384, 64), (64, 4096, 64)];

fn data(rows: usize, cols: usize, salt: usize) -> Array2<f32> {
    Array2::from_shape_fn((rows, cols), |(i, j)| {
        (((i * 7919 + j * 104_729 + salt) % 2003) as f32 / 2003.0 - 0.5) / (cols as f32).sqrt()
    })
}

fn bench(c: &mut Criterion) {
    let mut devices = vec![("cpu", Device::cpu())];
    match Device::gpu() {
        Ok(gpu) => devices.push(("gpu", gpu)),
        Err(e) => eprintln!("no GPU benchmarks: {e}"),
    }
    for (tag, device) in &devices {
        let mut group = c.benchmark_group(format!("retrieve/{tag}"));
        group.sample_size(10);
        for &(b, n, d) in SHAPES {
            let memory = Memory::from_array(device, data(n, d, 1).view()).unwrap();
            let queries = data(b, d, 2);
            let opts = RetrieveOptions::new(4.0);
            group.throughput(Throughput::Bytes((n * d * 4) as u64));
            group.bench_function(format!("B{b}_N{n}_d{d}"), |bench| {
                bench.iter(|| memory.retrieve(queries.view(), &opts).unwrap())
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
