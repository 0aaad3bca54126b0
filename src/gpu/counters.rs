//! What a device has been asked to do since it opened: objects created, submissions, bytes
//! each way. Every place the crate creates a buffer, bind group or pipeline, submits, writes
//! or reads goes through a context method that counts it, so structural costs can be asserted
//! in tests and reported per call by the benchmark (timing them on a software adapter would
//! say nothing).

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::device::DeviceStats;

#[derive(Default)]
pub(crate) struct Counters {
    buffers: AtomicU64,
    bind_groups: AtomicU64,
    pipelines: AtomicU64,
    submissions: AtomicU64,
    uploaded: AtomicU64,
    read_back: AtomicU64,
}

impl Counters {
    pub(crate) fn buffer(&self) {
        self.buffers.fetch_add(1, Relaxed);
    }

    pub(crate) fn bind_group(&self) {
        self.bind_groups.fetch_add(1, Relaxed);
    }

    pub(crate) fn pipeline(&self) {
        self.pipelines.fetch_add(1, Relaxed);
    }

    pub(crate) fn submission(&self) {
        self.submissions.fetch_add(1, Relaxed);
    }

    pub(crate) fn upload(&self, bytes: u64) {
        self.uploaded.fetch_add(bytes, Relaxed);
    }

    pub(crate) fn read_back(&self, bytes: u64) {
        self.read_back.fetch_add(bytes, Relaxed);
    }

    /// The counts now. Each is read on its own: a snapshot taken while another thread works
    /// on the device may split that thread's call.
    pub(crate) fn snapshot(&self) -> DeviceStats {
        DeviceStats {
            buffers_created: self.buffers.load(Relaxed),
            bind_groups_created: self.bind_groups.load(Relaxed),
            pipelines_created: self.pipelines.load(Relaxed),
            submissions: self.submissions.load(Relaxed),
            bytes_uploaded: self.uploaded.load(Relaxed),
            bytes_read_back: self.read_back.load(Relaxed),
        }
    }

    pub(crate) fn reset(&self) {
        for c in [
            &self.buffers,
            &self.bind_groups,
            &self.pipelines,
            &self.submissions,
            &self.uploaded,
            &self.read_back,
        ] {
            c.store(0, Relaxed);
        }
    }
}
