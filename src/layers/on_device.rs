//! A layer's forward on a GPU, every stage there and recorded into one command encoder: the
//! input LayerNorms, the q, k and v projections, the Hopfield-space norm, the split into
//! per-(batch, head) problems, the attention with its update steps, the merge, the output
//! projection and the activation. One submission and one readback (the output, and the
//! association when asked), unless a stopping decision of the update steps must read the
//! associations in between. The host path of [`association`](super::association) is its
//! reference and stays as it is.

use std::fmt;
use std::sync::{Arc, OnceLock};

use ndarray::{Array3, Array4, ArrayView3};

use super::association::{beta_per_problem, shape_err, Association, Linear};
use super::attend::{steps, Engine};
use super::config::Activation;
use super::norm::LayerNorm;
use super::ForwardOptions;
use crate::error::{Error, Result};
use crate::gpu::attention::{Attention, Input, Shape};
use crate::gpu::layer::{
    check_heads, check_linear, check_mat, check_norm, head_layout, input, record_bias_act,
    record_heads, record_linear, record_norm, Act, DeviceLinear, DeviceNorm, HeadSource, Mat,
};
use crate::gpu::GpuContext;

/// A layer's weights on the device it first ran on (a layer keeps one device).
#[derive(Clone, Default)]
pub(crate) struct Cache(Arc<OnceLock<(u64, Arc<DeviceWeights>)>>);

impl fmt::Debug for Cache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "Cache(uploaded)"
        } else {
            "Cache(empty)"
        })
    }
}

pub(crate) struct DeviceWeights {
    norm_stored: Option<DeviceNorm>,
    norm_state: Option<DeviceNorm>,
    norm_projection: Option<DeviceNorm>,
    norm_space: Option<DeviceNorm>,
    q: Option<DeviceLinear>,
    k: Option<DeviceLinear>,
    v: Option<DeviceLinear>,
    out: Option<DeviceLinear>,
    /// Bound where a kernel's optional gain or bias is absent.
    dummy: wgpu::Buffer,
}

fn norm(ctx: &GpuContext, ln: &Option<LayerNorm>) -> Option<DeviceNorm> {
    ln.as_ref().map(|ln| {
        let affine = ln
            .affine
            .as_ref()
            .map(|(g, b)| (g.as_slice(), b.as_slice()));
        DeviceNorm::new(ctx, ln.eps, affine)
    })
}

fn linear(ctx: &GpuContext, lin: &Option<Linear>) -> Option<DeviceLinear> {
    lin.as_ref().map(|l| {
        let weight = l.weight.as_standard_layout();
        DeviceLinear::new(
            ctx,
            weight.as_slice().unwrap_or(&[]),
            l.weight.dim(),
            l.bias.as_ref().and_then(|b| b.as_slice()),
        )
    })
}

/// `v`'s weights for an input tiled `heads` times (`(out, heads·d)` summed over the heads'
/// column blocks to `(out, d)`): `tile(x)·Wᵀ = x·(Σ_h W_h)ᵀ`, so the tile is never built.
fn folded(lin: &Linear, heads: usize) -> Linear {
    let (out, cols) = lin.weight.dim();
    let d = cols / heads.max(1);
    let weight = ndarray::Array2::from_shape_fn((out, d), |(r, c)| {
        (0..heads).map(|h| lin.weight[[r, h * d + c]]).sum()
    });
    Linear {
        weight,
        bias: lin.bias.clone(),
    }
}

impl Association {
    /// The weights on `ctx`'s device: uploaded once, by the first call there.
    fn device_weights(&self, ctx: &GpuContext) -> Arc<DeviceWeights> {
        let id = ctx.id;
        let upload = || Arc::new(self.upload(ctx));
        let (at, w) = self.on_device.0.get_or_init(|| (id, upload()));
        if *at == id {
            Arc::clone(w)
        } else {
            // A clone of the layer on another device: correct, not cached.
            upload()
        }
    }

