//! The layer test bodies, async and shared by tests/layers.rs (native, fixtures read from
//! their folder) and tests/web.rs (a browser, fixtures compiled in); tolerances are in
//! tests/layers.rs.

use std::path::PathBuf;

use super::common;

use hopfield::layers::{
    ForwardOptions, Hopfield, HopfieldConfig, HopfieldLayer, HopfieldPooling, LayerOutput, Scaling,
    Weights,
};
use hopfield::{Device, Error};
use ndarray::{Array2, Array3, Array4, ArrayD, Axis, IxDyn};
use rand::RngExt;
use safetensors::{Dtype, SafeTensors};
use serde_json::Value;

const OUT_TOL: f64 = 1e-5;
const ASSOC_TOL: f64 = 1e-5;
const RANDOM_TOL: f64 = 1e-4;

#[cfg(not(target_arch = "wasm32"))]
pub fn fixtures_dir() -> PathBuf {
    match std::env::var_os("HOPFIELD_HFLAYERS_FIXTURES") {
        Some(dir) => PathBuf::from(dir),
        None => PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/hflayers"),
    }
}

/// The browser has no file system: the fixtures are compiled in.
#[cfg(target_arch = "wasm32")]
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from("tests/fixtures/hflayers (compiled in)")
}

/// One fixture file.
pub struct Case {
    pub name: String,
    bytes: Vec<u8>,
    meta: Value,
}

