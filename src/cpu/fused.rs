//! One update step without the B×N scores: X is read once, in chunks small enough to stay in
//! cache while every query forms its scores, exponentials and weighted sum over the chunk (online
//! softmax, as in the fused GPU kernel). For a few queries against many patterns this halves the
//! memory traffic of the GEMM path, which is what bounds it. Threads take pieces of X, and their
//! partial (max, sum, accumulator) are merged by log-sum-exp. Batches of `simd::use_tiles` size
//! hand each piece to the tiled kernels (`tiles`) instead of the per-query loops here.
//!
//! A running f32 sum over all N patterns drifts in proportion to N (3e-4 relative at N = 2M),
//! so each block of [`BLOCK_ROWS`] patterns starts its own partial, and partials merge pairwise
//! (`Tree`), like the GPU's splits: the error grows with the block size and log N only.

use std::sync::atomic::{AtomicUsize, Ordering};

use super::simd;
use crate::partial::{combine, finish_row};

/// Floats of X per chunk: 16 KiB, half of a typical L1d, so the chunk survives the second pass.
const CHUNK_FLOATS: usize = 4096;
/// Most rows per chunk (the scores of one query over a chunk live on the stack).
const MAX_CHUNK_ROWS: usize = 256;
/// Pieces of X per thread: enough to even out threads that run at different speeds.
const PIECES_PER_THREAD: usize = 4;
/// Patterns per block with its own running sums: long enough that starting and merging a
/// partial costs nothing next to the block's B×d×rows multiply-adds.
pub(super) const BLOCK_ROWS: usize = 4096;

/// The softmax of B queries over some patterns, not yet normalised.
pub(super) struct Partial {
    /// Largest score seen per query (−∞ before any).
    pub max: Vec<f32>,
    /// Σ e^(score − max) per query.
    pub sum: Vec<f32>,
    /// Σ e^(score − max) x per query, B×d; empty when only the log-sum-exp is wanted.
    pub acc: Vec<f32>,
}

/// `out ← softmax(β states Xᵀ) X` (when `out` is given) and `lse ← max + ln Σ e^(score − max)`
/// per state, with X (`x`, row-major, `d` columns) split over `threads`.
pub(super) fn step(
    x: &[f32],
    states: &[f32],
    d: usize,
    beta: f32,
    threads: usize,
    out: Option<&mut [f32]>,
    lse: &mut [f32],
) {
    let accumulate = out.is_some();
    let parts: Vec<Partial> = if threads <= 1 {
        let mut tree = Tree::default();
        tree.add(x, states, d, beta, accumulate);
        tree.parts()
    } else {
        // Threads take pieces as they finish, so one slowed by other load on its core does not
        // hold the step back; the online softmax does not mind in which order pieces come.
        let pieces = threads * PIECES_PER_THREAD;
        let piece = (x.len() / d)
            .div_ceil(pieces)
            .next_multiple_of(chunk_rows(d))
            * d;
        // Threads take pieces as they come free, but each piece's partials are its own and
        // are merged in piece order, so the result does not depend on which thread ran what:
        // the same call gives the same bits every time.
        let next = AtomicUsize::new(0);
        let work = || {
            let mut done = Vec::new();
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let start = i * piece;
                if start >= x.len() {
                    return done;
                }
                let mut tree = Tree::default();
                tree.add(
                    &x[start..x.len().min(start + piece)],
                    states,
                    d,
                    beta,
                    accumulate,
                );
                done.push((i, tree.parts()));
            }
        };
        let mut pieces = std::thread::scope(|s| {
            let others: Vec<_> = (1..threads).map(|_| s.spawn(work)).collect();
            let mut pieces = work();
            for h in others {
                pieces.extend(h.join().expect("worker panicked"));
            }
            pieces
        });
        pieces.sort_unstable_by_key(|(i, _)| *i);
        pieces.into_iter().flat_map(|(_, parts)| parts).collect()
    };
    merge(parts, d, out, lse);
}

fn chunk_rows(d: usize) -> usize {
    (CHUNK_FLOATS / d).clamp(1, MAX_CHUNK_ROWS)
}

