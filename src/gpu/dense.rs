//! The dense network on the GPU: the patterns transposed (d×N) in one buffer, the B×N overlaps
//! of a block beside the states. A sweep is `shaders/dense_overlaps.wgsl` then
//! `shaders/dense_sync.wgsl` (every neuron from the old overlaps) or `shaders/dense_async.wgsl`
//! (one workgroup per query, overlaps moved on every flip).

use std::sync::Arc;

use ndarray::ArrayView2;

use super::binary::{run_sweeps, Params};
use super::buffers::binding;
use super::GpuContext;
use crate::binary::{RecallOptions, Update};
use crate::dense::Interaction;
use crate::error::{Error, Result};

const WORD: u64 = 4;

pub(crate) struct DenseGpu {
    ctx: Arc<GpuContext>,
    n: usize,
    dim: usize,
    patterns_t: wgpu::Buffer,
}

impl DenseGpu {
    pub(crate) fn new(ctx: &Arc<GpuContext>, patterns: ArrayView2<f32>) -> Result<DenseGpu> {
        ctx.check_alive()?;
        let (n, dim) = patterns.dim();
        let bytes = (n * dim) as u64 * WORD;
        if bytes > ctx.max_binding_bytes() {
            return Err(Error::OverLimit {
                what: format!("{n} binary patterns of dimension {dim}"),
                needed: bytes,
                limit: ctx.max_binding_bytes(),
                limit_name: "max_storage_buffer_binding_size",
            });
        }
        let t = patterns.t().as_standard_layout().into_owned();
        let (patterns_t, done) = ctx.scoped("uploading patterns", || {
            let b = ctx.storage("dense patterns (transposed)", bytes);
            let words = t.as_slice().expect("standard layout");
            ctx.queue.write_buffer(&b, 0, bytemuck::cast_slice(words));
            ctx.queue.submit([]);
            b
        });
        pollster::block_on(done)?;
        Ok(DenseGpu {
            ctx: Arc::clone(ctx),
            n,
            dim,
            patterns_t,
        })
    }

    pub(crate) async fn recall(
        &self,
        queries: &[f32],
        interaction: Interaction,
        opts: &RecallOptions,
    ) -> Result<(Vec<f32>, Vec<usize>, Vec<bool>)> {
        let ctx = &*self.ctx;
        let (n, dim) = (self.n, self.dim);
        let kernels = ctx.kernels.binary(&ctx.device);
        // A block's states (rows×d) and overlaps (rows×N) must each fit one binding.
        let max_rows = (ctx.max_binding_bytes() / (n.max(dim) as u64 * WORD)) as usize;
        let (kind, power, beta) = interaction.code();
        let patterns = binding(&self.patterns_t, (n * dim) as u64 * WORD);
        let (overlaps, done) = ctx.scoped("allocating overlaps", || {
            let rows = max_rows.min(queries.len() / dim) as u64;
            ctx.storage("overlaps", rows * n as u64 * WORD)
        });
        done.await?;
        run_sweeps(ctx, queries, dim, max_rows, opts, |encoder, sweep| {
            let params = Params {
                rows: sweep.rows as u32,
                dim: dim as u32,
                n: n as u32,
                sweep: sweep.number,
                kind,
                power,
                beta,
                _pad: 0,
            };
            let bytes = sweep.state_bytes(dim);
            let overlap_bytes = (sweep.rows * n) as u64 * WORD;
            ctx.poison(encoder, &overlaps, overlap_bytes);
            kernels.dense_overlaps.dispatch(
                &ctx.device,
                encoder,
                &params,
                &[
                    patterns.clone(),
                    binding(sweep.current, bytes),
                    binding(&overlaps, overlap_bytes),
                ],
                sweep.grid(n),
            );
            let [last, changed] = sweep.tail();
            match opts.update {
                Update::Synchronous => {
                    ctx.poison(encoder, sweep.next, bytes);
                    kernels.dense_sync.dispatch(
                        &ctx.device,
                        encoder,
                        &params,
                        &[
                            patterns.clone(),
                            binding(&overlaps, overlap_bytes),
                            binding(sweep.current, bytes),
                            binding(sweep.next, bytes),
                            last,
                            changed,
                        ],
                        sweep.grid(dim),
                    );
                }
                Update::Asynchronous { .. } => kernels.dense_async.dispatch(
                    &ctx.device,
                    encoder,
                    &params,
                    &[
                        patterns.clone(),
                        binding(sweep.order, dim as u64 * WORD),
                        binding(&overlaps, overlap_bytes),
                        binding(sweep.current, bytes),
                        last,
                        changed,
                    ],
                    (sweep.rows as u32, 1, 1),
                ),
            }
        })
        .await
    }
}
