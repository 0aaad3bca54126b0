//! The classical network on the GPU: C = d·W and d·θ in device buffers, and one sweep as
//! `shaders/classical_sync.wgsl` (a batched mat-vec and sign) or
//! `shaders/classical_async.wgsl` (one workgroup per query walking the visiting order).

use std::sync::Arc;

use super::binary::{run_sweeps, Params};
use super::buffers::binding;
use super::GpuContext;
use crate::binary::{RecallOptions, Update};
use crate::error::Result;

const WORD: u64 = 4;

pub(crate) struct ClassicalGpu {
    ctx: Arc<GpuContext>,
    dim: usize,
    weights: wgpu::Buffer,
    thresholds: wgpu::Buffer,
}

impl ClassicalGpu {
    /// Uploads `scaled` (d×d) and `thresholds` (d).
    pub(crate) fn new(
        ctx: &Arc<GpuContext>,
        scaled: &[f32],
        thresholds: &[f32],
    ) -> Result<ClassicalGpu> {
        ctx.check_alive()?;
        let dim = thresholds.len();
        let ((weights, t), done) = ctx.scoped("uploading weights", || {
            let w = ctx.storage("classical weights", scaled.len() as u64 * WORD);
            let t = ctx.storage("classical thresholds", dim as u64 * WORD);
            ctx.queue.write_buffer(&w, 0, bytemuck::cast_slice(scaled));
            ctx.queue
                .write_buffer(&t, 0, bytemuck::cast_slice(thresholds));
            ctx.queue.submit([]);
            (w, t)
        });
        pollster::block_on(done)?;
        Ok(ClassicalGpu {
            ctx: Arc::clone(ctx),
            dim,
            weights,
            thresholds: t,
        })
    }

    pub(crate) fn set_thresholds(&self, thresholds: &[f32]) -> Result<()> {
        let ((), done) = self.ctx.scoped("uploading thresholds", || {
            self.ctx
                .queue
                .write_buffer(&self.thresholds, 0, bytemuck::cast_slice(thresholds));
            self.ctx.queue.submit([]);
        });
        pollster::block_on(done)
    }

    pub(crate) async fn recall(
        &self,
        queries: &[f32],
        dim: usize,
        opts: &RecallOptions,
    ) -> Result<(Vec<f32>, Vec<usize>, Vec<bool>)> {
        let ctx = &*self.ctx;
        let kernels = ctx.kernels.binary(&ctx.device);
        let max_rows = (ctx.max_binding_bytes() / (dim as u64 * WORD)) as usize;
        let matrix = binding(&self.weights, (dim * dim) as u64 * WORD);
        let thresholds = binding(&self.thresholds, dim as u64 * WORD);
        run_sweeps(ctx, queries, dim, max_rows, opts, |encoder, sweep| {
            let params = Params {
                rows: sweep.rows as u32,
                dim: self.dim as u32,
                sweep: sweep.number,
                ..Params::default()
            };
            let bytes = sweep.state_bytes(dim);
            let [last, changed] = sweep.tail();
            match opts.update {
                Update::Synchronous => {
                    ctx.poison(encoder, sweep.next, bytes);
                    kernels.classical_sync.dispatch(
                        &ctx.device,
                        encoder,
                        &params,
                        &[
                            matrix.clone(),
                            thresholds.clone(),
                            binding(sweep.current, bytes),
                            binding(sweep.next, bytes),
                            last,
                            changed,
                        ],
                        sweep.grid(dim),
                    );
                }
                Update::Asynchronous { .. } => kernels.classical_async.dispatch(
                    &ctx.device,
                    encoder,
                    &params,
                    &[
                        matrix.clone(),
                        thresholds.clone(),
                        binding(sweep.order, dim as u64 * WORD),
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
