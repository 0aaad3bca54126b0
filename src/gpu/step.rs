//! One update step recorded into an encoder, on the fused or the unfused path, and the
//! device buffers a block's steps share.

use super::buffers::{binding, PatternStore};
use super::fused::FusedChunk;
use super::merge::MergeBuffers;
use super::plan::{Shape, Splits, WORD};
use super::similarity::Columns;
use super::softmax::{Softmax, SoftmaxBuffers};
use super::weighted_sum::WeightedSumJob;
use super::GpuContext;
use crate::retrieve::RetrieveOptions;

/// Device buffers of one block.
pub(crate) struct Scratch {
    pub states: [wgpu::Buffer; 2],
    pub lse: wgpu::Buffer,
    pub lse_before: wgpu::Buffer,
    pub delta: wgpu::Buffer,
    pub flag: wgpu::Buffer,
    pub work: Work,
}

pub(crate) enum Work {
    Fused {
        splits: Splits,
        ml: wgpu::Buffer,
        part: wgpu::Buffer,
    },
    Unfused {
        scores: wgpu::Buffer,
        /// Per-segment softmax statistics.
        stats: wgpu::Buffer,
        /// Weighted-sum run partials.
        part: wgpu::Buffer,
    },
}

/// Records one update `states[1−cur] ← softmax(β states[cur] Xᵀ) X`, its lse and its change.
#[allow(clippy::too_many_arguments)]
pub(crate) fn encode_step(
    ctx: &GpuContext,
    encoder: &mut wgpu::CommandEncoder,
    store: &PatternStore,
    s: &Scratch,
    shape: Shape,
    opts: &RetrieveOptions,
    cur: usize,
    first: bool,
) {
    let next = 1 - cur;
    match &s.work {
        Work::Fused { .. } => encode_fused(ctx, encoder, store, s, shape, opts.beta, cur, next),
        Work::Unfused {
            scores,
            stats,
            part,
        } => {
            encode_weights(
                ctx,
                encoder,
                store,
                s,
                (scores, stats),
                shape,
                opts.beta,
                cur,
            );
            let k = ctx.kernels.for_patterns(&ctx.device, store.precision());
            ctx.poison(encoder, &s.states[next], shape.state_bytes());
            for (i, chunk) in store.chunks().enumerate() {
                k.weighted_sum.encode(
                    ctx,
                    encoder,
                    WeightedSumJob {
                        shape: (shape.rows, chunk.rows, shape.dim, store.row_words()),
                        cols: Columns {
                            offset: chunk.first,
                            ld: shape.n,
                        },
                        accumulate: i > 0,
                        weights: binding(scores, shape.score_bytes()),
                        chunk: chunk.binding,
                        states: binding(&s.states[next], shape.state_bytes()),
                        part,
                    },
                );
            }
            // The change kernel's slices meet by atomicMax: delta starts at zero.
            encoder.clear_buffer(&s.delta, 0, None);
            encoder.clear_buffer(&s.flag, 0, None);
            ctx.kernels.change.encode(
                &ctx.device,
                encoder,
                (shape.rows, shape.dim),
                binding(&s.states[cur], shape.state_bytes()),
                binding(&s.states[next], shape.state_bytes()),
                binding(&s.delta, shape.row_bytes()),
                binding(&s.flag, WORD),
            );
        }
    }
    if first && opts.energy {
        encoder.copy_buffer_to_buffer(&s.lse, 0, &s.lse_before, 0, shape.row_bytes());
    }
}

/// Records the log-sum-exp of the final states `states[cur]` into `lse` (the fused path also
/// writes a throwaway update into the other state buffer, already read).
pub(crate) fn encode_energy(
    ctx: &GpuContext,
    encoder: &mut wgpu::CommandEncoder,
    store: &PatternStore,
    s: &Scratch,
    shape: Shape,
    beta: f32,
    cur: usize,
) {
    match &s.work {
        Work::Fused { .. } => encode_fused(ctx, encoder, store, s, shape, beta, cur, 1 - cur),
        Work::Unfused { scores, stats, .. } => {
            encode_weights(ctx, encoder, store, s, (scores, stats), shape, beta, cur)
        }
    }
}

