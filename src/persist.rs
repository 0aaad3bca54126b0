//! Saving a [`Memory`] to a file and loading it back onto any device, and `.npy` import and
//! export of patterns.
//!
//! # The memory file
//!
//! A [safetensors](https://huggingface.co/docs/safetensors) file, so any safetensors reader
//! can open it (Python: `safetensors.numpy.load_file`):
//!
//! | tensor | dtype | shape | holds |
//! |---|---|---|---|
//! | `patterns` | `F32` or `F16` | N×d | the patterns exactly as stored (f16 bits for f16 memories) |
//! | `ids` | `U64` | N | each pattern's id |
//! | `has_label` | `U8` | N | 1 where the pattern has a label |
//! | `label_ends` | `U64` | N | where each pattern's label ends in `label_bytes` (cumulative) |
//! | `label_bytes` | `U8` | total | the labels' UTF-8 text, one after another |
//!
//! The header's metadata holds `format` = `hopfield-memory`, `version` = `1`, `dim`, `len`,
//! `precision` (`f32`/`f16`), `next_id` (the next fresh id), `max_chunk_bytes` (a number or
//! `none`) and `checksum`: a CRC-32 of every other metadata entry and every tensor's name,
//! dtype, shape and bytes. Loading checks all of it — the format tag and version, the exact
//! sets of tensors and metadata keys, dtypes, shapes, unique ids, finite patterns and the
//! checksum — so a truncated, bit-flipped or foreign file is an [`Error::InvalidFile`], never a
//! panic nor a memory that silently differs from the one saved.
//!
//! Writes are atomic: the bytes go to a temporary file in the same directory, which is synced
//! to disk and then renamed over the target. A crash at any point leaves either the old file or
//! the new one, whole.
//!
//! ```
//! use hopfield::{Device, Memory, MemoryOptions, Precision};
//! use ndarray::array;
//!
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("memory.safetensors");
//! let options = MemoryOptions::default().precision(Precision::F16);
//! let mut memory = Memory::with_options(&Device::cpu(), 3, options)?;
//! memory.append_with_ids(array![[0.1, 0.2, 0.3], [1.0, -1.0, 0.5]].view(), &[17, 4])?;
//! memory.set_label(1, Some("four".into()))?;
//! memory.save(&path)?;
//!
//! let loaded = Memory::load(&Device::cpu(), &path)?;
//! assert_eq!(loaded.patterns()?, memory.patterns()?);
//! assert_eq!(loaded.ids(), &[17, 4]);
//! assert_eq!(loaded.label_of(1), Some("four"));
//! assert_eq!(loaded.options().precision, Precision::F16);
//! # Ok::<(), hopfield::Error>(())
//! ```

use std::collections::BTreeMap;
use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use half::f16;
use ndarray::{Array2, ArrayView2};
use ndarray_npy::{ReadNpyError, ReadNpyExt, WriteNpyExt};
use safetensors::tensor::TensorView;
use safetensors::{Dtype, SafeTensorError, SafeTensors};

use crate::device::Device;
use crate::error::{check_finite, Error, FileOp, Result};
use crate::ids::PatternIds;
use crate::memory::Memory;
use crate::storage::{MemoryOptions, Precision};

/// The `format` tag of a memory file.
const FORMAT: &str = "hopfield-memory";
/// The file layout this crate writes and reads.
const VERSION: &str = "1";
const TENSORS: [&str; 5] = ["patterns", "ids", "has_label", "label_ends", "label_bytes"];
const KEYS: [&str; 8] = [
    "format",
    "version",
    "dim",
    "len",
    "precision",
    "next_id",
    "max_chunk_bytes",
    "checksum",
];

impl Memory {
    /// Saves the memory to `path` (conventionally `*.safetensors`; see [`persist`](crate::persist)
    /// for the layout): patterns bit for bit as stored, ids, labels and storage options. The
    /// write is atomic, so `path` holds either its old content or the new one, whole.
    pub fn save(&self, path: impl AsRef<Path>) -> Result<()> {
        let path = path.as_ref();
        let bytes = encode(self)?;
        write_atomically(path, &bytes)
    }

