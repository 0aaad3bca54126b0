//! The shared test bodies (tests/bodies/) in a browser: `wasm-bindgen-test` runs them in
//! headless Chromium, on its WebGPU adapter (Tint compiling the WGSL, SwiftShader running it)
//! and on the single-threaded CPU path. scripts/test.sh says how; a browser without a WebGPU
//! adapter fails these tests rather than skipping them.
#![cfg(target_arch = "wasm32")]

mod common;
#[path = "bodies/fixtures.rs"]
mod fixtures;
#[path = "bodies/kernels.rs"]
mod kernels;
#[path = "bodies/layers.rs"]
mod layers;
#[path = "bodies/parity.rs"]
mod parity;
#[path = "bodies/separations.rs"]
mod separations;

use hopfield::{Device, GpuOptions};
use wasm_bindgen_test::{wasm_bindgen_test, wasm_bindgen_test_configure};

wasm_bindgen_test_configure!(run_in_browser);

/// The browser's WebGPU device, outputs poisoned as in `common::gpu`; no adapter is a failure.
async fn webgpu() -> Device {
    let options = GpuOptions::default().with_poisoned_outputs();
    let device = Device::gpu_with_async(&options)
        .await
        .unwrap_or_else(|e| panic!("no WebGPU device in this browser: {e}"));
    wasm_bindgen_test::console_log!("GPU: {}", device.info().report());
    device
}

/// One test per body and backend: `<body>_cpu` and `<body>_webgpu`.
macro_rules! in_browser {
    ($($module:ident :: $name:ident),* $(,)?) => {
        mod cpu {
            use super::*;
            $(#[wasm_bindgen_test] async fn $name() { $module::$name(&Device::cpu()).await })*
        }
        mod webgpu {
            use super::*;
            $(#[wasm_bindgen_test] async fn $name() { $module::$name(&webgpu().await).await })*
        }
    };
}

in_browser!(
    parity::fixed_steps_match_reference,
    parity::until_converged_matches_reference,
    parity::huge_scores_do_not_overflow,
    parity::batching_is_invisible,
    kernels::every_path_on_awkward_shapes,
    kernels::every_path_on_large_shapes,
    kernels::chunking_is_invisible,
    kernels::timing_is_reported,
    kernels::more_chunks_than_one_merge,
    layers::every_fixture_case_matches_hflayers,
    layers::quirk_scaling_tensor_is_applied_per_head,
    layers::quirk_static_batch_items_stay_apart,
    layers::attention_matches_f64_on_awkward_shapes,
    layers::fully_masked_row_is_nan_as_in_pytorch,
    layers::input_errors_are_typed,
    separations::every_rule_matches_reference,
);
