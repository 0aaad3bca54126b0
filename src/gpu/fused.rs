//! `shaders/fused_rows.wgsl` (few queries) and `shaders/fused_tile.wgsl` (many): one update
//! step's partial softmax statistics and weighted sums per split of a chunk of patterns, for
//! `shaders/merge.wgsl` to combine.

use super::kernel::{groups_for, Dev, Kernel};
use super::programs::{self, Variant};
use super::recorder::{bindings, Recorder};
use crate::storage::Precision;

/// Patterns per tile in both kernels: split lengths are multiples of it.
pub(crate) const TILE_PATTERNS: usize = 64;
/// Output features per workgroup: wider states go in several slices, each recomputing the
/// scores of its tile.
pub(crate) const FEATURE_SLICE: usize = 128;
/// Queries per workgroup of the few-query kernel.
const FEW: usize = 4;
/// Queries per workgroup of the tiled kernel.
const MANY: usize = 64;
/// Up to this many queries per block the few-query kernel runs: it reads the patterns once
/// per 4 queries, but wastes no work on empty query rows.
const FEW_UP_TO: usize = 8;

/// Loop trips one invocation of a fused kernel may take, counting every trip of every loop
/// whose count is not a small constant (those with up to 8 trips the shader compilers unroll).
/// Mesa's llvmpipe (lavapipe, and GL's llvmpipe) stops an invocation after 65,535 trips of all
/// its loops together (gallivm's LP_MAX_TGSI_LOOP_ITERATIONS), without an error: a longer
/// split would be summed silently short. A quarter of that leaves room for the unrolling
/// assumption to be wrong.
pub(crate) const LOOP_BUDGET: usize = 16_384;

/// Trips of one tile (TILE_PATTERNS patterns) of any fused kernel at dimension `dim`, the
/// largest of the three, so the split length does not depend on which one a device builds.
/// fused_rows with wide tiles: per 64 features the tile loop and its 64-step dot product
/// (65), two 16-step reductions, and 2 × (1 + 32) for the weighted sum; with compact tiles
/// per 32 features 33, and 4 × (1 + 16). fused_tile: per 16 features the tile loop and its
/// 16-step k loop (17), two 16-step row scans, 4 × (1 + 16) for the weighted sum. Plus the
/// tile loop's own trip.
fn tile_trips(dim: usize) -> usize {
    let rows_wide = 65 * dim.div_ceil(64) + 32 + 66;
    let rows_compact = 33 * dim.div_ceil(32) + 32 + 68;
    let tile = 17 * dim.div_ceil(16) + 32 + 68;
    rows_wide.max(rows_compact).max(tile) + 1
}

/// The longest split (a multiple of TILE_PATTERNS) whose walk stays within [`LOOP_BUDGET`] at
/// dimension `dim`; 0 where not even one tile does (patterns too wide for the fused kernels).
pub(crate) fn max_split_len(dim: usize) -> usize {
    (LOOP_BUDGET / tile_trips(dim)) * TILE_PATTERNS
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    n: u32,
    dim: u32,
    row_words: u32,
    split_len: u32,
    split0: u32,
    beta: f32,
    _pad: u32,
}

pub(crate) struct Fused {
    few: Kernel,
    /// `None` where the device's workgroup memory is too small for `fused_tile`: `few` then
    /// takes blocks of every size, reading the patterns once per 4 queries instead of 64.
    many: Option<Kernel>,
}

/// What one fused step over a chunk needs to know.
pub(crate) struct FusedChunk {
    /// Patterns in the chunk.
    pub n: usize,
    /// The chunk's first split in the partials, and the split length.
    pub split0: usize,
    pub split_len: usize,
}

bindings!(FusedBindings {
    states,
    patterns,
    ml,
    part
});

impl Fused {
    /// Builds each kernel in the tile size that fits `limits` (`programs::check_device` has
    /// made sure `fused_rows` fits in one).
    pub(crate) fn new(device: Dev<'_>, limits: &wgpu::Limits, precision: Precision) -> Self {
        let build = |program: &programs::Program| {
            program.tiles_for(limits).map(|tiles| {
                let variant = Variant {
                    tiles,
                    ..Variant::patterns(precision)
                };
                Kernel::new(device, program, variant)
            })
        };
        Fused {
            few: build(&programs::FUSED_ROWS).expect("checked when the device opened"),
            many: build(&programs::FUSED_TILE),
        }
    }

    /// Queries per workgroup for a block of `rows` queries.
    pub(crate) fn queries_per_group(&self, rows: usize) -> usize {
        if rows <= FEW_UP_TO || self.many.is_none() {
            FEW
        } else {
            MANY
        }
    }

    /// Records, for every split of the chunk, the running (max, sum) into `ml` and the weighted
    /// sum into `part` at the chunk's split slots.
    pub(crate) fn encode(
        &self,
        rec: &mut Recorder<'_>,
        (rows, dim, row_words): (usize, usize, usize),
        beta: f32,
        chunk: FusedChunk,
        b: FusedBindings<'_>,
    ) {
        let per_group = self.queries_per_group(rows);
        let kernel = match &self.many {
            Some(many) if per_group == MANY => many,
            _ => &self.few,
        };
        let params = Params {
            rows: rows as u32,
            n: chunk.n as u32,
            dim: dim as u32,
            row_words: row_words as u32,
            split_len: chunk.split_len as u32,
            split0: chunk.split0 as u32,
            beta,
            _pad: 0,
        };
        let grid = (
            groups_for(chunk.n, chunk.split_len),
            groups_for(rows, per_group),
            groups_for(dim, FEATURE_SLICE),
        );
        rec.dispatch(kernel, &params, &b, grid);
    }
}