    /// Loads a memory that [`save`](Self::save) wrote, onto `device` (any device: a memory
    /// saved from a GPU loads on the CPU path and back). The patterns, ids, labels, precision
    /// and chunk size are those saved; where `device` cannot bind the saved chunk size, the
    /// device's own is used (results do not depend on it). Anything wrong with the file is an
    /// [`Error::InvalidFile`] that says what.
    pub fn load(device: &Device, path: impl AsRef<Path>) -> Result<Memory> {
        let path = path.as_ref();
        let bytes = read(path)?;
        let saved = parse(&bytes).map_err(|reason| invalid(path, reason))?;
        match Memory::restore(
            device,
            saved.dim,
            saved.options,
            &saved.rows,
            saved.ids.clone(),
        ) {
            Err(Error::InvalidOptions(why)) if saved.options.max_chunk_bytes.is_some() => {
                log::info!(
                    "the saved chunk size does not suit {} ({why}); using the device's own",
                    device.info().name
                );
                let options = MemoryOptions {
                    max_chunk_bytes: None,
                    ..saved.options
                };
                Memory::restore(device, saved.dim, options, &saved.rows, saved.ids)
            }
            other => other,
        }
    }

    /// A memory holding the patterns of a 2-D float32 `.npy` file (N×d), with fresh ids.
    pub fn from_npy(device: &Device, path: impl AsRef<Path>) -> Result<Memory> {
        let patterns = read_npy(path)?;
        let mut memory = Memory::new(device, patterns.ncols())?;
        memory.append(patterns.view())?;
        Ok(memory)
    }

    /// Writes the patterns (as the f32 values they hold) to a 2-D float32 `.npy` file,
    /// atomically. Ids and labels are not part of a `.npy`; [`save`](Self::save) keeps them.
    pub fn save_npy(&self, path: impl AsRef<Path>) -> Result<()> {
        write_npy(path, self.patterns()?.view())
    }
}

/// Reads a 2-D float32 `.npy` file, with a reason a user can act on when it is not one.
pub fn read_npy(path: impl AsRef<Path>) -> Result<Array2<f32>> {
    let path = path.as_ref();
    let file = fs::File::open(path).map_err(|e| io_error(path, FileOp::Read, e))?;
    Array2::<f32>::read_npy(std::io::BufReader::new(file)).map_err(|e| {
        let reason = match e {
            ReadNpyError::Io(e) if e.kind() == ErrorKind::UnexpectedEof => {
                return Error::InvalidFile {
                    path: path.to_owned(),
                    reason: "not a .npy file (too short to hold a .npy header)".to_string(),
                    source: Some(e.into()),
                };
            }
            ReadNpyError::Io(e) => return io_error(path, FileOp::Read, e),
            ReadNpyError::ParseHeader(e) => format!("not a .npy file ({e})"),
            ReadNpyError::WrongNdim(_, ndim) => {
                format!("holds a {ndim}-D array; expected a 2-D array (rows x dimension)")
            }
            ReadNpyError::WrongDescriptor(desc) => format!(
                "has dtype {}; expected float32 (numpy: a.astype(np.float32))",
                dtype_name(&desc.to_string())
            ),
            ReadNpyError::MissingData => {
                "is truncated: it holds less data than its header describes".to_string()
            }
            ReadNpyError::ExtraBytes(n) => {
                format!("has {n} bytes after the data its header describes")
            }
            ReadNpyError::LengthOverflow => "has a shape too large to address".to_string(),
            ReadNpyError::ParseData(e) => format!("cannot parse its data ({e})"),
        };
        invalid(path, reason)
    })
}

/// Writes a 2-D float32 `.npy` file atomically (see [`Memory::save`]).
pub fn write_npy(path: impl AsRef<Path>, array: ArrayView2<f32>) -> Result<()> {
    let path = path.as_ref();
    let mut bytes = Vec::new();
    array
        .write_npy(&mut bytes)
        .map_err(|e| invalid(path, format!("cannot encode the array as .npy: {e}")))?;
    write_atomically(path, &bytes)
}

