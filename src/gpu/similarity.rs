//! `shaders/similarity.wgsl`: scores S = β Q Xᵀ, one chunk of patterns per call.

use super::kernel::{groups_for, Dev, Kernel};
use super::programs::{self, Variant};
use super::recorder::{bindings, Recorder};
use crate::storage::Precision;

const TILE: usize = 64;
/// Features one dispatch takes: 2048 / 16 = 128 trips of the tile loop, each counted by a
/// software adapter's loop limiter with its inner slice loop (about 17), far below the 65,535
/// at which Mesa's llvmpipe silently stops a loop. Wider patterns take several dispatches.
pub(crate) const FEATURE_SLICE: usize = 2048;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    dim: u32,
    col_tile0: u32,
    scale: f32,
    row_words: u32,
    ld: u32,
    col_offset: u32,
    k_begin: u32,
    k_end: u32,
    accumulate: u32,
    _pad: u32,
}

/// Where one chunk's scores go: columns `offset..offset + n` of a matrix with `ld` columns.
#[derive(Clone, Copy)]
pub(crate) struct Columns {
    pub offset: usize,
    pub ld: usize,
}

/// One similarity over a chunk of patterns.
#[derive(Clone, Copy)]
pub(crate) struct SimilarityJob {
    /// Rows of queries, patterns in the chunk, features, words per stored row.
    pub shape: (usize, usize, usize, usize),
    /// Where the chunk's scores go.
    pub cols: Columns,
    pub beta: f32,
}

bindings!(SimilarityBindings {
    queries,
    patterns,
    scores
});

pub(crate) struct Similarity(Kernel);

impl Similarity {
    pub(crate) fn new(device: Dev<'_>, precision: Precision) -> Self {
        Similarity(Kernel::new(
            device,
            &programs::SIMILARITY,
            Variant::patterns(precision),
        ))
    }

    /// Records `scores[rows × cols] = beta · queries[rows × dim] · patterns[n × dim]ᵀ` into the
    /// chunk's columns.
    pub(crate) fn encode(
        &self,
        rec: &mut Recorder<'_>,
        job: SimilarityJob,
        b: SimilarityBindings<'_>,
    ) {
        let SimilarityJob {
            shape: (rows, n, dim, row_words),
            cols,
            beta,
        } = job;
        let max_groups = rec.ctx().limits.max_compute_workgroups_per_dimension;
        let col_tiles = groups_for(n, TILE);
        let row_tiles = groups_for(rows, TILE);
        // Past the per-dimension workgroup limit the column tiles go in several dispatches,
        // and past FEATURE_SLICE the features do.
        let mut first = 0;
        while first < col_tiles {
            let count = (col_tiles - first).min(max_groups);
            for k_begin in (0..dim.max(1)).step_by(FEATURE_SLICE) {
                let k_end = (k_begin + FEATURE_SLICE).min(dim);
                let params = Params {
                    rows: rows as u32,
                    cols: n as u32,
                    dim: dim as u32,
                    col_tile0: first,
                    scale: if k_end == dim { beta } else { 1.0 },
                    row_words: row_words as u32,
                    ld: cols.ld as u32,
                    col_offset: cols.offset as u32,
                    k_begin: k_begin as u32,
                    k_end: k_end as u32,
                    accumulate: u32::from(k_begin > 0),
                    _pad: 0,
                };
                rec.dispatch(&self.0, &params, &b, (count, row_tiles, 1));
            }
            first += count;
        }
    }
}