impl Partial {
    fn new(b: usize, d: usize, accumulate: bool) -> Partial {
        Partial {
            max: vec![f32::NEG_INFINITY; b],
            sum: vec![0.0; b],
            acc: if accumulate {
                vec![0.0; b * d]
            } else {
                Vec::new()
            },
        }
    }

    /// Takes the patterns `x` into the softmax of `states`.
    fn add(&mut self, x: &[f32], states: &[f32], d: usize, beta: f32) {
        if simd::use_tiles(states.len() / d) {
            // SAFETY: `use_tiles` is true only on CPUs with AVX2 and FMA.
            #[cfg(target_arch = "x86_64")]
            unsafe {
                super::tiles::accumulate(x, states, d, beta, self)
            };
        } else {
            accumulate_into(x, states, d, beta, self);
        }
    }
}

/// Partials of consecutive blocks merged like a binary counter: a stack whose entry at level k
/// covers 2^k blocks, so each pattern's terms pass through at most log2(blocks) merges.
#[derive(Default)]
struct Tree {
    stack: Vec<(u32, Partial)>,
}

impl Tree {
    /// Takes the patterns `x` in blocks of [`BLOCK_ROWS`].
    fn add(&mut self, x: &[f32], states: &[f32], d: usize, beta: f32, accumulate: bool) {
        let b = states.len() / d;
        for block in x.chunks(BLOCK_ROWS * d) {
            let mut p = Partial::new(b, d, accumulate);
            p.add(block, states, d, beta);
            self.push(p);
        }
    }

    fn push(&mut self, mut p: Partial) {
        let mut level = 0;
        while let Some((top, _)) = self.stack.last() {
            if *top != level {
                break;
            }
            let (_, q) = self.stack.pop().expect("just seen");
            p = q.merged(p);
            level += 1;
        }
        self.stack.push((level, p));
    }

    /// The partials left on the stack (at most log2 of the blocks, plus one).
    fn parts(self) -> Vec<Partial> {
        self.stack.into_iter().map(|(_, p)| p).collect()
    }
}

impl Partial {
    /// The softmax over the patterns of both, rescaled to the larger max (log-sum-exp).
    fn merged(mut self, other: Partial) -> Partial {
        let d = self.acc.len() / self.max.len().max(1);
        for i in 0..self.max.len() {
            let rows = i * d..(i + 1) * d;
            combine(
                (
                    &mut self.max[i],
                    &mut self.sum[i],
                    &mut self.acc[rows.clone()],
                ),
                (other.max[i], other.sum[i], &other.acc[rows]),
            );
        }
        self
    }
}

/// The per-query path: dot products against each row of a chunk, then its weighted sum.
fn accumulate_into(x: &[f32], states: &[f32], d: usize, beta: f32, p: &mut Partial) {
    let mut scores = [0.0f32; MAX_CHUNK_ROWS];
    let accumulate = !p.acc.is_empty();
    for chunk in x.chunks(chunk_rows(d) * d) {
        let s = &mut scores[..chunk.len() / d];
        for (i, q) in states.chunks_exact(d).enumerate() {
            simd::scores(chunk, q, beta, s);
            let m = simd::max(s);
            let acc = if accumulate {
                &mut p.acc[i * d..(i + 1) * d]
            } else {
                &mut []
            };
            if m > p.max[i] {
                // Rare after the first chunks: the running terms move to the new maximum.
                let k = (p.max[i] - m).exp();
                p.sum[i] *= k;
                simd::scale(acc, k);
                p.max[i] = m;
            }
            p.sum[i] += simd::exp_shifted(s, p.max[i]);
            if accumulate {
                simd::weighted_add(chunk, s, acc);
            }
        }
    }
}

/// Joins the partials into normalised states (when `out` is given) and log-sum-exps.
fn merge(parts: Vec<Partial>, d: usize, out: Option<&mut [f32]>, lse: &mut [f32]) {
    let mut parts = parts.into_iter();
    let Some(first) = parts.next() else {
        return;
    };
    let mut all = parts.fold(first, Partial::merged);
    let d = if all.acc.is_empty() { 0 } else { d };
    for (i, l) in lse.iter_mut().enumerate() {
        *l = finish_row(all.max[i], all.sum[i], &mut all.acc[i * d..(i + 1) * d]);
    }
    if let Some(out) = out {
        out.copy_from_slice(&all.acc);
    }
}
