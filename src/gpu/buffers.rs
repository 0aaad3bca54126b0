//! Stored patterns on the device, in chunks: buffers of at most `chunk_rows` rows each, every
//! chunk but the last full, so row i lives in chunk i / chunk_rows. A memory past the device's
//! storage-binding limit is just more chunks; the kernels run per chunk and merge exactly.
//!
//! The last chunk grows by doubling; rows already on the device move by device-side copies, so
//! nothing is uploaded twice. Every mutation builds its new chunk list first and commits it
//! only once the device reported no error, so a failed call leaves the patterns as they were.

use std::num::NonZeroU64;
use std::sync::Arc;

use super::workspace::Workspaces;
use super::GpuContext;
use crate::error::{Error, Result};
use crate::storage::{decode_rows, row_words, MemoryOptions, Precision};

use crate::storage::WORD_BYTES as WORD;

/// A binding of the first `bytes` of `buffer`.
pub(crate) fn binding(buffer: &wgpu::Buffer, bytes: u64) -> wgpu::BufferBinding<'_> {
    wgpu::BufferBinding {
        buffer,
        offset: 0,
        size: NonZeroU64::new(bytes.max(WORD)),
    }
}

/// A chunk's buffer is shared by every clone of its memory (see
/// [`Memory::snapshot`](crate::Memory::snapshot)); one whose `Arc` is shared is never written,
/// so a mutation copies it to a fresh buffer first.
#[derive(Clone)]
struct Chunk {
    buffer: Arc<wgpu::Buffer>,
    capacity: usize,
}

impl Chunk {
    fn shared(&self) -> bool {
        Arc::strong_count(&self.buffer) > 1
    }
}

/// One chunk as the kernels see it.
pub(crate) struct ChunkView<'a> {
    /// Index of the chunk's first row in the memory.
    pub first: usize,
    /// Rows in this chunk.
    pub rows: usize,
    pub binding: wgpu::BufferBinding<'a>,
}

#[derive(Clone)]
pub(crate) struct PatternStore {
    chunks: Vec<Chunk>,
    len: usize,
    dim: usize,
    precision: Precision,
    chunk_rows: usize,
    /// Retrieval scratch and bind groups kept between calls over these chunks.
    workspaces: Workspaces,
}

impl PatternStore {
    /// An empty store; fails if `options` ask for chunks the device cannot bind or too small
    /// for one row.
    pub(crate) fn new(ctx: &GpuContext, dim: usize, options: &MemoryOptions) -> Result<Self> {
        if options.precision == Precision::F16 && !ctx.info.features.f16_storage {
            return Err(Error::InvalidOptions(format!(
                "{} cannot widen f16 to f32 in shaders (no SHADER_F16_IN_F32 downlevel \
                 capability): store the patterns as f32",
                ctx.info.name
            )));
        }
        let limit = ctx.max_binding_bytes();
        let row_bytes = row_words(options.precision, dim) as u64 * WORD;
        let chunk_bytes = match options.max_chunk_bytes {
            Some(b) if b > limit => {
                return Err(Error::InvalidOptions(format!(
                    "max_chunk_bytes = {b} is over this device's storage-binding limit of \
                     {limit} bytes"
                )))
            }
            Some(b) if b < row_bytes => {
                return Err(Error::InvalidOptions(format!(
                    "max_chunk_bytes = {b} cannot hold one pattern ({row_bytes} bytes as {})",
                    options.precision
                )))
            }
            Some(b) => b,
            None if row_bytes > limit => {
                return Err(Error::OverLimit {
                    what: format!("one pattern of dimension {dim} ({})", options.precision),
                    needed: row_bytes,
                    limit,
                    limit_name: "max_storage_buffer_binding_size",
                })
            }
            None => limit,
        };
        log::debug!(
            "patterns of d={dim} as {}: {} rows ({chunk_bytes} bytes) per chunk",
            options.precision,
            chunk_bytes / row_bytes
        );
        Ok(PatternStore {
            chunks: Vec::new(),
            len: 0,
            dim,
            precision: options.precision,
            chunk_rows: (chunk_bytes / row_bytes) as usize,
            workspaces: Workspaces::default(),
        })
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// What retrievals over these chunks keep between calls.
    pub(crate) fn workspaces(&self) -> &Workspaces {
        &self.workspaces
    }

    pub(crate) fn precision(&self) -> Precision {
        self.precision
    }

    /// 32-bit words per stored row.
    pub(crate) fn row_words(&self) -> usize {
        row_words(self.precision, self.dim)
    }

    fn row_bytes(&self) -> u64 {
        self.row_words() as u64 * WORD
    }

    /// Chunks holding rows, in row order.
    pub(crate) fn chunks(&self) -> impl Iterator<Item = ChunkView<'_>> {
        let chunk_rows = self.chunk_rows;
        let len = self.len;
        let row_bytes = self.row_bytes();
        self.chunks
            .iter()
            .enumerate()
            .map(move |(i, c)| (i * chunk_rows, c))
            .take_while(move |(first, _)| *first < len)
            .map(move |(first, c)| {
                let rows = chunk_rows.min(len - first);
                ChunkView {
                    first,
                    rows,
                    binding: binding(&c.buffer, rows as u64 * row_bytes),
                }
            })
    }