impl Case {
    #[cfg(not(target_arch = "wasm32"))]
    pub fn all() -> Vec<Case> {
        let dir = fixtures_dir();
        let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("fixture folder {}: {e}", dir.display()))
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|x| x == "safetensors"))
            .collect();
        paths.sort();
        paths
            .iter()
            .map(|p| {
                let name = p.file_stem().unwrap().to_string_lossy().into_owned();
                Case::read(name, std::fs::read(p).unwrap())
            })
            .collect()
    }

    #[cfg(target_arch = "wasm32")]
    pub fn all() -> Vec<Case> {
        super::fixtures::FIXTURES
            .iter()
            .map(|(name, bytes)| Case::read(name.to_string(), bytes.to_vec()))
            .collect()
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn named(name: &str) -> Case {
        let path = fixtures_dir().join(format!("{name}.safetensors"));
        assert!(path.exists(), "fixture {} is missing", path.display());
        Case::read(name.to_string(), std::fs::read(path).unwrap())
    }

    #[cfg(target_arch = "wasm32")]
    pub fn named(name: &str) -> Case {
        Case::all()
            .into_iter()
            .find(|c| c.name == name)
            .unwrap_or_else(|| panic!("fixture {name} is not compiled in"))
    }

    fn read(name: String, bytes: Vec<u8>) -> Case {
        let (_, m) = SafeTensors::read_metadata(&bytes).unwrap();
        let meta = m.metadata().as_ref().expect("fixture metadata")["meta"].clone();
        Case {
            name,
            meta: serde_json::from_str(&meta).unwrap(),
            bytes,
        }
    }

    fn file(&self) -> SafeTensors<'_> {
        SafeTensors::deserialize(&self.bytes).unwrap()
    }

    pub fn has(&self, key: &str) -> bool {
        self.file().tensor(key).is_ok()
    }

    pub fn f32s(&self, key: &str) -> (Vec<usize>, Vec<f32>) {
        let f = self.file();
        let t = f
            .tensor(key)
            .unwrap_or_else(|_| panic!("{}: no {key}", self.name));
        assert_eq!(t.dtype(), Dtype::F32);
        let data = t
            .data()
            .chunks_exact(4)
            .map(|b| f32::from_le_bytes(b.try_into().unwrap()));
        (t.shape().to_vec(), data.collect())
    }

    pub fn f64s(&self, key: &str) -> ArrayD<f64> {
        let f = self.file();
        let t = f.tensor(key).unwrap();
        assert_eq!(t.dtype(), Dtype::F64);
        let data = t
            .data()
            .chunks_exact(8)
            .map(|b| f64::from_le_bytes(b.try_into().unwrap()));
        ArrayD::from_shape_vec(IxDyn(t.shape()), data.collect()).unwrap()
    }

    pub fn input(&self, name: &str) -> Array3<f32> {
        let (shape, data) = self.f32s(&format!("input.{name}"));
        Array3::from_shape_vec((shape[0], shape[1], shape[2]), data).unwrap()
    }

    pub fn mask(&self, name: &str) -> Option<ArrayD<bool>> {
        let f = self.file();
        let t = f.tensor(&format!("input.{name}")).ok()?;
        assert_eq!(t.dtype(), Dtype::U8);
        let data = t.data().iter().map(|&b| b != 0).collect();
        Some(ArrayD::from_shape_vec(IxDyn(t.shape()), data).unwrap())
    }

    pub fn weights(&self) -> Weights {
        Weights::from_safetensors(&self.bytes, "param.").unwrap()
    }

    pub fn kwarg(&self, key: &str) -> &Value {
        &self.meta["kwargs_resolved"][key]
    }

    pub fn class(&self) -> &str {
        self.meta["class"].as_str().unwrap()
    }

    pub fn iterations(&self) -> usize {
        self.meta["derived"]["softmax_iterations"].as_u64().unwrap() as usize
    }

    /// The configuration hflayers was built with, from its resolved keyword arguments.
    pub fn config(&self) -> HopfieldConfig {
        let k = |key| self.kwarg(key);
        let size = |key| k(key).as_u64().map(|v| v as usize);
        let flag = |key| k(key).as_bool().unwrap_or(false);
        let eps = |key| k(key).as_f64().map(|v| v as f32).unwrap_or(1e-5);
        let mut c = HopfieldConfig::default();
        if let Some(d) = size("input_size") {
            c = HopfieldConfig::new(d);
        }
        if let Some(d) = size("hidden_size") {
            c = c.hidden_size(d);
        }
        if let Some(d) = size("output_size") {
            c = c.output_size(d);
        }
        if let Some(d) = size("pattern_size") {
            c = c.pattern_size(d);
        }
        if let Some(d) = size("stored_pattern_size") {
            c = c.stored_pattern_size(d);
        }
        if let Some(d) = size("pattern_projection_size") {
            c = c.pattern_projection_size(d);
        }
        c = c
            .num_heads(size("num_heads").unwrap_or(1))
            .scaling(match k("scaling") {
                Value::Null => Scaling::Default,
                Value::Array(v) => {
                    Scaling::PerHead(v.iter().map(|x| x.as_f64().unwrap() as f32).collect())
                }
                v => Scaling::Scalar(v.as_f64().unwrap() as f32),
            })
            .update_steps_max(size("update_steps_max"))
            .update_steps_eps(k("update_steps_eps").as_f64().unwrap_or(1e-4) as f32)
            .normalize_stored_pattern(flag("normalize_stored_pattern"))
            .normalize_stored_pattern_affine(flag("normalize_stored_pattern_affine"))
            .normalize_stored_pattern_eps(eps("normalize_stored_pattern_eps"))
            .normalize_state_pattern(flag("normalize_state_pattern"))
            .normalize_state_pattern_affine(flag("normalize_state_pattern_affine"))
            .normalize_state_pattern_eps(eps("normalize_state_pattern_eps"))
            .normalize_pattern_projection(flag("normalize_pattern_projection"))
            .normalize_pattern_projection_affine(flag("normalize_pattern_projection_affine"))
            .normalize_pattern_projection_eps(eps("normalize_pattern_projection_eps"))
            .normalize_hopfield_space(flag("normalize_hopfield_space"))
            .normalize_hopfield_space_affine(flag("normalize_hopfield_space_affine"))
            .normalize_hopfield_space_eps(eps("normalize_hopfield_space_eps"))
            .stored_pattern_as_static(flag("stored_pattern_as_static"))
            .state_pattern_as_static(flag("state_pattern_as_static"))
            .pattern_projection_as_static(flag("pattern_projection_as_static"))
            .pattern_projection_as_connected(flag("pattern_projection_as_connected"))
            .batch_first(k("batch_first").as_bool().unwrap_or(true))
            .association_activation(
                k("association_activation")
                    .as_str()
                    .map(|a| a.parse().unwrap()),
            )
            .dropout(k("dropout").as_f64().unwrap_or(0.0) as f32)
            .input_bias(k("input_bias").as_bool().unwrap_or(true))
            .concat_bias_pattern(flag("concat_bias_pattern"))
            .add_zero_association(flag("add_zero_association"))
            .disable_out_projection(flag("disable_out_projection"));
        c
    }

    /// Runs the case's layer on `device` with its inputs and masks.
    async fn run(
        &self,
        device: &Device,
        config: HopfieldConfig,
        weights: &Weights,
    ) -> hopfield::Result<LayerOutput<ArrayD<f32>>> {
        let padding = self.mask("stored_pattern_padding_mask");
        let assoc = self.mask("association_mask");
        let padding2 = padding.map(|m| m.into_dimensionality::<ndarray::Ix2>().unwrap());
        let mut options = ForwardOptions::new().with_association();
        if let Some(m) = &padding2 {
            options = options.padding_mask(m.view());
        }
        if let Some(m) = &assoc {
            options = options.association_mask(m.view());
        }
        let quantity = || self.kwarg("quantity").as_u64().unwrap() as usize;
        let dyn_out = |o: LayerOutput<Array3<f32>>| LayerOutput {
            out: o.out.into_dyn(),
            association: o.association,
            softmax_iterations: o.softmax_iterations,
        };
        match self.class() {
            "Hopfield" => {
                let layer = Hopfield::new(device, config, weights)?;
                let o = if self.has("input.input") {
                    let x = self.input("input");
                    layer
                        .forward_with_async(x.view(), x.view(), x.view(), &options)
                        .await?
                } else {
                    let (s, q, p) = (
                        self.input("stored"),
                        self.input("state"),
                        self.input("projection"),
                    );
                    layer
                        .forward_with_async(s.view(), q.view(), p.view(), &options)
                        .await?
                };
                Ok(dyn_out(o))
            }
            "HopfieldPooling" => {
                let layer = HopfieldPooling::new(device, config, quantity(), weights)?;
                let o = if self.has("input.input") {
                    let x = self.input("input");
                    layer
                        .forward_with_async(x.view(), x.view(), &options)
                        .await?
                } else {
                    let (s, p) = (self.input("stored"), self.input("projection"));
                    layer
                        .forward_with_async(s.view(), p.view(), &options)
                        .await?
                };
                Ok(LayerOutput {
                    out: o.out.into_dyn(),
                    association: o.association,
                    softmax_iterations: o.softmax_iterations,
                })
            }
            "HopfieldLayer" => {
                let separated = self
                    .kwarg("lookup_weights_as_separated")
                    .as_bool()
                    .unwrap_or(false);
                let layer = HopfieldLayer::new(device, config, quantity(), separated, weights)?;
                let x = self.input("input");
                Ok(dyn_out(layer.forward_with_async(x.view(), &options).await?))
            }
            other => panic!("{}: unknown class {other}", self.name),
        }
    }
}

