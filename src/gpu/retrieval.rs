//! A block of queries through the update steps on the GPU, with the states ping-ponging between
//! two device buffers. Between steps the host reads back only the 4-byte convergence flag, and
//! only when it stops on convergence.
//!
//! Two ways through a step, chosen by [`fused`]:
//! - fused: per chunk of patterns, the fused kernel writes per-split partial (max, sum,
//!   weighted sum); `merge` combines all splits of all chunks into the new states and tests
//!   convergence. The B×N scores never exist.
//! - unfused: per chunk, similarity writes the chunk's columns of the B×N scores; softmax
//!   normalises each row; per chunk, weighted sum adds the chunk's share; `change` tests
//!   convergence. Needed when the weights are asked for.

use std::time::Duration;

use super::buffers::{binding, PatternStore};
use super::context::{Staged, Timer};
use super::fused::{Fused, FusedChunk, FEATURE_SLICE, TILE_PATTERNS};
use super::merge::{MergeBuffers, MAX_SPLITS};
use super::similarity::Columns;
use super::GpuContext;
use crate::error::{Error, Result};
use crate::retrieve::{BlockOut, Fusion, RetrieveOptions};

const F32: u64 = 4;
/// Workgroups one fused step aims for: enough to fill a large GPU several times over.
const TARGET_GROUPS: usize = 1024;
/// Shortest split: a workgroup should walk a few tiles to amortise its partial's write.
const MIN_SPLIT: usize = 4 * TILE_PATTERNS;

/// Shapes of one block: `rows` queries, `n` patterns, `dim` features.
#[derive(Clone, Copy)]
struct Shape {
    rows: usize,
    n: usize,
    dim: usize,
}

impl Shape {
    fn state_bytes(self) -> u64 {
        (self.rows * self.dim) as u64 * F32
    }
    fn score_bytes(self) -> u64 {
        (self.rows * self.n) as u64 * F32
    }
    fn row_bytes(self) -> u64 {
        self.rows as u64 * F32
    }
}

/// How the fused path splits the patterns: every chunk in splits of `split_len` patterns,
/// chunk c's first split at slot `split0[c]` of `total`.
struct Splits {
    split_len: usize,
    split0: Vec<usize>,
    total: usize,
}

impl Splits {
    fn plan(ctx: &GpuContext, store: &PatternStore, rows: usize, dim: usize) -> Splits {
        let groups_per_split =
            rows.div_ceil(Fused::queries_per_group(rows)) * dim.div_ceil(FEATURE_SLICE);
        let wanted = TARGET_GROUPS.div_ceil(groups_per_split).max(1);
        let mut split_len = store
            .len()
            .div_ceil(wanted)
            .next_multiple_of(TILE_PATTERNS)
            .max(MIN_SPLIT);
        loop {
            let counts: Vec<usize> = store.chunks().map(|c| c.rows.div_ceil(split_len)).collect();
            let total: usize = counts.iter().sum();
            let bytes = (total * rows * dim) as u64 * F32;
            // One split per chunk always fits: max_block_rows saw to it.
            if (total <= MAX_SPLITS && bytes <= ctx.max_binding_bytes())
                || split_len >= store.chunk_rows()
            {
                let split0 = counts
                    .iter()
                    .scan(0, |at, &c| {
                        let first = *at;
                        *at += c;
                        Some(first)
                    })
                    .collect();
                return Splits {
                    split_len,
                    split0,
                    total,
                };
            }
            split_len *= 2;
        }
    }
}

/// Device buffers of one block.
struct Scratch {
    states: [wgpu::Buffer; 2],
    lse: wgpu::Buffer,
    lse_before: wgpu::Buffer,
    delta: wgpu::Buffer,
    flag: wgpu::Buffer,
    work: Work,
}

enum Work {
    Fused {
        splits: Splits,
        ml: wgpu::Buffer,
        part: wgpu::Buffer,
    },
    Unfused {
        scores: wgpu::Buffer,
    },
}

/// Whether this request runs the fused kernels on this memory: `Fusion::Auto` takes the
/// unfused path for memories in more chunks than one merge takes.
fn fused(store: &PatternStore, opts: &RetrieveOptions) -> bool {
    opts.fused() && !(opts.fusion == Fusion::Auto && store.chunk_count() > MAX_SPLITS)
}

