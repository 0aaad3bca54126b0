//! The computation the three layers share, hflayers' `Hopfield.forward`: input LayerNorms,
//! projections, the Hopfield-space norm, β, the zero association, masks, the per-head attention
//! with its update steps, the output projection and the activation. Inputs here are always
//! batch first, `(batch, length, features)`; the layers transpose around it.

use ndarray::{s, Array1, Array2, Array3, Array4, ArrayView3, Axis};

use super::attend::attend;
use super::attend::Problems;
use super::config::{HopfieldConfig, Norm, Scaling};
use super::norm::LayerNorm;
use super::weights::Weights;
use super::ForwardOptions;
use crate::device::{Backend, Device};
use crate::error::{check_finite, Error, Result};
use crate::gpu::attention::Shape;

/// `x · Wᵀ + b`, a `torch.nn.Linear`.
#[derive(Clone, Debug)]
pub(super) struct Linear {
    pub weight: Array2<f32>,
    pub bias: Option<Array1<f32>>,
}

impl Linear {
    fn apply(&self, x: &Array3<f32>) -> Array3<f32> {
        let (n, len, d) = x.dim();
        let flat = x
            .view()
            .into_shape_with_order((n * len, d))
            .map(|v| v.dot(&self.weight.t()));
        let mut y = flat.unwrap_or_else(|_| Array2::zeros((n * len, self.weight.nrows())));
        if let Some(b) = &self.bias {
            y += b;
        }
        let out = y.ncols();
        y.into_shape_with_order((n, len, out))
            .unwrap_or_else(|_| Array3::zeros((n, len, out)))
    }
}

/// The shared core of a layer, built once from its configuration and weights.
#[derive(Clone, Debug)]
pub(crate) struct Association {
    pub config: HopfieldConfig,
    pub(super) norm_stored: Option<LayerNorm>,
    pub(super) norm_state: Option<LayerNorm>,
    pub(super) norm_projection: Option<LayerNorm>,
    pub(super) norm_space: Option<LayerNorm>,
    pub(super) q: Option<Linear>,
    pub(super) k: Option<Linear>,
    pub(super) v: Option<Linear>,
    pub(super) out: Option<Linear>,
    /// The weights on the GPU, uploaded by the first forward there.
    pub(super) on_device: super::on_device::Cache,
}

/// The names and shapes of the tensors of a layer with `config`, each name after `prefix`.
pub(crate) fn expected(config: &HopfieldConfig, prefix: &str) -> Vec<(String, Vec<usize>)> {
    let c = config;
    let mut t = Vec::new();
    let mut add = |name: &str, shape: Vec<usize>| t.push((format!("{prefix}{name}"), shape));
    for (name, norm, size) in [
        ("norm_stored_pattern", c.norm_stored, c.stored_size()),
        ("norm_state_pattern", c.norm_state, c.input_size),
        (
            "norm_pattern_projection",
            c.norm_projection,
            c.projection_size(),
        ),
    ] {
        if let (true, Some(d)) = (norm.affine, size) {
            add(&format!("{name}.weight"), vec![d]);
            add(&format!("{name}.bias"), vec![d]);
        }
    }
    if c.static_execution() {
        return t;
    }
    let (h, hd, pd) = (
        c.num_heads,
        c.head_dim().unwrap_or(0),
        c.pattern_dim().unwrap_or(0),
    );
    let input = c.input_size.unwrap_or(0);
    if c.norm_hopfield_space.affine {
        add("association_core.p_norm_weight", vec![hd]);
        add("association_core.p_norm_bias", vec![hd]);
    }
    let (q, k, v) = (!c.state_static, !c.stored_static, !c.projection_static);
    if c.shared_projection() {
        let rows = (usize::from(q) + usize::from(k)) * h * hd + usize::from(v) * h * pd;
        if rows > 0 {
            add("association_core.in_proj_weight", vec![rows, input]);
        }
    } else {
        if q {
            add("association_core.q_proj_weight", vec![h * hd, input]);
        }
        if k {
            add(
                "association_core.k_proj_weight",
                vec![h * hd, c.stored_size().unwrap_or(0)],
            );
        }
        if v {
            let from = if c.projection_connected {
                h * hd
            } else {
                c.projection_size().unwrap_or(0)
            };
            add("association_core.v_proj_weight", vec![h * pd, from]);
        }
    }
    if c.input_bias && (q || k || v) {
        let len = (usize::from(q) + usize::from(k)) * h * hd + h * pd;
        add("association_core.in_proj_bias", vec![len]);
    }
    if !c.disable_out_projection {
        let out = c.out_dim().unwrap_or(0);
        add("association_core.out_proj.weight", vec![out, h * pd]);
        if c.input_bias {
            add("association_core.out_proj.bias", vec![out]);
        }
    }
    if c.concat_bias_pattern {
        // Created by hflayers, never read by its forward: loaded so the state dict fits.
        if k {
            add("association_core.bias_k", vec![1, 1, h * hd]);
        }
        if v {
            add("association_core.bias_v", vec![1, 1, h * hd]);
        }
    }
    t
}