/// Writes the temporary file of [`Memory::save`] and stops before the rename, as a crash
/// there would; returns the temporary file's path. For tests of atomicity only.
#[doc(hidden)]
pub fn save_without_rename(memory: &Memory, path: &Path) -> Result<PathBuf> {
    write_temp(path, &encode(memory)?)
}

/// numpy's name for a type descriptor such as `'<f8'`.
fn dtype_name(desc: &str) -> String {
    let code = desc
        .trim_matches(|c| c == '\'' || c == '"')
        .trim_start_matches(['<', '>', '|', '=']);
    let name = match code {
        "f2" | "e" => "float16",
        "f4" | "f" => "float32",
        "f8" | "d" => "float64",
        "f16" | "g" => "float128",
        "i1" | "b" => "int8",
        "i2" | "h" => "int16",
        "i4" | "i" => "int32",
        "i8" | "q" | "l" => "int64",
        "u1" | "B" => "uint8",
        "u2" | "H" => "uint16",
        "u4" | "I" => "uint32",
        "u8" | "Q" | "L" => "uint64",
        "b1" | "?" => "bool",
        "c8" => "complex64",
        "c16" => "complex128",
        _ => return desc.to_string(),
    };
    format!("{name} ({desc})")
}

fn invalid(path: &Path, reason: String) -> Error {
    Error::InvalidFile {
        path: path.to_owned(),
        reason,
        source: None,
    }
}

fn io_error(path: &Path, op: FileOp, e: std::io::Error) -> Error {
    Error::Io {
        op,
        path: path.to_owned(),
        source: e.into(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>> {
    fs::read(path).map_err(|e| io_error(path, FileOp::Read, e))
}

/// This process's id, for temporary names. The web has no processes (and no files: saving
/// there fails with an I/O error when the file is opened), and `std::process::id` panics there.
fn process_id() -> u32 {
    if cfg!(target_arch = "wasm32") {
        0
    } else {
        std::process::id()
    }
}

/// Temporary files of one process get distinct names even when saves race.
static TEMP_SERIAL: AtomicU64 = AtomicU64::new(0);

/// Writes `bytes` to a fresh file beside `path`, synced to disk; returns its path.
// On the web `File` has nothing to close (opening it already failed), so clippy calls the
// drop needless there.
#[cfg_attr(target_arch = "wasm32", allow(clippy::drop_non_drop))]
fn write_temp(path: &Path, bytes: &[u8]) -> Result<PathBuf> {
    let name = path.file_name().ok_or_else(|| {
        let why = std::io::Error::new(ErrorKind::InvalidInput, "the path names no file");
        io_error(path, FileOp::CreateTemp, why)
    })?;
    let temp = path.with_file_name(format!(
        ".{}.{}-{}.tmp",
        name.to_string_lossy(),
        process_id(),
        TEMP_SERIAL.fetch_add(1, Ordering::Relaxed)
    ));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&temp)
        .map_err(|e| io_error(path, FileOp::CreateTemp, e))?;
    if let Err(e) = file.write_all(bytes).and_then(|()| file.sync_all()) {
        drop(file);
        let _ = fs::remove_file(&temp);
        return Err(io_error(path, FileOp::Write, e));
    }
    Ok(temp)
}

/// Replaces `path` by a file holding `bytes`, so that no crash leaves it half written.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<()> {
    let temp = write_temp(path, bytes)?;
    if let Err(e) = fs::rename(&temp, path) {
        let _ = fs::remove_file(&temp);
        return Err(io_error(path, FileOp::Rename, e));
    }
    // The rename is durable once the directory is synced. Not every platform can open a
    // directory for that (Windows cannot); the data itself is already on disk.
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if let Ok(dir) = fs::File::open(dir) {
            let _ = dir.sync_all();
        }
    }
    log::debug!("wrote {} ({} bytes)", path.display(), bytes.len());
    Ok(())
}

