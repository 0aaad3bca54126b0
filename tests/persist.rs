//! Saving and loading memories: bit-exact round trips (f32 and f16, ids, labels, after
//! removals, CPU ↔ GPU), every kind of damaged or foreign file refused with
//! `Error::InvalidFile` (never a panic, never a memory that differs from the one saved), an
//! interrupted save leaving the old file loadable, and `.npy` import/export.
//!
//! Everything here is exact: patterns are compared bit for bit (`f32::to_bits`), ids and
//! labels for equality, and a loaded memory must retrieve exactly what the saved one did on
//! the same device.

mod common;

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::path::Path;

use common::normal;
use hopfield::{Device, Error, FileOp, IoCause, Memory, MemoryOptions, Precision, RetrieveOptions};
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::RngExt;
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensors};

fn bits(memory: &Memory) -> Vec<u32> {
    memory
        .patterns()
        .unwrap()
        .iter()
        .map(|v| v.to_bits())
        .collect()
}

fn labels(memory: &Memory) -> Vec<Option<String>> {
    (0..memory.len())
        .map(|i| memory.label_of(i).map(str::to_string))
        .collect()
}

/// Two memories hold the same patterns, ids, labels and storage precision.
fn assert_same(a: &Memory, b: &Memory, what: &str) {
    assert_eq!((a.len(), a.dim()), (b.len(), b.dim()), "{what}: shape");
    assert_eq!(bits(a), bits(b), "{what}: pattern bits");
    assert_eq!(a.ids(), b.ids(), "{what}: ids");
    assert_eq!(labels(a), labels(b), "{what}: labels");
    assert_eq!(a.options().precision, b.options().precision, "{what}");
}

/// A memory built by appends with fresh and given ids, labels (empty and non-ASCII ones
/// included), a replacement and removals.
fn eventful(device: &Device, rng: &mut StdRng, options: MemoryOptions) -> Memory {
    let d = common::awkward(rng);
    let mut memory = Memory::with_options(device, d, options).unwrap();
    let n = rng.random_range(1..30);
    memory.append(normal(rng, n, d, 1.0).view()).unwrap();
    let given: Vec<u64> = (0..7).map(|i| 1000 + 3 * i).collect();
    memory
        .append_with_ids(normal(rng, 7, d, 2.0).view(), &given)
        .unwrap();
    let n = rng.random_range(1..20);
    memory.append(normal(rng, n, d, 1.0).view()).unwrap();
    for (i, label) in [(0, "zero"), (1, ""), (2, "ξ → x_μ ✓")] {
        memory.set_label(i, Some(label.into())).unwrap();
    }
    memory
        .replace(1, normal(rng, 1, d, 1.0).as_slice().unwrap())
        .unwrap();
    let n = memory.len();
    let gone: Vec<usize> = (0..4).map(|_| rng.random_range(0..n)).collect();
    memory.remove(&gone).unwrap();
    memory
}

/// Saved and loaded on the same device, then on the CPU and back onto this device: every
/// copy equals the original, retrieves the same result, and hands out the same fresh ids.
fn round_trips_are_exact(device: &Device) {
    let mut rng = common::rng("round_trips_are_exact");
    let dir = tempfile::tempdir().unwrap();
    for options in [
        MemoryOptions::default(),
        MemoryOptions::default().precision(Precision::F16),
        MemoryOptions::default()
            .precision(Precision::F16)
            .max_chunk_bytes(5 * Precision::F16.row_bytes(300)),
    ] {
        let what = format!("{options:?}");
        let mut memory = eventful(device, &mut rng, options);
        let path = dir.path().join("m.safetensors");
        memory.save(&path).unwrap();
        let mut loaded = Memory::load(device, &path).unwrap();
        assert_same(&memory, &loaded, &what);
        assert_eq!(loaded.options(), memory.options(), "{what}");
        assert_eq!(loaded.chunks(), memory.chunks(), "{what}");

        let on_cpu = Memory::load(&Device::cpu(), &path).unwrap();
        assert_same(&memory, &on_cpu, &format!("{what}, on the CPU"));
        let back = dir.path().join("back.safetensors");
        on_cpu.save(&back).unwrap();
        assert_same(&memory, &Memory::load(device, &back).unwrap(), &what);

        let q = normal(&mut rng, 5, memory.dim(), 1.0);
        let opts = RetrieveOptions::new(3.0)
            .steps(2)
            .with_top_k(2)
            .with_energy();
        assert_eq!(
            memory.retrieve(q.view(), &opts).unwrap(),
            loaded.retrieve(q.view(), &opts).unwrap(),
            "{what}: retrieval"
        );
        let x = normal(&mut rng, 2, memory.dim(), 1.0);
        memory.append(x.view()).unwrap();
        loaded.append(x.view()).unwrap();
        assert_eq!(
            memory.ids(),
            loaded.ids(),
            "{what}: fresh ids after loading"
        );
    }
}

