//! `shaders/topk_*.wgsl`: the k largest values of each row of a block's B×N weights or scores,
//! exactly, ties to the lower index. Radix selection over a 64-bit key per value (see
//! `topk_key.wgsl`): eight count-and-pick passes find each row's k-th largest key; then either
//! one gather writes the k (index, weight) pairs, so that only B·k of them are read back
//! (`RetrieveOptions::top_k`), or every other score is dropped before a softmax
//! (`Separation::TopK`).

use super::buffers::binding;
use super::kernel::{groups_for, Dev, Kernel};
use super::plan::WORD;
use super::programs::{self, Variant};
use super::recorder::{bindings, Recorder};
use super::GpuContext;
use crate::error::{Error, Result};

/// Columns per workgroup of the count and gather kernels (the shaders' `SEG`).
const SEGMENT: usize = 4096;
/// Values of one key byte (the shaders' `WG`): one count per value per row.
const BYTE_VALUES: u64 = 256;
/// Bytes of the 64-bit key, one pass each.
const PASSES: u32 = 8;
/// Bytes of one row's selection state (the shaders' `Sel`).
const SEL_BYTES: u64 = 16;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    k: u32,
    byte: u32,
}

bindings!(CountBindings {
    values,
    sel,
    counts
});
bindings!(PickBindings { sel, counts });
bindings!(KeepBindings { scores, sel });
bindings!(GatherBindings {
    weights,
    sel,
    claimed,
    top
});

pub(crate) struct TopK {
    count: Kernel,
    pick: Kernel,
    gather: Kernel,
    keep: Kernel,
}

/// The selection's state for blocks of `rows` rows: each row's key found so far and its byte
/// counts.
pub(crate) struct Selection {
    sel: wgpu::Buffer,
    counts: wgpu::Buffer,
}

impl Selection {
    pub(crate) fn new(ctx: &GpuContext, rows: usize) -> Self {
        let rows = rows as u64;
        Selection {
            sel: ctx.storage("top-k selection", rows * SEL_BYTES),
            counts: ctx.storage("top-k byte counts", rows * BYTE_VALUES * WORD),
        }
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.sel.size() + self.counts.size()
    }
}

/// The buffers of [`RetrieveOptions::top_k`](crate::RetrieveOptions::top_k)'s selection for
/// blocks of `rows` rows and a given k.
pub(crate) struct TopKBuffers {
    pub k: usize,
    selection: Selection,
    claimed: wgpu::Buffer,
    /// (index, weight bits) × k per row: what is read back.
    pub top: wgpu::Buffer,
}

impl TopKBuffers {
    pub(crate) fn new(ctx: &GpuContext, rows: usize, k: usize) -> Self {
        TopKBuffers {
            k,
            selection: Selection::new(ctx, rows),
            claimed: ctx.storage("top-k slots claimed", rows as u64 * WORD),
            top: ctx.storage("top-k", Self::top_bytes(rows, k)),
        }
    }

    pub(crate) fn top_bytes(rows: usize, k: usize) -> u64 {
        (rows * k) as u64 * 2 * WORD
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.selection.bytes() + self.claimed.size() + self.top.size()
    }
}

impl TopK {
    pub(crate) fn new(device: Dev<'_>) -> Self {
        TopK {
            count: Kernel::new(device, &programs::TOPK_COUNT, Variant::PLAIN),
            pick: Kernel::new(device, &programs::TOPK_PICK, Variant::PLAIN),
            gather: Kernel::new(device, &programs::TOPK_GATHER, Variant::PLAIN),
            keep: Kernel::new(device, &programs::TOPK_KEEP, Variant::PLAIN),
        }
    }

