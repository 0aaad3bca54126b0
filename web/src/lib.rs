//! The engine of the web page (`web/index.html`): it opens the browser's GPU (or the CPU
//! path), completes corrupted glyphs from a memory of clean ones, and runs the benchmark
//! workloads with `hopfield-bench`, the same measurement and JSON report as `hopfield bench`.
//!
//! Every call that waits for the device returns a JavaScript `Promise`; the state lives
//! behind an `Rc<RefCell<…>>` so a promise owns what it needs while the page goes on. The
//! page calls one thing at a time (its buttons are disabled while a call runs); a second call
//! that found the state borrowed would be refused with an error, not run on top of the first.

use std::cell::RefCell;
use std::rc::Rc;

use hopfield::workloads::{self, Workload};
use hopfield::{
    Device, DeviceInfo, Fusion, GpuOptions, Limits, Memory, Precision, RetrieveOptions, Separation,
};
use hopfield_bench::{
    adapter_json, is_per_workload, json_report, kernels, measure, workload_json, Config, Row,
};
use ndarray::Array2;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

#[path = "../../examples/common/glyphs.rs"]
mod glyphs;

use glyphs::{draw, FONT, PIXELS, SIDE};

/// Repetitions per workload on the page: fewer than the CLI's 20, since a visitor waits.
const REPS: usize = 10;
const WARMUP: usize = 2;
/// The benchmark's β, as the CLI's default.
const BETA: f32 = 8.0;

struct State {
    device: Device,
    /// The browser's description of its adapter (vendor, architecture), which wgpu does not
    /// pass on: it names the adapter where wgpu has no name for it.
    label: String,
    glyphs: Memory,
    rows: Vec<Row<'static>>,
}

impl State {
    /// The device's info, named by the browser's label where wgpu has no name.
    fn info(&self) -> DeviceInfo {
        let mut info = self.device.info();
        if self.device.is_gpu() && info.name.starts_with("unnamed") && !self.label.is_empty() {
            info.name = format!("{} (as the browser describes it)", self.label);
        }
        info
    }
}

/// One opened device and what the page has computed on it.
#[wasm_bindgen]
pub struct Page {
    state: Rc<RefCell<State>>,
    limits: String,
}

fn js(e: impl std::fmt::Display) -> JsValue {
    JsError::new(&e.to_string()).into()
}

/// The benchmark settings of the page.
fn config() -> Config {
    Config {
        precision: Precision::F32,
        fusion: Fusion::Auto,
        max_chunk_bytes: None,
        reps: REPS,
        warmup: WARMUP,
        beta: BETA,
        top_k: None,
        separation: Separation::Softmax,
    }
}

/// The stored glyphs, one 16×16 image of ±1 pixels per row.
fn glyph_patterns() -> Array2<f32> {
    let pixels: Vec<f32> = FONT.iter().flat_map(|(_, g)| draw(g)).collect();
    Array2::from_shape_vec((FONT.len(), PIXELS), pixels).expect("FONT.len() images")
}

#[wasm_bindgen]
impl Page {
    /// Opens `device` ("gpu": the browser's WebGPU adapter; "cpu": the CPU path, one thread)
    /// with `limits` ("adapter" or "webgpu") and stores the glyphs. `label` is the browser's
    /// own description of its adapter (`GPUAdapterInfo`'s vendor and architecture), shown
    /// where wgpu gives the adapter no name. Resolves to a `Page`.
    pub fn open(device: String, limits: String, label: String) -> js_sys::Promise {
        future_to_promise(async move {
            let limits_choice: Limits = limits.parse().map_err(js)?;
            let device = match device.as_str() {
                "cpu" => Device::cpu(),
                "gpu" => {
                    let options = GpuOptions::default().limits(limits_choice);
                    Device::gpu_with_async(&options).await.map_err(js)?
                }
                other => return Err(js(format!("device {other:?}: expected gpu or cpu"))),
            };
            let glyphs = Memory::from_array_async(&device, glyph_patterns().view())
                .await
                .map_err(js)?;
            let state = State {
                device,
                label,
                glyphs,
                rows: Vec::new(),
            };
            Ok(Page {
                state: Rc::new(RefCell::new(state)),
                limits,
            }
            .into())
        })
    }

