//! The classical network on the GPU: C = d·W and d·θ in device buffers, and one sweep as
//! `shaders/classical_sync.wgsl` (a batched mat-vec and sign) or
//! `shaders/classical_async.wgsl` (one workgroup per query walking the visiting order), each
//! recorded as several dispatches whose loops stay within [`LOOP_BUDGET`].

use std::sync::Arc;

use super::binary::{ranges, run_sweeps, Params, Sweep, LOOP_BUDGET, TREE_STEPS, WG};
use super::buffers::binding;
use super::GpuContext;
use crate::binary::{RecallOptions, Update};
use crate::error::{Error, Result};

use crate::storage::WORD_BYTES as WORD;

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
        let bytes = scaled.len() as u64 * WORD;
        if bytes > ctx.max_binding_bytes() {
            return Err(Error::OverLimit {
                what: format!("the {dim}×{dim} weights of a classical network"),
                needed: bytes,
                limit: ctx.max_binding_bytes(),
                limit_name: "max_storage_buffer_binding_size",
            });
        }
        let ((weights, t), done) = ctx.scoped("uploading weights", || {
            let w = ctx.storage("classical weights", bytes);
            let t = ctx.storage("classical thresholds", dim as u64 * WORD);
            ctx.queue.write_buffer(&w, 0, bytemuck::cast_slice(scaled));
            ctx.queue
                .write_buffer(&t, 0, bytemuck::cast_slice(thresholds));
            ctx.queue.submit([]);
            (w, t)
        });
        crate::wait::now("classical::Classical::train", done)?;
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
        crate::wait::now("classical::Classical::set_thresholds", done)
    }

    pub(crate) async fn recall(
        &self,
        queries: &[f32],
        dim: usize,
        opts: &RecallOptions,
    ) -> Result<(Vec<f32>, Vec<usize>, Vec<bool>)> {
        let ctx = &*self.ctx;
        let max_rows = (ctx.max_binding_bytes() / (dim as u64 * WORD)) as usize;
        let (fields, done) = ctx.scoped("allocating fields", || {
            let rows = max_rows.min(queries.len() / dim) as u64;
            ctx.storage("classical fields", rows * dim as u64 * WORD)
        });
        done.await?;
        run_sweeps(
            ctx,
            queries,
            dim,
            max_rows,
            opts,
            |encoder, sweep| match opts.update {
                Update::Synchronous => self.record_sync(encoder, sweep, &fields),
                Update::Asynchronous { .. } => self.record_async(encoder, sweep),
            },
        )
        .await
    }

    fn params(&self, sweep: &Sweep<'_>, (begin, end): (u32, u32)) -> Params {
        Params {
            rows: sweep.rows as u32,
            dim: self.dim as u32,
            sweep: sweep.number,
            begin,
            end,
            ..Params::default()
        }
    }

    /// Every field as a sum over slices of [`LOOP_BUDGET`] columns, one dispatch each.
    fn record_sync(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        sweep: &Sweep<'_>,
        fields: &wgpu::Buffer,
    ) {
        let ctx = &*self.ctx;
        let kernels = ctx.kernels.binary(&ctx.device);
        let bytes = sweep.state_bytes(self.dim);
        ctx.poison(encoder, sweep.next, bytes);
        ctx.poison(encoder, fields, bytes);
        for range in ranges(self.dim, LOOP_BUDGET) {
            let [last, changed] = sweep.tail();
            kernels.classical_sync.dispatch(
                &ctx.device,
                encoder,
                &self.params(sweep, range),
                &[
                    binding(&self.weights, (self.dim * self.dim) as u64 * WORD),
                    binding(&self.thresholds, self.dim as u64 * WORD),
                    binding(sweep.current, bytes),
                    binding(sweep.next, bytes),
                    binding(fields, bytes),
                    last,
                    changed,
                ],
                sweep.grid(self.dim),
            );
        }
    }

    /// The visiting order in runs of as many neurons as keep a dispatch within
    /// [`LOOP_BUDGET`]: each neuron costs its share of the dot product, the reduction tree and
    /// the visit itself.
    fn record_async(&self, encoder: &mut wgpu::CommandEncoder, sweep: &Sweep<'_>) {
        let ctx = &*self.ctx;
        let kernels = ctx.kernels.binary(&ctx.device);
        let bytes = sweep.state_bytes(self.dim);
        let per_neuron = self.dim.div_ceil(WG) + TREE_STEPS + 1;
        for range in ranges(self.dim, LOOP_BUDGET / per_neuron) {
            let [last, changed] = sweep.tail();
            kernels.classical_async.dispatch(
                &ctx.device,
                encoder,
                &self.params(sweep, range),
                &[
                    binding(&self.weights, (self.dim * self.dim) as u64 * WORD),
                    binding(&self.thresholds, self.dim as u64 * WORD),
                    binding(sweep.order, self.dim as u64 * WORD),
                    binding(sweep.current, bytes),
                    last,
                    changed,
                ],
                (sweep.rows as u32, 1, 1),
            );
        }
    }
}
