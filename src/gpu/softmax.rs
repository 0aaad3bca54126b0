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
    zero_logit: u32,
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

    /// Records `scores[r, :] ← softmax(scores[r, :])` and `lse[r] = max + ln Σ exp(· − max)`;
    /// with `zero_logit`, softmax₁ (one more score fixed at 0, its weight dropped) and its
    /// ln(1 + Σ exp). `rows` and the segments of a row must not exceed the per-dimension
    /// workgroup limit (`plan::blocks` sees to it).
    pub(crate) fn encode(
        &self,
        rec: &mut Recorder<'_>,
        (rows, n): (usize, usize),
        zero_logit: bool,
        b: SoftmaxBindings<'_>,
    ) {
        let params = Self::params(rows, n, zero_logit);
        let stats = StatsBindings {
            scores: b.scores.clone(),
            stats: b.stats.clone(),
        };
        let groups = (params.segments, rows as u32, 1);
        rec.dispatch(&self.stats, &params, &stats, groups);
        rec.dispatch(&self.apply, &params, &b, groups);
    }

    /// Records only the first pass: each segment's (max, sum of exp) into `b.stats` (the
    /// threshold separations start from the maxima).
    pub(crate) fn encode_stats(
        &self,
        rec: &mut Recorder<'_>,
        (rows, n): (usize, usize),
        b: StatsBindings<'_>,
    ) {
        let params = Self::params(rows, n, false);
        let groups = (params.segments, rows as u32, 1);
        rec.dispatch(&self.stats, &params, &b, groups);
    }

    fn params(rows: usize, n: usize, zero_logit: bool) -> Params {
        Params {
            rows: rows as u32,
            cols: n as u32,
            segments: Self::segments(n) as u32,
            zero_logit: zero_logit.into(),
        }
    }
}