    /// Number of chunks holding rows.
    pub(crate) fn chunk_count(&self) -> usize {
        self.len.div_ceil(self.chunk_rows)
    }

    /// Rows one chunk holds.
    pub(crate) fn chunk_rows(&self) -> usize {
        self.chunk_rows
    }

    /// A fresh chunk for `rows` rows now: full size if it will be full, else room to double.
    fn new_chunk(&self, ctx: &GpuContext, rows: usize) -> Chunk {
        let capacity = if rows >= self.chunk_rows {
            self.chunk_rows
        } else {
            rows.max(16).min(self.chunk_rows)
        };
        Chunk {
            buffer: Arc::new(ctx.storage("patterns", capacity as u64 * self.row_bytes())),
            capacity,
        }
    }

    /// Appends encoded rows (see [`crate::storage::encode_rows`]), already validated.
    pub(crate) async fn append(&mut self, ctx: &GpuContext, words: &[u32]) -> Result<()> {
        ctx.check_alive()?;
        let per_row = self.row_words();
        let added = words.len() / per_row;
        // Taken before `chunks` below clones every Arc once more.
        let shared: Vec<bool> = self.chunks.iter().map(Chunk::shared).collect();
        let (chunks, done) = ctx.scoped("storing patterns", || {
            let mut chunks = self.chunks.clone();
            let mut encoder = ctx.encoder("append");
            let mut at = self.len;
            let mut src = 0;
            while src < added {
                let (ci, local) = (at / self.chunk_rows, at % self.chunk_rows);
                let take = (added - src).min(self.chunk_rows - local);
                if ci == chunks.len() {
                    chunks.push(self.new_chunk(ctx, take));
                } else if local + take > chunks[ci].capacity || shared[ci] {
                    // Doubling keeps appends amortised O(1) per row; the chunk size caps it. A
                    // shared chunk that has room is copied at its size.
                    let capacity = if local + take > chunks[ci].capacity {
                        (local + take)
                            .max(chunks[ci].capacity * 2)
                            .min(self.chunk_rows)
                    } else {
                        chunks[ci].capacity
                    };
                    let grown = ctx.storage("patterns", capacity as u64 * self.row_bytes());
                    if local > 0 {
                        let kept = local as u64 * self.row_bytes();
                        encoder.copy_buffer_to_buffer(&chunks[ci].buffer, 0, &grown, 0, kept);
                    }
                    chunks[ci] = Chunk {
                        buffer: Arc::new(grown),
                        capacity,
                    };
                }
                // Disjoint from the rows copied above, so the order of write and copy is
                // immaterial.
                ctx.write(
                    &chunks[ci].buffer,
                    local as u64 * self.row_bytes(),
                    bytemuck::cast_slice(&words[src * per_row..(src + take) * per_row]),
                );
                src += take;
                at += take;
            }
            ctx.submit([encoder.finish()]);
            chunks
        });
        done.await?;
        self.workspaces.clear();
        self.chunks = chunks;
        self.len += added;
        Ok(())
    }

