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
    /// word and widened in the kernels with `unpack2x16float`, which every adapter has, so no
    /// `SHADER_F16` feature is needed. The CPU path rounds to the same values and keeps them
    /// as f32.
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

/// 32-bit words one stored row takes: f16 rows are padded to a whole word.
pub(crate) fn row_words(precision: Precision, dim: usize) -> usize {
    match precision {
        Precision::F32 => dim,
        Precision::F16 => dim.div_ceil(2),
    }
}

/// Rows as the device stores them: f32 as is, f16 rounded and packed two to a word (low half
/// first, as `unpack2x16float` reads them), each row padded with a zero half when d is odd.
pub(crate) fn encode_rows(precision: Precision, data: &[f32], dim: usize) -> Vec<u32> {
    match precision {
        Precision::F32 => bytemuck::cast_slice(data).to_vec(),
        Precision::F16 => {
            let mut out = Vec::with_capacity(data.len() / dim * row_words(precision, dim));
            for row in data.chunks_exact(dim) {
                for pair in row.chunks(2) {
                    let lo = f16::from_f32(pair[0]).to_bits() as u32;
                    let hi = pair
                        .get(1)
                        .map_or(0, |&v| f16::from_f32(v).to_bits() as u32);
                    out.push(lo | hi << 16);
                }
            }
            out
        }
    }
}

/// The inverse of [`encode_rows`].
pub(crate) fn decode_rows(precision: Precision, words: &[u32], dim: usize) -> Vec<f32> {
    match precision {
        Precision::F32 => bytemuck::cast_slice(words).to_vec(),
        Precision::F16 => {
            let per_row = row_words(precision, dim);
            let mut out = Vec::with_capacity(words.len() / per_row * dim);
            for row in words.chunks_exact(per_row) {
                let halves = row
                    .iter()
                    .flat_map(|&w| [w as u16, (w >> 16) as u16])
                    .map(|h| f16::from_bits(h).to_f32());
                out.extend(halves.take(dim));
            }
            out
        }
    }
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
        assert_eq!(words.len(), 4);
        let back = decode_rows(Precision::F16, &words, 3);
        let rounded = round_to(Precision::F16, &data, 3).unwrap();
        assert_eq!(back, rounded);
        assert!((back[3] - 0.1).abs() < 1e-4 && back[3] != 0.1);
    }

    #[test]
    fn f16_refuses_values_it_cannot_hold() {
        let err = round_to(Precision::F16, &[1.0, 70000.0], 2).unwrap_err();
        assert!(err.to_string().contains("row 0, column 1"), "{err}");
    }
}