/// `max|a − b| / max|b|`, NaN giving +∞.
fn rel_max(a: &ArrayD<f32>, b: &ArrayD<f64>) -> f64 {
    let scale = b.iter().fold(0.0f64, |m, x| m.max(x.abs()));
    abs_max(a, b) / scale.max(f64::MIN_POSITIVE)
}

/// `max|a − b|`, NaN giving +∞ ([`common::max_abs_err`] on the flattened arrays).
fn abs_max(a: &ArrayD<f32>, b: &ArrayD<f64>) -> f64 {
    assert_eq!(a.shape(), b.shape(), "shapes differ");
    let flat = |len| (1, len);
    common::max_abs_err(
        a.to_shape(flat(a.len())).unwrap().view(),
        b.to_shape(flat(b.len())).unwrap().view(),
    )
}

pub async fn every_fixture_case_matches_hflayers(device: &Device) {
    let cases = Case::all();
    let mut checked = 0;
    for case in cases.iter().filter(|c| !c.name.starts_with("quirk_")) {
        let got = case
            .run(device, case.config(), &case.weights())
            .await
            .unwrap_or_else(|e| panic!("{}: cannot run: {e}", case.name));
        let out_err = rel_max(&got.out, &case.f64s("output64.out"));
        let assoc = got.association.expect("association asked for").into_dyn();
        let assoc_err = abs_max(&assoc, &case.f64s("output64.association"));
        eprintln!(
            "{:<45} out rel {out_err:.2e}  assoc abs {assoc_err:.2e}  iterations {}",
            case.name, got.softmax_iterations
        );
        assert!(
            out_err <= OUT_TOL,
            "{}: output error {out_err:e}",
            case.name
        );
        assert!(
            assoc_err <= ASSOC_TOL,
            "{}: association error {assoc_err:e}",
            case.name
        );
        assert_eq!(
            got.softmax_iterations,
            case.iterations(),
            "{}: softmax iterations",
            case.name
        );
        checked += 1;
    }
    let quirks = cases.len() - checked;
    eprintln!(
        "checked {checked} hflayers fixture cases in {} ({quirks} quirk_* cases have their own tests)",
        fixtures_dir().display()
    );
    assert!(
        checked > 0,
        "no fixture cases in {}",
        fixtures_dir().display()
    );
}

