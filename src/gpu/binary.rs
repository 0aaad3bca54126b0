//! The binary networks on the GPU (`classical.rs`, `dense.rs` record their kernels): the
//! kernels, compiled once per device on first use, and the sweep loop they share. States
//! ping-pong between two buffers (synchronous) or are updated in place (asynchronous); between
//! sweeps the host reads back one word, the number of queries or neurons that changed, and
//! stops at zero. Asynchronous orders come from [`sweep_order`], uploaded before each sweep, so
//! the GPU visits neurons exactly as the CPU path does. Clamped neurons are one u32 flag per
//! neuron beside the states, which every update kernel reads and skips.

use super::buffers::binding;
use super::kernel::{groups_for, Dev, Kernel};
use super::programs::{self, Variant};
use super::recorder::Recorder;
use super::GpuContext;
use crate::binary::{summarize, sweep_order, RecallOptions, Update};
use crate::error::Result;

use crate::storage::WORD_BYTES as WORD;
/// Invocations per workgroup of every binary kernel.
pub(crate) const WG: usize = 64;

/// The parameter block of `shaders/binary.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, Default, bytemuck::Pod, bytemuck::Zeroable)]
pub(crate) struct Params {
    pub rows: u32,
    pub dim: u32,
    pub n: u32,
    pub sweep: u32,
    pub kind: u32,
    pub power: u32,
    pub beta: f32,
    /// The range of the walked axis one dispatch covers.
    pub begin: u32,
    pub end: u32,
    /// Words between two queries' rows of clamp flags: d, or 0 where one row serves all.
    pub clamp_stride: u32,
    pub _pad: u32,
}

/// Loop iterations one invocation may run, every loop counted (constant-count ones too). Mesa's
/// llvmpipe/lavapipe ends an invocation after 65,535 in total, silently, so every kernel here
/// walks a long axis over several dispatches of at most this many iterations each.
pub(crate) const LOOP_BUDGET: usize = 8192;

/// Iterations of the workgroup-memory reduction tree over [`WG`] invocations.
pub(crate) const TREE_STEPS: usize = WG.trailing_zeros() as usize;

/// The `[begin, end)` ranges that cover `0..total`, `per` (at least 1) at a time.
pub(crate) fn ranges(total: usize, per: usize) -> impl Iterator<Item = (u32, u32)> {
    let per = per.max(1);
    (0..total)
        .step_by(per)
        .map(move |b| (b as u32, (b + per).min(total) as u32))
}

pub(crate) struct BinaryKernels {
    pub classical_sync: Kernel,
    pub classical_async: Kernel,
    pub dense_overlaps: Kernel,
    pub dense_sync: Kernel,
    pub dense_async: Kernel,
}

impl BinaryKernels {
    pub(crate) fn new(device: Dev<'_>) -> Self {
        let k = |program| Kernel::new(device, program, Variant::PLAIN);
        BinaryKernels {
            classical_sync: k(&programs::CLASSICAL_SYNC),
            classical_async: k(&programs::CLASSICAL_ASYNC),
            dense_overlaps: k(&programs::DENSE_OVERLAPS),
            dense_sync: k(&programs::DENSE_SYNC),
            dense_async: k(&programs::DENSE_ASYNC),
        }
    }
}

/// The buffers of one block of queries, as a sweep's recorder sees them.
pub(crate) struct Sweep<'a> {
    pub rows: usize,
    /// 1-based sweep number.
    pub number: u32,
    /// States before the sweep; a synchronous sweep writes `next`, an asynchronous one
    /// updates `current` in place.
    pub current: &'a wgpu::Buffer,
    pub next: &'a wgpu::Buffer,
    pub order: &'a wgpu::Buffer,
    /// Clamp flags (one u32 per neuron, nonzero = never flips), `clamp_stride` words apart.
    pub clamp: &'a wgpu::Buffer,
    pub clamp_stride: u32,
    pub last_change: &'a wgpu::Buffer,
    pub changed: &'a wgpu::Buffer,
}

impl Sweep<'_> {
    pub(crate) fn state_bytes(&self, dim: usize) -> u64 {
        (self.rows * dim) as u64 * WORD
    }

    /// Workgroups for one invocation per (item, query).
    pub(crate) fn grid(&self, items: usize) -> (u32, u32, u32) {
        (groups_for(items, WG), self.rows as u32, 1)
    }

    /// The bindings every update kernel ends with: clamp flags, last_change, changed.
    pub(crate) fn tail(&self, dim: usize) -> [wgpu::BufferBinding<'_>; 3] {
        let clamp_rows = if self.clamp_stride == 0 { 1 } else { self.rows };
        [
            binding(self.clamp, (clamp_rows * dim) as u64 * WORD),
            binding(self.last_change, self.rows as u64 * WORD),
            binding(self.changed, WORD),
        ]
    }
}

/// What recall returns: the final states, and each query's sweep count and convergence.
pub(crate) type Recalled = (Vec<f32>, Vec<usize>, Vec<bool>);