fn empty_memories_round_trip(device: &Device) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("empty.safetensors");
    let mut memory = Memory::new(device, 9).unwrap();
    memory.append(Array2::<f32>::ones((3, 9)).view()).unwrap();
    memory.clear();
    memory.save(&path).unwrap();
    let mut loaded = Memory::load(device, &path).unwrap();
    assert_same(&memory, &loaded, "empty");
    loaded.append(Array2::<f32>::ones((1, 9)).view()).unwrap();
    assert_eq!(loaded.ids(), &[3], "ids of cleared patterns are not reused");
}

/// A chunk size the CPU path takes (it only checks that a row fits) but no GPU binds: loading
/// onto a GPU falls back to the device's own, with the same patterns.
fn unbindable_chunk_sizes_fall_back(device: &Device) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("big.safetensors");
    let options = MemoryOptions::default().max_chunk_bytes(1 << 50);
    let mut memory = Memory::with_options(&Device::cpu(), 4, options).unwrap();
    memory.append(Array2::<f32>::eye(4).view()).unwrap();
    memory.save(&path).unwrap();
    let loaded = Memory::load(device, &path).unwrap();
    assert_same(&memory, &loaded, "loaded");
    let expected = if device.is_gpu() { None } else { Some(1 << 50) };
    assert_eq!(loaded.options().max_chunk_bytes, expected);
}

/// A small saved memory's bytes.
fn small_file(device: &Device, rng: &mut StdRng, path: &Path) -> Vec<u8> {
    let mut memory = Memory::with_options(
        device,
        5,
        MemoryOptions::default().precision(Precision::F16),
    )
    .unwrap();
    memory
        .append_with_ids(normal(rng, 6, 5, 1.0).view(), &[9, 8, 7, 6, 5, 4])
        .unwrap();
    memory.set_label(2, Some("two".into())).unwrap();
    memory.save(path).unwrap();
    std::fs::read(path).unwrap()
}

/// Loading `bytes` fails with `InvalidFile` (and does not panic).
fn refused(device: &Device, path: &Path, bytes: &[u8], what: &str) -> String {
    std::fs::write(path, bytes).unwrap();
    match Memory::load(device, path) {
        Err(e @ Error::InvalidFile { .. }) => e.to_string(),
        Err(e) => panic!("{what}: expected InvalidFile, got {e:?}"),
        Ok(m) => panic!("{what}: loaded a memory of {} patterns", m.len()),
    }
}

/// Every prefix of a file, and a single flipped bit at every header byte and at many data
/// bytes, is refused.
fn damaged_files_are_refused(device: &Device) {
    let mut rng = common::rng("damaged_files_are_refused");
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    let bytes = small_file(device, &mut rng, &good);
    let bad = dir.path().join("bad.safetensors");
    let header_end = 8 + u64::from_le_bytes(bytes[..8].try_into().unwrap()) as usize;

    for len in 0..bytes.len() {
        refused(device, &bad, &bytes[..len], &format!("truncated to {len}"));
    }
    let mut longer = bytes.clone();
    longer.push(0);
    refused(device, &bad, &longer, "one byte appended");

    let data_samples: Vec<usize> = (0..100)
        .map(|_| rng.random_range(header_end..bytes.len()))
        .collect();
    for at in (0..header_end).chain(data_samples) {
        let mut flipped = bytes.clone();
        let bit = rng.random_range(0..8);
        flipped[at] ^= 1 << bit;
        refused(
            device,
            &bad,
            &flipped,
            &format!("bit {bit} of byte {at} flipped"),
        );
    }
    let msg = refused(device, &bad, &[], "empty");
    assert!(msg.contains("too short"), "{msg}");
    // The good file is still good: the refusals were about the damage.
    assert_eq!(Memory::load(device, &good).unwrap().len(), 6);
}

/// A memory file's tensors and metadata, to be changed and written again.
struct Parts {
    tensors: BTreeMap<String, (Dtype, Vec<usize>, Vec<u8>)>,
    meta: BTreeMap<String, String>,
}