/// hflayers multiplies q feature `f` by `scaling[f mod heads]`; here head `h` gets
/// `scaling[h]` on its own features. The corrected output is built independently from two
/// scalar-β layers (each checked against hflayers by the other fixtures): head 0 of the β = 0.5
/// layer and head 1 of the β = 2 layer, each with the other head's columns of the output
/// projection zeroed, summed.
pub async fn quirk_scaling_tensor_is_applied_per_head(device: &Device) {
    let case = Case::named("quirk_hopfield_scaling_tensor_h2");
    let x = case.input("input");
    let config = case.config();
    let betas: Vec<f32> = case
        .kwarg("scaling")
        .as_array()
        .expect("a per-head scaling")
        .iter()
        .map(|b| b.as_f64().unwrap() as f32)
        .collect();
    let ours = Hopfield::new(device, config.clone(), &case.weights()).unwrap();
    let opts = ForwardOptions::new().with_association();
    let got = ours
        .forward_with_async(x.view(), x.view(), x.view(), &opts)
        .await
        .unwrap();
    let got_assoc = got.association.unwrap();

    let (_, w) = case
        .weights()
        .get("association_core.out_proj.weight")
        .map(|(s, d)| (s.to_vec(), d.to_vec()))
        .unwrap();
    let (_, b) = case
        .weights()
        .get("association_core.out_proj.bias")
        .map(|(s, d)| (s.to_vec(), d.to_vec()))
        .unwrap();
    let (out_dim, hd) = (8, 4);
    let mut expected = Array3::<f64>::zeros(got.out.dim());
    for (h, &beta) in betas.iter().enumerate() {
        let mut weights = case.weights();
        let keep = |col: usize| col / hd == h;
        let w_h: Vec<f32> = w
            .iter()
            .enumerate()
            .map(|(i, &v)| if keep(i % (2 * hd)) { v } else { 0.0 })
            .collect();
        weights
            .insert("association_core.out_proj.weight", &[out_dim, 2 * hd], w_h)
            .unwrap();
        let b_h = if h == 1 {
            b.clone()
        } else {
            vec![0.0; out_dim]
        };
        weights
            .insert("association_core.out_proj.bias", &[out_dim], b_h)
            .unwrap();
        let layer = Hopfield::new(
            device,
            config.clone().scaling(Scaling::Scalar(beta)),
            &weights,
        )
        .unwrap();
        let one = layer
            .forward_with_async(x.view(), x.view(), x.view(), &opts)
            .await
            .unwrap();
        expected += &one.out.mapv(f64::from);
        let theirs = one.association.unwrap();
        let err = abs_max(
            &got_assoc.index_axis(Axis(1), h).to_owned().into_dyn(),
            &theirs.index_axis(Axis(1), h).mapv(f64::from).into_dyn(),
        );
        assert!(
            err <= ASSOC_TOL,
            "head {h}: association differs from the beta = {beta} layer's by {err:e}"
        );
    }
    let err = rel_max(&got.out.clone().into_dyn(), &expected.into_dyn());
    assert!(err <= OUT_TOL, "corrected output error {err:e}");
    // Where hflayers' bug bites, its output is a different one.
    let bug = rel_max(&got.out.into_dyn(), &case.f64s("output64.out"));
    assert!(
        bug > 1e-2,
        "the output should differ from hflayers' buggy one, differs by {bug:e}"
    );
    let bug = abs_max(&got_assoc.into_dyn(), &case.f64s("output64.association"));
    assert!(
        bug > 1e-2,
        "the association should differ from hflayers', differs by {bug:e}"
    );
}