/// Runs the sweeps of `queries` (rows of `dim` ±1 values) in blocks of at most `max_rows`,
/// `record` adding one sweep's kernels to an encoder.
pub(crate) async fn run_sweeps(
    ctx: &GpuContext,
    queries: &[f32],
    dim: usize,
    max_rows: usize,
    opts: &RecallOptions,
    record: impl Fn(&mut Recorder<'_>, &Sweep<'_>),
) -> Result<Recalled> {
    ctx.check_alive()?;
    let max_rows = max_rows
        .min(ctx.limits.max_compute_workgroups_per_dimension as usize)
        .max(1);
    let mut out: Recalled = (Vec::with_capacity(queries.len()), Vec::new(), Vec::new());
    for (i, block) in queries.chunks(max_rows * dim).enumerate() {
        let clamp = clamp_flags(opts, i * max_rows, block.len() / dim, dim);
        let b = BlockBuffers::upload(ctx, block, clamp, dim).await?;
        let (cur, ran) = sweep_block(ctx, &b, dim, opts, &record).await?;
        let (states, last) = b.read(ctx, cur).await?;
        let (s, c) = summarize(&last, ran, opts.max_sweeps);
        out.0.extend(states);
        out.1.extend(s);
        out.2.extend(c);
    }
    Ok(out)
}

/// The clamp flags of the `rows` queries from `first`, as the kernels read them: one u32 per
/// neuron, and the stride between queries (0 where one row serves the whole block, which also
/// stands for no mask, so an unclamped recall uploads d words, not B×d).
fn clamp_flags(opts: &RecallOptions, first: usize, rows: usize, dim: usize) -> (Vec<u32>, u32) {
    let word = |&c: &bool| u32::from(c);
    match &opts.clamped {
        Some(mask) if mask.nrows() > 1 => {
            let block = mask.slice(ndarray::s![first..first + rows, ..]);
            (block.iter().map(word).collect(), dim as u32)
        }
        Some(mask) => (mask.iter().map(word).collect(), 0),
        None => (vec![0; dim], 0),
    }
}

/// The device buffers of one block of queries.
struct BlockBuffers {
    rows: usize,
    state_bytes: u64,
    states: [wgpu::Buffer; 2],
    order: wgpu::Buffer,
    clamp: wgpu::Buffer,
    clamp_stride: u32,
    last_change: wgpu::Buffer,
    changed: wgpu::Buffer,
}

impl BlockBuffers {
    /// Buffers for `block`, its states and clamp flags uploaded and every last change at
    /// sweep 0.
    async fn upload(
        ctx: &GpuContext,
        block: &[f32],
        (clamp, clamp_stride): (Vec<u32>, u32),
        dim: usize,
    ) -> Result<BlockBuffers> {
        let rows = block.len() / dim;
        let (b, done) = ctx.scoped("allocating recall buffers", || {
            let state_bytes = block.len() as u64 * WORD;
            let b = BlockBuffers {
                rows,
                state_bytes,
                states: [
                    ctx.storage("states a", state_bytes),
                    ctx.storage("states b", state_bytes),
                ],
                order: ctx.storage("visiting order", dim as u64 * WORD),
                clamp: ctx.storage("clamp flags", clamp.len() as u64 * WORD),
                clamp_stride,
                last_change: ctx.storage("last change", rows as u64 * WORD),
                changed: ctx.storage("changed", WORD),
            };
            ctx.write(&b.states[0], 0, bytemuck::cast_slice(block));
            ctx.write(&b.clamp, 0, bytemuck::cast_slice(&clamp));
            ctx.write(&b.last_change, 0, bytemuck::cast_slice(&vec![0u32; rows]));
            b
        });
        done.await?;
        Ok(b)
    }

    /// The final states (in `states[cur]`) and each query's last changing sweep.
    async fn read(&self, ctx: &GpuContext, cur: usize) -> Result<(Vec<f32>, Vec<u32>)> {
        let parts = [
            (&self.states[cur], self.state_bytes),
            (&self.last_change, self.rows as u64 * WORD),
        ];
        let encoder = ctx.encoder("read states");
        let out = ctx.submit_and_read("reading states back", encoder, None, &parts);
        let mut out = out.await?.into_iter();
        let states = out.next().unwrap_or_default();
        let last = bytemuck::cast_slice(&out.next().unwrap_or_default()).to_vec();
        Ok((states, last))
    }
}

/// Sweeps one block until no query changes or `opts.max_sweeps`, reading back one word per
/// sweep; returns which state buffer holds the result and how many sweeps ran.
async fn sweep_block(
    ctx: &GpuContext,
    b: &BlockBuffers,
    dim: usize,
    opts: &RecallOptions,
    record: &impl Fn(&mut Recorder<'_>, &Sweep<'_>),
) -> Result<(usize, usize)> {
    let mut cur = 0;
    let mut ran = 0;
    while ran < opts.max_sweeps {
        if let Update::Asynchronous { seed } = opts.update {
            let perm = sweep_order(seed, ran, dim);
            ctx.write(&b.order, 0, bytemuck::cast_slice(&perm));
        }
        let sweep = Sweep {
            rows: b.rows,
            number: ran as u32 + 1,
            current: &b.states[cur],
            next: &b.states[1 - cur],
            order: &b.order,
            clamp: &b.clamp,
            clamp_stride: b.clamp_stride,
            last_change: &b.last_change,
            changed: &b.changed,
        };
        let (encoder, done) = ctx.scoped("recording a sweep", || {
            let mut encoder = ctx.encoder("sweep");
            let mut rec = Recorder::new(ctx, &mut encoder);
            rec.clear(&b.changed);
            record(&mut rec, &sweep);
            encoder
        });
        done.await?;
        let flips = ctx
            .submit_and_read("running a sweep", encoder, None, &[(&b.changed, WORD)])
            .await?;
        ran += 1;
        if opts.update == Update::Synchronous {
            cur = 1 - cur;
        }
        if bytemuck::cast_slice::<f32, u32>(&flips[0])[0] == 0 {
            break;
        }
    }
    Ok((cur, ran))
}