/// The largest block of queries one pass can take: its states, and its scores (unfused) or
/// per-chunk partials (fused), must fit one binding, and rows get a workgroup each in the
/// softmax, change and merge kernels.
pub(crate) fn max_block_rows(
    ctx: &GpuContext,
    store: &PatternStore,
    dim: usize,
    opts: &RetrieveOptions,
) -> Result<usize> {
    let limit = ctx.max_binding_bytes();
    let per_dimension = ctx.limits.max_compute_workgroups_per_dimension as u64;
    // Feature tiles of 64 (unfused) or slices of 128 (fused) are one dispatch dimension.
    if dim.div_ceil(64) as u64 > per_dimension {
        return Err(Error::OverLimit {
            what: format!("patterns of dimension {dim} (one workgroup per 64 features)"),
            needed: dim as u64 * F32,
            limit: 64 * per_dimension * F32,
            limit_name: "max_compute_workgroups_per_dimension",
        });
    }
    let (row_bytes, what) = if fused(store, opts) {
        let chunks = store.chunk_count();
        if chunks > MAX_SPLITS {
            return Err(Error::InvalidOptions(format!(
                "the fused kernels merge at most {MAX_SPLITS} chunks, and this memory is in \
                 {chunks} chunks of {} patterns: raise max_chunk_bytes, or retrieve with \
                 Fusion::Unfused",
                store.chunk_rows()
            )));
        }
        (
            (chunks * dim) as u64 * F32,
            format!("one query's partial sums over {chunks} chunks of dimension {dim}"),
        )
    } else {
        (
            store.len().max(dim) as u64 * F32,
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

pub(crate) async fn retrieve_block(
    ctx: &GpuContext,
    store: &PatternStore,
    queries: &[f32],
    dim: usize,
    opts: &RetrieveOptions,
) -> Result<BlockOut> {
    ctx.check_alive()?;
    let shape = Shape {
        rows: queries.len() / dim,
        n: store.len(),
        dim,
    };
    let (scratch, done) = ctx.scoped("allocating retrieval buffers", || {
        let work = if fused(store, opts) {
            let splits = Splits::plan(ctx, store, shape.rows, dim);
            let slots = (splits.total * shape.rows) as u64;
            Work::Fused {
                ml: ctx.storage("split max and sum", slots * 2 * F32),
                part: ctx.storage("split weighted sums", slots * dim as u64 * F32),
                splits,
            }
        } else {
            Work::Unfused {
                scores: ctx.storage("scores", shape.score_bytes()),
            }
        };
        let s = Scratch {
            states: [
                ctx.storage("states a", shape.state_bytes()),
                ctx.storage("states b", shape.state_bytes()),
            ],
            lse: ctx.storage("lse", shape.row_bytes()),
            lse_before: ctx.storage("lse before", shape.row_bytes()),
            delta: ctx.storage("delta", shape.row_bytes()),
            flag: ctx.storage("flag", F32),
            work,
        };
        ctx.queue
            .write_buffer(&s.states[0], 0, bytemuck::cast_slice(queries));
        s
    });
    done.await?;

    let timer = ctx.timer(opts.timing);
    let mut device_time = timer.as_ref().map(|_| Duration::ZERO);
    let fresh = || {
        let mut e = ctx.encoder("retrieve");
        if let Some(t) = &timer {
            t.start(&mut e);
        }
        e
    };
    let mut cur = 0;
    let mut steps = 0;
    let max_steps = opts.max_steps();
    // With a fixed step count every step goes into one submission; stopping on convergence
    // needs the flag after each step.
    let mut encoder = fresh();
    while steps < max_steps {
        let (_, done) = ctx.scoped("recording an update step", || {
            encode_step(
                ctx,
                &mut encoder,
                store,
                &scratch,
                shape,
                opts,
                cur,
                steps == 0,
            );
        });
        done.await?;
        cur = 1 - cur;
        steps += 1;
        if let Some(eps) = opts.eps() {
            if steps < max_steps {
                let e = std::mem::replace(&mut encoder, fresh());
                let mut out = submit(ctx, e, timer.as_ref(), &[(&scratch.flag, F32)]).await?;
                add_time(&mut device_time, timer.as_ref(), &mut out);
                if out[0][0] <= eps {
                    break;
                }
            }
        }
    }

    // The weights must be read before the energy pass below reuses the scores; recording the
    // copies first in the same encoder orders them.
    let mut parts: Vec<(&wgpu::Buffer, u64)> = vec![
        (&scratch.states[cur], shape.state_bytes()),
        (&scratch.delta, shape.row_bytes()),
    ];
    if let (true, Work::Unfused { scores }) = (opts.needs_weights(), &scratch.work) {
        parts.push((scores, shape.score_bytes()));
    }
    let (staged, done) = ctx.scoped("reading results back", || {
        ctx.stage_reads(&mut encoder, &parts)
    });
    done.await?;
    let energy_parts = [
        (&scratch.lse_before, shape.row_bytes()),
        (&scratch.lse, shape.row_bytes()),
    ];
    let (lse_before, lse_after) = if opts.energy {
        let (_, done) = ctx.scoped("recording the energy pass", || {
            encode_energy(ctx, &mut encoder, store, &scratch, shape, opts.beta, cur)
        });
        done.await?;
        let mut out = submit(ctx, encoder, timer.as_ref(), &energy_parts).await?;
        add_time(&mut device_time, timer.as_ref(), &mut out);
        let mut out = out.into_iter();
        (out.next(), out.next())
    } else {
        let mut out = submit(ctx, encoder, timer.as_ref(), &[]).await?;
        add_time(&mut device_time, timer.as_ref(), &mut out);
        (None, None)
    };
    if let Some(t) = timer {
        ctx.give_timer(t);
    }
    let mut main = ctx.finish_read(staged).await?.into_iter();
    Ok(BlockOut {
        states: main.next().unwrap_or_default(),
        max_change: main.next().unwrap_or_default(),
        weights: main.next(),
        lse_before,
        lse_after,
        steps,
        device_time,
    })
}

/// Ends `encoder` (with the timer's stamp), submits it and reads `parts` back, the
/// timestamps last.
async fn submit(
    ctx: &GpuContext,
    mut encoder: wgpu::CommandEncoder,
    timer: Option<&Timer>,
    parts: &[(&wgpu::Buffer, u64)],
) -> Result<Vec<Vec<f32>>> {
    let (staged, done): (Staged, _) = ctx.scoped("submitting retrieval work", || {
        let mut all = parts.to_vec();
        if let Some(t) = timer {
            all.push(t.stop(&mut encoder));
        }
        let staged = ctx.stage_reads(&mut encoder, &all);
        ctx.queue.submit([encoder.finish()]);
        staged
    });
    done.await?;
    ctx.finish_read(staged).await
}

/// Adds a submission's timestamps (the last part read) to the block's device time.
fn add_time(total: &mut Option<Duration>, timer: Option<&Timer>, out: &mut Vec<Vec<f32>>) {
    if let (Some(total), Some(timer)) = (total.as_mut(), timer) {
        if let Some(stamps) = out.pop() {
            *total += timer.elapsed(&stamps);
        }
    }
}

/// Records one update `states[1−cur] ← softmax(β states[cur] Xᵀ) X`, its lse and its change.
#[allow(clippy::too_many_arguments)]
fn encode_step(
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
        Work::Unfused { scores } => {
            encode_weights(ctx, encoder, store, s, scores, shape, opts.beta, cur);
            let k = ctx.kernels.for_patterns(&ctx.device, store.precision());
            ctx.poison(encoder, &s.states[next], shape.state_bytes());
            for (i, chunk) in store.chunks().enumerate() {
                k.weighted_sum.encode(
                    &ctx.device,
                    encoder,
                    (shape.rows, chunk.rows, shape.dim, store.row_words()),
                    Columns {
                        offset: chunk.first,
                        ld: shape.n,
                    },
                    i > 0,
                    binding(scores, shape.score_bytes()),
                    chunk.binding,
                    binding(&s.states[next], shape.state_bytes()),
                );
            }
            ctx.poison(encoder, &s.delta, shape.row_bytes());
            encoder.clear_buffer(&s.flag, 0, None);
            ctx.kernels.change.encode(
                &ctx.device,
                encoder,
                (shape.rows, shape.dim),
                binding(&s.states[cur], shape.state_bytes()),
                binding(&s.states[next], shape.state_bytes()),
                binding(&s.delta, shape.row_bytes()),
                binding(&s.flag, F32),
            );
        }
    }
    if first && opts.energy {
        encoder.copy_buffer_to_buffer(&s.lse, 0, &s.lse_before, 0, shape.row_bytes());
    }
}

/// Records the log-sum-exp of the final states `states[cur]` into `lse` (the fused path also
/// writes a throwaway update into the other state buffer, already read).
fn encode_energy(
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
        Work::Unfused { scores } => {
            encode_weights(ctx, encoder, store, s, scores, shape, beta, cur)
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
    scores: &wgpu::Buffer,
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
    ctx.kernels.softmax.encode(
        &ctx.device,
        encoder,
        (shape.rows, shape.n),
        binding(scores, shape.score_bytes()),
        binding(&s.lse, shape.row_bytes()),
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
    let (ml_bytes, part_bytes) = (slots * 2 * F32, slots * shape.dim as u64 * F32);
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
    ctx.poison(encoder, &s.delta, shape.row_bytes());
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
            flag: binding(&s.flag, F32),
        },
    );
}
