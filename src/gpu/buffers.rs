//! Stored patterns on the device: one buffer with spare capacity, grown geometrically and
//! rearranged with device-side copies, so nothing already uploaded is sent again.
//!
//! Every mutation builds what it needs first and commits (swaps buffers, moves `len`) only once
//! the device reported no error, so a failed call leaves the patterns as they were.

use std::num::NonZeroU64;

use super::GpuContext;
use crate::error::{Error, Result};

const F32: u64 = 4;

pub(crate) struct PatternBuffer {
    buffer: Option<wgpu::Buffer>,
    capacity: usize,
    len: usize,
    dim: usize,
}

/// A binding of the first `bytes` of `buffer`.
pub(crate) fn binding(buffer: &wgpu::Buffer, bytes: u64) -> wgpu::BufferBinding<'_> {
    wgpu::BufferBinding {
        buffer,
        offset: 0,
        size: NonZeroU64::new(bytes.max(F32)),
    }
}

impl PatternBuffer {
    pub(crate) fn new(dim: usize) -> Self {
        PatternBuffer {
            buffer: None,
            capacity: 0,
            len: 0,
            dim,
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }

    fn row_bytes(&self) -> u64 {
        self.dim as u64 * F32
    }

    /// The stored rows as a binding (the memory must not be empty).
    pub(crate) fn binding(&self) -> Option<wgpu::BufferBinding<'_>> {
        let buffer = self.buffer.as_ref().filter(|_| self.len > 0)?;
        Some(binding(buffer, self.len as u64 * self.row_bytes()))
    }

    /// Rows that fit in one binding of this device.
    fn max_rows(&self, ctx: &GpuContext) -> usize {
        (ctx.max_binding_bytes() / self.row_bytes()) as usize
    }

    /// Fails with [`Error::OverLimit`] if `rows` patterns cannot be bound at once.
    fn check_fits(&self, ctx: &GpuContext, rows: usize) -> Result<()> {
        if rows > self.max_rows(ctx) {
            return Err(Error::OverLimit {
                what: format!("{rows} stored patterns of dimension {} (f32)", self.dim),
                needed: rows as u64 * self.row_bytes(),
                limit: ctx.max_binding_bytes(),
                limit_name: "max_storage_buffer_binding_size",
            });
        }
        Ok(())
    }

    /// Appends rows (row-major, already validated), growing the buffer when needed.
    pub(crate) fn append(&mut self, ctx: &GpuContext, rows: &[f32]) -> Result<()> {
        ctx.check_alive()?;
        let needed = self.len + rows.len() / self.dim;
        self.check_fits(ctx, needed)?;
        let (grown, done) = ctx.scoped("storing patterns", || {
            let grown = (needed > self.capacity).then(|| {
                // Doubling keeps appends amortised O(1) per row; the binding limit caps it.
                let capacity = needed
                    .max(self.capacity * 2)
                    .max(16)
                    .min(self.max_rows(ctx));
                (
                    ctx.storage("patterns", capacity as u64 * self.row_bytes()),
                    capacity,
                )
            });
            let target = grown.as_ref().map(|g| &g.0).or(self.buffer.as_ref());
            let target = target.expect("a buffer exists or was just made");
            let mut encoder = ctx.encoder("append");
            if let (Some(_), Some(old)) = (&grown, &self.buffer) {
                let kept = self.len as u64 * self.row_bytes();
                if kept > 0 {
                    encoder.copy_buffer_to_buffer(old, 0, target, 0, kept);
                }
            }
            // Disjoint from the rows copied above, so the order of write and copy is immaterial.
            let at = self.len as u64 * self.row_bytes();
            ctx.queue
                .write_buffer(target, at, bytemuck::cast_slice(rows));
            ctx.queue.submit([encoder.finish()]);
            grown
        });
        pollster::block_on(done)?;
        if let Some((buffer, capacity)) = grown {
            self.buffer = Some(buffer);
            self.capacity = capacity;
        }
        self.len = needed;
        Ok(())
    }

    /// Overwrites row `index` (< len, validated by the caller).
    pub(crate) fn replace(&mut self, ctx: &GpuContext, index: usize, row: &[f32]) -> Result<()> {
        ctx.check_alive()?;
        let buffer = self.buffer.as_ref().expect("index < len implies a buffer");
        let ((), done) = ctx.scoped("replacing a pattern", || {
            ctx.queue.write_buffer(
                buffer,
                index as u64 * self.row_bytes(),
                bytemuck::cast_slice(row),
            );
            ctx.queue.submit([]);
        });
        pollster::block_on(done)
    }

    /// Removes the rows in `sorted` (ascending, unique, < len) by copying the kept runs into a
    /// fresh buffer on the device.
    pub(crate) fn remove(&mut self, ctx: &GpuContext, sorted: &[usize]) -> Result<()> {
        ctx.check_alive()?;
        let Some(old) = &self.buffer else {
            return Ok(());
        };
        let kept_rows = self.len - sorted.len();
        let (fresh, done) = ctx.scoped("removing patterns", || {
            let fresh = ctx.storage("patterns", self.capacity.max(1) as u64 * self.row_bytes());
            let mut encoder = ctx.encoder("remove");
            let mut dst = 0u64;
            let mut start = 0usize;
            for end in sorted.iter().copied().chain(std::iter::once(self.len)) {
                if end > start {
                    let bytes = (end - start) as u64 * self.row_bytes();
                    encoder.copy_buffer_to_buffer(
                        old,
                        start as u64 * self.row_bytes(),
                        &fresh,
                        dst,
                        bytes,
                    );
                    dst += bytes;
                }
                start = end + 1;
            }
            ctx.queue.submit([encoder.finish()]);
            fresh
        });
        pollster::block_on(done)?;
        self.buffer = Some(fresh);
        self.len = kept_rows;
        Ok(())
    }

    /// Forgets every row; the buffer is kept for reuse.
    pub(crate) fn clear(&mut self) {
        self.len = 0;
    }

    /// Reads the stored rows back (row-major).
    pub(crate) async fn read(&self, ctx: &GpuContext) -> Result<Vec<f32>> {
        ctx.check_alive()?;
        let Some(buffer) = self.buffer.as_ref().filter(|_| self.len > 0) else {
            return Ok(Vec::new());
        };
        let bytes = self.len as u64 * self.row_bytes();
        let (staged, done) = ctx.scoped("reading patterns back", || {
            let mut encoder = ctx.encoder("read patterns");
            let staged = ctx.stage_reads(&mut encoder, &[(buffer, bytes)]);
            ctx.queue.submit([encoder.finish()]);
            staged
        });
        done.await?;
        Ok(ctx.finish_read(staged).await?.swap_remove(0))
    }
}
