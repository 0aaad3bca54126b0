//! A block's scores into weights by its [`Separation`], in place, with each row's conjugate
//! Ψ* (the energy's score term; the log-sum-exp for softmax) in `lse`: softmax and softmax₁ by
//! the softmax kernels, top-k by the radix selection and then a softmax, sparsemax and α-entmax
//! by the threshold search. The separations other than softmax keep state of their own per
//! block ([`SeparationScratch`]).

use super::recorder::Recorder;
use super::softmax::{SoftmaxBindings, StatsBindings};
use super::threshold::{ThresholdBindings, ThresholdBuffers};
use super::topk::Selection;
use super::GpuContext;
use crate::Separation;

/// Which state a separation keeps per block (part of a workspace's key: the buffers differ).
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum SeparationKind {
    /// Softmax and softmax₁: none.
    Plain,
    /// Top-k: the radix selection's.
    Select,
    /// Sparsemax and α-entmax: the threshold search's.
    Threshold,
}

impl SeparationKind {
    pub(crate) fn of(separation: Separation) -> Self {
        match separation.canonical() {
            Separation::TopK(_) => SeparationKind::Select,
            Separation::Sparsemax | Separation::Entmax(_) => SeparationKind::Threshold,
            _ => SeparationKind::Plain,
        }
    }
}

/// A separation's state for blocks of `rows` rows of `n` scores.
pub(crate) enum SeparationScratch {
    Plain,
    Select(Selection),
    Threshold(ThresholdBuffers),
}

impl SeparationScratch {
    pub(crate) fn new(ctx: &GpuContext, kind: SeparationKind, rows: usize, n: usize) -> Self {
        match kind {
            SeparationKind::Plain => SeparationScratch::Plain,
            SeparationKind::Select => SeparationScratch::Select(Selection::new(ctx, rows)),
            SeparationKind::Threshold => {
                SeparationScratch::Threshold(ThresholdBuffers::new(ctx, rows, n))
            }
        }
    }

    pub(crate) fn bytes(&self) -> u64 {
        match self {
            SeparationScratch::Plain => 0,
            SeparationScratch::Select(s) => s.bytes(),
            SeparationScratch::Threshold(t) => t.bytes(),
        }
    }
}

/// Records `scores[r, :] ← separation(scores[r, :])` for `rows` rows of `n` scores, and Ψ* of
/// each row into `b.lse`. `scratch` must be of [`SeparationKind::of`] this separation.
pub(crate) fn encode(
    rec: &mut Recorder<'_>,
    separation: Separation,
    (rows, n): (usize, usize),
    b: SoftmaxBindings<'_>,
    scratch: &SeparationScratch,
) {
    let ctx = rec.ctx();
    let softmax = &ctx.kernels.softmax;
    match (separation.canonical(), scratch) {
        (Separation::Softmax, _) => softmax.encode(rec, (rows, n), false, b),
        (Separation::Softmax1, _) => softmax.encode(rec, (rows, n), true, b),
        (Separation::TopK(k), SeparationScratch::Select(selection)) => {
            let topk = ctx.kernels.topk(&ctx.device);
            topk.keep(rec, (rows, n), b.scores.clone(), selection, k);
            softmax.encode(rec, (rows, n), false, b);
        }
        (Separation::Sparsemax, SeparationScratch::Threshold(t)) => {
            threshold(rec, (rows, n), 2.0, b, t)
        }
        (Separation::Entmax(alpha), SeparationScratch::Threshold(t)) => {
            threshold(rec, (rows, n), alpha, b, t)
        }
        (other, _) => unreachable!("{other} recorded without its scratch"),
    }
}

fn threshold(
    rec: &mut Recorder<'_>,
    shape: (usize, usize),
    alpha: f32,
    b: SoftmaxBindings<'_>,
    buffers: &ThresholdBuffers,
) {
    let ctx = rec.ctx();
    let stats = StatsBindings {
        scores: b.scores.clone(),
        stats: b.stats.clone(),
    };
    ctx.kernels.softmax.encode_stats(rec, shape, stats);
    let t = ThresholdBindings {
        scores: b.scores,
        stats: b.stats,
        lse: b.lse,
    };
    ctx.kernels
        .threshold(&ctx.device)
        .encode(rec, shape, alpha, t, buffers);
}