    fn upload(&self, ctx: &GpuContext) -> DeviceWeights {
        let c = &self.config;
        // hflayers feeds `v` the tiled projection when it is connected through a static `k`.
        let v = match (&self.v, c.projection_connected && self.k.is_none()) {
            (Some(l), true) => Some(folded(l, c.num_heads)),
            (v, _) => v.clone(),
        };
        DeviceWeights {
            norm_stored: norm(ctx, &self.norm_stored),
            norm_state: norm(ctx, &self.norm_state),
            norm_projection: norm(ctx, &self.norm_projection),
            norm_space: norm(ctx, &self.norm_space),
            q: linear(ctx, &self.q),
            k: linear(ctx, &self.k),
            v: linear(ctx, &v),
            out: linear(ctx, &self.out),
            dummy: ctx.storage("layer placeholder", 4),
        }
    }

    /// [`forward`](Association::forward) on `ctx`.
    pub(super) async fn forward_on_device(
        &self,
        ctx: &GpuContext,
        stored: ArrayView3<'_, f32>,
        state: ArrayView3<'_, f32>,
        projection: ArrayView3<'_, f32>,
        options: &ForwardOptions<'_>,
    ) -> Result<(Array3<f32>, Option<Array4<f32>>, usize)> {
        let c = &self.config;
        let heads = c.num_heads;
        let hd = self.check_inputs(stored, state, projection)?;
        let w = self.device_weights(ctx);
        let inputs = [stored, state, projection].map(|x| x.as_standard_layout().into_owned());
        let plan = Plan::new(self, &w, &inputs, hd)?;
        plan.check(ctx, &w)?;
        let s = plan.shape;
        c.check_separation(s.keys)?;
        let mask = self.mask(options, plan.n, s.rows, plan.s_len, s.keys)?;
        let beta = beta_per_problem(c, hd, s.problems);
        let att = Attention::new(ctx, s, beta, c.separation, mask.as_deref())?;
        let [stored, state, projection] =
            [("stored", 0), ("state", 1), ("projection", 2)].map(|(what, i)| {
                let x = &inputs[i];
                let data = x.as_slice().unwrap_or(&[]);
                input(ctx, &format!("layer {what} patterns"), data, x.dim().2)
            });
        att.record("layer projections", |rec| {
            plan.record_front(rec, &w, &att, [stored, state, projection]);
        })
        .await?;
        let mut engine = Engine::Gpu(&att);
        let iterations = steps(
            &mut engine,
            s,
            heads,
            c.update_steps_max,
            c.update_steps_eps,
        )
        .await?;
        let (out, association) = att
            .retrieve(options.association, |rec| plan.record_tail(rec, &w, &att))
            .await?;
        let cols = plan.out_cols;
        let out = Array3::from_shape_vec((plan.n, s.rows, cols), out)
            .map_err(|e| Error::Gpu(format!("layer output: {e}")))?;
        let association = association
            .map(|xi| Array4::from_shape_vec((plan.n, heads, s.rows, s.keys), xi))
            .transpose()
            .map_err(|e| Error::Gpu(format!("layer association: {e}")))?;
        Ok((out, association, iterations))
    }
}

/// What one operand goes through before its split: a projection or not, and how its heads
/// read the result.
#[derive(Clone, Copy)]
enum Route {
    /// Used as it is.
    Plain,
    /// Through `q`, `k` or `v`'s projection.
    Projected,
    /// Through `k`'s projection, then `v`'s (hflayers' connected projection).
    ThroughK,
}

/// The shapes of one forward, worked out (and checked) before anything is recorded.
struct Plan {
    n: usize,
    s_len: usize,
    shape: Shape,
    heads: usize,
    q: (Route, HeadSource),
    k: (Route, HeadSource),
    v: (Route, HeadSource),
    /// Features per input row: stored, state, projection.
    widths: [usize; 3],
    out_cols: usize,
    act: Act,
}

fn act(a: Option<Activation>) -> Act {
    match a {
        None => Act::None,
        Some(Activation::Tanh) => Act::Tanh,
        Some(Activation::Relu) => Act::Relu,
        Some(Activation::Sigmoid) => Act::Sigmoid,
    }
}

