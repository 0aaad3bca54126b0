//! `shaders/threshold*.wgsl`: sparsemax and α-entmax of each row of a block's scores, in place,
//! with each row's conjugate Ψ* in `lse` — the threshold τ found on the device by bisection and
//! a last Newton step (see `threshold.wgsl`), with no sort and nothing read back.

use super::buffers::binding;
use super::kernel::{Dev, Kernel};
use super::plan::WORD;
use super::programs::{self, Variant};
use super::recorder::{bindings, Recorder};
use super::softmax::Softmax;
use super::GpuContext;

/// Bisection steps before the Newton step. The interval starts at most 1 wide, so 24 halvings
/// take it below 6e-8, a rounding of any score of magnitude ≥ 1; the Newton step then makes
/// τ exact for sparsemax and corrects entmax's to second order. Steps past a row's last
/// rounding change nothing (`threshold_step.wgsl`).
pub(crate) const BISECTIONS: usize = 24;
/// Bytes of one row's interval (lo, hi) and of one segment's sums.
const INTERVAL_BYTES: u64 = 2 * WORD;
const SUMS_BYTES: u64 = 4 * WORD;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    segments: u32,
    at_lo: u32,
    scale: f32,
    q: f32,
    alpha: f32,
    _pad: f32,
}

bindings!(BoundsBindings { stats, interval });
bindings!(MassBindings {
    scores,
    interval,
    sums
});
bindings!(StepBindings { sums, interval });
bindings!(ApplyBindings {
    scores,
    interval,
    sums,
    lse
});

bindings!(
    /// What a threshold separation reads and writes: the scores (made weights in place),
    /// softmax_stats' per-segment statistics of them, and each row's Ψ*.
    ThresholdBindings { scores, stats, lse }
);

/// The search's state for blocks of up to `rows` rows of `n` scores.
pub(crate) struct ThresholdBuffers {
    interval: wgpu::Buffer,
    sums: wgpu::Buffer,
}

impl ThresholdBuffers {
    pub(crate) fn new(ctx: &GpuContext, rows: usize, n: usize) -> Self {
        let segments = Softmax::segments(n) as u64;
        ThresholdBuffers {
            interval: ctx.storage("threshold intervals", rows as u64 * INTERVAL_BYTES),
            sums: ctx.storage(
                "threshold segment sums",
                rows as u64 * segments * SUMS_BYTES,
            ),
        }
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.interval.size() + self.sums.size()
    }
}

pub(crate) struct Threshold {
    bounds: Kernel,
    mass: Kernel,
    step: Kernel,
    apply: Kernel,
}

impl Threshold {
    /// `subgroups`: reduce with subgroup operations (the device must have `SUBGROUP`).
    pub(crate) fn new(device: Dev<'_>, subgroups: bool) -> Self {
        let variant = Variant::reductions(subgroups);
        Threshold {
            bounds: Kernel::new(device, &programs::THRESHOLD_BOUNDS, variant),
            mass: Kernel::new(device, &programs::THRESHOLD_MASS, variant),
            step: Kernel::new(device, &programs::THRESHOLD_STEP, variant),
            apply: Kernel::new(device, &programs::THRESHOLD_APPLY, variant),
        }
    }

    /// Records α-entmax (sparsemax at α = 2) of `rows` rows of `n` scores in place, Ψ* into
    /// `b.lse`; `b.stats` must hold softmax_stats' statistics of these scores. Rows and
    /// segments are one dispatch dimension each (`plan::blocks` sees to it).
    pub(crate) fn encode(
        &self,
        rec: &mut Recorder<'_>,
        (rows, n): (usize, usize),
        alpha: f32,
        b: ThresholdBindings<'_>,
        buffers: &ThresholdBuffers,
    ) {
        let segments = Softmax::segments(n);
        let scale = alpha - 1.0;
        let search = Params {
            rows: rows as u32,
            cols: n as u32,
            segments: segments as u32,
            at_lo: 0,
            scale,
            q: 1.0 / scale,
            alpha,
            _pad: 0.0,
        };
        let last = Params { at_lo: 1, ..search };
        let interval = binding(&buffers.interval, rows as u64 * INTERVAL_BYTES);
        let sums = binding(&buffers.sums, (rows * segments) as u64 * SUMS_BYTES);
        let (per_row, per_segment) = ((rows as u32, 1, 1), (segments as u32, rows as u32, 1));
        rec.poison(&buffers.interval, rows as u64 * INTERVAL_BYTES);
        rec.poison(&buffers.sums, (rows * segments) as u64 * SUMS_BYTES);
        let bounds = BoundsBindings {
            stats: b.stats,
            interval: interval.clone(),
        };
        rec.dispatch(&self.bounds, &search, &bounds, per_row);
        let mass = MassBindings {
            scores: b.scores.clone(),
            interval: interval.clone(),
            sums: sums.clone(),
        };
        let step = StepBindings {
            sums: sums.clone(),
            interval: interval.clone(),
        };
        for _ in 0..BISECTIONS {
            rec.dispatch(&self.mass, &search, &mass, per_segment);
            rec.dispatch(&self.step, &search, &step, per_row);
        }
        rec.dispatch(&self.mass, &last, &mass, per_segment);
        let apply = ApplyBindings {
            scores: b.scores,
            interval,
            sums,
            lse: b.lse,
        };
        rec.dispatch(&self.apply, &search, &apply, per_segment);
    }
}
