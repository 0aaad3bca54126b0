//! How a block of queries is laid out on the device: how many queries one pass takes, whether
//! it runs fused, and how the fused path splits the patterns.

use super::buffers::PatternStore;
use super::fused::{max_split_len, FEATURE_SLICE, TILE_PATTERNS};
use super::merge::MAX_SPLITS;
use super::softmax::{Softmax, SEGMENT};
use super::GpuContext;
use crate::error::{Error, Result};
use crate::retrieve::{Fusion, RetrieveOptions};

pub(crate) use crate::storage::WORD_BYTES as WORD;
/// Workgroups one fused step aims for: enough to fill a large GPU several times over.
const TARGET_GROUPS: usize = 1024;
/// Shortest split: a workgroup should walk a few tiles to amortise its partial's write.
const MIN_SPLIT: usize = 4 * TILE_PATTERNS;

/// Shapes of one block: `rows` queries, `n` patterns, `dim` features.
#[derive(Clone, Copy)]
pub(crate) struct Shape {
    pub rows: usize,
    pub n: usize,
    pub dim: usize,
}

impl Shape {
    pub(crate) fn state_bytes(self) -> u64 {
        (self.rows * self.dim) as u64 * WORD
    }
    pub(crate) fn score_bytes(self) -> u64 {
        (self.rows * self.n) as u64 * WORD
    }
    pub(crate) fn row_bytes(self) -> u64 {
        self.rows as u64 * WORD
    }
}

/// How the fused path splits the patterns: every chunk in splits of `split_len` patterns,
/// chunk c's first split at slot `split0[c]` of `total`.
pub(crate) struct Splits {
    pub split_len: usize,
    pub split0: Vec<usize>,
    pub total: usize,
}

impl Splits {
    /// Splits of `rows` queries over the store: as many as fill the GPU, each no longer than
    /// the fused kernels' loop budget allows at `dim` ([`max_split_len`]; [`fused`] has
    /// checked that the fewest splits that allows fit one merge).
    pub(crate) fn plan(ctx: &GpuContext, store: &PatternStore, rows: usize, dim: usize) -> Splits {
        let longest = max_split_len(dim);
        let fused = &ctx
            .kernels
            .for_patterns(&ctx.device, store.precision())
            .fused;
        let groups_per_split =
            rows.div_ceil(fused.queries_per_group(rows)) * dim.div_ceil(FEATURE_SLICE);
        let wanted = TARGET_GROUPS.div_ceil(groups_per_split).max(1);
        let mut split_len = store
            .len()
            .div_ceil(wanted)
            .next_multiple_of(TILE_PATTERNS)
            .max(MIN_SPLIT)
            .min(longest);
        loop {
            let counts: Vec<usize> = store.chunks().map(|c| c.rows.div_ceil(split_len)).collect();
            let total: usize = counts.iter().sum();
            let bytes = (total * rows * dim) as u64 * WORD;
            // The longest splits always fit: fused and max_block_rows saw to it.
            if (total <= MAX_SPLITS && bytes <= ctx.max_binding_bytes())
                || split_len >= store.chunk_rows().min(longest)
            {
                let split0 = counts
                    .iter()
                    .scan(0, |at, &c| {
                        let first = *at;
                        *at += c;
                        Some(first)
                    })
                    .collect();
                log::debug!(
                    "fused path: {rows} queries x {} patterns in {total} splits of up to \
                     {split_len}",
                    store.len()
                );
                return Splits {
                    split_len,
                    split0,
                    total,
                };
            }
            split_len = (split_len * 2).min(longest);
        }
    }
}

/// The fewest splits the fused kernels can walk this memory in at dimension `dim`, each within
/// the loop budget; `None` where not even one tile of patterns that wide fits it.
fn fewest_splits(store: &PatternStore, dim: usize) -> Option<usize> {
    let longest = max_split_len(dim);
    (longest > 0).then(|| {
        store
            .chunks()
            .map(|c| c.rows.div_ceil(longest).max(1))
            .sum()
    })
}