fn matrix(w: &Weights, name: &str, rows: usize, cols: usize) -> Array2<f32> {
    Array2::from_shape_vec((rows, cols), w.data(name))
        .unwrap_or_else(|_| Array2::zeros((rows, cols)))
}

fn norm(w: &Weights, prefix: &str, name: &str, n: Norm) -> Option<LayerNorm> {
    n.on.then(|| LayerNorm {
        dim: 0,
        eps: n.eps,
        affine: n.affine.then(|| {
            (
                w.data(&format!("{prefix}{name}.weight")),
                w.data(&format!("{prefix}{name}.bias")),
            )
        }),
    })
}

pub(super) fn shape_err(what: &'static str, expected: String, got: &[usize]) -> Error {
    Error::InputShape {
        what,
        expected,
        got: got.to_vec(),
    }
}

/// `x` in standard layout, through its LayerNorm if it has one.
fn normed(x: ArrayView3<f32>, norm: &Option<LayerNorm>, what: &'static str) -> Result<Array3<f32>> {
    let mut x = x.as_standard_layout().into_owned();
    if let Some(ln) = norm {
        let d = x.dim().2;
        if ln.affine.as_ref().is_some_and(|(w, _)| w.len() != d) {
            return Err(shape_err(
                what,
                "the features of its LayerNorm".into(),
                x.shape(),
            ));
        }
        let ln = LayerNorm {
            dim: d,
            ..ln.clone()
        };
        if let Some(data) = x.as_slice_mut() {
            ln.apply(data);
        }
    }
    Ok(x)
}

/// `x` repeated once per head along the features, what hflayers does with a static input.
fn tile(x: &Array3<f32>, heads: usize) -> Array3<f32> {
    let views: Vec<_> = (0..heads).map(|_| x.view()).collect();
    ndarray::concatenate(Axis(2), &views).unwrap_or_else(|_| x.clone())
}

/// The heads of `x` (`(N, len, H·d)`) as `N·H` problems of `rows × d`, zero rows padding each
/// to `rows`. Problem p = b·H + h, hflayers' batch-major order (its 3D masks index the same way).
fn split_heads(x: &Array3<f32>, heads: usize, rows: usize, d: usize) -> Vec<f32> {
    let n = x.dim().0;
    let mut out = Vec::with_capacity(n * heads * rows * d);
    for b in 0..n {
        for h in 0..heads {
            let block = x.slice(s![b, .., h * d..(h + 1) * d]);
            out.extend(block.iter());
            out.extend(std::iter::repeat_n(0.0, (rows - block.nrows()) * d));
        }
    }
    out
}

/// The inverse of [`split_heads`] for the attention's output: `N·H` problems of `rows × pd`
/// back to `(N, rows, H·pd)`.
fn merge_heads(out: &[f32], n: usize, heads: usize, rows: usize, pd: usize) -> Array3<f32> {
    let mut o = Array3::<f32>::zeros((n, rows, heads * pd));
    for b in 0..n {
        for h in 0..heads {
            let p = b * heads + h;
            let block = &out[p * rows * pd..][..rows * pd];
            for l in 0..rows {
                for j in 0..pd {
                    o[[b, l, h * pd + j]] = block[l * pd + j];
                }
            }
        }
    }
    o
}

