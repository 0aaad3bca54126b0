//! Every error kind, each asserting that the failed call left the memory as it was.

mod common;

use std::io::ErrorKind;

use common::normal;
use hopfield::layers::Weights;
use hopfield::{
    Device, Error, FileOp, Fusion, GpuOptions, IoCause, Limits, Memory, MemoryOptions, Precision,
    RetrieveOptions,
};
use ndarray::{array, Array2};

fn memory(device: &Device) -> (Memory, Array2<f32>) {
    let mut rng = common::rng("errors");
    let x = normal(&mut rng, 7, 5, 1.0);
    (Memory::from_array(device, x.view()).unwrap(), x)
}

fn unchanged(memory: &Memory, x: &Array2<f32>) {
    assert_eq!(memory.len(), x.nrows());
    assert_eq!(memory.dim(), x.ncols());
    assert_eq!(
        &memory.patterns().unwrap(),
        x,
        "a failed call changed the memory"
    );
}

fn dimension_mismatch(device: &Device) {
    let (mut m, x) = memory(device);
    let q = Array2::<f32>::zeros((2, 4));
    let err = m
        .retrieve(q.view(), &RetrieveOptions::new(1.0))
        .unwrap_err();
    assert_eq!(
        err,
        Error::DimensionMismatch {
            what: "queries",
            expected: 5,
            got: 4
        }
    );
    let err = m.append(Array2::<f32>::zeros((3, 6)).view()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DimensionMismatch {
                what: "patterns",
                got: 6,
                ..
            }
        ),
        "{err}"
    );
    let err = m.replace(0, &[1.0; 4]).unwrap_err();
    assert!(
        matches!(
            err,
            Error::DimensionMismatch {
                what: "pattern",
                got: 4,
                ..
            }
        ),
        "{err}"
    );
    let err = m.append_rows(&[1.0; 11]).unwrap_err();
    assert_eq!(
        err,
        Error::RaggedRows {
            what: "patterns",
            len: 11,
            dim: 5
        }
    );
    unchanged(&m, &x);
    assert_eq!(Memory::new(device, 0).unwrap_err(), Error::ZeroDimension);
}

fn empty_memory(device: &Device) {
    let mut m = Memory::new(device, 3).unwrap();
    let q = array![[1.0f32, 2.0, 3.0]];
    assert_eq!(
        m.retrieve(q.view(), &RetrieveOptions::new(1.0))
            .unwrap_err(),
        Error::EmptyMemory
    );
    m.append(q.view()).unwrap();
    m.clear();
    assert_eq!(
        m.retrieve(q.view(), &RetrieveOptions::new(1.0))
            .unwrap_err(),
        Error::EmptyMemory
    );
    assert!(m.is_empty());
}

fn non_finite(device: &Device) {
    let (mut m, x) = memory(device);
    let mut bad = Array2::<f32>::ones((2, 5));
    bad[[1, 3]] = f32::NAN;
    let err = m.append(bad.view()).unwrap_err();
    assert!(
        matches!(
            err,
            Error::NonFinite {
                what: "patterns",
                row: 1,
                col: 3,
                ..
            }
        ),
        "{err}"
    );
    let err = m
        .replace(2, &[0.0, f32::INFINITY, 0.0, 0.0, 0.0])
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NonFinite {
                what: "patterns",
                row: 0,
                col: 1,
                ..
            }
        ),
        "{err}"
    );
    bad[[1, 3]] = f32::NEG_INFINITY;
    let err = m
        .retrieve(bad.view(), &RetrieveOptions::new(1.0))
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::NonFinite {
                what: "queries",
                row: 1,
                col: 3,
                ..
            }
        ),
        "{err}"
    );
    unchanged(&m, &x);
}

