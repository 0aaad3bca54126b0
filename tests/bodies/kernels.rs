//! The kernel-matrix test bodies, async and shared by tests/kernels.rs (native) and
//! tests/web.rs (a browser); tolerances are in tests/kernels.rs.

use super::common::{self, awkward, normal, rel_err, to64};
use hopfield::{reference, Device, Fusion, Memory, MemoryOptions, Precision, RetrieveOptions};
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::RngExt;

struct Config {
    fusion: Fusion,
    precision: Precision,
    /// Patterns per chunk, or `None` for the device's own limit.
    chunk_rows: Option<usize>,
}

async fn store(device: &Device, x: &Array2<f32>, cfg: &Config) -> Memory {
    let mut options = MemoryOptions::default().precision(cfg.precision);
    if let Some(rows) = cfg.chunk_rows {
        options = options.max_chunk_bytes(rows as u64 * cfg.precision.row_bytes(x.ncols()));
    }
    let mut memory = Memory::with_options(device, x.ncols(), options).unwrap();
    // Appended in two pieces, so chunk growth and a partly filled last chunk are exercised.
    let cut = x.nrows() / 3;
    memory
        .append_async(x.slice(ndarray::s![..cut, ..]))
        .await
        .unwrap();
    memory
        .append_async(x.slice(ndarray::s![cut.., ..]))
        .await
        .unwrap();
    if let (Some(rows), true) = (cfg.chunk_rows, device.is_gpu()) {
        assert_eq!(memory.chunks(), x.nrows().div_ceil(rows), "chunk count");
    }
    memory
}

/// Checks one retrieval of `q` from `x` (B×d, N×d) at `beta` under `cfg`.
async fn check(
    device: &Device,
    x: &Array2<f32>,
    q: &Array2<f32>,
    beta: f32,
    steps: usize,
    cfg: &Config,
) {
    let memory = store(device, x, cfg).await;
    let opts = RetrieveOptions::new(beta)
        .steps(steps)
        .with_energy()
        .fusion(cfg.fusion);
    let out = memory.retrieve_async(q.view(), &opts).await.unwrap();
    let what = format!(
        "{:?} {} chunk_rows={:?} B={} N={} d={} beta={beta} steps={steps}",
        cfg.fusion,
        cfg.precision,
        cfg.chunk_rows,
        q.nrows(),
        x.nrows(),
        x.ncols()
    );
    let stored = to64(memory.patterns_async().await.unwrap().view());
    let q64 = to64(q.view());
    let (want, _, change) = reference::retrieve(stored.view(), q64.view(), beta.into(), steps);
    let e = rel_err(out.states.view(), want.view());
    assert!(e <= 1e-5 * steps as f64, "{what}: states rel err {e:e}");
    for (g, w) in out.max_change.iter().zip(&change) {
        assert!(
            (f64::from(*g) - w).abs() <= 1e-5,
            "{what}: max change {g} vs {w}"
        );
    }
    let energy = out.energy.expect("energy was asked for");
    let before = reference::energy(stored.view(), q64.view(), beta.into());
    let after = reference::energy(stored.view(), want.view(), beta.into());
    for (got, want) in [(&energy.before, &before), (&energy.after, &after)] {
        for (g, w) in got.iter().zip(want) {
            assert!(
                (g - w).abs() <= 1e-5 * (1.0 + w.abs()),
                "{what}: energy {g} vs {w}"
            );
        }
    }
    if cfg.precision == Precision::F16 {
        let x64 = to64(x.view());
        let (exact, _, _) = reference::retrieve(x64.view(), q64.view(), beta.into(), steps);
        let e = rel_err(out.states.view(), exact.view());
        assert!(
            e <= 1e-2,
            "{what}: f16 storage rel err {e:e} against f32 patterns"
        );
    }
}

fn configs() -> Vec<Config> {
    let mut out = Vec::new();
    for fusion in [Fusion::Fused, Fusion::Unfused] {
        for precision in [Precision::F32, Precision::F16] {
            for chunk_rows in [None, Some(0)] {
                out.push(Config {
                    fusion,
                    precision,
                    chunk_rows,
                });
            }
        }
    }
    out
}

/// Awkward B, N, d from the common list; many small chunks where the config asks for them.
pub async fn every_path_on_awkward_shapes(device: &Device) {
    let mut rng = common::rng("every_path_on_awkward_shapes");
    for mut cfg in configs() {
        for _ in 0..common::cases(12) {
            let (b, n, d) = (awkward(&mut rng), awkward(&mut rng), awkward(&mut rng));
            if cfg.chunk_rows.is_some() {
                cfg.chunk_rows = Some(rng.random_range(1..=n.clamp(1, 40)));
            }
            let beta = random_beta(&mut rng);
            let steps = rng.random_range(1..=2);
            check(
                device,
                &normal(&mut rng, n, d, 1.0),
                &normal(&mut rng, b, d, 1.0),
                beta,
                steps,
                &cfg,
            )
            .await;
        }
    }
}