/// The q, k and v projections, each a [`Linear`] or `None` where its input is used as it is.
struct Projections {
    q: Option<Linear>,
    k: Option<Linear>,
    v: Option<Linear>,
}

/// The projections from their own weight matrices, `{q,k,v}_proj_weight`.
fn separate_projections(
    c: &HopfieldConfig,
    w: &Weights,
    core: &dyn Fn(&str) -> String,
    biases: [Option<Array1<f32>>; 3],
) -> Projections {
    let (h, hd, pd) = (
        c.num_heads,
        c.head_dim().unwrap_or(0),
        c.pattern_dim().unwrap_or(0),
    );
    let input = c.input_size.unwrap_or(0);
    let [q_bias, k_bias, v_bias] = biases;
    let from = if c.projection_connected {
        h * hd
    } else {
        c.projection_size().unwrap_or(0)
    };
    Projections {
        q: (!c.state_static).then(|| Linear {
            weight: matrix(w, &core("q_proj_weight"), h * hd, input),
            bias: q_bias,
        }),
        k: (!c.stored_static).then(|| Linear {
            weight: matrix(
                w,
                &core("k_proj_weight"),
                h * hd,
                c.stored_size().unwrap_or(0),
            ),
            bias: k_bias,
        }),
        v: (!c.projection_static).then(|| Linear {
            weight: matrix(w, &core("v_proj_weight"), h * pd, from),
            bias: v_bias,
        }),
    }
}

/// The projections as row blocks of the one shared `in_proj_weight`.
fn shared_projections(
    c: &HopfieldConfig,
    w: &Weights,
    core: &dyn Fn(&str) -> String,
    rows: [usize; 3],
    biases: [Option<Array1<f32>>; 3],
) -> Projections {
    let [q_rows, k_rows, v_rows] = rows;
    let [q_bias, k_bias, v_bias] = biases;
    let (q, k, v) = (!c.state_static, !c.stored_static, !c.projection_static);
    let all_rows = q_rows + k_rows + if v { v_rows } else { 0 };
    if all_rows == 0 {
        return Projections {
            q: None,
            k: None,
            v: None,
        };
    }
    let all = matrix(
        w,
        &core("in_proj_weight"),
        all_rows,
        c.input_size.unwrap_or(0),
    );
    let block = |from: usize, len: usize| all.slice(s![from..from + len, ..]).to_owned();
    Projections {
        q: q.then(|| Linear {
            weight: block(0, q_rows),
            bias: q_bias,
        }),
        k: k.then(|| Linear {
            weight: block(q_rows, k_rows),
            bias: k_bias,
        }),
        v: v.then(|| Linear {
            weight: block(q_rows + k_rows, v_rows),
            bias: v_bias,
        }),
    }
}

/// The q, k and v projections of a non-static layer, shared or separate.
fn projections(c: &HopfieldConfig, w: &Weights, core: &dyn Fn(&str) -> String) -> Projections {
    let (h, hd, pd) = (
        c.num_heads,
        c.head_dim().unwrap_or(0),
        c.pattern_dim().unwrap_or(0),
    );
    let (q, k, v) = (!c.state_static, !c.stored_static, !c.projection_static);
    let bias = (c.input_bias && (q || k || v)).then(|| w.data(&core("in_proj_bias")));
    // Rows of the q, k and v blocks, in hflayers' order, static blocks left out — except
    // the bias of v, which hflayers always keeps.
    let q_rows = if q { h * hd } else { 0 };
    let k_rows = if k { h * hd } else { 0 };
    let slice = |b: &Vec<f32>, from: usize, len: usize| Array1::from(b[from..from + len].to_vec());
    let q_bias = bias.as_ref().filter(|_| q).map(|b| slice(b, 0, q_rows));
    let k_bias = bias
        .as_ref()
        .filter(|_| k)
        .map(|b| slice(b, q_rows, k_rows));
    let v_bias = bias.as_ref().map(|b| slice(b, q_rows + k_rows, h * pd));
    let biases = [q_bias, k_bias, v_bias];
    if c.shared_projection() {
        shared_projections(c, w, core, [q_rows, k_rows, h * pd], biases)
    } else {
        separate_projections(c, w, core, biases)
    }
}