    /// The device as JSON: the adapter (name, backend, kind, limits, features) as the
    /// benchmark report records it, the limits asked for, and the glyph side.
    pub fn info(&self) -> Result<String, JsValue> {
        let state = self.state.try_borrow().map_err(js)?;
        let mut doc = adapter_json(&state.info());
        doc["limits_asked"] = self.limits.clone().into();
        doc["is_gpu"] = state.device.is_gpu().into();
        doc["glyph_side"] = SIDE.into();
        doc["glyphs"] = FONT.iter().map(|(c, _)| c.to_string()).collect();
        Ok(doc.to_string())
    }

    /// Corrupts every stored glyph (a fraction `flip` of its pixels flipped, drawn from
    /// `seed`) and retrieves it at inverse temperature `beta`, one update step. Resolves to a
    /// `Float32Array` of glyphs × 3 images (original, corrupted, retrieved) of 16×16 pixels.
    pub fn complete(&self, beta: f32, flip: f64, seed: u64) -> js_sys::Promise {
        let state = Rc::clone(&self.state);
        future_to_promise(async move {
            if !(0.0..=1.0).contains(&flip) {
                return Err(js(format!("flip {flip}: expected a fraction in [0, 1]")));
            }
            let memory = state.try_borrow().map_err(js)?.glyphs.snapshot();
            let clean = glyph_patterns();
            let mut noisy = clean.clone();
            let mut rng = StdRng::seed_from_u64(seed);
            noisy.mapv_inplace(|v| if rng.random_bool(flip) { -v } else { v });
            let options = RetrieveOptions::new(beta);
            let out = memory
                .retrieve_async(noisy.view(), &options)
                .await
                .map_err(js)?;
            let mut images = Vec::with_capacity(FONT.len() * 3 * PIXELS);
            for g in 0..FONT.len() {
                for source in [&clean, &noisy, &out.states] {
                    images.extend(source.row(g).iter());
                }
            }
            Ok(js_sys::Float32Array::from(images.as_slice()).into())
        })
    }

    /// The workloads the page offers, as JSON: name, shape, description, whether small.
    pub fn workloads() -> String {
        let list: Vec<serde_json::Value> = workloads::all()
            .map(|w| {
                serde_json::json!({
                    "name": w.name, "b": w.b, "n": w.n, "d": w.d, "description": w.what,
                    "small": workloads::SMALL.iter().any(|s| s.name == w.name),
                })
            })
            .collect();
        serde_json::Value::from(list).to_string()
    }

    /// Measures workload `name` (W1–W4, S1–S4) and keeps its row for the report. Resolves to
    /// the row's JSON, as the report has it: a workload that does not fit the device's
    /// limits is a row with status "not_run" and the reason.
    pub fn bench(&self, name: String) -> js_sys::Promise {
        let state = Rc::clone(&self.state);
        future_to_promise(async move {
            let w: &'static Workload =
                workloads::find(&name).ok_or_else(|| js(format!("no workload named {name:?}")))?;
            let index = workloads::all()
                .position(|x| x.name == w.name)
                .expect("found above");
            let device = state.try_borrow().map_err(js)?.device.clone();
            let cfg = config();
            let outcome = match measure(&device, w, index, &cfg).await {
                Err(e) if !is_per_workload(&e) => return Err(js(e)),
                outcome => outcome,
            };
            let row = Row {
                workload: w,
                outcome,
            };
            let text = workload_json(&row, &cfg).to_string();
            state.try_borrow_mut().map_err(js)?.rows.push(row);
            Ok(text.into())
        })
    }

    /// Every row measured so far as the JSON document `hopfield bench --json` writes.
    pub fn report(&self) -> Result<String, JsValue> {
        let state = self.state.try_borrow().map_err(js)?;
        let cfg = config();
        let names: Vec<&str> = state.rows.iter().map(|r| r.workload.name).collect();
        let set = format!("{} (the web page)", names.join(","));
        Ok(json_report(
            "hopfield web page",
            &state.info(),
            &cfg,
            kernels(&state.device, cfg.fusion),
            &set,
            &state.rows,
        ))
    }
}