fn bad_options(device: &Device) {
    let (m, x) = memory(device);
    let q = Array2::<f32>::ones((1, 5));
    for beta in [0.0, -1.0, f32::NAN, f32::INFINITY] {
        let err = m
            .retrieve(q.view(), &RetrieveOptions::new(beta))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidBeta(_)), "beta {beta}: {err}");
    }
    for eps in [-1e-3, f32::NAN, f32::INFINITY] {
        let err = m
            .retrieve(q.view(), &RetrieveOptions::new(1.0).until_converged(eps, 5))
            .unwrap_err();
        assert!(matches!(err, Error::InvalidEps(_)), "eps {eps}: {err}");
    }
    let err = m
        .retrieve(q.view(), &RetrieveOptions::new(1.0).steps(0))
        .unwrap_err();
    assert_eq!(err, Error::InvalidSteps(0));
    let err = m
        .retrieve(
            q.view(),
            &RetrieveOptions::new(1.0).until_converged(1e-3, 0),
        )
        .unwrap_err();
    assert_eq!(err, Error::InvalidSteps(0));
    for k in [0, 8] {
        let err = m
            .retrieve(q.view(), &RetrieveOptions::new(1.0).with_top_k(k))
            .unwrap_err();
        assert_eq!(err, Error::InvalidTopK { k, n: 7 });
    }
    unchanged(&m, &x);
}

fn index_out_of_range(device: &Device) {
    let (mut m, x) = memory(device);
    assert_eq!(
        m.replace(7, &[0.0; 5]).unwrap_err(),
        Error::IndexOutOfRange { index: 7, len: 7 }
    );
    assert_eq!(
        m.remove(&[1, 9, 2]).unwrap_err(),
        Error::IndexOutOfRange { index: 9, len: 7 }
    );
    unchanged(&m, &x);
}

fn score_overflow(device: &Device) {
    let (m, x) = memory(device);
    let q = Array2::<f32>::from_elem((1, 5), 1e18);
    let err = m
        .retrieve(q.view(), &RetrieveOptions::new(1e20))
        .unwrap_err();
    assert!(matches!(err, Error::ScoreOverflow { .. }), "{err}");
    let mut big = Memory::new(device, 2).unwrap();
    big.append(array![[3e19f32, 0.0]].view()).unwrap();
    let err = big
        .retrieve(array![[1.0f32, 0.0]].view(), &RetrieveOptions::new(1e-30))
        .unwrap_err();
    assert!(
        matches!(err, Error::ScoreOverflow { .. }),
        "a tiny beta does not save the dot product: {err}"
    );
    unchanged(&m, &x);
}

on_every_backend!(
    dimension_mismatch,
    empty_memory,
    non_finite,
    bad_options,
    index_out_of_range,
    score_overflow,
);

#[test]
fn no_adapter_by_that_name() {
    let err =
        Device::gpu_with(&GpuOptions::default().adapter_name("no-such-adapter-4e1f")).unwrap_err();
    assert!(
        matches!(err, Error::NoAdapter(ref why) if why.contains("no-such-adapter-4e1f")),
        "{err}"
    );
}

#[test]
fn limits_by_name() {
    assert_eq!("WebGPU".parse::<Limits>().unwrap(), Limits::WebGpu);
    assert_eq!("adapter".parse::<Limits>().unwrap(), Limits::Adapter);
    let err = "huge".parse::<Limits>().unwrap_err();
    assert!(
        matches!(err, Error::InvalidOptions(ref why) if why.contains("huge") && why.contains("webgpu")),
        "{err}"
    );
}

/// A device opened with WebGPU's defaults has them, whatever the adapter could give.
#[test]
fn webgpu_limits_are_the_devices() {
    if common::gpu().is_none() {
        return;
    }
    let device = Device::gpu_with(&GpuOptions::default().limits(Limits::WebGpu)).unwrap();
    let limits = device.info().limits;
    let webgpu = wgpu::Limits::default();
    assert_eq!(
        (
            limits.max_workgroup_storage_bytes,
            limits.max_storage_binding_bytes,
            limits.max_buffer_bytes,
        ),
        (
            webgpu.max_compute_workgroup_storage_size,
            webgpu.max_storage_buffer_binding_size,
            webgpu.max_buffer_size,
        )
    );
}

/// A single pattern larger than one storage binding cannot be chunked: refused when the
/// memory is made, before anything is allocated.
#[test]
fn one_row_over_the_binding_limit() {
    let Some(device) = common::gpu() else { return };
    let limit = device.info().limits.max_storage_binding_bytes;
    let dim = (limit / 4) as usize + 1;
    let err = Memory::new(&device, dim).unwrap_err();
    assert!(
        matches!(err, Error::OverLimit { limit: l, needed, .. } if l == limit && needed == Precision::F32.row_bytes(dim)),
        "{err}"
    );
}