/// β of each of `problems` attention problems, problem p belonging to head p % heads: the
/// configuration's, or hflayers' default `1/√head_dim` (1 when static).
pub(super) fn beta_per_problem(c: &HopfieldConfig, hd: usize, problems: usize) -> Vec<f32> {
    let heads = c.num_heads;
    let per_head = match &c.scaling {
        Scaling::Default if c.static_execution() => vec![1.0; heads],
        Scaling::Default => vec![1.0 / (hd as f32).sqrt(); heads],
        Scaling::Scalar(b) => vec![*b; heads],
        Scaling::PerHead(b) => b.clone(),
    };
    (0..problems).map(|p| per_head[p % heads]).collect()
}

/// The three inputs after their LayerNorms and projections, with the per-head depths.
struct Projected {
    q: Array3<f32>,
    k: Array3<f32>,
    v: Array3<f32>,
    hd: usize,
    pd: usize,
}

impl Association {
    /// Builds the core from weights already checked against [`expected`].
    pub(crate) fn new(config: &HopfieldConfig, w: &Weights, prefix: &str) -> Association {
        let c = config.clone();
        let core = |name: &str| format!("{prefix}association_core.{name}");
        let mut a = Association {
            norm_stored: norm(w, prefix, "norm_stored_pattern", c.norm_stored),
            norm_state: norm(w, prefix, "norm_state_pattern", c.norm_state),
            norm_projection: norm(w, prefix, "norm_pattern_projection", c.norm_projection),
            norm_space: None,
            q: None,
            k: None,
            v: None,
            out: None,
            on_device: Default::default(),
            config: c.clone(),
        };
        if c.static_execution() {
            return a;
        }
        let (h, hd, pd) = (
            c.num_heads,
            c.head_dim().unwrap_or(0),
            c.pattern_dim().unwrap_or(0),
        );
        a.norm_space = c.norm_hopfield_space.on.then(|| LayerNorm {
            dim: hd,
            eps: c.norm_hopfield_space.eps,
            affine: c
                .norm_hopfield_space
                .affine
                .then(|| (w.data(&core("p_norm_weight")), w.data(&core("p_norm_bias")))),
        });
        let Projections { q, k, v } = projections(&c, w, &core);
        (a.q, a.k, a.v) = (q, k, v);
        if !c.disable_out_projection {
            let out = c.out_dim().unwrap_or(0);
            a.out = Some(Linear {
                weight: matrix(w, &core("out_proj.weight"), out, h * pd),
                bias: c
                    .input_bias
                    .then(|| Array1::from(w.data(&core("out_proj.bias")))),
            });
        }
        a
    }

    /// The forward pass on batch-first inputs: the output `(N, L, out)`, the association
    /// `(N, H, L, S)` if asked for, and the number of softmaxes of the longest-running head.
    /// On a GPU every stage runs there ([`on_device`](super::on_device)); the host stages
    /// here are its reference.
    pub(crate) async fn forward(
        &self,
        device: &Device,
        stored: ArrayView3<'_, f32>,
        state: ArrayView3<'_, f32>,
        projection: ArrayView3<'_, f32>,
        options: &ForwardOptions<'_>,
    ) -> Result<(Array3<f32>, Option<Array4<f32>>, usize)> {
        if let Backend::Gpu(ctx) = &device.backend {
            return self
                .forward_on_device(ctx, stored, state, projection, options)
                .await;
        }
        let c = &self.config;
        let heads = c.num_heads;
        let (n, s_len, _) = stored.dim();
        let l_len = state.dim().1;
        let hd = self.check_inputs(stored, state, projection)?;
        let projection_shape = projection.shape().to_vec();
        let Projected { q, k, v, hd, pd } = self.project(stored, state, projection, hd)?;

        let keys = s_len + usize::from(c.add_zero_association);
        c.check_separation(keys)?;
        let problems = n * heads;
        let queries = split_heads(&q, heads, l_len, hd);
        let key_rows = split_heads(&k, heads, keys, hd);
        let values = split_heads(&v, heads, keys, pd);
        let mask = self.mask(options, n, l_len, s_len, keys)?;
        let per_problem_beta = beta_per_problem(c, hd, problems);
        let p = Problems {
            shape: Shape {
                problems,
                rows: l_len,
                keys,
                dim: hd,
                vdim: pd,
            },
            queries: &queries,
            keys: &key_rows,
            values: &values,
            beta: &per_problem_beta,
            separation: c.separation,
            mask: mask.as_deref(),
        };
        let got = attend(
            &p,
            heads,
            c.update_steps_max,
            c.update_steps_eps,
            options.association,
        )
        .await?;

        let o = merge_heads(&got.out, n, heads, l_len, pd);
        let out = self.output(o, pd, &projection_shape)?;
        let association = got.association.map(|xi| {
            Array4::from_shape_vec((n, heads, l_len, keys), xi)
                .unwrap_or_else(|_| Array4::zeros((n, heads, l_len, keys)))
        });
        Ok((out, association, got.iterations))
    }

