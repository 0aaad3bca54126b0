//! `shaders/weighted_sum.wgsl` and `shaders/sum_splits.wgsl`: new states O = P X, one chunk of
//! patterns per call, split along N into runs of [`RUN`] patterns.

use super::buffers::binding;
use super::kernel::{groups_for, Dev, Kernel};
use super::programs::{self, Variant};
use super::recorder::{bindings, Recorder};
use super::similarity::Columns;
use super::GpuContext;
use crate::storage::Precision;

const TILE: usize = 64;
/// Patterns one workgroup sums: 2048 / 16 = 128 trips of the shader's tile loop, each counted
/// with its inner loop (about 17) by a software adapter's loop limiter: far below the 65,535
/// at which Mesa's llvmpipe silently stops a loop.
pub(crate) const RUN: usize = 2048;
/// Runs one sum_splits dispatch adds (its per-invocation loop).
const MAX_RUNS: usize = 256;
/// The run partials of one dispatch are kept below this, or one run's worth when that is more.
const PART_BYTES: u64 = 64 << 20;
use crate::storage::WORD_BYTES as WORD;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    n: u32,
    dim: u32,
    row_words: u32,
    ld: u32,
    col_offset: u32,
    first: u32,
    split_len: u32,
    accumulate: u32,
    _pad: [u32; 3],
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct SumParams {
    elems: u32,
    splits: u32,
    accumulate: u32,
    groups_x: u32,
}

pub(crate) struct WeightedSum(Kernel);

/// Adds run partials into states (`shaders/sum_splits.wgsl`); precision-independent.
pub(crate) struct SumSplits(Kernel);

bindings!(
    /// `states (+)= weights · patterns`; `states` is a run partial where the sum is split.
    WeightedSumBindings {
        weights,
        patterns,
        states
    }
);

bindings!(SumSplitsBindings { part, states });

/// One weighted sum over a chunk of patterns.
pub(crate) struct WeightedSumJob<'a> {
    /// Rows of states, patterns in the chunk, features, words per stored row.
    pub shape: (usize, usize, usize, usize),
    /// Where the chunk's weights are in the weight matrix.
    pub cols: Columns,
    /// Add to the states (every chunk after the first) instead of overwriting them.
    pub accumulate: bool,
    /// The weights, the chunk and the `rows × dim` states.
    pub b: WeightedSumBindings<'a>,
    /// Scratch of [`WeightedSum::part_bytes`] for the run partials.
    pub part: &'a wgpu::Buffer,
}

impl WeightedSum {
    pub(crate) fn new(device: Dev<'_>, precision: Precision) -> Self {
        WeightedSum(Kernel::new(
            device,
            &programs::WEIGHTED_SUM,
            Variant::patterns(precision),
        ))
    }

    /// Runs of partials one dispatch writes for `rows × dim` states: at least one (whose
    /// partial is the size of the states, which fit a binding).
    fn runs_per_dispatch(ctx: &GpuContext, rows: usize, dim: usize) -> usize {
        let per_run = (rows * dim) as u64 * WORD;
        let budget = PART_BYTES.min(ctx.max_binding_bytes());
        ((budget / per_run.max(1)) as usize).clamp(1, MAX_RUNS)
    }

    /// Scratch bytes for the run partials of `rows × dim` states over chunks of at most
    /// `chunk_rows` patterns (a chunk of one run writes the states directly).
    pub(crate) fn part_bytes(ctx: &GpuContext, rows: usize, dim: usize, chunk_rows: usize) -> u64 {
        let runs = chunk_rows.div_ceil(RUN);
        if runs <= 1 {
            return WORD;
        }
        (runs.min(Self::runs_per_dispatch(ctx, rows, dim)) * rows * dim) as u64 * WORD
    }

    /// Records `states (+)= weights[rows, cols] · chunk[n × dim]`: a chunk of one run in one
    /// dispatch, a longer one in dispatches of runs whose partials `sum_splits` adds.
    pub(crate) fn encode(&self, rec: &mut Recorder<'_>, job: WeightedSumJob<'_>) {
        let (rows, n, dim, row_words) = job.shape;
        let mut params = Params {
            rows: rows as u32,
            n: n as u32,
            dim: dim as u32,
            row_words: row_words as u32,
            ld: job.cols.ld as u32,
            col_offset: job.cols.offset as u32,
            first: 0,
            split_len: RUN as u32,
            accumulate: u32::from(job.accumulate),
            _pad: [0; 3],
        };
        let groups = (groups_for(dim, TILE), groups_for(rows, TILE));
        let runs = n.div_ceil(RUN);
        if runs <= 1 {
            rec.dispatch(&self.0, &params, &job.b, (groups.0, groups.1, 1));
            return;
        }
        let ctx = rec.ctx();
        let per_dispatch = Self::runs_per_dispatch(ctx, rows, dim);
        for (i, first_run) in (0..runs).step_by(per_dispatch).enumerate() {
            let count = (runs - first_run).min(per_dispatch);
            let part_bytes = (count * rows * dim) as u64 * WORD;
            rec.poison(job.part, part_bytes);
            params.first = (first_run * RUN) as u32;
            params.accumulate = 0;
            let into_part = WeightedSumBindings {
                weights: job.b.weights.clone(),
                patterns: job.b.patterns.clone(),
                states: binding(job.part, part_bytes),
            };
            rec.dispatch(
                &self.0,
                &params,
                &into_part,
                (groups.0, groups.1, count as u32),
            );
            ctx.kernels.sum_splits.encode(
                rec,
                (rows * dim, count, job.accumulate || i > 0),
                SumSplitsBindings {
                    part: binding(job.part, part_bytes),
                    states: job.b.states.clone(),
                },
            );
        }
    }
}

impl SumSplits {
    pub(crate) fn new(device: Dev<'_>) -> Self {
        SumSplits(Kernel::new(device, &programs::SUM_SPLITS, Variant::PLAIN))
    }

    /// Records `states (+)= Σ_s part[s]` over `splits` slices of `elems` values.
    fn encode(
        &self,
        rec: &mut Recorder<'_>,
        (elems, splits, accumulate): (usize, usize, bool),
        b: SumSplitsBindings<'_>,
    ) {
        let groups = groups_for(elems, 256);
        let x = groups.min(rec.ctx().limits.max_compute_workgroups_per_dimension);
        let params = SumParams {
            elems: elems as u32,
            splits: splits as u32,
            accumulate: u32::from(accumulate),
            groups_x: x,
        };
        rec.dispatch(&self.0, &params, &b, (x, groups.div_ceil(x), 1));
    }
}
