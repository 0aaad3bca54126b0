//! A block of queries through the update steps on the GPU (the unfused path):
//! similarity → softmax → weighted sum → change, per step, with the states ping-ponging
//! between two device buffers. Between steps the host reads back only the 4-byte
//! convergence flag, and only when it stops on convergence.

use super::buffers::{binding, PatternBuffer};
use super::GpuContext;
use crate::error::Result;
use crate::retrieve::{BlockOut, RetrieveOptions};

const F32: u64 = 4;

/// Device buffers of one block.
struct Scratch {
    states: [wgpu::Buffer; 2],
    scores: wgpu::Buffer,
    lse: wgpu::Buffer,
    lse_before: wgpu::Buffer,
    delta: wgpu::Buffer,
    flag: wgpu::Buffer,
}

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

/// The largest block of queries whose score matrix and states fit one binding, capped by the
/// per-dimension workgroup limit (softmax and change give each row a workgroup).
pub(crate) fn max_block_rows(ctx: &GpuContext, n: usize, dim: usize) -> usize {
    let by_scores = ctx.max_binding_bytes() / (n.max(dim) as u64 * F32);
    (by_scores as usize).min(ctx.limits.max_compute_workgroups_per_dimension as usize)
}

pub(crate) async fn retrieve_block(
    ctx: &GpuContext,
    patterns: &PatternBuffer,
    queries: &[f32],
    dim: usize,
    opts: &RetrieveOptions,
) -> Result<BlockOut> {
    ctx.check_alive()?;
    let shape = Shape {
        rows: queries.len() / dim,
        n: patterns.len(),
        dim,
    };
    let (scratch, done) = ctx.scoped("allocating retrieval buffers", || {
        let s = Scratch {
            states: [
                ctx.storage("states a", shape.state_bytes()),
                ctx.storage("states b", shape.state_bytes()),
            ],
            scores: ctx.storage("scores", shape.score_bytes()),
            lse: ctx.storage("lse", shape.row_bytes()),
            lse_before: ctx.storage("lse before", shape.row_bytes()),
            delta: ctx.storage("delta", shape.row_bytes()),
            flag: ctx.storage("flag", F32),
        };
        ctx.queue
            .write_buffer(&s.states[0], 0, bytemuck::cast_slice(queries));
        s
    });
    done.await?;

    let mut cur = 0;
    let mut steps = 0;
    let max_steps = opts.max_steps();
    // With a fixed step count every step goes into one submission; stopping on convergence
    // needs the flag after each step.
    let mut encoder = ctx.encoder("retrieve");
    while steps < max_steps {
        let (_, done) = ctx.scoped("recording an update step", || {
            encode_step(
                ctx,
                &mut encoder,
                patterns,
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
                let (staged, done) = ctx.scoped("submitting an update step", || {
                    let mut e = std::mem::replace(&mut encoder, ctx.encoder("retrieve"));
                    let staged = ctx.stage_reads(&mut e, &[(&scratch.flag, F32)]);
                    ctx.queue.submit([e.finish()]);
                    staged
                });
                done.await?;
                let flag = ctx.finish_read(staged).await?;
                if flag[0][0] <= eps {
                    break;
                }
            }
        }
    }

    // Final reads: the weights must be staged before the energy pass below reuses the scores.
    let mut parts: Vec<(&wgpu::Buffer, u64)> = vec![
        (&scratch.states[cur], shape.state_bytes()),
        (&scratch.delta, shape.row_bytes()),
    ];
    if opts.needs_weights() {
        parts.push((&scratch.scores, shape.score_bytes()));
    }
    let (staged, done) = ctx.scoped("reading results back", || {
        let mut staged = vec![ctx.stage_reads(&mut encoder, &parts)];
        if opts.energy {
            encode_weights(ctx, &mut encoder, patterns, &scratch, shape, opts.beta, cur);
            staged.push(ctx.stage_reads(
                &mut encoder,
                &[
                    (&scratch.lse_before, shape.row_bytes()),
                    (&scratch.lse, shape.row_bytes()),
                ],
            ));
        }
        ctx.queue.submit([encoder.finish()]);
        staged
    });
    done.await?;
    let mut staged = staged.into_iter();
    let mut main = match staged.next() {
        Some(s) => ctx.finish_read(s).await?,
        None => unreachable!("one staging exists"),
    }
    .into_iter();
    let states = main.next().unwrap_or_default();
    let max_change = main.next().unwrap_or_default();
    let weights = main.next();
    let (lse_before, lse_after) = match staged.next() {
        Some(s) => {
            let mut e = ctx.finish_read(s).await?.into_iter();
            (e.next(), e.next())
        }
        None => (None, None),
    };
    Ok(BlockOut {
        states,
        weights,
        lse_before,
        lse_after,
        max_change,
        steps,
    })
}

/// Records `scores ← softmax(β states[cur] Xᵀ)` and its log-sum-exp into `lse`.
fn encode_weights(
    ctx: &GpuContext,
    encoder: &mut wgpu::CommandEncoder,
    patterns: &PatternBuffer,
    s: &Scratch,
    shape: Shape,
    beta: f32,
    cur: usize,
) {
    let k = &ctx.kernels;
    let x = patterns
        .binding()
        .expect("retrieval checks for an empty memory first");
    ctx.poison(encoder, &s.scores, shape.score_bytes());
    k.similarity.encode(
        &ctx.device,
        encoder,
        ctx.limits.max_compute_workgroups_per_dimension,
        (shape.rows, shape.n, shape.dim),
        beta,
        binding(&s.states[cur], shape.state_bytes()),
        x,
        binding(&s.scores, shape.score_bytes()),
    );
    ctx.poison(encoder, &s.lse, shape.row_bytes());
    k.softmax.encode(
        &ctx.device,
        encoder,
        (shape.rows, shape.n),
        binding(&s.scores, shape.score_bytes()),
        binding(&s.lse, shape.row_bytes()),
    );
}

/// Records one update `states[1−cur] ← softmax(β states[cur] Xᵀ) X` and its change.
#[allow(clippy::too_many_arguments)]
fn encode_step(
    ctx: &GpuContext,
    encoder: &mut wgpu::CommandEncoder,
    patterns: &PatternBuffer,
    s: &Scratch,
    shape: Shape,
    opts: &RetrieveOptions,
    cur: usize,
    first: bool,
) {
    let k = &ctx.kernels;
    let next = 1 - cur;
    encode_weights(ctx, encoder, patterns, s, shape, opts.beta, cur);
    if first && opts.energy {
        encoder.copy_buffer_to_buffer(&s.lse, 0, &s.lse_before, 0, shape.row_bytes());
    }
    ctx.poison(encoder, &s.states[next], shape.state_bytes());
    k.weighted_sum.encode(
        &ctx.device,
        encoder,
        (shape.rows, shape.n, shape.dim),
        binding(&s.scores, shape.score_bytes()),
        patterns
            .binding()
            .expect("retrieval checks for an empty memory first"),
        binding(&s.states[next], shape.state_bytes()),
    );
    ctx.poison(encoder, &s.delta, shape.row_bytes());
    encoder.clear_buffer(&s.flag, 0, None);
    k.change.encode(
        &ctx.device,
        encoder,
        (shape.rows, shape.dim),
        binding(&s.states[cur], shape.state_bytes()),
        binding(&s.states[next], shape.state_bytes()),
        binding(&s.delta, shape.row_bytes()),
        binding(&s.flag, F32),
    );
}
