//! One update step recorded into an encoder, on the fused or the unfused path, and the
//! device buffers a block's steps share.

use super::buffers::{binding, ChunkView, PatternStore};
use super::change::ChangeBindings;
use super::clamp::{ClampBindings, ClampBuffers};
use super::context::PatternKernels;
use super::fused::{FusedBindings, FusedChunk};
use super::merge::MergeBindings;
use super::plan::{Shape, Splits, WORD};
use super::recorder::Recorder;
use super::separate::{self, SeparationScratch};
use super::similarity::{Columns, SimilarityBindings, SimilarityJob};
use super::softmax::{Softmax, SoftmaxBindings};
use super::topk::TopKBuffers;
use super::weighted_sum::{WeightedSumBindings, WeightedSumJob};
use super::GpuContext;
use crate::Separation;

/// Device buffers of one block.
pub(crate) struct Scratch {
    pub states: [wgpu::Buffer; 2],
    pub lse: wgpu::Buffer,
    pub lse_before: wgpu::Buffer,
    pub delta: wgpu::Buffer,
    pub flag: wgpu::Buffer,
    pub work: Work,
    /// The top-k selection's buffers, where top-k is asked for.
    pub top: Option<TopKBuffers>,
    /// The separation's own state (unfused path only).
    pub separation: SeparationScratch,
    /// A partial cue's known features and values, where they are clamped.
    pub clamp: Option<ClampBuffers>,
}

impl Scratch {
    /// Device bytes the scratch holds.
    pub(crate) fn bytes(&self) -> u64 {
        let work = match &self.work {
            Work::Fused { ml, part, .. } => vec![ml, part],
            Work::Unfused {
                scores,
                stats,
                part,
            } => vec![scores, stats, part],
        };
        [
            &self.states[0],
            &self.states[1],
            &self.lse,
            &self.lse_before,
        ]
        .into_iter()
        .chain([&self.delta, &self.flag])
        .chain(work)
        .map(wgpu::Buffer::size)
        .sum::<u64>()
            + self.top.as_ref().map_or(0, TopKBuffers::bytes)
            + self.separation.bytes()
            + self.clamp.as_ref().map_or(0, ClampBuffers::bytes)
    }
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

/// One update of a block: `states[to] ← separation(β states[from] Xᵀ) X` over the store.
#[derive(Clone, Copy)]
pub(crate) struct StepJob<'a> {
    pub store: &'a PatternStore,
    pub scratch: &'a Scratch,
    pub shape: Shape,
    pub beta: f32,
    pub separation: Separation,
    /// The state buffer read; the other one is written.
    pub from: usize,
}

impl<'a> StepJob<'a> {
    fn to(&self) -> usize {
        1 - self.from
    }

    fn states(&self, i: usize) -> wgpu::BufferBinding<'a> {
        binding(&self.scratch.states[i], self.shape.state_bytes())
    }

    fn rows(&self, buffer: &'a wgpu::Buffer) -> wgpu::BufferBinding<'a> {
        binding(buffer, self.shape.row_bytes())
    }

    fn flag(&self) -> wgpu::BufferBinding<'a> {
        binding(&self.scratch.flag, WORD)
    }

    /// The kernels for the store's precision.
    fn kernels<'c>(&self, ctx: &'c GpuContext) -> &'c PatternKernels {
        ctx.kernels
            .for_patterns(&ctx.device, self.store.precision())
    }

    /// States, patterns, features and words per stored row of a pass over `chunk`.
    fn chunk_shape(&self, chunk: &ChunkView<'_>) -> (usize, usize, usize, usize) {
        let s = self.shape;
        (s.rows, chunk.rows, s.dim, self.store.row_words())
    }

    /// Where `chunk`'s columns are in the scores.
    fn columns(&self, chunk: &ChunkView<'_>) -> Columns {
        Columns {
            offset: chunk.first,
            ld: self.shape.n,
        }
    }
}

/// Records one update step, its lse and its change; with `keep_lse`, also keeps the lse (of
/// the states before the step) in `lse_before` for the energies.
pub(crate) fn encode_step(rec: &mut Recorder<'_>, job: &StepJob<'_>, keep_lse: bool) {
    let s = job.scratch;
    match &s.work {
        Work::Fused { .. } => encode_fused(rec, job),
        Work::Unfused {
            scores,
            stats,
            part,
        } => {
            encode_weights(rec, job, scores, stats);
            encode_weighted_sums(rec, job, scores, part);
            if s.clamp.is_none() {
                encode_change(rec, job);
            }
        }
    }
    // The change is measured on the clamped states (the fused merge's own measure, before the
    // clamp, is recomputed).
    if let Some(clamp) = &s.clamp {
        let b = ClampBindings {
            known: binding(&clamp.known, job.shape.state_bytes()),
            cue: binding(&clamp.cue, job.shape.state_bytes()),
            states: job.states(job.to()),
        };
        let (ctx, shape) = (rec.ctx(), (job.shape.rows, job.shape.dim));
        ctx.kernels.clamp(&ctx.device).encode(rec, shape, b);
        encode_change(rec, job);
    }
    if keep_lse {
        rec.copy(&s.lse, &s.lse_before, job.shape.row_bytes());
    }
}