/// Shapes past the tiles of the fused kernels: many splits per chunk, chunk edges inside
/// splits, d over one 128-feature slice, B over one 64-query tile.
pub async fn every_path_on_large_shapes(device: &Device) {
    let mut rng = common::rng("every_path_on_large_shapes");
    let shapes = [
        (1, 4099, 67),
        (5, 2053, 131),
        (9, 1031, 33),
        (67, 1543, 259),
        (130, 577, 128),
    ];
    for (b, n, d) in shapes {
        let x = normal(&mut rng, n, d, 1.0);
        let q = normal(&mut rng, b, d, 1.0);
        let beta = random_beta(&mut rng);
        for fusion in [Fusion::Fused, Fusion::Unfused] {
            for (precision, chunk_rows) in
                [(Precision::F32, None), (Precision::F16, Some(n / 3 + 7))]
            {
                let cfg = Config {
                    fusion,
                    precision,
                    chunk_rows,
                };
                check(device, &x, &q, beta, 1, &cfg).await;
            }
        }
    }
}

/// The result must not depend on the chunking: the same memory in 1, 2, 7 and N chunks gives
/// the same states to f32 rounding.
pub async fn chunking_is_invisible(device: &Device) {
    let mut rng = common::rng("chunking_is_invisible");
    let (b, n, d) = (3, 211, 29);
    let x = normal(&mut rng, n, d, 1.0);
    let q = normal(&mut rng, b, d, 1.0);
    let opts = RetrieveOptions::new(6.0).steps(2);
    let whole = Memory::from_array_async(device, x.view())
        .await
        .unwrap()
        .retrieve_async(q.view(), &opts)
        .await
        .unwrap();
    for rows in [n.div_ceil(2), n.div_ceil(7), 1] {
        let options =
            MemoryOptions::default().max_chunk_bytes(rows as u64 * Precision::F32.row_bytes(d));
        let mut memory = Memory::with_options(device, d, options).unwrap();
        memory.append_async(x.view()).await.unwrap();
        let out = memory.retrieve_async(q.view(), &opts).await.unwrap();
        let e = rel_err(out.states.view(), to64(whole.states.view()).view());
        assert!(e <= 1e-5, "{rows} rows per chunk: {e:e}");
    }
}

/// Device time comes back exactly when asked for on a GPU with timestamp queries, and is never
/// made up elsewhere.
pub async fn timing_is_reported(device: &Device) {
    let mut rng = common::rng("timing_is_reported");
    let x = normal(&mut rng, 300, 16, 1.0);
    let q = normal(&mut rng, 2, 16, 1.0);
    let memory = Memory::from_array_async(device, x.view()).await.unwrap();
    let plain = memory
        .retrieve_async(q.view(), &RetrieveOptions::new(2.0))
        .await
        .unwrap();
    assert_eq!(plain.device_time, None);
    for opts in [
        RetrieveOptions::new(2.0).with_timing(),
        RetrieveOptions::new(2.0)
            .until_converged(0.0, 3)
            .with_timing()
            .with_energy(),
        RetrieveOptions::new(2.0).with_timing().with_weights(),
    ] {
        let timed = memory.retrieve_async(q.view(), &opts).await.unwrap();
        let has_stamps = device.is_gpu() && device.info().features.timestamps;
        match timed.device_time {
            Some(t) => assert!(has_stamps && t.as_nanos() > 0, "{t:?} on {}", device.info()),
            None => assert!(!has_stamps, "no device time on {}", device.info()),
        }
        let again = memory.retrieve_async(q.view(), &opts).await.unwrap();
        assert_eq!(timed.states, again.states);
    }
}

/// A memory in more chunks than one fused merge takes: `Fusion::Auto` runs the unfused path,
/// and an explicit `Fusion::Fused` is refused by name.
pub async fn more_chunks_than_one_merge(device: &Device) {
    let mut rng = common::rng("more_chunks_than_one_merge");
    let (n, d) = (1030, 3);
    let x = normal(&mut rng, n, d, 1.0);
    let q = normal(&mut rng, 2, d, 1.0);
    let options = MemoryOptions::default().max_chunk_bytes(Precision::F32.row_bytes(d));
    let mut memory = Memory::with_options(device, d, options).unwrap();
    memory.append_async(x.view()).await.unwrap();
    let out = memory
        .retrieve_async(q.view(), &RetrieveOptions::new(3.0))
        .await
        .unwrap();
    let (want, _, _) = reference::retrieve(to64(x.view()).view(), to64(q.view()).view(), 3.0, 1);
    let e = rel_err(out.states.view(), want.view());
    assert!(e <= 1e-5, "rel err {e:e}");
    let fused = RetrieveOptions::new(3.0).fusion(Fusion::Fused);
    match memory.retrieve_async(q.view(), &fused).await {
        Err(hopfield::Error::InvalidOptions(why)) => assert!(
            why.contains("1030 chunks") && why.contains("(1024)"),
            "{why}"
        ),
        other if !device.is_gpu() => assert!(other.is_ok()),
        other => panic!("expected InvalidOptions, got {other:?}"),
    }
}

fn random_beta(rng: &mut StdRng) -> f32 {
    rng.random_range(0.1f32.ln()..8f32.ln()).exp()
}