/// Static patterns, β per head, masks, update steps in f64: `softmax(β·state·storedᵀ)·projection`
/// per batch item and head, each batch item with its own patterns. Returns the output
/// `(N, L, H·dp)`, the association `(N, H, L, S)` and the softmax count.
fn static_reference(
    stored: &Array3<f32>,
    state: &Array3<f32>,
    projection: &Array3<f32>,
    betas: &[f64],
    mask: Option<&Array4<bool>>,
    steps_max: Option<usize>,
    eps: f64,
) -> (Array3<f64>, Array4<f64>, usize) {
    let (n, s, _) = stored.dim();
    let (_, l, _) = state.dim();
    let dp = projection.dim().2;
    let heads = betas.len();
    let k = stored.mapv(f64::from);
    let associate = |b: usize, h: usize, q: &Array2<f64>| -> Array2<f64> {
        let mut xi = q.dot(&k.index_axis(Axis(0), b).t()) * betas[h];
        for r in 0..l {
            let mut row = xi.row_mut(r);
            for c in 0..s {
                if mask.is_some_and(|m| m[[b, h, r, c]]) {
                    row[c] = f64::NEG_INFINITY;
                }
            }
            let max = row.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            row.mapv_inplace(|v| (v - max).exp());
            let sum = row.sum();
            row.mapv_inplace(|v| v / sum);
        }
        xi
    };
    let mut xi: Vec<Array2<f64>> = (0..n * heads)
        .map(|p| {
            associate(
                p / heads,
                p % heads,
                &state.index_axis(Axis(0), p / heads).mapv(f64::from),
            )
        })
        .collect();
    let mut on = vec![true; heads];
    let mut iterations = 1;
    let mut t = 0;
    let mut prev: Option<Vec<Array2<f64>>> = None;
    while steps_max.is_none_or(|m| t < m) {
        if let Some(prev) = &prev {
            for h in 0..heads {
                let change = (0..n)
                    .map(|b| {
                        (&xi[b * heads + h] - &prev[b * heads + h])
                            .mapv(|d| d * d)
                            .sum()
                            .sqrt()
                    })
                    .fold(0.0, f64::max);
                on[h] = on[h] && change > eps;
            }
        }
        if !on.iter().any(|&o| o) {
            break;
        }
        let next = (0..n * heads)
            .map(|p| {
                let (b, h) = (p / heads, p % heads);
                if on[h] {
                    associate(b, h, &xi[p].dot(&k.index_axis(Axis(0), b)))
                } else {
                    xi[p].clone()
                }
            })
            .collect();
        prev = Some(std::mem::replace(&mut xi, next));
        iterations += 1;
        t += 1;
    }
    let mut out = Array3::zeros((n, l, heads * dp));
    let mut assoc = Array4::zeros((n, heads, l, s));
    for (p, xi) in xi.iter().enumerate() {
        let (b, h) = (p / heads, p % heads);
        let o = xi.dot(&projection.index_axis(Axis(0), b).mapv(f64::from));
        out.slice_mut(ndarray::s![b, .., h * dp..(h + 1) * dp])
            .assign(&o);
        assoc.slice_mut(ndarray::s![b, h, .., ..]).assign(xi);
    }
    (out, assoc, iterations)
}

/// hflayers tiles static patterns head-major but reads them batch-major, so with two heads
/// and two batch items its head 1 of item 0 retrieves from item 1's patterns. Here every
/// item keeps its own: the output equals the f64 reference, whose head 1 of item 0 differs from
/// hflayers' — and hflayers' is exactly item 1's retrieval.
pub async fn quirk_static_batch_items_stay_apart(device: &Device) {
    let case = Case::named("quirk_hopfield_static_all_h2_batchmix");
    let (stored, state, projection) = (
        case.input("stored"),
        case.input("state"),
        case.input("projection"),
    );
    let layer = Hopfield::new(device, case.config(), &case.weights()).unwrap();
    let got = layer
        .forward_with_async(
            stored.view(),
            state.view(),
            projection.view(),
            &ForwardOptions::new().with_association(),
        )
        .await
        .unwrap();
    let (reference, assoc, _) = static_reference(
        &stored,
        &state,
        &projection,
        &[1.5, 1.5],
        None,
        Some(0),
        0.0,
    );
    assert!(rel_max(&got.out.clone().into_dyn(), &reference.clone().into_dyn()) <= OUT_TOL);
    assert!(abs_max(&got.association.unwrap().into_dyn(), &assoc.into_dyn()) <= ASSOC_TOL);
    let theirs = case
        .f64s("output64.out")
        .into_dimensionality::<ndarray::Ix3>()
        .unwrap();
    let d = projection.dim().2;
    let head = |a: &Array3<f64>, b: usize, h: usize| {
        a.slice(ndarray::s![b, .., h * d..(h + 1) * d])
            .to_owned()
            .into_dyn()
    };
    let ours64 = got.out.mapv(f64::from);
    // Unaffected: item 0, head 0.
    assert!(
        abs_max(
            &head(&ours64, 0, 0).mapv(|x| x as f32),
            &head(&theirs, 0, 0)
        ) <= 1e-5
    );
    // Where the bug bites, hflayers' item 0 head 1 is item 1's retrieval, and ours is not.
    let bitten = abs_max(
        &head(&ours64, 0, 1).mapv(|x| x as f32),
        &head(&theirs, 0, 1),
    );
    assert!(
        bitten > 1e-2,
        "item 0 head 1 should differ from hflayers' by far more, got {bitten:e}"
    );
    assert!(
        abs_max(
            &head(&ours64, 1, 1).mapv(|x| x as f32),
            &head(&theirs, 0, 1)
        ) <= 1e-5
    );
}

