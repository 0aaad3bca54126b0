//! How a [`Memory`](crate::Memory) stores its patterns: element precision and the size of the
//! device buffers they are split into.

use half::f16;

use crate::error::{Error, Result};

/// The element type patterns are stored in. Arithmetic and accumulation are f32 either way.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Precision {
    /// 4 bytes per element.
    #[default]
    F32,
    /// 2 bytes per element (IEEE binary16, rounded to nearest): half the bytes every retrieval
    /// reads, at a relative rounding error of at most 2⁻¹¹ per element. Values beyond f16's
    /// range (|x| > 65504) are refused. On the GPU the halves are stored packed two to a 32-bit
    /// word and widened in the kernels with `unpack2x16float`, so the `SHADER_F16` feature is
    /// not needed; wgpu's downlevel `SHADER_F16_IN_F32` is (every Vulkan, Metal and DX12
    /// adapter has it; see [`DeviceFeatures::f16_storage`](crate::DeviceFeatures)), and asking
    /// for f16 on an adapter without it is an [`Error::InvalidOptions`]. The CPU path rounds
    /// to the same values and keeps them as f32.
    F16,
}

impl Precision {
    /// Bytes per stored element.
    pub fn bytes(self) -> usize {
        match self {
            Precision::F32 => 4,
            Precision::F16 => 2,
        }
    }

    /// Bytes one stored pattern of dimension `dim` takes on a GPU. Rows are padded with zeros
    /// to a multiple of 4 elements, so the kernels read them 16 (f32) or 8 (f16) bytes at a
    /// time; use this to choose [`MemoryOptions::max_chunk_bytes`].
    ///
    /// ```
    /// use hopfield::Precision;
    /// assert_eq!(Precision::F32.row_bytes(128), 512);
    /// assert_eq!(Precision::F16.row_bytes(5), 16);
    /// ```
    pub fn row_bytes(self, dim: usize) -> u64 {
        (dim.next_multiple_of(4) * self.bytes()) as u64
    }
}

impl std::fmt::Display for Precision {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
        })
    }
}

impl std::str::FromStr for Precision {
    type Err = Error;
    fn from_str(s: &str) -> Result<Precision> {
        match s.to_ascii_lowercase().as_str() {
            "f32" => Ok(Precision::F32),
            "f16" => Ok(Precision::F16),
            _ => Err(Error::InvalidOptions(format!(
                "precision must be f32 or f16, got {s:?}"
            ))),
        }
    }
}

/// How a [`Memory`](crate::Memory) stores its patterns.
///
/// ```
/// use hopfield::{Device, Memory, MemoryOptions, Precision};
/// let options = MemoryOptions::default().precision(Precision::F16).max_chunk_bytes(1 << 20);
/// let memory = Memory::with_options(&Device::cpu(), 64, options)?;
/// assert_eq!(memory.options().precision, Precision::F16);
/// # Ok::<(), hopfield::Error>(())
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct MemoryOptions {
    /// Element type of the stored patterns.
    pub precision: Precision,
    /// Largest device buffer one chunk of patterns may take, in bytes. `None`: the device's
    /// storage-binding limit. Patterns past one chunk go to further chunks, whose partial
    /// results are merged exactly (by log-sum-exp), so the result does not depend on the
    /// chunking. Above the device's limit it is an error. The CPU path keeps one allocation and
    /// only checks that a row fits.
    pub max_chunk_bytes: Option<u64>,
}

impl MemoryOptions {
    /// Store patterns as `precision`.
    pub fn precision(mut self, precision: Precision) -> Self {
        self.precision = precision;
        self
    }

    /// Split the patterns into device buffers of at most `bytes` bytes.
    pub fn max_chunk_bytes(mut self, bytes: u64) -> Self {
        self.max_chunk_bytes = Some(bytes);
        self
    }
}