/// The file's bytes for `memory`.
fn encode(memory: &Memory) -> Result<Vec<u8>> {
    let patterns = memory.patterns()?;
    let values = patterns
        .as_slice()
        .expect("patterns() is in standard layout");
    let precision = memory.options().precision;
    let pattern_bytes: Vec<u8> = match precision {
        Precision::F32 => values.iter().flat_map(|v| v.to_le_bytes()).collect(),
        // f16 memories hold values that f16 represents exactly: this recovers the stored bits.
        Precision::F16 => values
            .iter()
            .flat_map(|&v| f16::from_f32(v).to_le_bytes())
            .collect(),
    };
    let ids = memory.pattern_ids();
    let id_bytes: Vec<u8> = ids.ids().iter().flat_map(|id| id.to_le_bytes()).collect();
    let has_label: Vec<u8> = ids.labels().iter().map(|l| u8::from(l.is_some())).collect();
    let mut label_bytes = Vec::new();
    let mut label_ends = Vec::new();
    for label in ids.labels() {
        label_bytes.extend_from_slice(label.as_deref().unwrap_or("").as_bytes());
        label_ends.extend_from_slice(&(label_bytes.len() as u64).to_le_bytes());
    }

    let n = memory.len();
    let dtype = match precision {
        Precision::F32 => Dtype::F32,
        Precision::F16 => Dtype::F16,
    };
    let view = |dtype, shape, data| {
        TensorView::new(dtype, shape, data).map_err(|e| Error::InvalidOptions(e.to_string()))
    };
    let tensors: BTreeMap<&str, TensorView> = [
        (
            "patterns",
            view(dtype, vec![n, memory.dim()], &pattern_bytes)?,
        ),
        ("ids", view(Dtype::U64, vec![n], &id_bytes)?),
        ("has_label", view(Dtype::U8, vec![n], &has_label)?),
        ("label_ends", view(Dtype::U64, vec![n], &label_ends)?),
        (
            "label_bytes",
            view(Dtype::U8, vec![label_bytes.len()], &label_bytes)?,
        ),
    ]
    .into_iter()
    .collect();
    let mut meta: BTreeMap<String, String> = [
        ("format", FORMAT.to_string()),
        ("version", VERSION.to_string()),
        ("dim", memory.dim().to_string()),
        ("len", n.to_string()),
        ("precision", precision.to_string()),
        ("next_id", ids.next().to_string()),
        (
            "max_chunk_bytes",
            memory
                .options()
                .max_chunk_bytes
                .map_or("none".into(), |b| b.to_string()),
        ),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v))
    .collect();
    let sum = checksum(&meta, &tensors);
    meta.insert("checksum".into(), sum);
    safetensors::serialize(tensors, Some(meta.into_iter().collect()))
        .map_err(|e| Error::InvalidOptions(format!("cannot encode the memory: {e}")))
}

/// CRC-32 of the metadata (but the checksum) and of every tensor, in name order.
fn checksum<'a, M, T>(meta: M, tensors: T) -> String
where
    M: IntoIterator<Item = (&'a String, &'a String)>,
    T: IntoIterator<Item = (&'a &'a str, &'a TensorView<'a>)>,
{
    let mut crc = crc32fast::Hasher::new();
    for (key, value) in meta.into_iter().filter(|(k, _)| *k != "checksum") {
        for part in [key.as_bytes(), b"\0", value.as_bytes(), b"\0"] {
            crc.update(part);
        }
    }
    for (name, tensor) in tensors {
        crc.update(name.as_bytes());
        crc.update(format!("\0{:?}\0{:?}\0", tensor.dtype(), tensor.shape()).as_bytes());
        crc.update(tensor.data());
    }
    format!("crc32:{:08x}", crc.finalize())
}

/// What a memory file holds, checked.
struct Saved {
    dim: usize,
    options: MemoryOptions,
    /// N×d row-major, as the precision holds them.
    rows: Vec<f32>,
    ids: PatternIds,
}

/// A memory file's header metadata, by key.
type Meta<'a> = BTreeMap<&'a String, &'a String>;
/// A memory file's tensors, by name.
type Tensors<'a> = BTreeMap<&'static str, TensorView<'a>>;
type Parsed<T> = std::result::Result<T, String>;