pub fn pure_config(heads: usize, betas: Vec<f32>, steps: Option<usize>) -> HopfieldConfig {
    HopfieldConfig::default()
        .num_heads(heads)
        .stored_pattern_as_static(true)
        .state_pattern_as_static(true)
        .pattern_projection_as_static(true)
        .disable_out_projection(true)
        .normalize_stored_pattern(false)
        .normalize_stored_pattern_affine(false)
        .normalize_state_pattern(false)
        .normalize_state_pattern_affine(false)
        .normalize_pattern_projection(false)
        .normalize_pattern_projection_affine(false)
        .scaling(Scaling::PerHead(betas))
        .update_steps_max(steps)
        .update_steps_eps(0.0)
}

/// Many problems of awkward sizes in one call (offsets into shared buffers, tile edges), random
/// masks and update steps, against the f64 reference. The last case stores more patterns than
/// one softmax segment (4096) and one weighted-sum run (2048) take, so the split kernels run.
pub async fn attention_matches_f64_on_awkward_shapes(device: &Device) {
    let mut rng = common::rng("attention_matches_f64_on_awkward_shapes");
    let cases = common::cases(4);
    for case in 0..=cases {
        let (n, heads) = (rng.random_range(1..4), rng.random_range(1..4));
        let (s, l) = if case == cases {
            (4099, 3)
        } else {
            (
                common::awkward(&mut rng).min(129),
                common::awkward(&mut rng).min(97),
            )
        };
        let (d, dp) = (rng.random_range(1..20), rng.random_range(1..20));
        let normal = |rng: &mut _, a, b, c| {
            Array3::from_shape_vec(
                (a, b, c),
                common::normal(rng, a * b, c, 1.0)
                    .into_raw_vec_and_offset()
                    .0,
            )
            .unwrap()
        };
        let stored = normal(&mut rng, n, s, d) * 2.0;
        let state = normal(&mut rng, n, l, d) * 2.0;
        let projection = normal(&mut rng, n, s, dp);
        let betas: Vec<f32> = (0..heads).map(|_| rng.random_range(0.2..2.0)).collect();
        // ε = 0: every head takes all its steps, so no stopping decision sits on a threshold
        // (the fixtures test stopping on ε with known margins).
        let steps = [Some(0), Some(1), Some(3)][rng.random_range(0..3)];
        // Masks on about a quarter of the entries, never a whole row.
        let mut full =
            Array4::from_shape_simple_fn((n, heads, l, s), || rng.random_range(0..4) == 0);
        full.slice_mut(ndarray::s![.., .., .., 0]).fill(false);
        let flat = full
            .clone()
            .into_shape_with_order((n * heads, l, s))
            .unwrap()
            .into_dyn();
        let layer = Hopfield::new(
            device,
            pure_config(heads, betas.clone(), steps),
            &Weights::new(),
        )
        .unwrap();
        let opts = ForwardOptions::new()
            .association_mask(flat.view())
            .with_association();
        let got = layer
            .forward_with_async(stored.view(), state.view(), projection.view(), &opts)
            .await
            .unwrap();
        let b64: Vec<f64> = betas.iter().map(|&b| f64::from(b)).collect();
        let (out, assoc, iterations) =
            static_reference(&stored, &state, &projection, &b64, Some(&full), steps, 0.0);
        let what = format!("n {n} heads {heads} S {s} L {l} d {d} dp {dp} steps {steps:?}");
        let err = rel_max(&got.out.into_dyn(), &out.into_dyn());
        eprintln!("{what}: output error {err:.2e}");
        assert!(err <= RANDOM_TOL, "{what}: output error {err:e}");
        let err = abs_max(&got.association.unwrap().into_dyn(), &assoc.into_dyn());
        assert!(err <= RANDOM_TOL, "{what}: association error {err:e}");
        assert_eq!(got.softmax_iterations, iterations, "{what}: iterations");
    }
}