/// Chunk sizes the device cannot bind, or too small for one row, are refused by name.
#[test]
fn chunk_size_out_of_range() {
    let Some(device) = common::gpu() else { return };
    let limit = device.info().limits.max_storage_binding_bytes;
    let too_big = MemoryOptions::default().max_chunk_bytes(limit + 4);
    let err = Memory::with_options(&device, 8, too_big).unwrap_err();
    assert!(
        matches!(err, Error::InvalidOptions(ref why) if why.contains("max_chunk_bytes") && why.contains(&limit.to_string())),
        "{err}"
    );
    for dev in [device, Device::cpu()] {
        let f16 = MemoryOptions::default()
            .precision(Precision::F16)
            .max_chunk_bytes(15);
        let err = Memory::with_options(&dev, 9, f16).unwrap_err();
        assert!(
            matches!(err, Error::InvalidOptions(ref why) if why.contains("24 bytes as f16")),
            "{err}"
        );
    }
}

/// The fused kernels never form the weights: asking for both is refused, not quietly unfused.
#[test]
fn fused_with_weights_is_refused() {
    let (m, _) = memory(&Device::cpu());
    let q = Array2::<f32>::ones((1, 5));
    for opts in [
        RetrieveOptions::new(1.0)
            .fusion(Fusion::Fused)
            .with_weights(),
        RetrieveOptions::new(1.0)
            .fusion(Fusion::Fused)
            .with_top_k(1),
    ] {
        let err = m.retrieve(q.view(), &opts).unwrap_err();
        assert!(
            matches!(err, Error::InvalidOptions(ref why) if why.contains("weights")),
            "{err}"
        );
    }
}

/// f16 storage refuses values past its range instead of storing infinities.
#[test]
fn f16_out_of_range_is_refused() {
    for device in [common::gpu(), Some(Device::cpu())].into_iter().flatten() {
        let f16 = MemoryOptions::default().precision(Precision::F16);
        let mut m = Memory::with_options(&device, 2, f16).unwrap();
        m.append_rows(&[1.0, 2.0]).unwrap();
        let err = m.append_rows(&[3.0, -1e6]).unwrap_err();
        assert!(
            matches!(err, Error::InvalidOptions(ref why) if why.contains("f16 range")),
            "{err}"
        );
        assert_eq!(m.len(), 1);
        assert_eq!(m.patterns().unwrap().as_slice().unwrap(), &[1.0, 2.0]);
    }
}

/// A lost device turns every later call into `DeviceLost`, never a panic or a hang.
#[test]
fn device_lost() {
    if common::gpu().is_none() {
        return;
    }
    // A device of its own: losing the shared one would break the other tests.
    let device = Device::gpu().unwrap();
    let (mut m, _) = memory(&device);
    device.simulate_device_loss();
    let q = Array2::<f32>::ones((1, 5));
    let err = m
        .retrieve(q.view(), &RetrieveOptions::new(1.0))
        .unwrap_err();
    assert!(matches!(err, Error::DeviceLost(_)), "{err}");
    assert!(matches!(
        m.append(q.view()).unwrap_err(),
        Error::DeviceLost(_)
    ));
    assert!(matches!(m.patterns().unwrap_err(), Error::DeviceLost(_)));
    assert_eq!(m.len(), 7, "the failed append did not count its row");
}

/// Layer weights the system cannot read keep the system's error: an application tells a
/// missing file from a file that is not safetensors, and reaches the `io::Error` by `source()`.
#[test]
fn unreadable_weights_keep_their_io_error() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("missing.safetensors");
    let err = Weights::load(&path).unwrap_err();
    assert!(
        matches!(&err, Error::Io { op: FileOp::Read, path: p, source }
            if p == &path && source.kind() == ErrorKind::NotFound),
        "{err:?}"
    );
    let cause = std::error::Error::source(&err).expect("the system's error is the source");
    assert_eq!(
        cause.downcast_ref::<IoCause>().map(IoCause::kind),
        Some(ErrorKind::NotFound)
    );
    // A file that is there but is not safetensors is a format problem, with no I/O cause.
    std::fs::write(&path, b"nonsense").unwrap();
    let err = Weights::load(&path).unwrap_err();
    assert!(matches!(err, Error::TensorFile(_)), "{err:?}");
    assert!(std::error::Error::source(&err).is_none());
}
