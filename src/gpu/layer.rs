//! The pieces of a Hopfield layer's forward on the device besides its attention: weights
//! uploaded once, and the LayerNorms, projections (`x·Wᵀ + b` as [`Similarity`] with β = 1 and
//! the weight rows as patterns, then `bias_act.wgsl`), head splits and merges recorded into the
//! attention's one command encoder.
//!
//! [`Similarity`]: super::similarity::Similarity

use super::attention::Layout;
use super::bias_act::BiasActBindings;
use super::buffers::binding;
use super::heads::{max_groups, HeadLayout, Heads, HeadsBindings};
use super::layer_norm::{LayerNormBindings, MAX_WIDTH};
use super::recorder::Recorder;
use super::similarity::{Columns, SimilarityBindings, SimilarityJob};
use super::GpuContext;
use crate::error::{Error, Result};
use crate::storage::{encode_rows, row_words, Precision, WORD_BYTES as WORD};

pub(crate) use super::bias_act::Act;

/// Rows per tile of the similarity kernel, whose row tiles go along one dispatch dimension.
const GEMM_TILE: usize = 64;

/// A `torch.nn.Linear` on the device: `out × inp` weights, rows padded as patterns are.
pub(crate) struct DeviceLinear {
    weight: wgpu::Buffer,
    bias: Option<wgpu::Buffer>,
    pub out: usize,
    pub inp: usize,
}

/// A LayerNorm's ε and, when affine, its gain and bias on the device.
pub(crate) struct DeviceNorm {
    pub eps: f32,
    affine: Option<(wgpu::Buffer, wgpu::Buffer, usize)>,
}

/// A matrix on the device, `rows × cols` row-major.
pub(crate) struct Mat {
    pub buf: wgpu::Buffer,
    pub rows: usize,
    pub cols: usize,
}

impl Mat {
    pub(crate) fn bytes(&self) -> u64 {
        (self.rows * self.cols) as u64 * WORD
    }
}

fn upload(ctx: &GpuContext, label: &str, data: &[u8]) -> wgpu::Buffer {
    let b = ctx.storage(label, data.len() as u64);
    ctx.write(&b, 0, data);
    b
}

impl DeviceLinear {
    /// Uploads `weight` (`out × inp`, row-major) and `bias` (`out`).
    pub(crate) fn new(
        ctx: &GpuContext,
        weight: &[f32],
        (out, inp): (usize, usize),
        bias: Option<&[f32]>,
    ) -> DeviceLinear {
        let rows = encode_rows(Precision::F32, weight, inp.max(1));
        DeviceLinear {
            weight: upload(ctx, "layer projection weight", bytemuck::cast_slice(&rows)),
            bias: bias.map(|b| upload(ctx, "layer projection bias", bytemuck::cast_slice(b))),
            out,
            inp,
        }
    }
}

impl DeviceNorm {
    pub(crate) fn new(ctx: &GpuContext, eps: f32, affine: Option<(&[f32], &[f32])>) -> DeviceNorm {
        DeviceNorm {
            eps,
            affine: affine.map(|(g, b)| {
                (
                    upload(ctx, "layer norm gain", bytemuck::cast_slice(g)),
                    upload(ctx, "layer norm bias", bytemuck::cast_slice(b)),
                    g.len(),
                )
            }),
        }
    }

    /// The features its gain and bias have, when affine.
    pub(crate) fn width(&self) -> Option<usize> {
        self.affine.as_ref().map(|a| a.2)
    }
}

/// Fails where `bytes` of `what` cannot be one binding.
pub(crate) fn check_mat(ctx: &GpuContext, what: &str, rows: usize, cols: usize) -> Result<()> {
    ctx.check_binding(
        || format!("{what} ({rows} × {cols})"),
        (rows * cols) as u64 * WORD,
    )
}

/// Fails where a projection of `rows` rows is past what the similarity kernel dispatches.
pub(crate) fn check_linear(ctx: &GpuContext, lin: &DeviceLinear, rows: usize) -> Result<()> {
    let max = ctx.limits.max_compute_workgroups_per_dimension as usize;
    if rows.div_ceil(GEMM_TILE) > max {
        return Err(Error::InvalidOptions(format!(
            "{rows} rows through a layer projection is past what this device dispatches at \
             once ({max} workgroups of {GEMM_TILE} rows)"
        )));
    }
    check_mat(ctx, "a layer projection's output", rows, lin.out)?;
    check_mat(
        ctx,
        "a layer projection's weights",
        lin.out,
        row_words(Precision::F32, lin.inp),
    )
}

/// Fails where rows of `width` features are past what [`record_norm`] normalises.
pub(crate) fn check_norm(ctx: &GpuContext, what: &str, rows: usize, width: usize) -> Result<()> {
    let max = ctx.limits.max_compute_workgroups_per_dimension;
    if width > MAX_WIDTH || rows > max_groups(max) {
        return Err(Error::InvalidOptions(format!(
            "a LayerNorm of {what} over {rows} rows of {width} features is past what this \
             device normalises (at most {MAX_WIDTH} features, {} rows)",
            max_groups(max)
        )));
    }
    Ok(())
}

