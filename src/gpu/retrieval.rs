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
use super::clamp::ClampBuffers;
use super::plan::{Blocks, Shape, Splits, WORD};
use super::recorder::Recorder;
use super::separate::{SeparationKind, SeparationScratch};
use super::softmax::Softmax;
use super::step::{encode_energy, encode_step, Scratch, StepJob, Work};
use super::timer::Timer;
use super::topk::{self, TopKBuffers};
use super::weighted_sum::WeightedSum;
use super::workspace::{BindGroups, Key, Workspace};
use super::GpuContext;
use crate::error::Result;
use crate::retrieve::{BlockOut, RetrieveOptions};

pub(crate) use super::plan::blocks;

const SUBMIT: &str = "submitting retrieval work";

/// Retrieves one block of `queries` (at most `plan.rows` of them) from the store, in the
/// store's idle workspace for this block shape if it has one (see [`workspace`](super::workspace)).
pub(crate) async fn retrieve_block(
    ctx: &GpuContext,
    store: &PatternStore,
    queries: &[f32],
    clamp: Option<&[bool]>,
    plan: &Blocks,
    opts: &RetrieveOptions,
) -> Result<BlockOut> {
    ctx.check_alive()?;
    let shape = Shape {
        rows: queries.len() / plan.dim,
        n: store.len(),
        dim: plan.dim,
    };
    let (mut ws, done) = ctx.scoped("allocating retrieval buffers", || {
        let ws = checkout(ctx, store, shape, plan.fused, opts, false);
        ctx.write(&ws.scratch.states[0], 0, bytemuck::cast_slice(queries));
        if let (Some(buffers), Some(known)) = (&ws.scratch.clamp, clamp) {
            let words: Vec<u32> = known.iter().map(|&k| u32::from(k)).collect();
            ctx.write(&buffers.known, 0, bytemuck::cast_slice(&words));
            ctx.write(&buffers.cue, 0, bytemuck::cast_slice(queries));
        }
        ws
    });
    done.await?;
    let mut job = StepJob {
        store,
        scratch: &ws.scratch,
        shape,
        beta: opts.beta,
        separation: opts.separation,
        from: 0,
    };
    let mut run = Submissions::new(ctx, opts.timing, &mut ws.binds);
    let steps = run_steps(&mut run, &mut job, opts).await?;
    let out = read_results(run, &job, steps, opts).await?;
    // Only a workspace whose every use succeeded goes back: after an error its buffers may
    // hold anything, and a device that failed once may be lost.
    store.workspaces().give(ws);
    Ok(out)
}

/// The store's idle workspace for a block of `shape` on the fused or the unfused path, with
/// `opts`' top-k and separation, recorded into an application's encoder or not (see [`Key`]),
/// else a new one.
pub(super) fn checkout(
    ctx: &GpuContext,
    store: &PatternStore,
    shape: Shape,
    fused: bool,
    opts: &RetrieveOptions,
    recorded: bool,
) -> Workspace {
    let key = Key {
        rows: shape.rows,
        n: shape.n,
        fused,
        top_k: opts.top_k,
        separation: SeparationKind::of(opts.separation),
        clamp: opts.clamp_known,
        recorded,
    };
    store.workspaces().take(key).unwrap_or_else(|| Workspace {
        key,
        scratch: allocate(ctx, store, shape, &key),
        binds: BindGroups::default(),
    })
}