impl Parts {
    fn of(bytes: &[u8]) -> Parts {
        let file = SafeTensors::deserialize(bytes).unwrap();
        let (_, header) = SafeTensors::read_metadata(bytes).unwrap();
        Parts {
            tensors: file
                .tensors()
                .into_iter()
                .map(|(name, t)| (name, (t.dtype(), t.shape().to_vec(), t.data().to_vec())))
                .collect(),
            meta: header.metadata().clone().unwrap().into_iter().collect(),
        }
    }

    /// The file, with the checksum recomputed as `hopfield::persist` documents it: CRC-32 of
    /// every other metadata entry (`key\0value\0`, in key order), then of every tensor's
    /// name, `\0{dtype:?}\0{shape:?}\0` and bytes, in name order.
    fn bytes(&self) -> Vec<u8> {
        let mut crc = crc32fast::Hasher::new();
        for (k, v) in self.meta.iter().filter(|(k, _)| *k != "checksum") {
            crc.update(format!("{k}\0{v}\0").as_bytes());
        }
        for (name, (dtype, shape, data)) in &self.tensors {
            crc.update(format!("{name}\0{dtype:?}\0{shape:?}\0").as_bytes());
            crc.update(data);
        }
        let mut meta = self.meta.clone();
        if meta.contains_key("checksum") {
            meta.insert("checksum".into(), format!("crc32:{:08x}", crc.finalize()));
        }
        let views: Vec<(String, TensorView)> = self
            .tensors
            .iter()
            .map(|(name, (dtype, shape, data))| {
                (
                    name.clone(),
                    TensorView::new(*dtype, shape.clone(), data).unwrap(),
                )
            })
            .collect();
        safetensors::serialize(views, Some(meta.into_iter().collect())).unwrap()
    }
}

/// Files that are whole and whose checksum is right, but whose content is wrong: each is
/// refused by the check meant for it (the message says which).
fn inconsistent_files_are_refused(device: &Device) {
    let mut rng = common::rng("inconsistent_files_are_refused");
    let dir = tempfile::tempdir().unwrap();
    let good = dir.path().join("good.safetensors");
    let original = Parts::of(&small_file(device, &mut rng, &good));
    let bad = dir.path().join("bad.safetensors");

    // Rewriting with a recomputed checksum changes nothing: the cases below fail for their
    // own reason, not for a checksum this test got wrong.
    std::fs::write(&bad, original.bytes()).unwrap();
    assert_same(
        &Memory::load(device, &good).unwrap(),
        &Memory::load(device, &bad).unwrap(),
        "rewritten",
    );

    type Change = fn(&mut Parts);
    let cases: [(&str, Change, &str); 11] = [
        (
            "patterns as f32 in an f16 memory",
            |p| {
                let t = p.tensors.get_mut("patterns").unwrap();
                let wide: Vec<u8> =
                    t.2.chunks_exact(2)
                        .flat_map(|h| {
                            half::f16::from_le_bytes([h[0], h[1]])
                                .to_f32()
                                .to_le_bytes()
                        })
                        .collect();
                *t = (Dtype::F32, t.1.clone(), wide);
            },
            "expected F16",
        ),
        (
            "patterns of another shape",
            |p| p.tensors.get_mut("patterns").unwrap().1 = vec![5, 6],
            "expected F16 [6, 5]",
        ),
        (
            "ids as u32",
            |p| {
                let t = p.tensors.get_mut("ids").unwrap();
                let narrow: Vec<u8> =
                    t.2.chunks_exact(8)
                        .flat_map(|b| [b[0], b[1], b[2], b[3]])
                        .collect();
                *t = (Dtype::U32, t.1.clone(), narrow);
            },
            "expected U64",
        ),
        (
            "more patterns said than held",
            |p| {
                p.meta.insert("len".into(), "7".into());
            },
            "expected F16 [7, 5]",
        ),
        (
            "a repeated id",
            |p| {
                let ids = &mut p.tensors.get_mut("ids").unwrap().2;
                let first: [u8; 8] = ids[..8].try_into().unwrap();
                ids[8..16].copy_from_slice(&first);
            },
            "appears twice",
        ),
        (
            "a NaN pattern",
            |p| p.tensors.get_mut("patterns").unwrap().2[4..6].copy_from_slice(&[0x00, 0x7e]),
            "non-finite",
        ),
        (
            "an unknown version",
            |p| {
                p.meta.insert("version".into(), "2".into());
            },
            "version",
        ),
        (
            "a missing tensor",
            |p| {
                p.tensors.remove("has_label");
            },
            "expected",
        ),
        (
            "an extra metadata entry",
            |p| {
                p.meta.insert("comment".into(), "hi".into());
            },
            "expected",
        ),
        (
            "a label that is not UTF-8",
            |p| p.tensors.get_mut("label_bytes").unwrap().2[0] = 0xff,
            "UTF-8",
        ),
        (
            "a foreign safetensors file",
            |p| {
                p.meta.clear();
                p.tensors.remove("ids");
            },
            "not a hopfield memory file",
        ),
    ];
    for (what, change, hint) in cases {
        let mut parts = Parts {
            tensors: original.tensors.clone(),
            meta: original.meta.clone(),
        };
        change(&mut parts);
        let msg = refused(device, &bad, &parts.bytes(), what);
        assert!(
            msg.contains(hint),
            "{what}: {msg:?} should mention {hint:?}"
        );
    }
}