/// The content of a memory file, or why it is not a valid one.
fn parse(bytes: &[u8]) -> Parsed<Saved> {
    let file = SafeTensors::deserialize(bytes).map_err(|e| describe(&e, bytes.len()))?;
    let (_, header) = SafeTensors::read_metadata(bytes).map_err(|e| describe(&e, bytes.len()))?;
    let meta: Meta = header
        .metadata()
        .as_ref()
        .map(|m| m.iter().collect())
        .unwrap_or_default();
    let tensors = check_header(&meta, &file)?;
    let dim = number(&meta, "dim")? as usize;
    let n = number(&meta, "len")? as usize;
    let next_id = number(&meta, "next_id")?;
    let precision: Precision = entry(&meta, "precision")?
        .parse()
        .map_err(|e: Error| format!("{e}"))?;
    let max_chunk_bytes = match entry(&meta, "max_chunk_bytes")? {
        "none" => None,
        _ => Some(number(&meta, "max_chunk_bytes")?),
    };
    if dim == 0 {
        return Err("dim = 0".into());
    }
    let rows = decode_rows(&tensors, precision, n, dim)?;
    let ids = u64s(tensor(&tensors, "ids", Dtype::U64, &[n])?);
    let labels = decode_labels(&tensors, n)?;
    Ok(Saved {
        dim,
        options: MemoryOptions {
            precision,
            max_chunk_bytes,
        },
        rows,
        ids: PatternIds::restore(ids, labels, next_id)?,
    })
}

/// The metadata entry `key`, or an error naming it.
fn entry<'a>(meta: &Meta<'a>, key: &str) -> Parsed<&'a str> {
    meta.get(&key.to_string())
        .map(|v| v.as_str())
        .ok_or_else(|| format!("the header has no {key:?} entry"))
}

/// The metadata entry `key` as a number.
fn number(meta: &Meta, key: &str) -> Parsed<u64> {
    let value = entry(meta, key)?;
    value
        .parse::<u64>()
        .map_err(|_| format!("{key} = {value:?} is not a number"))
}

/// Checks the format, the version, the metadata's keys, the tensors' names and the checksum;
/// returns the tensors.
fn check_header<'a>(meta: &Meta, file: &SafeTensors<'a>) -> Parsed<Tensors<'a>> {
    if meta.get(&"format".to_string()).map(|v| v.as_str()) != Some(FORMAT) {
        return Err(format!(
            "not a hopfield memory file (a safetensors file without format = {FORMAT:?} in its \
             metadata; tensors: {:?})",
            file.names()
        ));
    }
    let version = entry(meta, "version")?;
    if version != VERSION {
        return Err(format!(
            "format version {version:?}; this build of hopfield reads version {VERSION}"
        ));
    }
    same_names(
        "the header's metadata has the entries",
        meta.keys().map(|k| k.as_str()).collect(),
        &KEYS,
    )?;
    same_names("the file holds the tensors", file.names(), &TENSORS)?;
    let tensors: Tensors = TENSORS
        .iter()
        .map(|&name| Ok((name, file.tensor(name).map_err(|e| e.to_string())?)))
        .collect::<Parsed<_>>()?;
    let stated = entry(meta, "checksum")?;
    let actual = checksum(meta.iter().map(|(k, v)| (*k, *v)), &tensors);
    if stated != actual {
        return Err(format!(
            "checksum mismatch (the header says {stated}, the content gives {actual}): the file \
             is corrupted"
        ));
    }
    Ok(tensors)
}

/// The bytes of tensor `name`, if it has the `dtype` and `shape` expected.
fn tensor<'a>(
    tensors: &Tensors<'a>,
    name: &str,
    dtype: Dtype,
    shape: &[usize],
) -> Parsed<&'a [u8]> {
    let t = &tensors[name];
    if t.dtype() != dtype || t.shape() != shape {
        return Err(format!(
            "tensor {name:?} is {:?} {:?}; expected {dtype:?} {shape:?}",
            t.dtype(),
            t.shape()
        ));
    }
    Ok(t.data())
}