    /// Overwrites row `index` (< len, validated by the caller) with one encoded row; a shared
    /// chunk is copied to a fresh buffer first.
    pub(crate) async fn replace(
        &mut self,
        ctx: &GpuContext,
        index: usize,
        words: &[u32],
    ) -> Result<()> {
        ctx.check_alive()?;
        let ci = index / self.chunk_rows;
        let old = &self.chunks[ci];
        let (chunk, done) = ctx.scoped("replacing a pattern", || {
            let mut encoder = ctx.encoder("replace");
            let chunk = if old.shared() {
                let rows = self.chunk_rows.min(self.len - ci * self.chunk_rows);
                let copy = ctx.storage("patterns", old.capacity as u64 * self.row_bytes());
                encoder.copy_buffer_to_buffer(
                    &old.buffer,
                    0,
                    &copy,
                    0,
                    rows as u64 * self.row_bytes(),
                );
                Chunk {
                    buffer: Arc::new(copy),
                    capacity: old.capacity,
                }
            } else {
                old.clone()
            };
            // `write_buffer` lands before the submitted copy, so the row goes in afterwards.
            ctx.submit([encoder.finish()]);
            ctx.write(
                &chunk.buffer,
                (index % self.chunk_rows) as u64 * self.row_bytes(),
                bytemuck::cast_slice(words),
            );
            ctx.submit([]);
            chunk
        });
        done.await?;
        // A row overwritten in place changes no buffer; a copied chunk is a new one to bind.
        if !Arc::ptr_eq(&chunk.buffer, &self.chunks[ci].buffer) {
            self.workspaces.clear();
        }
        self.chunks[ci] = chunk;
        Ok(())
    }

    /// Removes the rows in `sorted` (ascending, unique, < len) by copying the kept runs into
    /// fresh chunks on the device.
    pub(crate) async fn remove(&mut self, ctx: &GpuContext, sorted: &[usize]) -> Result<()> {
        ctx.check_alive()?;
        let kept = self.len - sorted.len();
        let (chunks, done) = ctx.scoped("removing patterns", || {
            let mut chunks = Vec::with_capacity(kept.div_ceil(self.chunk_rows));
            let mut left = kept;
            while left > 0 {
                let rows = left.min(self.chunk_rows);
                chunks.push(self.new_chunk(ctx, rows));
                left -= rows;
            }
            let mut encoder = ctx.encoder("remove");
            let mut dst = 0usize;
            let mut start = 0usize;
            for end in sorted.iter().copied().chain(std::iter::once(self.len)) {
                // Copy the kept run [start, end) piecewise, never crossing a chunk boundary
                // of the source or of the destination.
                let mut src = start;
                while src < end {
                    let (sc, sl) = (src / self.chunk_rows, src % self.chunk_rows);
                    let (dc, dl) = (dst / self.chunk_rows, dst % self.chunk_rows);
                    let n = (end - src)
                        .min(self.chunk_rows - sl)
                        .min(self.chunk_rows - dl);
                    encoder.copy_buffer_to_buffer(
                        &self.chunks[sc].buffer,
                        sl as u64 * self.row_bytes(),
                        &chunks[dc].buffer,
                        dl as u64 * self.row_bytes(),
                        n as u64 * self.row_bytes(),
                    );
                    src += n;
                    dst += n;
                }
                start = end + 1;
            }
            ctx.submit([encoder.finish()]);
            chunks
        });
        done.await?;
        self.workspaces.clear();
        self.chunks = chunks;
        self.len = kept;
        Ok(())
    }

    /// Forgets every row; the first chunk is kept for reuse unless a clone still reads it.
    pub(crate) fn clear(&mut self) {
        self.workspaces.clear();
        self.chunks.truncate(1);
        self.chunks.retain(|c| !c.shared());
        self.len = 0;
    }

    /// Reads the stored rows back as f32 (f16 rows widened exactly).
    pub(crate) async fn read(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        ctx.check_alive()?;
        if self.len == 0 {
            return Ok(Vec::new());
        }
        let parts: Vec<(&wgpu::Buffer, u64)> = self
            .chunks()
            .map(|c| (c.binding.buffer, c.rows as u64 * self.row_bytes()))
            .collect();
        let encoder = ctx.encoder("read patterns");
        let words: Vec<f32> = ctx
            .submit_and_read("reading patterns back", encoder, None, &parts)
            .await?
            .concat();
        Ok(decode_rows(
            self.precision,
            bytemuck::cast_slice(&words),
            self.dim,
        ))
    }
}