    /// Checks the inputs' shapes against each other and the configuration, and that they are
    /// finite; returns the head dimension.
    pub(super) fn check_inputs(
        &self,
        stored: ArrayView3<f32>,
        state: ArrayView3<f32>,
        projection: ArrayView3<f32>,
    ) -> Result<usize> {
        let c = &self.config;
        let (n, s_len, ds) = stored.dim();
        let (_, l_len, dq) = state.dim();
        let dp = projection.dim().2;
        if n == 0 || s_len == 0 || l_len == 0 || ds == 0 || dq == 0 || dp == 0 {
            return Err(shape_err(
                "stored patterns",
                "at least one batch item, stored pattern, state and feature".into(),
                stored.shape(),
            ));
        }
        if state.dim().0 != n {
            return Err(shape_err(
                "state patterns",
                format!("batch size {n}, as the stored patterns"),
                state.shape(),
            ));
        }
        if projection.dim().0 != n || projection.dim().1 != s_len {
            return Err(shape_err(
                "pattern projection",
                format!("batch size {n} and {s_len} patterns, as the stored patterns"),
                projection.shape(),
            ));
        }
        // The head dimension: the states' depth when states and stored patterns are both used
        // as they are (hflayers does the same), else the configuration's.
        let both_static = c.state_static && c.stored_static;
        let hd = match c.head_dim() {
            Some(hd) if !both_static => hd,
            _ => dq,
        };
        let depth = |is_static: bool, size: Option<usize>| if is_static { Some(hd) } else { size };
        let projection_depth = if c.projection_static {
            None
        } else {
            c.projection_size()
        };
        for (what, got, want, x) in [
            (
                "stored patterns",
                ds,
                depth(c.stored_static, c.stored_size()),
                &stored,
            ),
            (
                "state patterns",
                dq,
                depth(c.state_static, c.input_size),
                &state,
            ),
            ("pattern projection", dp, projection_depth, &projection),
        ] {
            if want.is_some_and(|w| w != got) {
                return Err(shape_err(
                    what,
                    format!("{} features per pattern", want.unwrap_or(0)),
                    x.shape(),
                ));
            }
            let data = x.as_standard_layout();
            check_finite(what, data.as_slice().unwrap_or(&[]), got.max(1))?;
        }
        Ok(hd)
    }