/// Bytes of the unit every device buffer is counted in: one f32 or u32, or two packed f16s.
pub(crate) const WORD_BYTES: u64 = 4;

/// 32-bit words one stored row takes (see [`Precision::row_bytes`]).
pub(crate) fn row_words(precision: Precision, dim: usize) -> usize {
    (precision.row_bytes(dim) / WORD_BYTES) as usize
}

/// Rows as the device stores them, each padded with zeros to a multiple of 4 elements: f32 as
/// is, f16 rounded and packed two to a word (low half first, as `unpack2x16float` reads them).
pub(crate) fn encode_rows(precision: Precision, data: &[f32], dim: usize) -> Vec<u32> {
    let per_row = row_words(precision, dim);
    let mut out = Vec::with_capacity(data.len() / dim * per_row);
    for row in data.chunks_exact(dim) {
        let start = out.len();
        match precision {
            Precision::F32 => out.extend(row.iter().map(|v| v.to_bits())),
            Precision::F16 => out.extend(row.chunks(2).map(|pair| {
                let lo = u32::from(f16::from_f32(pair[0]).to_bits());
                let hi = pair
                    .get(1)
                    .map_or(0, |&v| u32::from(f16::from_f32(v).to_bits()));
                lo | hi << 16
            })),
        }
        out.resize(start + per_row, 0);
    }
    out
}

/// The inverse of [`encode_rows`].
pub(crate) fn decode_rows(precision: Precision, words: &[u32], dim: usize) -> Vec<f32> {
    let per_row = row_words(precision, dim);
    let mut out = Vec::with_capacity(words.len() / per_row * dim);
    for row in words.chunks_exact(per_row) {
        match precision {
            Precision::F32 => out.extend(row[..dim].iter().map(|&w| f32::from_bits(w))),
            Precision::F16 => out.extend(
                row.iter()
                    .flat_map(|&w| [w as u16, (w >> 16) as u16])
                    .map(|h| f16::from_bits(h).to_f32())
                    .take(dim),
            ),
        }
    }
    out
}

/// The values as `precision` holds them; an error names the first one it cannot hold.
pub(crate) fn round_to(precision: Precision, data: &[f32], dim: usize) -> Result<Vec<f32>> {
    match precision {
        Precision::F32 => Ok(data.to_vec()),
        Precision::F16 => {
            if let Some(i) = data.iter().position(|v| v.abs() > f16::MAX.to_f32()) {
                return Err(Error::InvalidOptions(format!(
                    "pattern value {} at row {}, column {} is beyond the f16 range (±65504); \
                     store these patterns as f32",
                    data[i],
                    i / dim,
                    i % dim
                )));
            }
            Ok(data.iter().map(|&v| f16::from_f32(v).to_f32()).collect())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f16_rows_round_trip_with_odd_dimension() {
        let data = [1.0, -2.5, 3.0, 0.1, 65504.0, -0.0];
        let words = encode_rows(Precision::F16, &data, 3);
        assert_eq!(words.len(), 4, "two rows of 4 halves");
        assert_eq!(words[1] >> 16, 0, "the pad half is zero");
        let back = decode_rows(Precision::F16, &words, 3);
        let rounded = round_to(Precision::F16, &data, 3).unwrap();
        assert_eq!(back, rounded);
        assert!((back[3] - 0.1).abs() < 1e-4 && back[3] != 0.1);
    }

    #[test]
    fn f32_rows_are_padded_to_quads() {
        let data = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0];
        let words = encode_rows(Precision::F32, &data, 5);
        assert_eq!(words.len(), 16);
        assert_eq!(&words[5..8], &[0, 0, 0]);
        assert_eq!(decode_rows(Precision::F32, &words, 5), data);
    }

    #[test]
    fn f16_refuses_values_it_cannot_hold() {
        let err = round_to(Precision::F16, &[1.0, 70000.0], 2).unwrap_err();
        assert!(err.to_string().contains("row 0, column 1"), "{err}");
    }
}