/// Whether this request runs the fused kernels on this memory at dimension `dim`. They walk
/// each split of the patterns in one invocation, so a split's length is bounded by the loop
/// budget (shorter for wider patterns), and one merge takes at most [`MAX_SPLITS`] splits:
/// `Fusion::Auto` takes the unfused path (whose every loop is bounded for any shape) where
/// that does not fit, and `Fusion::Fused` is refused there with the reason.
pub(crate) fn fused(store: &PatternStore, dim: usize, opts: &RetrieveOptions) -> Result<bool> {
    if !opts.fused() {
        return Ok(false);
    }
    let why = match fewest_splits(store, dim) {
        None => format!(
            "patterns of dimension {dim} are wider than the fused kernels walk within one \
             invocation's loop budget"
        ),
        Some(splits) if splits > MAX_SPLITS => format!(
            "{} patterns in {} chunks at dimension {dim} need {splits} splits, more than one \
             fused merge takes ({MAX_SPLITS})",
            store.len(),
            store.chunk_count()
        ),
        Some(_) => return Ok(true),
    };
    if opts.fusion == Fusion::Fused {
        return Err(Error::InvalidOptions(format!(
            "{why}: retrieve with Fusion::Auto or Fusion::Unfused"
        )));
    }
    log::debug!("{why}: unfused path");
    Ok(false)
}

/// How a request's queries go through the device: in blocks of at most `rows` queries of
/// dimension `dim`, on the fused path or not.
pub(crate) struct Blocks {
    pub rows: usize,
    pub dim: usize,
    pub fused: bool,
}

/// Plans the blocks of one request, deciding the path once for all of them.
pub(crate) fn blocks(
    ctx: &GpuContext,
    store: &PatternStore,
    dim: usize,
    opts: &RetrieveOptions,
) -> Result<Blocks> {
    check_feature_tiles(ctx, dim)?;
    let fused = fused(store, dim, opts)?;
    let rows = max_block_rows(ctx, store, dim, fused, opts.top_k)?;
    Ok(Blocks { rows, dim, fused })
}

/// Feature tiles of 64 (unfused) or slices of 128 (fused) are one dispatch dimension.
fn check_feature_tiles(ctx: &GpuContext, dim: usize) -> Result<()> {
    let per_dimension = ctx.limits.max_compute_workgroups_per_dimension as u64;
    if dim.div_ceil(64) as u64 > per_dimension {
        return Err(Error::OverLimit {
            what: format!("patterns of dimension {dim} (one workgroup per 64 features)"),
            needed: dim as u64 * WORD,
            limit: 64 * per_dimension * WORD,
            limit_name: "max_compute_workgroups_per_dimension",
        });
    }
    Ok(())
}

/// The largest block of queries one pass can take: its states, and its scores (unfused) or
/// per-chunk partials (fused), and its top-k (index, weight) pairs must fit one binding, and
/// rows get a workgroup each in the softmax, change, merge and top-k kernels.
fn max_block_rows(
    ctx: &GpuContext,
    store: &PatternStore,
    dim: usize,
    fused: bool,
    top_k: Option<usize>,
) -> Result<usize> {
    let limit = ctx.max_binding_bytes();
    let per_dimension = ctx.limits.max_compute_workgroups_per_dimension as u64;
    let (row_bytes, what) = if fused {
        let splits = fewest_splits(store, dim).unwrap_or(1);
        (
            (splits * dim) as u64 * WORD,
            format!("one query's partial sums over {splits} splits of dimension {dim}"),
        )
    } else {
        let segments = Softmax::segments(store.len()) as u64;
        if segments > per_dimension {
            return Err(Error::OverLimit {
                what: format!(
                    "a softmax over {} patterns (one workgroup per {SEGMENT})",
                    store.len()
                ),
                needed: store.len() as u64,
                limit: SEGMENT as u64 * per_dimension,
                limit_name: "max_compute_workgroups_per_dimension",
            });
        }
        (
            store.len().max(dim).max(2 * top_k.unwrap_or(0)) as u64 * WORD,
            format!("one row of scores against {} patterns", store.len()),
        )
    };
    let rows = (limit / row_bytes).min(per_dimension);
    if rows == 0 {
        return Err(Error::OverLimit {
            what,
            needed: row_bytes,
            limit,
            limit_name: "max_storage_buffer_binding_size",
        });
    }
    Ok(rows as usize)
}
