//! The dense network on the GPU: the patterns transposed (d×N) in one buffer, the B×N overlaps
//! of a block beside the states. A sweep is `shaders/dense_overlaps.wgsl` then
//! `shaders/dense_sync.wgsl` (every neuron from the old overlaps) or `shaders/dense_async.wgsl`
//! (one workgroup per query, overlaps moved on every flip), each recorded as several dispatches
//! whose loops stay within [`LOOP_BUDGET`].

use std::sync::Arc;

use ndarray::ArrayView2;

use super::binary::{ranges, run_sweeps, Params, Recalled, Sweep, LOOP_BUDGET, TREE_STEPS, WG};
use super::buffers::binding;
use super::recorder::{bindings, Recorder};
use super::GpuContext;
use crate::binary::{RecallOptions, Update};
use crate::dense::Interaction;
use crate::error::{Error, Result};

use crate::storage::WORD_BYTES as WORD;

bindings!(OverlapsBindings {
    patterns,
    states,
    overlaps
});

bindings!(DenseSyncBindings {
    patterns,
    overlaps,
    current,
    next,
    fields,
    clamp,
    last_change,
    changed
});

bindings!(DenseAsyncBindings {
    patterns,
    order,
    overlaps,
    current,
    clamp,
    last_change,
    changed
});

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
        ctx.check_binding(|| format!("{n} binary patterns of dimension {dim}"), bytes)?;
        let t = patterns.t().as_standard_layout().into_owned();
        let (patterns_t, done) = ctx.scoped("uploading patterns", || {
            let b = ctx.storage("dense patterns (transposed)", bytes);
            let words = t.as_slice().expect("standard layout");
            ctx.write(&b, 0, bytemuck::cast_slice(words));
            ctx.submit([]);
            b
        });
        crate::wait::now("dense::Dense::new", done)?;
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
    ) -> Result<Recalled> {
        let ctx = &*self.ctx;
        let (n, dim) = (self.n, self.dim);
        let asynchronous = matches!(opts.update, Update::Asynchronous { .. });
        let per_pattern = pattern_cost(interaction);
        let per_neuron = n.div_ceil(WG) * (per_pattern + 1) + TREE_STEPS + 1;
        if asynchronous && per_neuron > LOOP_BUDGET {
            return Err(Error::InvalidOptions(format!(
                "asynchronous sweeps on the GPU take each neuron's field over the {n} patterns \
                 in one workgroup: {per_neuron} loop iterations per invocation, over the \
                 {LOOP_BUDGET} this crate keeps to (Mesa's llvmpipe silently stops a shader \
                 after 65,535); use synchronous updates or the CPU device"
            )));
        }
        // A block's states (rows×d), overlaps (rows×N) and partial fields (rows×d×2) must each
        // fit one binding.
        let widest = n.max(2 * dim) as u64 * WORD;
        let max_rows = (ctx.max_binding_bytes() / widest) as usize;
        let rows = max_rows.min(queries.len() / dim) as u64;
        let (buffers, done) = ctx.scoped("allocating overlaps", || {
            [
                ctx.storage("overlaps", rows * n as u64 * WORD),
                ctx.storage("dense partial fields", rows * 2 * dim as u64 * WORD),
            ]
        });
        done.await?;
        let [overlaps, fields] = &buffers;
        let run = |rec: &mut Recorder<'_>, sweep: &Sweep<'_>| {
            let params = |(begin, end)| {
                let (kind, power, beta) = interaction.code();
                Params {
                    rows: sweep.rows as u32,
                    dim: dim as u32,
                    n: n as u32,
                    sweep: sweep.number,
                    kind,
                    power,
                    beta,
                    begin,
                    end,
                    clamp_stride: sweep.clamp_stride,
                    _pad: 0,
                }
            };
            self.record_overlaps(rec, sweep, overlaps, &params);
            if asynchronous {
                let per = LOOP_BUDGET / per_neuron;
                self.record_async(rec, sweep, overlaps, ranges(dim, per).map(&params));
            } else {
                let per = LOOP_BUDGET / per_pattern;
                let ranges = ranges(n, per).map(&params);
                self.record_sync(rec, sweep, overlaps, fields, ranges);
            }
        };
        run_sweeps(ctx, queries, dim, max_rows, opts, run).await
    }

    fn patterns(&self) -> wgpu::BufferBinding<'_> {
        binding(&self.patterns_t, (self.n * self.dim) as u64 * WORD)
    }

    fn overlap_bytes(&self, sweep: &Sweep<'_>) -> u64 {
        (sweep.rows * self.n) as u64 * WORD
    }

    /// m = X σ, over slices of [`LOOP_BUDGET`] neurons.
    fn record_overlaps(
        &self,
        rec: &mut Recorder<'_>,
        sweep: &Sweep<'_>,
        overlaps: &wgpu::Buffer,
        params: &impl Fn((u32, u32)) -> Params,
    ) {
        let ctx = rec.ctx();
        let kernels = ctx.kernels.binary(&ctx.device);
        let overlap_bytes = self.overlap_bytes(sweep);
        rec.poison(overlaps, overlap_bytes);
        for range in ranges(self.dim, LOOP_BUDGET) {
            let b = OverlapsBindings {
                patterns: self.patterns(),
                states: binding(sweep.current, sweep.state_bytes(self.dim)),
                overlaps: binding(overlaps, overlap_bytes),
            };
            rec.dispatch(
                &kernels.dense_overlaps,
                &params(range),
                &b,
                sweep.grid(self.n),
            );
        }
    }

    fn record_sync(
        &self,
        rec: &mut Recorder<'_>,
        sweep: &Sweep<'_>,
        overlaps: &wgpu::Buffer,
        fields: &wgpu::Buffer,
        slices: impl Iterator<Item = Params>,
    ) {
        let ctx = rec.ctx();
        let kernels = ctx.kernels.binary(&ctx.device);
        let bytes = sweep.state_bytes(self.dim);
        rec.poison(sweep.next, bytes);
        rec.poison(fields, 2 * bytes);
        for params in slices {
            let [clamp, last_change, changed] = sweep.tail(self.dim);
            let b = DenseSyncBindings {
                patterns: self.patterns(),
                overlaps: binding(overlaps, self.overlap_bytes(sweep)),
                current: binding(sweep.current, bytes),
                next: binding(sweep.next, bytes),
                fields: binding(fields, 2 * bytes),
                clamp,
                last_change,
                changed,
            };
            rec.dispatch(&kernels.dense_sync, &params, &b, sweep.grid(self.dim));
        }
    }

    fn record_async(
        &self,
        rec: &mut Recorder<'_>,
        sweep: &Sweep<'_>,
        overlaps: &wgpu::Buffer,
        runs: impl Iterator<Item = Params>,
    ) {
        let ctx = rec.ctx();
        let kernels = ctx.kernels.binary(&ctx.device);
        for params in runs {
            let [clamp, last_change, changed] = sweep.tail(self.dim);
            let b = DenseAsyncBindings {
                patterns: self.patterns(),
                order: binding(sweep.order, self.dim as u64 * WORD),
                overlaps: binding(overlaps, self.overlap_bytes(sweep)),
                current: binding(sweep.current, sweep.state_bytes(self.dim)),
                clamp,
                last_change,
                changed,
            };
            let grid = (sweep.rows as u32, 1, 1);
            rec.dispatch(&kernels.dense_async, &params, &b, grid);
        }
    }
}

/// Loop iterations of one pattern's term of a field: the pattern loop's own, and the two
/// products of z^n (`power` in shaders/dense_field.wgsl) for the polynomials.
fn pattern_cost(interaction: Interaction) -> usize {
    match interaction {
        Interaction::Polynomial(p) | Interaction::RectifiedPolynomial(p) => 1 + 2 * p as usize,
        Interaction::Exponential { .. } => 1,
    }
}
