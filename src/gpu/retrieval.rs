//! A block of queries through the update steps on the GPU, with the states ping-ponging between
//! two device buffers. Between steps the host reads back only the 4-byte convergence flag, and
//! only when it stops on convergence.
//!
//! Two ways through a step (`plan::fused` chooses; `step` records them):
//! - fused: per chunk of patterns, the fused kernel writes per-split partial (max, sum,
//!   weighted sum); `merge` combines all splits of all chunks into the new states and tests
//!   convergence. The B×N scores never exist.
//! - unfused: per chunk, similarity writes the chunk's columns of the B×N scores; softmax
//!   normalises each row; per chunk, weighted sum adds the chunk's share; `change` tests
//!   convergence. Needed when the weights are asked for.

use std::time::Duration;

use super::buffers::PatternStore;
use super::plan::{fused, Shape, Splits, WORD};
use super::softmax::Softmax;
use super::step::{encode_energy, encode_step, Scratch, Work};
use super::timer::Timer;
use super::weighted_sum::WeightedSum;
use super::GpuContext;
use crate::error::Result;
use crate::retrieve::{BlockOut, RetrieveOptions};

pub(crate) use super::plan::max_block_rows;

const SUBMIT: &str = "submitting retrieval work";

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
    let fused = fused(store, dim, opts)?;
    let (scratch, done) = ctx.scoped("allocating retrieval buffers", || {
        let work = if fused {
            let splits = Splits::plan(ctx, store, shape.rows, dim);
            let slots = (splits.total * shape.rows) as u64;
            Work::Fused {
                ml: ctx.storage("split max and sum", slots * 2 * WORD),
                part: ctx.storage("split weighted sums", slots * dim as u64 * WORD),
                splits,
            }
        } else {
            Work::Unfused {
                scores: ctx.storage("scores", shape.score_bytes()),
                stats: ctx.storage(
                    "softmax segment statistics",
                    Softmax::stats_bytes(shape.rows, shape.n),
                ),
                part: ctx.storage(
                    "weighted-sum run partials",
                    WeightedSum::part_bytes(ctx, shape.rows, dim, store.chunk_rows()),
                ),
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
            flag: ctx.storage("flag", WORD),
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
                let mut out = ctx
                    .submit_and_read(SUBMIT, e, timer.as_ref(), &[(&scratch.flag, WORD)])
                    .await?;
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
    if let (true, Work::Unfused { scores, .. }) = (opts.needs_weights(), &scratch.work) {
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
        let mut out = ctx
            .submit_and_read(SUBMIT, encoder, timer.as_ref(), &energy_parts)
            .await?;
        add_time(&mut device_time, timer.as_ref(), &mut out);
        let mut out = out.into_iter();
        (out.next(), out.next())
    } else {
        let mut out = ctx
            .submit_and_read(SUBMIT, encoder, timer.as_ref(), &[])
            .await?;
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

/// Adds a submission's timestamps (the last part read) to the block's device time.
fn add_time(total: &mut Option<Duration>, timer: Option<&Timer>, out: &mut Vec<Vec<f32>>) {
    if let (Some(total), Some(timer)) = (total.as_mut(), timer) {
        if let Some(stamps) = out.pop() {
            *total += timer.elapsed(&stamps);
        }
    }
}