/// Records the log-sum-exp of the states `states[job.from]` into `lse` (the fused path also
/// writes a throwaway update into the other state buffer, already read).
pub(crate) fn encode_energy(rec: &mut Recorder<'_>, job: &StepJob<'_>) {
    match &job.scratch.work {
        Work::Fused { .. } => encode_fused(rec, job),
        Work::Unfused { scores, stats, .. } => encode_weights(rec, job, scores, stats),
    }
}

/// Records `scores ← separation(β states[from] Xᵀ)`, chunk by chunk, and each row's Ψ* (the
/// log-sum-exp for softmax) into `lse`.
fn encode_weights(
    rec: &mut Recorder<'_>,
    job: &StepJob<'_>,
    scores: &wgpu::Buffer,
    stats: &wgpu::Buffer,
) {
    let (ctx, shape) = (rec.ctx(), job.shape);
    rec.poison(scores, shape.score_bytes());
    for chunk in job.store.chunks() {
        let similarity = SimilarityJob {
            shape: job.chunk_shape(&chunk),
            cols: job.columns(&chunk),
            beta: job.beta,
        };
        let b = SimilarityBindings {
            queries: job.states(job.from),
            patterns: chunk.binding,
            scores: binding(scores, shape.score_bytes()),
        };
        job.kernels(ctx).similarity.encode(rec, similarity, b);
    }
    rec.poison(&job.scratch.lse, shape.row_bytes());
    let stats_bytes = Softmax::stats_bytes(shape.rows, shape.n);
    rec.poison(stats, stats_bytes);
    let b = SoftmaxBindings {
        scores: binding(scores, shape.score_bytes()),
        stats: binding(stats, stats_bytes),
        lse: job.rows(&job.scratch.lse),
    };
    let shape2 = (shape.rows, shape.n);
    separate::encode(rec, job.separation, shape2, b, &job.scratch.separation);
}

/// Records `states[to] ← scores · X`, chunk by chunk.
fn encode_weighted_sums(
    rec: &mut Recorder<'_>,
    job: &StepJob<'_>,
    scores: &wgpu::Buffer,
    part: &wgpu::Buffer,
) {
    let k = job.kernels(rec.ctx());
    rec.poison(&job.scratch.states[job.to()], job.shape.state_bytes());
    for (i, chunk) in job.store.chunks().enumerate() {
        let sum = WeightedSumJob {
            shape: job.chunk_shape(&chunk),
            cols: job.columns(&chunk),
            accumulate: i > 0,
            b: WeightedSumBindings {
                weights: binding(scores, job.shape.score_bytes()),
                patterns: chunk.binding,
                states: job.states(job.to()),
            },
            part,
        };
        k.weighted_sum.encode(rec, sum);
    }
}

/// Records each state's largest change and the block's, into `delta` and `flag`.
fn encode_change(rec: &mut Recorder<'_>, job: &StepJob<'_>) {
    let s = job.scratch;
    // The change kernel's slices meet by atomicMax: delta starts at zero.
    rec.clear(&s.delta);
    rec.clear(&s.flag);
    let b = ChangeBindings {
        old: job.states(job.from),
        new: job.states(job.to()),
        delta: job.rows(&s.delta),
        flag: job.flag(),
    };
    let change = &rec.ctx().kernels.change;
    change.encode(rec, (job.shape.rows, job.shape.dim), b);
}

/// Records the fused update: split partials per chunk, then their merge, with lse, delta and
/// flag.
fn encode_fused(rec: &mut Recorder<'_>, job: &StepJob<'_>) {
    let (s, shape, store) = (job.scratch, job.shape, job.store);
    let Work::Fused { splits, ml, part } = &s.work else {
        unreachable!("called on the fused path only")
    };
    let ctx = rec.ctx();
    let k = job.kernels(ctx);
    let slots = (splits.total * shape.rows) as u64;
    let (ml_bytes, part_bytes) = (slots * 2 * WORD, slots * shape.dim as u64 * WORD);
    rec.poison(ml, ml_bytes);
    rec.poison(part, part_bytes);
    for (c, chunk) in store.chunks().enumerate() {
        let fused = FusedChunk {
            n: chunk.rows,
            split0: splits.split0[c],
            split_len: splits.split_len,
        };
        let b = FusedBindings {
            states: job.states(job.from),
            patterns: chunk.binding,
            ml: binding(ml, ml_bytes),
            part: binding(part, part_bytes),
        };
        let shape3 = (shape.rows, shape.dim, store.row_words());
        k.fused.encode(rec, shape3, job.beta, fused, b);
    }
    rec.poison(&s.states[job.to()], shape.state_bytes());
    rec.poison(&s.lse, shape.row_bytes());
    // The merge's feature slices meet by atomicMax: delta starts at zero.
    rec.clear(&s.delta);
    rec.clear(&s.flag);
    let b = MergeBindings {
        ml: binding(ml, ml_bytes),
        part: binding(part, part_bytes),
        old: job.states(job.from),
        new: job.states(job.to()),
        lse: job.rows(&s.lse),
        delta: job.rows(&s.delta),
        flag: job.flag(),
    };
    let zero_logit = job.separation == Separation::Softmax1;
    ctx.kernels
        .merge
        .encode(rec, (shape.rows, shape.dim, splits.total), zero_logit, b);
}