fn missing_files_are_io_errors(device: &Device) {
    let dir = tempfile::tempdir().unwrap();
    let err = Memory::load(device, dir.path().join("nope.safetensors")).unwrap_err();
    assert!(
        matches!(&err, Error::Io { op: FileOp::Read, source, .. } if source.kind() == ErrorKind::NotFound),
        "{err:?}"
    );
    let cause = std::error::Error::source(&err).expect("the system's error is the source");
    assert_eq!(
        cause.downcast_ref::<IoCause>().map(IoCause::kind),
        Some(ErrorKind::NotFound)
    );
    assert!(err.to_string().starts_with("reading "), "{err}");
    let memory = Memory::from_rows(device, 2, &[1.0, 2.0]).unwrap();
    let err = memory
        .save(dir.path().join("no").join("such").join("dir.safetensors"))
        .unwrap_err();
    assert!(
        matches!(&err, Error::Io { op: FileOp::CreateTemp, source, .. } if source.kind() == ErrorKind::NotFound),
        "{err:?}"
    );
}

/// A save that stopped after writing its temporary file and before the rename leaves the old
/// file whole; the temporary file is itself the complete new memory.
fn an_interrupted_save_keeps_the_old_file(device: &Device) {
    let mut rng = common::rng("an_interrupted_save_keeps_the_old_file");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("m.safetensors");
    let old = Memory::from_array(device, normal(&mut rng, 4, 3, 1.0).view()).unwrap();
    old.save(&path).unwrap();
    let new = Memory::from_array(device, normal(&mut rng, 9, 3, 1.0).view()).unwrap();
    let temp = hopfield::persist::save_without_rename(&new, &path).unwrap();
    assert_eq!(
        temp.parent(),
        path.parent(),
        "the temporary file is beside the target"
    );
    assert_same(
        &old,
        &Memory::load(device, &path).unwrap(),
        "after the crash",
    );
    assert_same(
        &new,
        &Memory::load(device, &temp).unwrap(),
        "the temporary file",
    );
    new.save(&path).unwrap();
    assert_same(&new, &Memory::load(device, &path).unwrap(), "saved again");
}

fn npy_import_and_export(device: &Device) {
    let mut rng = common::rng("npy_import_and_export");
    let dir = tempfile::tempdir().unwrap();
    let x = normal(&mut rng, 11, 7, 1.0);
    let path = dir.path().join("x.npy");
    hopfield::persist::write_npy(&path, x.view()).unwrap();
    let memory = Memory::from_npy(device, &path).unwrap();
    assert_eq!(memory.patterns().unwrap(), x);
    assert_eq!(memory.ids(), (0..11).collect::<Vec<u64>>());

    let mut half = Memory::with_options(
        device,
        7,
        MemoryOptions::default().precision(Precision::F16),
    )
    .unwrap();
    half.append(x.view()).unwrap();
    let out = dir.path().join("half.npy");
    half.save_npy(&out).unwrap();
    let back: Array2<f32> = ndarray_npy::read_npy(&out).unwrap();
    assert_eq!(back, half.patterns().unwrap(), "the f16 values as f32");

    std::fs::write(&path, b"\x93NUMPY garbage").unwrap();
    let err = Memory::from_npy(device, &path).unwrap_err();
    assert!(matches!(err, Error::InvalidFile { .. }), "{err:?}");

    std::fs::write(&path, b"\x93NU").unwrap();
    let err = Memory::from_npy(device, &path).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidFile { source: Some(s), .. } if s.kind() == ErrorKind::UnexpectedEof),
        "a file ending early keeps the read error: {err:?}"
    );
}

on_every_backend!(
    round_trips_are_exact,
    empty_memories_round_trip,
    damaged_files_are_refused,
    inconsistent_files_are_refused,
    missing_files_are_io_errors,
    an_interrupted_save_keeps_the_old_file,
    npy_import_and_export,
    unbindable_chunk_sizes_fall_back,
);