    /// Records the selection of the `b.k` largest of each of `rows` rows of `cols` weights
    /// (`weights`, row-major) into `b.top`. Rows and segments of a row are each one dispatch
    /// dimension, as in the softmax before it (see `plan::max_block_rows`).
    pub(crate) fn encode(
        &self,
        rec: &mut Recorder<'_>,
        (rows, cols): (usize, usize),
        weights: &wgpu::Buffer,
        b: &TopKBuffers,
    ) {
        let weights = binding(weights, (rows * cols) as u64 * WORD);
        let sel = self.select(rec, (rows, cols), weights.clone(), &b.selection, b.k);
        let top_bytes = TopKBuffers::top_bytes(rows, b.k);
        rec.clear(&b.claimed);
        rec.poison(&b.top, top_bytes);
        let gather = GatherBindings {
            weights,
            sel,
            claimed: binding(&b.claimed, rows as u64 * WORD),
            top: binding(&b.top, top_bytes),
        };
        let params = Self::params((rows, cols), b.k, PASSES);
        rec.dispatch(&self.gather, &params, &gather, Self::grid(rows, cols));
    }

    /// Records `Separation::TopK(k)`'s first half: every score of each of `rows` rows of `cols`
    /// outside the row's k largest becomes the lowest float, so that the softmax recorded next
    /// weighs the k alone.
    pub(crate) fn keep(
        &self,
        rec: &mut Recorder<'_>,
        (rows, cols): (usize, usize),
        scores: wgpu::BufferBinding<'_>,
        selection: &Selection,
        k: usize,
    ) {
        let sel = self.select(rec, (rows, cols), scores.clone(), selection, k);
        let params = Self::params((rows, cols), k, PASSES);
        let keep = KeepBindings { scores, sel };
        rec.dispatch(&self.keep, &params, &keep, Self::grid(rows, cols));
    }

    /// Records the eight count-and-pick passes that leave each row's k-th largest key in the
    /// selection state; returns the binding of that state.
    fn select<'b>(
        &self,
        rec: &mut Recorder<'_>,
        (rows, cols): (usize, usize),
        values: wgpu::BufferBinding<'_>,
        s: &'b Selection,
        k: usize,
    ) -> wgpu::BufferBinding<'b> {
        let sel = binding(&s.sel, rows as u64 * SEL_BYTES);
        let counts = binding(&s.counts, rows as u64 * BYTE_VALUES * WORD);
        rec.clear(&s.counts);
        for byte in 0..PASSES {
            let params = Self::params((rows, cols), k, byte);
            let count = CountBindings {
                values: values.clone(),
                sel: sel.clone(),
                counts: counts.clone(),
            };
            rec.dispatch(&self.count, &params, &count, Self::grid(rows, cols));
            let pick = PickBindings {
                sel: sel.clone(),
                counts: counts.clone(),
            };
            rec.dispatch(&self.pick, &params, &pick, (rows as u32, 1, 1));
        }
        sel
    }

    fn params((rows, cols): (usize, usize), k: usize, byte: u32) -> Params {
        Params {
            rows: rows as u32,
            cols: cols as u32,
            k: k as u32,
            byte,
        }
    }

    /// A workgroup per segment of a row, a row per grid line.
    fn grid(rows: usize, cols: usize) -> (u32, u32, u32) {
        (groups_for(cols, SEGMENT), rows as u32, 1)
    }
}

/// The k (index, weight) pairs of each row as read back (in the order the gather claimed
/// slots), ordered by weight then lower index; an index out of range (an unwritten, poisoned
/// slot) is an error, never a result.
pub(crate) fn order(raw: &[f32], k: usize, n: usize) -> Result<(Vec<usize>, Vec<f32>)> {
    let mut indices = Vec::with_capacity(raw.len() / 2);
    let mut weights = Vec::with_capacity(raw.len() / 2);
    let mut row: Vec<(usize, f32)> = Vec::with_capacity(k);
    for pairs in raw.chunks_exact(2 * k) {
        row.clear();
        for pair in pairs.chunks_exact(2) {
            let index = pair[0].to_bits() as usize;
            if index >= n {
                return Err(Error::Gpu(format!(
                    "the top-k selection left a slot unwritten (index {index} of {n} patterns)"
                )));
            }
            row.push((index, pair[1]));
        }
        row.sort_unstable_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        indices.extend(row.iter().map(|p| p.0));
        weights.extend(row.iter().map(|p| p.1));
    }
    Ok((indices, weights))
}
