//! Retrieval recorded into an application's command encoder, from its queries buffer into its
//! states buffer (see `Memory::record_retrieval`): per block, a copy of the block's queries
//! into a workspace's scratch, the steps there, and a copy of the final states out, all on
//! the device. Nothing is read back and nothing is written from the host.

use super::buffers::PatternStore;
use super::plan::{Blocks, Shape, WORD};
use super::recorder::Recorder;
use super::retrieval::checkout;
use super::step::{encode_step, StepJob};
use super::workspace::Workspace;
use super::GpuContext;
use crate::error::Result;
use crate::retrieve::RetrieveOptions;

/// The application's buffers: `rows` queries of the memory's dimension at the start of
/// `queries`, their states written at the start of `states` (validated by the caller).
pub(crate) struct Io<'a> {
    pub queries: &'a wgpu::Buffer,
    pub states: &'a wgpu::Buffer,
    pub rows: usize,
}

/// Records `opts.max_steps()` update steps of every block of `io`'s queries into `encoder`.
pub(crate) async fn record(
    ctx: &GpuContext,
    store: &PatternStore,
    plan: &Blocks,
    opts: &RetrieveOptions,
    encoder: &mut wgpu::CommandEncoder,
    io: &Io<'_>,
) -> Result<()> {
    ctx.check_alive()?;
    let mut start = 0;
    while start < io.rows {
        let shape = Shape {
            rows: plan.rows.min(io.rows - start),
            n: store.len(),
            dim: plan.dim,
        };
        let offset = (start * plan.dim) as u64 * WORD;
        let (ws, done) = ctx.scoped(
            "recording a retrieval into the application's encoder",
            || record_block(ctx, store, plan.fused, opts, encoder, io, shape, offset),
        );
        done.await?;
        store.workspaces().give(ws);
        start += shape.rows;
    }
    Ok(())
}

/// One block: its queries copied in from `io.queries` at `offset`, the steps, its states
/// copied out to `io.states` at `offset`.
#[allow(clippy::too_many_arguments)]
fn record_block(
    ctx: &GpuContext,
    store: &PatternStore,
    fused: bool,
    opts: &RetrieveOptions,
    encoder: &mut wgpu::CommandEncoder,
    io: &Io<'_>,
    shape: Shape,
    offset: u64,
) -> Workspace {
    let mut ws = checkout(ctx, store, shape, fused, opts, true);
    let bytes = shape.state_bytes();
    encoder.copy_buffer_to_buffer(io.queries, offset, &ws.scratch.states[0], 0, bytes);
    let mut job = StepJob {
        store,
        scratch: &ws.scratch,
        shape,
        beta: opts.beta,
        separation: opts.separation,
        from: 0,
    };
    let mut rec = Recorder::reusing(ctx, encoder, &mut ws.binds);
    for _ in 0..opts.max_steps() {
        encode_step(&mut rec, &job, false);
        job.from = 1 - job.from;
    }
    encoder.copy_buffer_to_buffer(&ws.scratch.states[job.from], 0, io.states, offset, bytes);
    ws
}