/// The block's scratch buffers for the fused or the unfused path, for selecting the top-k and
/// for the separation, as `key` says.
fn allocate(ctx: &GpuContext, store: &PatternStore, shape: Shape, key: &Key) -> Scratch {
    let work = if key.fused {
        let splits = Splits::plan(ctx, store, shape.rows, shape.dim);
        let slots = (splits.total * shape.rows) as u64;
        Work::Fused {
            ml: ctx.storage("split max and sum", slots * 2 * WORD),
            part: ctx.storage("split weighted sums", slots * shape.dim as u64 * WORD),
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
                WeightedSum::part_bytes(ctx, shape.rows, shape.dim, store.chunk_rows()),
            ),
        }
    };
    let separation = match key.fused {
        // The fused kernels take softmax and softmax₁ only, which keep no state.
        true => SeparationScratch::Plain,
        false => SeparationScratch::new(ctx, key.separation, shape.rows, shape.n),
    };
    Scratch {
        states: [
            ctx.storage("states a", shape.state_bytes()),
            ctx.storage("states b", shape.state_bytes()),
        ],
        lse: ctx.storage("lse", shape.row_bytes()),
        lse_before: ctx.storage("lse before", shape.row_bytes()),
        delta: ctx.storage("delta", shape.row_bytes()),
        flag: ctx.storage("flag", WORD),
        work,
        top: key.top_k.map(|k| TopKBuffers::new(ctx, shape.rows, k)),
        separation,
        clamp: key
            .clamp
            .then(|| ClampBuffers::new(ctx, shape.rows * shape.dim)),
    }
}

/// Records the update steps, leaving `job.from` at the final states; returns how many ran.
/// With a fixed step count every step goes into one submission; stopping on convergence
/// needs the flag after each step.
async fn run_steps(
    run: &mut Submissions<'_>,
    job: &mut StepJob<'_>,
    opts: &RetrieveOptions,
) -> Result<usize> {
    let max_steps = opts.max_steps();
    let mut steps = 0;
    while steps < max_steps {
        let keep_lse = steps == 0 && opts.energy;
        run.record("recording an update step", |rec| {
            encode_step(rec, job, keep_lse)
        })
        .await?;
        job.from = 1 - job.from;
        steps += 1;
        if let (Some(eps), true) = (opts.eps(), steps < max_steps) {
            let flag = run.submit(&[(&job.scratch.flag, WORD)]).await?;
            if flag[0][0] <= eps {
                break;
            }
        }
    }
    Ok(steps)
}

/// Reads back the states, their last change, the weights and the top-k asked for, and the
/// energy pass's log-sum-exps.
async fn read_results(
    mut run: Submissions<'_>,
    job: &StepJob<'_>,
    steps: usize,
    opts: &RetrieveOptions,
) -> Result<BlockOut> {
    let (s, shape, ctx) = (job.scratch, job.shape, run.ctx);
    let weights = match &s.work {
        Work::Unfused { scores, .. } => Some(scores),
        Work::Fused { .. } => None,
    };
    // The selection reads the last step's weights: it is recorded, like the copies below,
    // before the energy pass reuses them.
    if let (Some(top), Some(weights)) = (&s.top, weights) {
        run.record("recording the top-k selection", |rec| {
            let kernels = ctx.kernels.topk(&ctx.device);
            kernels.encode(rec, (shape.rows, shape.n), weights, top)
        })
        .await?;
    }
    let mut parts: Vec<(&wgpu::Buffer, u64)> = vec![
        (&s.states[job.from], shape.state_bytes()),
        (&s.delta, shape.row_bytes()),
    ];
    if let (true, Some(weights)) = (opts.weights, weights) {
        parts.push((weights, shape.score_bytes()));
    }
    if let Some(top) = &s.top {
        parts.push((&top.top, TopKBuffers::top_bytes(shape.rows, top.k)));
    }
    // The last step's lse, before an energy pass would overwrite it.
    if opts.keep_lse {
        parts.push((&s.lse, shape.row_bytes()));
    }
    let (staged, done) = ctx.scoped("reading results back", || {
        ctx.stage_reads(&mut run.encoder, &parts)
    });
    done.await?;
    let lses = [
        (&s.lse_before, shape.row_bytes()),
        (&s.lse, shape.row_bytes()),
    ];
    let energy: &[(&wgpu::Buffer, u64)] = if opts.energy {
        run.record("recording the energy pass", |rec| encode_energy(rec, job))
            .await?;
        &lses
    } else {
        &[]
    };
    let (lses, device_time) = run.finish(energy).await?;
    let mut lses = lses.into_iter();
    let (lse_before, lse_after) = (lses.next(), lses.next());
    let mut main = ctx.finish_read(staged).await?.into_iter();
    let (states, max_change) = (main.next(), main.next());
    let weights = opts.weights.then(|| main.next()).flatten();
    let top_k = match &s.top {
        Some(top) => Some(topk::order(
            &main.next().unwrap_or_default(),
            top.k,
            shape.n,
        )?),
        None => None,
    };
    let lse_last = opts.keep_lse.then(|| main.next()).flatten();
    Ok(BlockOut {
        states: states.unwrap_or_default(),
        max_change: max_change.unwrap_or_default(),
        weights,
        top_k,
        lse_before,
        lse_after,
        lse_last,
        steps,
        device_time,
    })
}