/// Fails where a head split or merge of `l` is past one dispatch.
pub(crate) fn check_heads(ctx: &GpuContext, l: &HeadLayout) -> Result<()> {
    let max = ctx.limits.max_compute_workgroups_per_dimension;
    if Heads::groups(l) > max_groups(max) {
        return Err(Error::InvalidOptions(format!(
            "{} problems of {} × {} words are past what this device copies at once",
            l.problems, l.rows, l.row_len
        )));
    }
    Ok(())
}

/// A fresh input matrix with `data` uploaded.
pub(crate) fn input(ctx: &GpuContext, label: &str, data: &[f32], cols: usize) -> Mat {
    Mat {
        buf: upload(ctx, label, bytemuck::cast_slice(data)),
        rows: data.len() / cols.max(1),
        cols,
    }
}

/// Records `x`'s rows normalised in place (checked by [`check_norm`]); `dummy` is bound for
/// an absent gain and bias.
pub(crate) fn record_norm(
    rec: &mut Recorder<'_>,
    norm: &DeviceNorm,
    x: &Mat,
    width: usize,
    dummy: &wgpu::Buffer,
) {
    let ctx = rec.ctx();
    let (gain, bias) = match &norm.affine {
        Some((g, b, _)) => (g, b),
        None => (dummy, dummy),
    };
    let b = LayerNormBindings {
        x: binding(&x.buf, x.bytes()),
        gain: gain.as_entire_buffer_binding(),
        bias: bias.as_entire_buffer_binding(),
    };
    let rows = x.rows * x.cols / width.max(1);
    let kernels = ctx.kernels.layer(&ctx.device);
    kernels
        .norm
        .encode(rec, (rows, width), norm.eps, norm.affine.is_some(), b);
}

/// Records `act(x · Wᵀ + b)` into a new matrix (checked by [`check_linear`]).
pub(crate) fn record_linear(
    rec: &mut Recorder<'_>,
    lin: &DeviceLinear,
    x: &Mat,
    act: Act,
    dummy: &wgpu::Buffer,
) -> Mat {
    let ctx = rec.ctx();
    let y = Mat {
        buf: ctx.storage("layer projection", (x.rows * lin.out) as u64 * WORD),
        rows: x.rows,
        cols: lin.out,
    };
    rec.poison(&y.buf, y.bytes());
    let job = SimilarityJob {
        shape: (x.rows, lin.out, lin.inp, row_words(Precision::F32, lin.inp)),
        cols: Columns {
            offset: 0,
            ld: lin.out,
        },
        beta: 1.0,
    };
    let b = SimilarityBindings {
        queries: binding(&x.buf, x.bytes()),
        patterns: lin.weight.as_entire_buffer_binding(),
        scores: binding(&y.buf, y.bytes()),
    };
    let kernels = ctx.kernels.for_patterns(&ctx.device, Precision::F32);
    kernels.similarity.encode(rec, job, b);
    if lin.bias.is_some() || act != Act::None {
        record_bias_act(rec, &y, lin.bias.as_ref(), act, dummy);
    }
    y
}

/// Records `y ← act(y + bias)` in place.
pub(crate) fn record_bias_act(
    rec: &mut Recorder<'_>,
    y: &Mat,
    bias: Option<&wgpu::Buffer>,
    act: Act,
    dummy: &wgpu::Buffer,
) {
    let ctx = rec.ctx();
    let b = BiasActBindings {
        y: binding(&y.buf, y.bytes()),
        bias: bias.unwrap_or(dummy).as_entire_buffer_binding(),
    };
    let kernels = ctx.kernels.layer(&ctx.device);
    kernels
        .bias_act
        .encode(rec, (y.rows, y.cols), bias.is_some(), act, b);
}

/// How one operand's flat rows map to its heads: each head reads `width` columns from
/// column `head · head_stride` of rows `len` per batch item.
#[derive(Clone, Copy)]
pub(crate) struct HeadSource {
    pub len: usize,
    pub width: usize,
    pub head_stride: usize,
}

/// The copy between `flat` (of `src`'s layout) and the attention regions of `region`.
pub(crate) fn head_layout(
    problems: usize,
    heads: usize,
    flat: &Mat,
    src: HeadSource,
    region: Layout,
) -> HeadLayout {
    HeadLayout {
        problems,
        heads,
        rows: region.rows,
        row_len: region.row_len,
        stride: region.stride,
        len: src.len,
        width: src.width,
        cols: flat.cols,
        head_stride: src.head_stride,
    }
}

/// Records flat → regions (`merge` false) or back.
pub(crate) fn record_heads(
    rec: &mut Recorder<'_>,
    l: &HeadLayout,
    flat: &Mat,
    regions: &wgpu::Buffer,
    merge: bool,
) {
    let ctx = rec.ctx();
    let b = HeadsBindings {
        flat: binding(&flat.buf, flat.bytes()),
        regions: binding(regions, (l.problems * l.stride) as u64 * WORD),
    };
    ctx.kernels
        .layer(&ctx.device)
        .heads
        .encode(rec, l, merge, b);
}
