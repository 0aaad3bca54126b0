//! The WGSL programs the crate compiles, as text: for checking them with another shader
//! compiler than wgpu's own (naga), such as Tint, the compiler of Chrome and Dawn.
//!
//! Every program comes from the one registry the GPU kernels are built from, with its preludes,
//! exactly as the crate hands it to wgpu. `hopfield shaders --out DIR` writes them to files.
//!
//! ```
//! use hopfield::shaders::{programs, Dialect};
//!
//! let all = programs(Dialect::WebGpu, &wgpu::Limits::default(), true);
//! let merge = all.iter().find(|s| s.name == "merge-subgroups").unwrap();
//! assert!(merge.subgroups && merge.wgsl.starts_with("enable subgroups;"));
//! ```

use crate::device::{pick_adapter, GpuOptions};
use crate::error::Result;
pub use crate::gpu::programs::Needs;
use crate::wait;

/// The WGSL a shader compiler takes. The two differ in one directive: WGSL requires
/// `enable subgroups;` before a program uses subgroup operations, and Tint (Chrome, Dawn)
/// holds programs to that, while naga 30, which wgpu's native backends compile with, refuses
/// the directive as unimplemented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// What wgpu's native backends (Vulkan, Metal, DX12, GL) compile with naga.
    Naga,
    /// Standard WGSL, for WebGPU implementations: Tint in Chrome and Dawn, which wgpu's
    /// browser backend hands the programs to.
    WebGpu,
}

impl Dialect {
    /// The dialect wgpu takes in this build: naga's natively, the standard in the browser
    /// (where a device with subgroups is a WebGPU one, never WebGL).
    pub const WGPU: Dialect = if cfg!(target_arch = "wasm32") {
        Dialect::WebGpu
    } else {
        Dialect::Naga
    };
}

/// One variant of one WGSL program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shader {
    /// The program's name and the variant's choices, usable as a file name: `similarity-f16`
    /// (patterns stored as f16), `merge-subgroups` (reduced with subgroup operations, as
    /// opposed to `merge-shared`, through workgroup memory), `mask` (no variants).
    pub name: String,
    /// The whole program, preludes included, with its compute entry point `main`.
    pub wgsl: String,
    /// Whether the device needs subgroup operations (wgpu's `SUBGROUP` feature) for it.
    pub subgroups: bool,
    /// What it asks of the device's limits (workgroup memory, storage buffers, invocations).
    pub needs: Needs,
}

/// Every program the crate may build on a device with `limits`, in every variant, written for
/// `dialect`; those that use subgroup operations only if `subgroups`.
///
/// `wgpu::Limits::default()` is WebGPU's default limits, what a browser gives a page that asks
/// for nothing more; [`adapter_limits`] reads a real adapter's. Where the limits decide a
/// kernel's variant (the fused kernels' workgroup memory), only the variant the crate would
/// build is listed: `fused_rows` in its wide or its compact tiles (`-compact`), and
/// `fused_tile` only where it fits.
pub fn programs(dialect: Dialect, limits: &wgpu::Limits, subgroups: bool) -> Vec<Shader> {
    crate::gpu::programs::export(dialect, limits, subgroups)
}

/// The limits of the adapter [`Device::gpu_with`](crate::Device::gpu_with) would pick with
/// `options`, without opening a device; [`Error::NoAdapter`](crate::Error::NoAdapter) if
/// there is none. On the web, where finding an adapter must wait for the browser, it is
/// [`Error::WouldBlock`](crate::Error::WouldBlock).
pub fn adapter_limits(options: &GpuOptions) -> Result<wgpu::Limits> {
    Ok(wait::now("shaders::adapter_limits", pick_adapter(options))?.limits())
}