    /// The input LayerNorms, the q, k and v projections and the Hopfield-space norm.
    fn project(
        &self,
        stored: ArrayView3<f32>,
        state: ArrayView3<f32>,
        projection: ArrayView3<f32>,
        hd: usize,
    ) -> Result<Projected> {
        let c = &self.config;
        let heads = c.num_heads;
        let stored = normed(stored, &self.norm_stored, "stored patterns")?;
        let state = normed(state, &self.norm_state, "state patterns")?;
        let projection = normed(projection, &self.norm_projection, "pattern projection")?;
        let project = |lin: &Option<Linear>, x: &Array3<f32>| match lin {
            Some(l) => l.apply(x),
            None => tile(x, heads),
        };
        let mut q = project(&self.q, &state);
        let mut k = project(&self.k, &stored);
        let v = if c.projection_connected {
            let through_k = self
                .k
                .as_ref()
                .map_or_else(|| tile(&projection, heads), |l| l.apply(&projection));
            match &self.v {
                Some(l) => l.apply(&through_k),
                None => through_k,
            }
        } else if c.projection_static && c.stored_static && !c.shared_projection() {
            // hflayers splits (not tiles) the projection here: head h reads its h-th chunk.
            if !projection.dim().2.is_multiple_of(heads) {
                return Err(shape_err(
                    "pattern projection",
                    format!("features divisible by the {heads} heads"),
                    projection.shape(),
                ));
            }
            projection
        } else {
            project(&self.v, &projection)
        };
        let pd = v.dim().2 / heads;
        if let Some(ln) = &self.norm_space {
            for x in [&mut q, &mut k] {
                if let Some(data) = x.as_slice_mut() {
                    data.chunks_mut(hd).for_each(|head| ln.apply_row(head));
                }
            }
        }
        Ok(Projected { q, k, v, hd, pd })
    }

    /// The output projection and the activation on the merged heads `o`.
    fn output(&self, o: Array3<f32>, pd: usize, projection_shape: &[usize]) -> Result<Array3<f32>> {
        let c = &self.config;
        let heads = c.num_heads;
        let mut out = match &self.out {
            Some(lin) if lin.weight.ncols() != heads * pd => {
                return Err(shape_err(
                    "pattern projection",
                    format!(
                        "{} features per head ({} in all) to fit the output projection",
                        lin.weight.ncols() / heads,
                        lin.weight.ncols()
                    ),
                    projection_shape,
                ))
            }
            Some(lin) => lin.apply(&o),
            None => o,
        };
        if let Some(act) = c.association_activation {
            out.mapv_inplace(|x| act.apply(x));
        }
        Ok(out)
    }

    /// The combined mask, `problems × rows × keys` with 1 = masked, or `None` without masks;
    /// the zero association's column is never masked.
    pub(super) fn mask(
        &self,
        options: &ForwardOptions<'_>,
        n: usize,
        rows: usize,
        stored: usize,
        keys: usize,
    ) -> Result<Option<Vec<u32>>> {
        let heads = self.config.num_heads;
        if options.padding_mask.is_none() && options.association_mask.is_none() {
            return Ok(None);
        }
        let mut mask = vec![0u32; n * heads * rows * keys];
        if let Some(pad) = &options.padding_mask {
            if pad.dim() != (n, stored) {
                return Err(Error::InputShape {
                    what: "stored pattern padding mask",
                    expected: format!("({n}, {stored}): batch × stored patterns"),
                    got: pad.shape().to_vec(),
                });
            }
            for b in 0..n {
                for h in 0..heads {
                    for r in 0..rows {
                        for s in 0..stored {
                            mask[((b * heads + h) * rows + r) * keys + s] |= u32::from(pad[[b, s]]);
                        }
                    }
                }
            }
        }
        if let Some(assoc) = &options.association_mask {
            let shape = assoc.shape();
            let per_problem = match shape {
                [r, s] if *r == rows && *s == stored => false,
                [p, r, s] if *p == n * heads && *r == rows && *s == stored => true,
                _ => {
                    return Err(Error::InputShape {
                        what: "association mask",
                        expected: format!(
                            "({rows}, {stored}) or ({}, {rows}, {stored}): [batch·heads,] \
                             states × stored patterns",
                            n * heads
                        ),
                        got: shape.to_vec(),
                    })
                }
            };
            let flat: Vec<bool> = assoc.iter().copied().collect();
            for p in 0..n * heads {
                let base = if per_problem { p * rows * stored } else { 0 };
                for r in 0..rows {
                    for s in 0..stored {
                        mask[(p * rows + r) * keys + s] |= u32::from(flat[base + r * stored + s]);
                    }
                }
            }
        }
        Ok(Some(mask))
    }
}