/// A state whose every stored pattern is masked has no distribution: NaN, as torch's softmax
/// of −∞ everywhere gives; the other states are unaffected.
pub async fn fully_masked_row_is_nan_as_in_pytorch(device: &Device) {
    let stored = Array3::from_shape_fn((1, 3, 2), |(_, s, c)| (s + c) as f32);
    let state = Array3::from_shape_fn((1, 2, 2), |(_, l, c)| (l * 2 + c) as f32 * 0.3);
    let mut mask = ArrayD::from_elem(IxDyn(&[2, 3]), false);
    mask.slice_mut(ndarray::s![0, ..]).fill(true);
    let layer = Hopfield::new(device, pure_config(1, vec![1.0], Some(0)), &Weights::new()).unwrap();
    let opts = ForwardOptions::new()
        .association_mask(mask.view())
        .with_association();
    let got = layer
        .forward_with_async(stored.view(), state.view(), stored.view(), &opts)
        .await
        .unwrap();
    assert!(got
        .out
        .slice(ndarray::s![0, 0, ..])
        .iter()
        .all(|x| x.is_nan()));
    assert!(got
        .out
        .slice(ndarray::s![0, 1, ..])
        .iter()
        .all(|x| x.is_finite()));
    let a = got.association.unwrap();
    assert!((a.slice(ndarray::s![0, 0, 1, ..]).sum() - 1.0).abs() < 1e-6);
}

pub async fn input_errors_are_typed(device: &Device) {
    let case = Case::named("hopfield_padding_mask_h2");
    let layer = Hopfield::new(device, case.config(), &case.weights()).unwrap();
    let (s, q, p) = (
        case.input("stored"),
        case.input("state"),
        case.input("projection"),
    );
    let none = ForwardOptions::new();
    // Stored patterns of the wrong depth.
    let wrong = Array3::<f32>::zeros((2, 10, 7));
    let e = layer
        .forward_with_async(wrong.view(), q.view(), p.view(), &none)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InputShape {
                what: "stored patterns",
                ..
            }
        ),
        "{e}"
    );
    // No features at all.
    let empty = Array3::<f32>::zeros((2, 4, 0));
    let layer0 =
        Hopfield::new(device, pure_config(1, vec![1.0], Some(0)), &Weights::new()).unwrap();
    let e = layer0
        .forward_with_async(empty.view(), empty.view(), empty.view(), &none)
        .await
        .unwrap_err();
    assert!(matches!(e, Error::InputShape { .. }), "{e}");
    // A batch size that disagrees.
    let e = layer
        .forward_with_async(s.view(), q.slice(ndarray::s![..1, .., ..]), p.view(), &none)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::InputShape {
                what: "state patterns",
                ..
            }
        ),
        "{e}"
    );
    // NaN in an input.
    let mut nan = q.clone();
    nan[[1, 2, 3]] = f32::NAN;
    let e = layer
        .forward_with_async(s.view(), nan.view(), p.view(), &none)
        .await
        .unwrap_err();
    assert!(
        matches!(
            e,
            Error::NonFinite {
                what: "state patterns",
                row: 6,
                col: 3,
                ..
            }
        ),
        "{e}"
    );
    // Masks of the wrong shape.
    let pad = Array2::from_elem((2, 9), false);
    let options = ForwardOptions::new().padding_mask(pad.view());
    let e = layer
        .forward_with_async(s.view(), q.view(), p.view(), &options)
        .await
        .unwrap_err();
    let what = "stored pattern padding mask";
    assert!(
        matches!(e, Error::InputShape { what: w, .. } if w == what),
        "{e}"
    );
    let assoc = ArrayD::from_elem(IxDyn(&[3, 4, 10]), false);
    let options = ForwardOptions::new().association_mask(assoc.view());
    let e = layer
        .forward_with_async(s.view(), q.view(), p.view(), &options)
        .await
        .unwrap_err();
    let what = "association mask";
    assert!(
        matches!(e, Error::InputShape { what: w, .. } if w == what),
        "{e}"
    );
}