impl Plan {
    fn new(a: &Association, w: &DeviceWeights, x: &[Array3<f32>; 3], hd: usize) -> Result<Plan> {
        let c = &a.config;
        let heads = c.num_heads;
        let (n, s_len, ds) = x[0].dim();
        let (l_len, dq, dp) = (x[1].dim().1, x[1].dim().2, x[2].dim().2);
        let split = |len, width| HeadSource {
            len,
            width,
            head_stride: width,
        };
        let tiled = |len, width| HeadSource {
            len,
            width,
            head_stride: 0,
        };
        let q = match &w.q {
            Some(_) => (Route::Projected, split(l_len, hd)),
            None => (Route::Plain, tiled(l_len, dq)),
        };
        let k = match &w.k {
            Some(_) => (Route::Projected, split(s_len, hd)),
            None => (Route::Plain, tiled(s_len, ds)),
        };
        let v = if c.projection_connected {
            match (&w.k, &w.v) {
                (_, Some(v)) => (Route::ThroughK, split(s_len, v.out / heads)),
                (Some(k), None) => (Route::ThroughK, split(s_len, k.out / heads)),
                (None, None) => (Route::Plain, tiled(s_len, dp)),
            }
        } else if c.projection_static && c.stored_static && !c.shared_projection() {
            if !dp.is_multiple_of(heads) {
                return Err(shape_err(
                    "pattern projection",
                    format!("features divisible by the {heads} heads"),
                    x[2].shape(),
                ));
            }
            (Route::Plain, split(s_len, dp / heads))
        } else {
            match &w.v {
                Some(v) => (Route::Projected, split(s_len, v.out / heads)),
                None => (Route::Plain, tiled(s_len, dp)),
            }
        };
        let pd = v.1.width;
        let out_cols = match &w.out {
            Some(lin) if lin.inp != heads * pd => {
                return Err(shape_err(
                    "pattern projection",
                    format!(
                        "{} features per head ({} in all) to fit the output projection",
                        lin.inp / heads,
                        lin.inp
                    ),
                    x[2].shape(),
                ))
            }
            Some(lin) => lin.out,
            None => heads * pd,
        };
        let keys = s_len + usize::from(c.add_zero_association);
        Ok(Plan {
            n,
            s_len,
            shape: Shape {
                problems: n * heads,
                rows: l_len,
                keys,
                dim: hd,
                vdim: pd,
            },
            heads,
            q,
            k,
            v,
            widths: [ds, dq, dp],
            out_cols,
            act: act(c.association_activation),
        })
    }
}

impl Plan {
    /// Fails where a stage is past what the device can do, before anything is recorded.
    fn check(&self, ctx: &GpuContext, w: &DeviceWeights) -> Result<()> {
        let n = self.n;
        let rows = [n * self.s_len, n * self.shape.rows, n * self.s_len];
        let names = ["stored patterns", "state patterns", "pattern projection"];
        let norms = [&w.norm_stored, &w.norm_state, &w.norm_projection];
        for i in 0..3 {
            check_mat(ctx, names[i], rows[i], self.widths[i])?;
            let Some(norm) = norms[i] else { continue };
            if norm.width().is_some_and(|d| d != self.widths[i]) {
                return Err(shape_err(
                    names[i],
                    "the features of its LayerNorm".into(),
                    &[n, rows[i] / n.max(1), self.widths[i]],
                ));
            }
            check_norm(ctx, names[i], rows[i], self.widths[i])?;
        }
        for (lin, r) in [
            (&w.q, rows[1]),
            (&w.k, rows[0]),
            (&w.v, rows[2]),
            (&w.out, rows[1]),
        ] {
            if let Some(lin) = lin {
                check_linear(ctx, lin, r)?;
            }
        }
        if let (Some(k), Route::ThroughK) = (&w.k, self.v.0) {
            check_linear(ctx, k, rows[2])?;
        }
        if w.norm_space.is_some() {
            check_norm(
                ctx,
                "the Hopfield space",
                rows[0].max(rows[1]) * self.heads,
                self.shape.dim,
            )?;
        }
        check_mat(
            ctx,
            "the merged heads",
            rows[1],
            self.heads * self.shape.vdim,
        )?;
        for (route, input) in [
            (self.q, Input::Queries),
            (self.k, Input::Keys),
            (self.v, Input::Values),
        ] {
            let region = crate::gpu::attention::Layout {
                rows: if matches!(input, Input::Queries) {
                    self.shape.rows
                } else {
                    self.shape.keys
                },
                row_len: route.1.width.next_multiple_of(4),
                stride: 0,
            };
            let flat = Mat {
                buf: w.dummy.clone(),
                rows: 0,
                cols: 0,
            };
            check_heads(
                ctx,
                &head_layout(self.shape.problems, self.heads, &flat, route.1, region),
            )?;
        }
        Ok(())
    }