/// The encoder a block records into, the bind groups it reuses, and the device time of what it
/// has submitted.
struct Submissions<'c> {
    ctx: &'c GpuContext,
    binds: &'c mut BindGroups,
    timer: Option<Timer>,
    device_time: Option<Duration>,
    encoder: wgpu::CommandEncoder,
}

impl<'c> Submissions<'c> {
    fn new(ctx: &'c GpuContext, timing: bool, binds: &'c mut BindGroups) -> Self {
        let timer = ctx.timer(timing);
        Submissions {
            ctx,
            binds,
            device_time: timer.as_ref().map(|_| Duration::ZERO),
            encoder: fresh(ctx, timer.as_ref()),
            timer,
        }
    }

    /// Records into the current encoder inside an error scope.
    async fn record(&mut self, what: &str, f: impl FnOnce(&mut Recorder<'_>)) -> Result<()> {
        let ctx = self.ctx;
        let (encoder, binds) = (&mut self.encoder, &mut *self.binds);
        let ((), done) = ctx.scoped(what, || f(&mut Recorder::reusing(ctx, encoder, binds)));
        done.await
    }

    /// Submits what is recorded (a fresh encoder takes its place) and reads back `parts`.
    async fn submit(&mut self, parts: &[(&wgpu::Buffer, u64)]) -> Result<Vec<Vec<f32>>> {
        let encoder = std::mem::replace(&mut self.encoder, fresh(self.ctx, self.timer.as_ref()));
        let timer = self.timer.as_ref();
        submit_timed(self.ctx, encoder, timer, &mut self.device_time, parts).await
    }

    /// Submits the last of the block's work and reads back `parts`; returns them with the
    /// device time of every submission, and gives the timer back to the pool.
    async fn finish(
        self,
        parts: &[(&wgpu::Buffer, u64)],
    ) -> Result<(Vec<Vec<f32>>, Option<Duration>)> {
        let Submissions {
            ctx,
            binds: _,
            timer,
            mut device_time,
            encoder,
        } = self;
        let out = submit_timed(ctx, encoder, timer.as_ref(), &mut device_time, parts).await;
        if let Some(t) = timer {
            ctx.give_timer(t);
        }
        Ok((out?, device_time))
    }
}

/// Submits `encoder`, reads back `parts` and adds the submission's timestamps (read last) to
/// `total`.
async fn submit_timed(
    ctx: &GpuContext,
    encoder: wgpu::CommandEncoder,
    timer: Option<&Timer>,
    total: &mut Option<Duration>,
    parts: &[(&wgpu::Buffer, u64)],
) -> Result<Vec<Vec<f32>>> {
    let mut out = ctx.submit_and_read(SUBMIT, encoder, timer, parts).await?;
    if let (Some(total), Some(timer)) = (total.as_mut(), timer) {
        if let Some(stamps) = out.pop() {
            *total += timer.elapsed(&stamps);
        }
    }
    Ok(out)
}

fn fresh(ctx: &GpuContext, timer: Option<&Timer>) -> wgpu::CommandEncoder {
    let mut e = ctx.encoder("retrieve");
    if let Some(t) = timer {
        t.start(&mut e);
    }
    e
}