/// Records `scores ← softmax(β states[cur] Xᵀ)`, chunk by chunk, and its log-sum-exp.
#[allow(clippy::too_many_arguments)]
fn encode_weights(
    ctx: &GpuContext,
    encoder: &mut wgpu::CommandEncoder,
    store: &PatternStore,
    s: &Scratch,
    (scores, stats): (&wgpu::Buffer, &wgpu::Buffer),
    shape: Shape,
    beta: f32,
    cur: usize,
) {
    let k = ctx.kernels.for_patterns(&ctx.device, store.precision());
    ctx.poison(encoder, scores, shape.score_bytes());
    for chunk in store.chunks() {
        k.similarity.encode(
            &ctx.device,
            encoder,
            ctx.limits.max_compute_workgroups_per_dimension,
            (shape.rows, chunk.rows, shape.dim, store.row_words()),
            Columns {
                offset: chunk.first,
                ld: shape.n,
            },
            beta,
            binding(&s.states[cur], shape.state_bytes()),
            chunk.binding,
            binding(scores, shape.score_bytes()),
        );
    }
    ctx.poison(encoder, &s.lse, shape.row_bytes());
    let stats_bytes = Softmax::stats_bytes(shape.rows, shape.n);
    ctx.poison(encoder, stats, stats_bytes);
    ctx.kernels.softmax.encode(
        &ctx.device,
        encoder,
        (shape.rows, shape.n),
        SoftmaxBuffers {
            scores: binding(scores, shape.score_bytes()),
            stats: binding(stats, stats_bytes),
            lse: binding(&s.lse, shape.row_bytes()),
        },
    );
}

/// Records the fused update `states[to] ← softmax(β states[from] Xᵀ) X`: split partials per
/// chunk, then their merge, with lse, delta and flag.
#[allow(clippy::too_many_arguments)]
fn encode_fused(
    ctx: &GpuContext,
    encoder: &mut wgpu::CommandEncoder,
    store: &PatternStore,
    s: &Scratch,
    shape: Shape,
    beta: f32,
    from: usize,
    to: usize,
) {
    let Work::Fused { splits, ml, part } = &s.work else {
        unreachable!("called on the fused path only")
    };
    let k = ctx.kernels.for_patterns(&ctx.device, store.precision());
    let slots = (splits.total * shape.rows) as u64;
    let (ml_bytes, part_bytes) = (slots * 2 * WORD, slots * shape.dim as u64 * WORD);
    ctx.poison(encoder, ml, ml_bytes);
    ctx.poison(encoder, part, part_bytes);
    for (c, chunk) in store.chunks().enumerate() {
        k.fused.encode(
            &ctx.device,
            encoder,
            (shape.rows, shape.dim, store.row_words()),
            beta,
            FusedChunk {
                n: chunk.rows,
                patterns: chunk.binding,
                split0: splits.split0[c],
                split_len: splits.split_len,
            },
            binding(&s.states[from], shape.state_bytes()),
            binding(ml, ml_bytes),
            binding(part, part_bytes),
        );
    }
    ctx.poison(encoder, &s.states[to], shape.state_bytes());
    ctx.poison(encoder, &s.lse, shape.row_bytes());
    // The merge's feature slices meet by atomicMax: delta starts at zero.
    encoder.clear_buffer(&s.delta, 0, None);
    encoder.clear_buffer(&s.flag, 0, None);
    ctx.kernels.merge.encode(
        &ctx.device,
        encoder,
        (shape.rows, shape.dim, splits.total),
        MergeBuffers {
            ml: binding(ml, ml_bytes),
            part: binding(part, part_bytes),
            old: binding(&s.states[from], shape.state_bytes()),
            new: binding(&s.states[to], shape.state_bytes()),
            lse: binding(&s.lse, shape.row_bytes()),
            delta: binding(&s.delta, shape.row_bytes()),
            flag: binding(&s.flag, WORD),
        },
    );
}
