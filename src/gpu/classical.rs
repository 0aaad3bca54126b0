//! The classical network on the GPU: C = d·W and d·θ in device buffers, and one sweep as
//! `shaders/classical_sync.wgsl` (a batched mat-vec and sign) or
//! `shaders/classical_async.wgsl` (one workgroup per query walking the visiting order), each
//! recorded as several dispatches whose loops stay within [`LOOP_BUDGET`].

use std::sync::Arc;

use super::binary::{ranges, run_sweeps, Params, Recalled, Sweep, LOOP_BUDGET, TREE_STEPS, WG};
use super::buffers::binding;
use super::recorder::{bindings, Recorder};
use super::GpuContext;
use crate::binary::{RecallOptions, Update};
use crate::error::Result;

use crate::storage::WORD_BYTES as WORD;

bindings!(ClassicalSyncBindings {
    weights,
    thresholds,
    current,
    next,
    fields,
    clamp,
    last_change,
    changed
});

bindings!(ClassicalAsyncBindings {
    weights,
    thresholds,
    order,
    current,
    clamp,
    last_change,
    changed
});

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
        let what = || format!("the {dim}×{dim} weights of a classical network");
        ctx.check_binding(what, bytes)?;
        let ((weights, t), done) = ctx.scoped("uploading weights", || {
            let w = ctx.storage("classical weights", bytes);
            let t = ctx.storage("classical thresholds", dim as u64 * WORD);
            ctx.write(&w, 0, bytemuck::cast_slice(scaled));
            ctx.write(&t, 0, bytemuck::cast_slice(thresholds));
            ctx.submit([]);
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
                .write(&self.thresholds, 0, bytemuck::cast_slice(thresholds));
            self.ctx.submit([]);
        });
        crate::wait::now("classical::Classical::set_thresholds", done)
    }

    pub(crate) async fn recall(
        &self,
        queries: &[f32],
        dim: usize,
        opts: &RecallOptions,
    ) -> Result<Recalled> {
        let ctx = &*self.ctx;
        let max_rows = (ctx.max_binding_bytes() / (dim as u64 * WORD)) as usize;
        let (fields, done) = ctx.scoped("allocating fields", || {
            let rows = max_rows.min(queries.len() / dim) as u64;
            ctx.storage("classical fields", rows * dim as u64 * WORD)
        });
        done.await?;
        run_sweeps(ctx, queries, dim, max_rows, opts, |rec, sweep| {
            match opts.update {
                Update::Synchronous => self.record_sync(rec, sweep, &fields),
                Update::Asynchronous { .. } => self.record_async(rec, sweep),
            }
        })
        .await
    }

    fn params(&self, sweep: &Sweep<'_>, (begin, end): (u32, u32)) -> Params {
        Params {
            rows: sweep.rows as u32,
            dim: self.dim as u32,
            sweep: sweep.number,
            begin,
            end,
            clamp_stride: sweep.clamp_stride,
            ..Params::default()
        }
    }

    fn weights(&self) -> wgpu::BufferBinding<'_> {
        binding(&self.weights, (self.dim * self.dim) as u64 * WORD)
    }

    fn thresholds(&self) -> wgpu::BufferBinding<'_> {
        binding(&self.thresholds, self.dim as u64 * WORD)
    }

    /// Every field as a sum over slices of [`LOOP_BUDGET`] columns, one dispatch each.
    fn record_sync(&self, rec: &mut Recorder<'_>, sweep: &Sweep<'_>, fields: &wgpu::Buffer) {
        let ctx = rec.ctx();
        let kernels = ctx.kernels.binary(&ctx.device);
        let bytes = sweep.state_bytes(self.dim);
        rec.poison(sweep.next, bytes);
        rec.poison(fields, bytes);
        for range in ranges(self.dim, LOOP_BUDGET) {
            let [clamp, last_change, changed] = sweep.tail(self.dim);
            let b = ClassicalSyncBindings {
                weights: self.weights(),
                thresholds: self.thresholds(),
                current: binding(sweep.current, bytes),
                next: binding(sweep.next, bytes),
                fields: binding(fields, bytes),
                clamp,
                last_change,
                changed,
            };
            let params = self.params(sweep, range);
            rec.dispatch(&kernels.classical_sync, &params, &b, sweep.grid(self.dim));
        }
    }

    /// The visiting order in runs of as many neurons as keep a dispatch within
    /// [`LOOP_BUDGET`]: each neuron costs its share of the dot product, the reduction tree and
    /// the visit itself.
    fn record_async(&self, rec: &mut Recorder<'_>, sweep: &Sweep<'_>) {
        let ctx = rec.ctx();
        let kernels = ctx.kernels.binary(&ctx.device);
        let bytes = sweep.state_bytes(self.dim);
        let per_neuron = self.dim.div_ceil(WG) + TREE_STEPS + 1;
        for range in ranges(self.dim, LOOP_BUDGET / per_neuron) {
            let [clamp, last_change, changed] = sweep.tail(self.dim);
            let b = ClassicalAsyncBindings {
                weights: self.weights(),
                thresholds: self.thresholds(),
                order: binding(sweep.order, self.dim as u64 * WORD),
                current: binding(sweep.current, bytes),
                clamp,
                last_change,
                changed,
            };
            let params = self.params(sweep, range);
            let grid = (sweep.rows as u32, 1, 1);
            rec.dispatch(&kernels.classical_async, &params, &b, grid);
        }
    }
}
