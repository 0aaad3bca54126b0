//! `shaders/softmax_stats.wgsl` then `shaders/softmax_apply.wgsl`: row-wise stable softmax in
//! place, with each row's log-sum-exp, in segments of [`SEGMENT`] columns so that no invocation
//! walks a whole row.

use super::kernel::{Dev, Kernel};
use super::programs::{self, Variant};
use super::recorder::{bindings, Recorder};

/// Columns per workgroup in both passes (the shaders' `SEG`): 16 per thread.
pub(crate) const SEGMENT: usize = 4096;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    segments: u32,
    _pad: u32,
}

pub(crate) struct Softmax {
    stats: Kernel,
    apply: Kernel,
}

bindings!(
    /// The buffers of one softmax: the scores (normalised in place), the per-segment
    /// statistics (scratch of [`Softmax::stats_bytes`]) and the rows' log-sum-exp.
    SoftmaxBindings { scores, stats, lse }
);

bindings!(
    /// The statistics pass reads the scores and writes the statistics only.
    StatsBindings { scores, stats }
);

impl Softmax {
    /// `subgroups`: reduce with subgroup operations (the device must have `SUBGROUP`).
    pub(crate) fn new(device: Dev<'_>, subgroups: bool) -> Self {
        let variant = Variant::reductions(subgroups);
        Softmax {
            stats: Kernel::new(device, &programs::SOFTMAX_STATS, variant),
            apply: Kernel::new(device, &programs::SOFTMAX_APPLY, variant),
        }
    }

    /// Segments of a row of `n` scores: one workgroup each, along one dispatch dimension.
    pub(crate) fn segments(n: usize) -> usize {
        n.div_ceil(SEGMENT).max(1)
    }

    /// Bytes of the per-segment statistics of `rows` rows of `n` scores.
    pub(crate) fn stats_bytes(rows: usize, n: usize) -> u64 {
        (rows * Self::segments(n) * 8) as u64
    }

    /// Records `scores[r, :] ← softmax(scores[r, :])` and `lse[r] = max + ln Σ exp(· − max)`.
    /// `rows` and the segments of a row must not exceed the per-dimension workgroup limit
    /// (`plan::blocks` sees to it).
    pub(crate) fn encode(
        &self,
        rec: &mut Recorder<'_>,
        (rows, n): (usize, usize),
        b: SoftmaxBindings<'_>,
    ) {
        let segments = Self::segments(n);
        let params = Params {
            rows: rows as u32,
            cols: n as u32,
            segments: segments as u32,
            _pad: 0,
        };
        let groups = (segments as u32, rows as u32, 1);
        let stats = StatsBindings {
            scores: b.scores.clone(),
            stats: b.stats.clone(),
        };
        rec.dispatch(&self.stats, &params, &stats, groups);
        rec.dispatch(&self.apply, &params, &b, groups);
    }
}
