//! Reading device buffers back: copies recorded into a pooled staging buffer, mapped once the
//! submission that holds them has run.

use std::sync::Mutex;

use super::context::GpuContext;
use super::poller::Poller;
use super::timer::Timer;
use crate::error::{Error, Result};

/// Staging buffers kept for reuse, at most this many.
const POOL: usize = 4;

/// Mapped-read buffers that earlier reads gave back.
#[derive(Default)]
pub(crate) struct StagingPool(Mutex<Vec<wgpu::Buffer>>);

impl StagingPool {
    fn take(&self, ctx: &GpuContext, bytes: u64) -> wgpu::Buffer {
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        // Reuse a buffer that fits without hoarding one much larger than needed.
        if let Some(i) = pool
            .iter()
            .position(|b| b.size() >= bytes && b.size() <= bytes.saturating_mul(4).max(1 << 16))
        {
            return pool.swap_remove(i);
        }
        drop(pool);
        ctx.buffer(&wgpu::BufferDescriptor {
            label: Some("staging"),
            size: bytes.next_power_of_two().max(1 << 12),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    fn give(&self, buffer: wgpu::Buffer) {
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL {
            pool.push(buffer);
        }
    }
}

impl GpuContext {
    /// Ends `encoder` (with `timer`'s stop stamp), submits it and reads `parts` back, the
    /// timestamps last; `what` names the work in an error.
    pub(crate) async fn submit_and_read(
        &self,
        what: &str,
        mut encoder: wgpu::CommandEncoder,
        timer: Option<&Timer>,
        parts: &[(&wgpu::Buffer, u64)],
    ) -> Result<Vec<Vec<f32>>> {
        let (staged, done) = self.scoped(what, || {
            let mut all = parts.to_vec();
            if let Some(t) = timer {
                all.push(t.stop(&mut encoder));
            }
            let staged = self.stage_reads(&mut encoder, &all);
            self.submit([encoder.finish()]);
            staged
        });
        done.await?;
        self.finish_read(staged).await
    }

    /// Records copies of `parts` (buffer, byte length, each read from offset 0) into one staging
    /// buffer; [`finish_read`](Self::finish_read) maps it after the encoder is submitted.
    pub(crate) fn stage_reads(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        parts: &[(&wgpu::Buffer, u64)],
    ) -> Staged {
        let total: u64 = parts.iter().map(|p| p.1).sum();
        let staging = self.staging.take(self, total.max(4));
        let mut offset = 0;
        let mut ranges = Vec::with_capacity(parts.len());
        for (buf, len) in parts {
            if *len > 0 {
                encoder.copy_buffer_to_buffer(buf, 0, &staging, offset, *len);
            }
            ranges.push((offset, *len));
            offset += len;
        }
        Staged { staging, ranges }
    }

    /// Maps staged data after its submission and returns each part's f32 values.
    pub(crate) async fn finish_read(&self, staged: Staged) -> Result<Vec<Vec<f32>>> {
        let (tx, rx) = futures_intrusive::channel::shared::oneshot_channel();
        staged
            .staging
            .slice(..)
            .map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
        if !self.poller.as_ref().is_some_and(Poller::request) {
            // No poller thread: drive the device from this thread instead.
            let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
        }
        let mapped = rx.receive().await;
        self.check_alive()?;
        match mapped {
            Some(Ok(())) => {}
            Some(Err(e)) => return Err(Error::Gpu(format!("reading results back: {e}"))),
            None => return Err(Error::DeviceLost("readback was dropped".into())),
        }
        // Only what the caller asked for counts, not the staging buffer's rounding.
        let bytes: u64 = staged.ranges.iter().map(|r| r.1).sum();
        self.counters.read_back(bytes);
        let out = {
            let view = staged
                .staging
                .slice(..)
                .get_mapped_range()
                .map_err(|e| Error::Gpu(format!("mapping results: {e}")))?;
            staged
                .ranges
                .iter()
                .map(|&(o, len)| {
                    bytemuck::cast_slice(&view[o as usize..(o + len) as usize]).to_vec()
                })
                .collect()
        };
        staged.staging.unmap();
        self.staging.give(staged.staging);
        Ok(out)
    }
}

/// Copies recorded into a staging buffer, waiting for their submission to be mapped.
pub(crate) struct Staged {
    staging: wgpu::Buffer,
    ranges: Vec<(u64, u64)>,
}
