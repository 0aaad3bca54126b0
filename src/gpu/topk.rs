//! `shaders/topk_*.wgsl`: the k largest weights of each row of a block's B×N weights, exactly,
//! ties to the lower index, selected on the device so that only B·k (index, weight) pairs are
//! read back. Radix selection over a 64-bit key per weight (see `topk_key.wgsl`): eight
//! count-and-pick passes find each row's k-th largest key, then one gather writes the k.

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
    weights,
    sel,
    counts
});
bindings!(PickBindings { sel, counts });
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
}

/// The selection's device buffers for blocks of `rows` rows and a given k.
pub(crate) struct TopKBuffers {
    pub k: usize,
    sel: wgpu::Buffer,
    counts: wgpu::Buffer,
    claimed: wgpu::Buffer,
    /// (index, weight bits) × k per row: what is read back.
    pub top: wgpu::Buffer,
}

impl TopKBuffers {
    pub(crate) fn new(ctx: &GpuContext, rows: usize, k: usize) -> Self {
        let rows = rows as u64;
        TopKBuffers {
            k,
            sel: ctx.storage("top-k selection", rows * SEL_BYTES),
            counts: ctx.storage("top-k byte counts", rows * BYTE_VALUES * WORD),
            claimed: ctx.storage("top-k slots claimed", rows * WORD),
            top: ctx.storage("top-k", Self::top_bytes(rows as usize, k)),
        }
    }

    pub(crate) fn top_bytes(rows: usize, k: usize) -> u64 {
        (rows * k) as u64 * 2 * WORD
    }

    pub(crate) fn bytes(&self) -> u64 {
        [&self.sel, &self.counts, &self.claimed, &self.top]
            .map(|b| b.size())
            .iter()
            .sum()
    }
}

impl TopK {
    pub(crate) fn new(device: Dev<'_>) -> Self {
        TopK {
            count: Kernel::new(device, &programs::TOPK_COUNT, Variant::PLAIN),
            pick: Kernel::new(device, &programs::TOPK_PICK, Variant::PLAIN),
            gather: Kernel::new(device, &programs::TOPK_GATHER, Variant::PLAIN),
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
        let sel = binding(&b.sel, rows as u64 * SEL_BYTES);
        let counts = binding(&b.counts, rows as u64 * BYTE_VALUES * WORD);
        let segments = groups_for(cols, SEGMENT);
        rec.clear(&b.counts);
        for byte in 0..PASSES {
            let params = Params {
                rows: rows as u32,
                cols: cols as u32,
                k: b.k as u32,
                byte,
            };
            let count = CountBindings {
                weights: weights.clone(),
                sel: sel.clone(),
                counts: counts.clone(),
            };
            rec.dispatch(&self.count, &params, &count, (segments, rows as u32, 1));
            let pick = PickBindings {
                sel: sel.clone(),
                counts: counts.clone(),
            };
            rec.dispatch(&self.pick, &params, &pick, (rows as u32, 1, 1));
        }
        let top_bytes = TopKBuffers::top_bytes(rows, b.k);
        rec.clear(&b.claimed);
        rec.poison(&b.top, top_bytes);
        let params = Params {
            rows: rows as u32,
            cols: cols as u32,
            k: b.k as u32,
            byte: PASSES,
        };
        let gather = GatherBindings {
            weights,
            sel,
            claimed: binding(&b.claimed, rows as u64 * WORD),
            top: binding(&b.top, top_bytes),
        };
        rec.dispatch(&self.gather, &params, &gather, (segments, rows as u32, 1));
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
