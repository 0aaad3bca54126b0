//! Device time of a submission, from timestamp queries around its passes.

use std::sync::Mutex;

use super::context::GpuContext;

/// Timers kept for reuse, at most this many.
const POOL: usize = 4;

/// Timers that finished retrievals gave back.
#[derive(Default)]
pub(crate) struct TimerPool(Mutex<Vec<Timer>>);

impl TimerPool {
    fn take(&self) -> Option<Timer> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).pop()
    }

    fn give(&self, timer: Timer) {
        let mut pool = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if pool.len() < POOL {
            pool.push(timer);
        }
    }
}

impl GpuContext {
    /// Timestamps for one retrieval, if asked for and the device has them; reused across
    /// retrievals (see [`give_timer`](Self::give_timer)), so timing adds no allocation.
    pub(crate) fn timer(&self, wanted: bool) -> Option<Timer> {
        let has = self
            .device
            .features()
            .contains(wgpu::Features::TIMESTAMP_QUERY);
        if !(wanted && has) {
            return None;
        }
        if let Some(t) = self.timers.take() {
            return Some(t);
        }
        Some(Timer {
            set: self.device.create_query_set(&wgpu::QuerySetDescriptor {
                label: Some("retrieval timestamps"),
                ty: wgpu::QueryType::Timestamp,
                count: 2,
            }),
            resolved: self.buffer(&wgpu::BufferDescriptor {
                label: Some("resolved timestamps"),
                size: 16,
                usage: wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC,
                mapped_at_creation: false,
            }),
            period_ns: f64::from(self.queue.get_timestamp_period()),
        })
    }

    /// Returns a timer for the next retrieval to use.
    pub(crate) fn give_timer(&self, timer: Timer) {
        self.timers.give(timer);
    }
}

/// Brackets one submission's passes with timestamps: an empty pass writes one at its beginning
/// before the first kernel, another at its end after the last, so only device time is counted.
pub(crate) struct Timer {
    set: wgpu::QuerySet,
    resolved: wgpu::Buffer,
    period_ns: f64,
}

impl Timer {
    fn stamp(&self, encoder: &mut wgpu::CommandEncoder, begin: bool) {
        let (b, e) = if begin {
            (Some(0), None)
        } else {
            (None, Some(1))
        };
        encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some("timestamp"),
            timestamp_writes: Some(wgpu::ComputePassTimestampWrites {
                query_set: &self.set,
                beginning_of_pass_write_index: b,
                end_of_pass_write_index: e,
            }),
        });
    }

    /// Records the start stamp: call on a fresh encoder before any kernel.
    pub(crate) fn start(&self, encoder: &mut wgpu::CommandEncoder) {
        self.stamp(encoder, true);
    }

    /// Records the end stamp and resolves both; returns what to stage for reading.
    pub(crate) fn stop(&self, encoder: &mut wgpu::CommandEncoder) -> (&wgpu::Buffer, u64) {
        self.stamp(encoder, false);
        encoder.resolve_query_set(&self.set, 0..2, &self.resolved, 0);
        (&self.resolved, 16)
    }

    /// The time between the two stamps, from their staged words.
    pub(crate) fn elapsed(&self, words: &[f32]) -> std::time::Duration {
        let w: &[u32] = bytemuck::cast_slice(words);
        let tick = |i: usize| u64::from(w[i]) | u64::from(w[i + 1]) << 32;
        let ticks = tick(2).saturating_sub(tick(0));
        std::time::Duration::from_nanos((ticks as f64 * self.period_ns).round() as u64)
    }
}