    /// Records the norms, projections and splits into the attention's regions.
    fn record_front(
        &self,
        rec: &mut crate::gpu::recorder::Recorder<'_>,
        w: &DeviceWeights,
        att: &Attention<'_>,
        [stored, state, projection]: [Mat; 3],
    ) {
        let dummy = &w.dummy;
        for (x, norm) in [
            (&stored, &w.norm_stored),
            (&state, &w.norm_state),
            (&projection, &w.norm_projection),
        ] {
            if let Some(norm) = norm {
                record_norm(rec, norm, x, x.cols, dummy);
            }
        }
        let project = |rec: &mut _, lin: &Option<DeviceLinear>, x: Mat| match lin {
            Some(l) => record_linear(rec, l, &x, Act::None, dummy),
            None => x,
        };
        let v = match self.v.0 {
            Route::ThroughK => {
                let through_k = project(rec, &w.k, projection);
                project(rec, &w.v, through_k)
            }
            Route::Projected => project(rec, &w.v, projection),
            Route::Plain => projection,
        };
        let q = project(rec, &w.q, state);
        let k = project(rec, &w.k, stored);
        if let Some(norm) = &w.norm_space {
            // A tiled input's heads are its rows themselves, of hd features.
            record_norm(rec, norm, &q, self.shape.dim, dummy);
            record_norm(rec, norm, &k, self.shape.dim, dummy);
        }
        for (x, (_, src), input) in [
            (&q, self.q, Input::Queries),
            (&k, self.k, Input::Keys),
            (&v, self.v, Input::Values),
        ] {
            let (regions, region) = att.region(input);
            let l = head_layout(self.shape.problems, self.heads, x, src, region);
            rec.poison(regions, (l.problems * l.stride) as u64 * 4);
            record_heads(rec, &l, x, regions, false);
        }
    }

    /// Records the merge of the heads, the output projection and the activation; returns the
    /// output's buffer and bytes.
    fn record_tail(
        &self,
        rec: &mut crate::gpu::recorder::Recorder<'_>,
        w: &DeviceWeights,
        att: &Attention<'_>,
    ) -> (wgpu::Buffer, u64) {
        let ctx = rec.ctx();
        let (s, heads) = (self.shape, self.heads);
        let merged = Mat {
            buf: ctx.storage(
                "layer merged heads",
                (self.n * s.rows * heads * s.vdim) as u64 * 4,
            ),
            rows: self.n * s.rows,
            cols: heads * s.vdim,
        };
        rec.poison(&merged.buf, merged.bytes());
        let (outs, region) = att.outputs();
        let src = HeadSource {
            len: s.rows,
            width: s.vdim,
            head_stride: s.vdim,
        };
        let l = head_layout(s.problems, heads, &merged, src, region);
        record_heads(rec, &l, &merged, outs, true);
        let out = match &w.out {
            Some(lin) => record_linear(rec, lin, &merged, self.act, &w.dummy),
            None => {
                if self.act != Act::None {
                    record_bias_act(rec, &merged, None, self.act, &w.dummy);
                }
                merged
            }
        };
        let bytes = out.bytes();
        (out.buf, bytes)
    }
}
