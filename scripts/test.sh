#!/usr/bin/env bash
# The whole test suite, GPU tests included and required to run.
#
# On a machine without a GPU it installs Mesa's software drivers first (lavapipe for Vulkan,
# llvmpipe for GL), so the WGSL kernels are really executed; HOPFIELD_REQUIRE_GPU=1 turns a GPU
# test that finds no adapter into a failure instead of a skip.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
compgen -G "/usr/share/vulkan/icd.d/lvp_icd*.json" >/dev/null || missing+=(mesa-vulkan-drivers)
compgen -G "/usr/share/glvnd/egl_vendor.d/*mesa*.json" >/dev/null || missing+=(libegl1 libegl-mesa0 libgl1-mesa-dri)
# Node runs the Tint check (tools/tint-check).
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
# Headless Chromium and its driver run the wasm tests and the web page.
command -v chromium >/dev/null || missing+=(chromium)
command -v chromedriver >/dev/null || missing+=(chromium-driver)
if ((${#missing[@]})); then
  echo "installing ${missing[*]}"
  sudo=""; [[ $(id -u) -eq 0 ]] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

export HOPFIELD_REQUIRE_GPU=1
# A one-shot build gains nothing from incremental caches, and they cost gigabytes of disk.
export CARGO_INCREMENTAL=0
# EGL probes a Wayland socket directory and complains when there is none.
export XDG_RUNTIME_DIR="${XDG_RUNTIME_DIR:-$(mktemp -d)}"

# Everything below builds with the test profile (dependencies optimised, the crates at -O1):
# one build of the dependencies serves the CLI, the examples and the tests. The workspace is
# the library (the root) and the command-line tool (cli/); both are default members, so a
# cargo command without -p covers both, and `--workspace` says so where it matters.
echo "== adapters"
cargo run --quiet --profile test -- info

echo "== every WGSL program through Tint (Chrome's and Dawn's compiler), WebGPU default limits"
# About 3 s here, the CLI being built above: npm ci 2 s (the `webgpu` package, Dawn for Node:
# a 51 MB download on a fresh machine, 137 MB unpacked), the export well under 1 s, Tint 0.2 s
# for all programs. Nothing runs on a GPU: Dawn's null backend compiles and validates only.
# Under WebGPU's limits the export holds what the crate builds there: fused_rows in its
# compact tiles, no fused_tile; a program over 16 KiB of workgroup storage fails here.
npm ci --prefix tools/tint-check --no-audit --no-fund --loglevel=error
cargo run --quiet --profile test -- shaders --out target/shaders-webgpu --limits webgpu --subgroups
node tools/tint-check/check.mjs target/shaders-webgpu

echo "== whole suite (GPU tests on the default adapter: Vulkan)"
# tests/examples*.rs run the example programs in quick mode; the test profile reuses the
# dependencies the suite is built with (a plain `cargo build` would compile them all again).
cargo build --profile test --examples
cargo test --workspace --all-targets
cargo test --workspace --doc
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --no-deps

# WebGPU's default limits (16 KiB of workgroup memory, 128 MiB bindings), as a browser hands
# out: the fused kernels take their compact tiles, fused_rows takes many-query blocks, and
# chunking follows the smaller bindings. About 4 minutes on 2 cores.
echo "== GPU parity, kernel, layer, top-k, separation and scale tests with WebGPU's default limits (Vulkan)"
HOPFIELD_TEST_LIMITS=webgpu cargo test --test parity --test kernels --test layers --test scale gpu::
# Top-k selection on the device (tests/topk.rs): ≈ 20 s. Shard partials (tests/partials.rs): ≈ 3 s.
HOPFIELD_TEST_LIMITS=webgpu cargo test --test topk
HOPFIELD_TEST_LIMITS=webgpu cargo test --test partials gpu::
# The separations' kernels (threshold search, top-k as a rule, softmax₁) and partial cues: ≈ 20 s.
HOPFIELD_TEST_LIMITS=webgpu cargo test --test separations --test partial_cues -- \
  gpu::one_step gpu::long_rows gpu::fused_softmax1 gpu::clamped gpu::first_step
# The binary networks' kernels (the synchronous ones bind 8 storage buffers, WebGPU's limit): ≈ 2 s.
HOPFIELD_TEST_LIMITS=webgpu cargo test --test binary_clamp --test classical --test dense gpu::

# wgpu's GL backend serialises every call on one context, so its pass runs one test at a time.
# llvmpipe's GL compute is several times slower than lavapipe, so the kernel matrix runs fewer
# random shapes per path there (HOPFIELD_TEST_CASES).
echo "== GPU parity, theory and kernel tests on the GL backend"
WGPU_BACKEND=gl cargo test --test parity --test theory gpu:: -- --test-threads=1
WGPU_BACKEND=gl cargo test --test layers gpu:: -- --test-threads=1
WGPU_BACKEND=gl cargo test --test topk --test shared_device -- --test-threads=1   # ≈ 30 s
WGPU_BACKEND=gl cargo test --test partials gpu:: -- --test-threads=1   # ≈ 5 s
WGPU_BACKEND=gl HOPFIELD_TEST_CASES=3 cargo test --test separations --test partial_cues -- \
  --test-threads=1 gpu::one_step gpu::long_rows gpu::fused_softmax1 gpu::clamped   # ≈ 20 s
WGPU_BACKEND=gl cargo test --test binary_clamp --test classical --test dense -- \
  --test-threads=1 gpu::   # ≈ 3 s
# Concurrency: a call holding GL's one context past wgpu's 6 s lock timeout beside others.
WGPU_BACKEND=gl cargo test --test concurrency gpu:: -- --test-threads=1
WGPU_BACKEND=gl HOPFIELD_TEST_CASES=3 cargo test --test kernels -- --test-threads=1 \
  gpu::every_path_on_awkward_shapes gpu::chunking_is_invisible gpu::timing_is_reported
# At scale on GL: one case past 2^16 patterns and one past the fused kernels' widest d take
# every path (all seven cases take 11 minutes on llvmpipe GL; Vulkan runs them all above).
WGPU_BACKEND=gl cargo test --test scale -- --test-threads=1 \
  gpu::many_patterns_65537 gpu::wide_patterns_16385

# The DataFusion aggregate run by Ballista (integrations/hopfield-datafusion): its own
# workspace, lock file and target dir (integrations/hopfield-datafusion/target), so the core's
# dependencies and profiles stay as they are. Unit tests, DataFusion over Parquet in several
# partitions, and an in-process Ballista cluster with remote shuffle reads, all against
# Memory::retrieve; first on the CPU path (what Device::auto picks beside a software adapter),
# then with the WGSL kernels on lavapipe. Building DataFusion and Ballista from nothing is
# nearly all of it: 350 s from an empty target dir within a whole run of this script on the
# 2-core build machine (383 s when shared with another build), 3.3 GB of target dir; the
# tests run in about 5 s.
echo "== DataFusion aggregate on DataFusion and Ballista (integrations/hopfield-datafusion)"
cargo test --manifest-path integrations/hopfield-datafusion/Cargo.toml
WGPU_BACKEND=vulkan cargo test --manifest-path integrations/hopfield-datafusion/Cargo.toml \
  --lib --test datafusion --test ballista

# The same parity, kernel and layer test bodies in a browser (tests/web.rs): headless
# Chromium's WebGPU adapter (Tint compiles the WGSL, SwiftShader runs it) and the
# single-threaded CPU path, through wasm-bindgen-test's runner and chromedriver. A browser
# without a WebGPU adapter fails these tests. Cost on the 2-core build machine (shared with
# other builds when measured): installing wasm-bindgen-cli ≈ 1010 s (once per machine; no
# prebuilt binary is fetched), building the wasm tests from nothing ≈ 240 s, running the
# 30 tests ≈ 400 s (the WebGPU half on SwiftShader is most of it). The runner's timeout covers
# the whole run, and a loaded machine once took it past 600 s, so it is set far above.
echo "== parity, kernel and layer tests in headless Chromium (WebGPU and CPU)"
rustup target list --installed | grep -qx wasm32-unknown-unknown ||
  rustup target add wasm32-unknown-unknown
# The runner must be the wasm-bindgen version Cargo.lock pins (it checks the test binary's).
wbg=$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/[^0-9.]/, ""); print; exit }' Cargo.lock)
if [[ "$(wasm-bindgen-test-runner --version 2>/dev/null)" != *" $wbg"* ]]; then
  cargo install wasm-bindgen-cli --version "$wbg"
fi
CARGO_TARGET_WASM32_UNKNOWN_UNKNOWN_RUNNER=wasm-bindgen-test-runner \
  WASM_BINDGEN_TEST_WEBDRIVER_JSON="$PWD/tests/webdriver.json" \
  WASM_BINDGEN_TEST_TIMEOUT=1500 \
  cargo test --target wasm32-unknown-unknown --test web

# The web page (web/): its engine built for wasm32 with the test profile (the wasm tests above
# compiled its dependencies), then served on 127.0.0.1 and opened in headless Chromium, at the
# adapter's limits and at WebGPU's defaults; each run checks the adapter is named, glyphs are
# completed, every benchmark row is within 1e-5 of the f64 reference, and the downloaded JSON
# matches the table, and leaves a screenshot in target/web-test/. About 30 s to build and
# 40 s per run on 2 cores.
echo "== the web page in headless Chromium"
PROFILE=test bash scripts/build-web.sh
npm ci --prefix web/test --no-audit --no-fund --loglevel=error
node web/test/page.mjs --limits adapter
node web/test/page.mjs --limits webgpu

# What the run left on disk (a CI machine once ran out of it building the suite).
echo "== target/ holds $(du -sh target | cut -f1), integrations/hopfield-datafusion/target $(du -sh integrations/hopfield-datafusion/target | cut -f1)"