/// The `n × dim` patterns, as the precision stored them, checked finite.
fn decode_rows(tensors: &Tensors, precision: Precision, n: usize, dim: usize) -> Parsed<Vec<f32>> {
    let rows: Vec<f32> = match precision {
        Precision::F32 => tensor(tensors, "patterns", Dtype::F32, &[n, dim])?
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().expect("4 bytes")))
            .collect(),
        Precision::F16 => tensor(tensors, "patterns", Dtype::F16, &[n, dim])?
            .chunks_exact(2)
            .map(|b| f16::from_le_bytes([b[0], b[1]]).to_f32())
            .collect(),
    };
    check_finite("patterns", &rows, dim).map_err(|e| e.to_string())?;
    Ok(rows)
}

fn u64s(data: &[u8]) -> Vec<u64> {
    data.chunks_exact(8)
        .map(|b| u64::from_le_bytes(b.try_into().expect("8 bytes")))
        .collect()
}

/// The `n` optional labels: flags, end offsets and the concatenated UTF-8 text.
fn decode_labels(tensors: &Tensors, n: usize) -> Parsed<Vec<Option<String>>> {
    let has_label = tensor(tensors, "has_label", Dtype::U8, &[n])?;
    let ends = u64s(tensor(tensors, "label_ends", Dtype::U64, &[n])?);
    let text = &tensors["label_bytes"];
    if text.dtype() != Dtype::U8 {
        return Err(format!(
            "tensor \"label_bytes\" is {:?}; expected U8",
            text.dtype()
        ));
    }
    let text = text.data();
    let mut labels = Vec::with_capacity(n);
    let mut start = 0usize;
    for (i, (&flag, &end)) in has_label.iter().zip(&ends).enumerate() {
        let end = usize::try_from(end).unwrap_or(usize::MAX);
        if end < start || end > text.len() || flag > 1 || (flag == 0 && end != start) {
            return Err(format!("the label of pattern {i} is malformed"));
        }
        labels.push(if flag == 1 {
            let label = std::str::from_utf8(&text[start..end])
                .map_err(|_| format!("the label of pattern {i} is not UTF-8"))?;
            Some(label.to_string())
        } else {
            None
        });
        start = end;
    }
    if start != text.len() {
        return Err(format!(
            "{} bytes of label text belong to no pattern",
            text.len() - start
        ));
    }
    Ok(labels)
}

/// Fails unless `got` and `expected` hold the same names, in any order.
fn same_names(
    what: &str,
    mut got: Vec<&str>,
    expected: &[&str],
) -> std::result::Result<(), String> {
    let mut expected = expected.to_vec();
    got.sort_unstable();
    expected.sort_unstable();
    if got != expected {
        return Err(format!("{what} {got:?}; expected {expected:?}"));
    }
    Ok(())
}

/// What a safetensors parse error means for a user.
fn describe(e: &SafeTensorError, len: usize) -> String {
    match e {
        SafeTensorError::HeaderTooSmall => {
            format!("not a memory file: {len} bytes is too short for a safetensors header")
        }
        SafeTensorError::InvalidHeaderLength | SafeTensorError::MetadataIncompleteBuffer => {
            format!(
                "truncated or corrupted: its header describes more or fewer bytes than the file's \
                 {len} ({e})"
            )
        }
        _ => format!("not a valid safetensors file, or a corrupted one ({e})"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_interrupted_write_leaves_the_target_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        write_atomically(&path, b"old").unwrap();
        let temp = write_temp(&path, b"new, never renamed").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"old");
        assert_eq!(temp.parent(), path.parent());
        write_atomically(&path, b"newer").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"newer");
    }

    #[test]
    fn unwritable_places_are_io_errors() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no/such/dir/f");
        assert!(matches!(
            write_atomically(&missing, b"x"),
            Err(Error::Io { op: FileOp::CreateTemp, ref source, .. })
                if source.kind() == ErrorKind::NotFound
        ));
        assert!(matches!(
            write_atomically(dir.path(), b"x"),
            Err(Error::Io {
                op: FileOp::Rename,
                ..
            })
        ));
    }
}
