//! Choosing where retrieval runs: a wgpu adapter or the host CPU.

use std::fmt;
use std::sync::Arc;

use crate::error::{Error, Result};
use crate::gpu::GpuContext;
use crate::wait;

/// Where a [`Memory`](crate::Memory) lives and its retrievals run.
///
/// Cloning is cheap: clones share one GPU device (its queue, pipelines and buffers pool).
///
/// ```
/// let device = hopfield::Device::cpu();
/// assert!(!device.is_gpu());
/// println!("{}", device.info());
/// ```
#[derive(Clone)]
pub struct Device {
    pub(crate) backend: Backend,
}

#[derive(Clone)]
pub(crate) enum Backend {
    Cpu,
    Gpu(Arc<GpuContext>),
}

/// What kind of processor an adapter is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DeviceKind {
    /// A GPU with its own memory.
    DiscreteGpu,
    /// A GPU sharing memory with the CPU.
    IntegratedGpu,
    /// A GPU exposed through a hypervisor.
    VirtualGpu,
    /// A software rasteriser on the CPU that speaks a GPU API (lavapipe / llvmpipe, WARP).
    SoftwareAdapter,
    /// An adapter that reports no type.
    Other,
    /// This crate's own CPU path (no wgpu adapter).
    HostCpu,
}

/// The device limits retrieval depends on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceLimits {
    /// Largest storage-buffer binding, in bytes (bounds the stored patterns and one score block).
    pub max_storage_binding_bytes: u64,
    /// Largest buffer, in bytes.
    pub max_buffer_bytes: u64,
    /// Workgroup (shared) memory per workgroup, in bytes.
    pub max_workgroup_storage_bytes: u32,
    /// Invocations per workgroup.
    pub max_invocations_per_workgroup: u32,
    /// Workgroups per dispatch dimension.
    pub max_workgroups_per_dimension: u32,
}

/// Optional adapter features this crate can use.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DeviceFeatures {
    /// `SHADER_F16`: f16 arithmetic in shaders. f16 *storage* ([`Precision::F16`](crate::Precision::F16)) does not need it.
    pub shader_f16: bool,
    /// f16 storage ([`Precision::F16`](crate::Precision::F16)): the adapter widens packed halves
    /// to f32 in shaders (wgpu's downlevel `SHADER_F16_IN_F32`; every Vulkan, Metal and DX12
    /// adapter has it).
    pub f16_storage: bool,
    /// `SUBGROUP`: subgroup reductions.
    pub subgroups: bool,
    /// `TIMESTAMP_QUERY`: device-side timing.
    pub timestamps: bool,
    /// Smallest and largest subgroup size the adapter reports (0 when unknown).
    pub subgroup_size: (u32, u32),
}

/// A description of a device: what the user sees in `hopfield info`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceInfo {
    /// Adapter name (`unnamed <backend> adapter` where the driver or browser gives none), or
    /// the CPU's description.
    pub name: String,
    /// Graphics API ("vulkan", "metal", "dx12", "gl") or "host".
    pub backend: String,
    /// The adapter's kind.
    pub kind: DeviceKind,
    /// Driver name and version, where known.
    pub driver: String,
    /// Limits in force on the opened device (the adapter's full limits, not wgpu's defaults).
    pub limits: DeviceLimits,
    /// Optional features enabled on the device.
    pub features: DeviceFeatures,
}

impl fmt::Display for DeviceInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({}, {:?}", self.name, self.backend, self.kind)?;
        if !self.driver.is_empty() {
            write!(f, ", driver {}", self.driver)?;
        }
        write!(f, ")")
    }
}

impl DeviceInfo {
    /// Multi-line report: the limits and features that matter for retrieval.
    pub fn report(&self) -> String {
        if self.kind == DeviceKind::HostCpu {
            return format!(
                "{self}\n  patterns in host memory: no binding limits, f32 GEMM on every core"
            );
        }
        let l = &self.limits;
        let ft = &self.features;
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        format!(
            "{self}\n  max storage binding: {:.1} MiB\n  max buffer: {:.1} MiB\n  workgroup memory: {} KiB, {} invocations, {} workgroups per dimension\n  features: f16 storage {}, f16 arithmetic {}, subgroups {} (size {}..{}), timestamps {}",
            mib(l.max_storage_binding_bytes),
            mib(l.max_buffer_bytes),
            l.max_workgroup_storage_bytes / 1024,
            l.max_invocations_per_workgroup,
            l.max_workgroups_per_dimension,
            yes_no(ft.f16_storage),
            yes_no(ft.shader_f16),
            yes_no(ft.subgroups),
            ft.subgroup_size.0,
            ft.subgroup_size.1,
            yes_no(ft.timestamps),
        )
    }
}

fn yes_no(b: bool) -> &'static str {
    if b {
        "yes"
    } else {
        "no"
    }
}

/// Counts of what a device was asked to do ([`Device::stats`]); [`since`](Self::since) gives
/// the counts of the calls in between two of them.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeviceStats {
    /// Device buffers created: storage, uniform, staging and timestamp buffers.
    pub buffers_created: u64,
    /// Bind groups created.
    pub bind_groups_created: u64,
    /// Compute pipelines created.
    pub pipelines_created: u64,
    /// Command submissions to the queue.
    pub submissions: u64,
    /// Bytes written from the host into device buffers.
    pub bytes_uploaded: u64,
    /// Bytes read back from the device to the host.
    pub bytes_read_back: u64,
}

impl DeviceStats {
    /// The counts of what happened after `earlier` (a snapshot of the same device).
    pub fn since(self, earlier: DeviceStats) -> DeviceStats {
        DeviceStats {
            buffers_created: self.buffers_created.saturating_sub(earlier.buffers_created),
            bind_groups_created: self
                .bind_groups_created
                .saturating_sub(earlier.bind_groups_created),
            pipelines_created: self
                .pipelines_created
                .saturating_sub(earlier.pipelines_created),
            submissions: self.submissions.saturating_sub(earlier.submissions),
            bytes_uploaded: self.bytes_uploaded.saturating_sub(earlier.bytes_uploaded),
            bytes_read_back: self.bytes_read_back.saturating_sub(earlier.bytes_read_back),
        }
    }
}

/// How to pick a GPU adapter; fields left `None` fall back to the environment
/// (`WGPU_BACKEND`, `WGPU_ADAPTER_NAME`), then to "any".
///
/// Built from [`Default`] and the builder methods, so that a new field is not a breaking
/// change: `GpuOptions::default().adapter_name("lavapipe").with_poisoned_outputs()`.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct GpuOptions {
    /// Comma-separated backends: "vulkan", "metal", "dx12", "gl" (and wgpu's other names:
    /// "vk", "mtl", "d3d12", "gles", "opengl", "webgpu", "noop"), any case. A name outside
    /// these is [`Error::InvalidOptions`]; so is a `WGPU_BACKEND` holding one, while a
    /// `WGPU_BACKEND` that is set but empty counts as unset.
    pub backends: Option<String>,
    /// Case-insensitive substring of the adapter name.
    pub adapter_name: Option<String>,
    /// The i-th of the adapters that match the backends and name, in wgpu's enumeration
    /// order (`vulkan:1` is the second Vulkan adapter), instead of the best-ranked one.
    pub adapter_index: Option<usize>,
    /// Fill every kernel output buffer with NaN before the kernel runs, so an element a kernel
    /// forgets to write shows up as NaN in the result. For testing; costs one extra write per
    /// dispatch.
    pub poison_outputs: bool,
    /// The limits the device opens with: the adapter's own (the default) or WebGPU's.
    pub limits: Limits,
}

/// Which limits a GPU device opens with. Every kernel choice (tile sizes, fused or not,
/// splits, chunking, how many queries a pass takes) reads the opened device's limits, so a
/// device opened with [`Limits::WebGpu`] runs what a browser's default device would.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Limits {
    /// The adapter's own: its largest bindings, buffers and workgroup memory.
    #[default]
    Adapter,
    /// WebGPU's defaults (`wgpu::Limits::default()`), which every WebGPU implementation
    /// grants and a browser hands out unless asked for more: 128 MiB storage bindings,
    /// 256 MiB buffers, 16 KiB of workgroup memory, 8 storage buffers per stage.
    WebGpu,
}

impl std::str::FromStr for Limits {
    type Err = Error;

    /// `"adapter"` or `"webgpu"`, any case.
    fn from_str(s: &str) -> Result<Limits> {
        match s.to_ascii_lowercase().as_str() {
            "adapter" => Ok(Limits::Adapter),
            "webgpu" => Ok(Limits::WebGpu),
            _ => Err(Error::InvalidOptions(format!(
                "limits {s:?}: expected \"adapter\" or \"webgpu\""
            ))),
        }
    }
}

impl GpuOptions {
    /// Sets [`backends`](Self::backends): a comma-separated list such as `"vulkan,gl"`.
    pub fn backends(mut self, list: impl Into<String>) -> Self {
        self.backends = Some(list.into());
        self
    }

    /// Sets [`adapter_name`](Self::adapter_name): a case-insensitive substring of the name.
    pub fn adapter_name(mut self, name: impl Into<String>) -> Self {
        self.adapter_name = Some(name.into());
        self
    }

    /// Sets [`adapter_index`](Self::adapter_index): the i-th matching adapter.
    pub fn adapter_index(mut self, index: usize) -> Self {
        self.adapter_index = Some(index);
        self
    }

    /// Sets [`poison_outputs`](Self::poison_outputs) (for testing).
    pub fn with_poisoned_outputs(mut self) -> Self {
        self.poison_outputs = true;
        self
    }

    /// Sets [`limits`](Self::limits): the adapter's own or WebGPU's defaults.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The backends asked for: the field, else `WGPU_BACKEND` (set but empty counts as unset),
    /// else all. A name wgpu does not know is an error, not a silent "no adapter".
    fn chosen_backends(&self) -> Result<wgpu::Backends> {
        match (&self.backends, env_backends()) {
            (Some(list), _) => parse_backends(list, "GpuOptions::backends"),
            (None, Some(list)) => parse_backends(&list, "WGPU_BACKEND"),
            (None, None) => Ok(wgpu::Backends::all()),
        }
    }

    fn chosen_adapter_name(&self) -> Option<String> {
        self.adapter_name
            .clone()
            .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok())
            .filter(|s| !s.is_empty())
    }

    /// Whether the caller (or the environment) narrowed the choice of adapter.
    fn is_explicit(&self) -> bool {
        self.backends.is_some()
            || self.chosen_adapter_name().is_some()
            || self.adapter_index.is_some()
            || env_backends().is_some()
    }
}

/// The names wgpu's own parser (`Backends::from_comma_list`) accepts, with what they select.
const BACKEND_NAMES: [(&str, wgpu::Backends); 11] = [
    ("vulkan", wgpu::Backends::VULKAN),
    ("vk", wgpu::Backends::VULKAN),
    ("metal", wgpu::Backends::METAL),
    ("mtl", wgpu::Backends::METAL),
    ("dx12", wgpu::Backends::DX12),
    ("d3d12", wgpu::Backends::DX12),
    ("gl", wgpu::Backends::GL),
    ("gles", wgpu::Backends::GL),
    ("opengl", wgpu::Backends::GL),
    ("webgpu", wgpu::Backends::BROWSER_WEBGPU),
    ("noop", wgpu::Backends::NOOP),
];

/// `WGPU_BACKEND` when it holds something: an empty or blank value means "not set", as a shell
/// line `WGPU_BACKEND= hopfield …` intends.
fn env_backends() -> Option<String> {
    std::env::var("WGPU_BACKEND")
        .ok()
        .filter(|s| !s.trim().is_empty())
}

/// A comma-separated list of backend names (any case; empty entries skipped). wgpu's parser
/// skips a name it does not know with a log line and may return no backend at all, which
/// would surface later as a misleading "no adapter"; here an unknown name is the error.
fn parse_backends(list: &str, source: &str) -> Result<wgpu::Backends> {
    let mut backends = wgpu::Backends::empty();
    for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let lower = name.to_lowercase();
        let known = BACKEND_NAMES.iter().find(|(n, _)| *n == lower);
        match known {
            Some((_, b)) => backends |= *b,
            None => {
                return Err(Error::InvalidOptions(format!(
                    "{source}={list:?}: unknown backend {name:?}; accepted (comma-separated, any case): \
                     vulkan (vk), metal (mtl), dx12 (d3d12), gl (gles, opengl), webgpu, noop"
                )))
            }
        }
    }
    if backends.is_empty() {
        return Err(Error::InvalidOptions(format!(
            "{source}={list:?} names no backend; accepted: vulkan, metal, dx12, gl, webgpu, noop"
        )));
    }
    Ok(backends)
}

impl Device {
    /// The best adapter that is a real GPU, else the host CPU path; says which in [`info`](Self::info)
    /// and in the log.
    ///
    /// A software adapter (lavapipe, WARP) is passed over for the CPU path, which computes the
    /// same function faster on the same cores. If `WGPU_BACKEND` or `WGPU_ADAPTER_NAME` is set,
    /// the choice is the user's: the matching adapter is used, software or not, and finding none
    /// is an error rather than a silent fallback.
    ///
    /// On the web (wasm32) opening a device must wait for the browser: use
    /// [`auto_async`](Self::auto_async) there ([`Error::WouldBlock`] otherwise).
    pub fn auto() -> Result<Device> {
        wait::now("Device::auto", Device::auto_async())
    }

    /// The asynchronous form of [`auto`](Self::auto), the one that works on the web.
    pub async fn auto_async() -> Result<Device> {
        Device::auto_with_async(&GpuOptions::default()).await
    }

    /// As [`auto`](Self::auto), opening a GPU (if it picks one) with `options`; an adapter
    /// named by them is the user's choice, as the environment's is for `auto`.
    pub fn auto_with(options: &GpuOptions) -> Result<Device> {
        wait::now("Device::auto_with", Device::auto_with_async(options))
    }

    /// The asynchronous form of [`auto_with`](Self::auto_with).
    pub async fn auto_with_async(options: &GpuOptions) -> Result<Device> {
        if options.is_explicit() {
            return Device::gpu_with_async(options).await;
        }
        match pick_adapter(options).await {
            Ok(adapter) if adapter.get_info().device_type != wgpu::DeviceType::Cpu => {
                Device::open(adapter, options).await
            }
            Ok(adapter) => {
                log::info!(
                    "only a software adapter ({}) found; using the host CPU path",
                    adapter.get_info().name
                );
                Ok(Device::cpu())
            }
            Err(e) => {
                log::info!("{e}; using the host CPU path");
                Ok(Device::cpu())
            }
        }
    }

    /// The best GPU adapter wgpu offers (software adapters included), honouring
    /// `WGPU_BACKEND` and `WGPU_ADAPTER_NAME`; [`Error::NoAdapter`] if there is none. On the
    /// web use [`gpu_async`](Self::gpu_async).
    pub fn gpu() -> Result<Device> {
        wait::now("Device::gpu", Device::gpu_async())
    }

    /// The asynchronous form of [`gpu`](Self::gpu); in a browser, its WebGPU adapter.
    pub async fn gpu_async() -> Result<Device> {
        Device::gpu_with_async(&GpuOptions::default()).await
    }

    /// A GPU adapter chosen by `options`. On the web use [`gpu_with_async`](Self::gpu_with_async).
    pub fn gpu_with(options: &GpuOptions) -> Result<Device> {
        wait::now("Device::gpu_with", Device::gpu_with_async(options))
    }

    /// The asynchronous form of [`gpu_with`](Self::gpu_with).
    pub async fn gpu_with_async(options: &GpuOptions) -> Result<Device> {
        let adapter = pick_adapter(options).await?;
        Device::open(adapter, options).await
    }

    /// The host CPU path (f32, multi-threaded GEMM).
    pub fn cpu() -> Device {
        Device {
            backend: Backend::Cpu,
        }
    }

    /// Whether this is a wgpu device (as opposed to the host CPU path).
    pub fn is_gpu(&self) -> bool {
        matches!(self.backend, Backend::Gpu(_))
    }

    /// Name, backend, kind, limits and features of this device.
    pub fn info(&self) -> DeviceInfo {
        match &self.backend {
            Backend::Cpu => cpu_info(),
            Backend::Gpu(ctx) => ctx.info.clone(),
        }
    }

    /// What this device has been asked to do since it opened (or since
    /// [`reset_stats`](Self::reset_stats)): buffers, bind groups and pipelines created,
    /// submissions, bytes uploaded and read back. All zero on the CPU path, which has none of
    /// these. Clones of a device share one count.
    ///
    /// ```
    /// # fn main() -> hopfield::Result<()> {
    /// use hopfield::{Device, Memory, RetrieveOptions};
    /// let Ok(device) = Device::gpu() else { return Ok(()) };
    /// let memory = Memory::from_array(&device, ndarray::array![[1.0, 0.0], [0.0, 1.0]].view())?;
    /// let options = RetrieveOptions::new(4.0);
    /// memory.retrieve(ndarray::array![[0.9, 0.1]].view(), &options)?;  // warm-up
    /// let before = device.stats();
    /// memory.retrieve(ndarray::array![[0.9, 0.1]].view(), &options)?;
    /// let call = device.stats().since(before);
    /// assert_eq!(call.pipelines_created, 0);
    /// assert!(call.bytes_read_back >= 2 * 4);                            // the state, at least
    /// # Ok(())
    /// # }
    /// ```
    pub fn stats(&self) -> DeviceStats {
        match &self.backend {
            Backend::Cpu => DeviceStats::default(),
            Backend::Gpu(ctx) => ctx.counters.snapshot(),
        }
    }

    /// Sets every count of [`stats`](Self::stats) back to zero.
    pub fn reset_stats(&self) {
        if let Backend::Gpu(ctx) = &self.backend {
            ctx.counters.reset();
        }
    }

    /// Every adapter wgpu can see (with its full limits), followed by the host CPU.
    ///
    /// Not on the web (wasm32), where listing adapters must wait for the browser; there
    /// [`gpu_async`](Self::gpu_async) opens the browser's one adapter.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn all() -> Vec<DeviceInfo> {
        let instance = instance(wgpu::Backends::all());
        let adapters = pollster::block_on(instance.enumerate_adapters(wgpu::Backends::all()));
        adapters
            .iter()
            .map(|a| adapter_info(a, &a.limits(), wanted_features(a)))
            .chain(std::iter::once(cpu_info()))
            .collect()
    }

    /// Destroys the underlying GPU device, as a driver reset would: every later GPU call on
    /// this device (and its clones) fails with [`Error::DeviceLost`]. For testing recovery paths.
    #[doc(hidden)]
    pub fn simulate_device_loss(&self) {
        if let Backend::Gpu(ctx) = &self.backend {
            ctx.device.destroy();
            let _ = ctx.device.poll(wgpu::PollType::wait_indefinitely());
        }
    }

    /// A device over one the application already drives with wgpu (a game engine, a renderer,
    /// a burn or cubecl model), so that retrieval shares its GPU and its buffers
    /// ([`Memory::record_retrieval`](crate::Memory::record_retrieval)) instead of opening a
    /// second device. `adapter` is the one `device` was requested from: the crate reads its
    /// name, backend and capabilities. The device's limits and features are used as they are
    /// (the crate uses `SHADER_F16`, `SUBGROUP` and `TIMESTAMP_QUERY` where they are enabled);
    /// limits too small for some kernel are [`Error::OverLimit`]. The device's
    /// uncaptured-error handler and lost callback stay the application's: every error the
    /// crate can cause comes back from its own calls. wgpu's types are this crate's
    /// [`wgpu`](crate::wgpu) re-export, so the versions match.
    ///
    /// ```no_run
    /// # fn main() -> hopfield::Result<()> {
    /// use hopfield::{wgpu, Device};
    /// let instance = wgpu::Instance::default();
    /// let adapter = pollster::block_on(instance.request_adapter(&Default::default())).unwrap();
    /// let (device, queue) =
    ///     pollster::block_on(adapter.request_device(&Default::default())).unwrap();
    /// let shared = Device::from_wgpu(&adapter, device.clone(), queue.clone())?;
    /// assert!(shared.is_gpu());
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_wgpu(
        adapter: &wgpu::Adapter,
        device: wgpu::Device,
        queue: wgpu::Queue,
    ) -> Result<Device> {
        let ctx = GpuContext::shared(adapter, device, queue)?;
        log::info!("sharing the application's {}", ctx.info);
        Ok(Device {
            backend: Backend::Gpu(Arc::new(ctx)),
        })
    }

    /// The wgpu device and queue under a GPU device (`None` on the CPU path): for creating
    /// the buffers that [`Memory::record_retrieval`](crate::Memory::record_retrieval) reads and
    /// writes, and recording around it.
    pub fn wgpu(&self) -> Option<(&wgpu::Device, &wgpu::Queue)> {
        match &self.backend {
            Backend::Cpu => None,
            Backend::Gpu(ctx) => Some((&ctx.device, &ctx.queue)),
        }
    }

    async fn open(adapter: wgpu::Adapter, options: &GpuOptions) -> Result<Device> {
        let limits = match options.limits {
            Limits::Adapter => adapter.limits(),
            Limits::WebGpu => wgpu::Limits::default(),
        };
        let ctx = GpuContext::new(adapter, limits, options.poison_outputs).await?;
        log::info!("opened {}", ctx.info);
        Ok(Device {
            backend: Backend::Gpu(Arc::new(ctx)),
        })
    }
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Device").field(&self.info().name).finish()
    }
}

fn instance(backends: wgpu::Backends) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    desc.backends = backends;
    wgpu::Instance::new(desc)
}

fn kind_rank(t: wgpu::DeviceType) -> u8 {
    match t {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Other => 3,
        wgpu::DeviceType::Cpu => 4,
    }
}

pub(crate) async fn pick_adapter(options: &GpuOptions) -> Result<wgpu::Adapter> {
    let backends = options.chosen_backends()?;
    let name = options.chosen_adapter_name().map(|s| s.to_lowercase());
    let adapters = instance(backends).enumerate_adapters(backends).await;
    let seen: Vec<String> = adapters
        .iter()
        .map(|a| {
            let i = a.get_info();
            format!("{} ({})", i.name, i.backend)
        })
        .collect();
    let mut matching = adapters.into_iter().filter(|a| match &name {
        Some(n) => a.get_info().name.to_lowercase().contains(n.as_str()),
        None => true,
    });
    let picked = match options.adapter_index {
        Some(i) => matching.nth(i),
        None => matching.min_by_key(|a| kind_rank(a.get_info().device_type)),
    };
    picked.ok_or_else(|| {
            let named = match &name {
                Some(n) => format!(" named like {n:?}"),
                None => String::new(),
            };
            let wanted = match options.adapter_index {
                Some(i) => format!("no adapter number {i} (counting from 0){named} on backends {backends:?}"),
                None => format!("no adapter{named} on backends {backends:?}"),
            };
            let hint = if cfg!(target_arch = "wasm32") {
                "; this browser offers no WebGPU adapter (navigator.gpu)".to_string()
            } else if seen.is_empty() {
                "; install a Vulkan driver (on Debian/Ubuntu without a GPU: apt-get install mesa-vulkan-drivers)".to_string()
            } else {
                format!("; adapters seen: {}", seen.join(", "))
            };
            Error::NoAdapter(wanted + &hint)
        })
}

/// The optional features we ask for: those the adapter has, of the ones we use.
pub(crate) fn wanted_features(adapter: &wgpu::Adapter) -> wgpu::Features {
    adapter.features() & USED_FEATURES
}

/// The optional features the crate uses where a device has them. In a browser the WGSL goes
/// to the browser's compiler, which wants `enable subgroups;` before subgroup operations; the
/// registry writes each program in the dialect of the target (`shaders::Dialect::WGPU`).
pub(crate) const USED_FEATURES: wgpu::Features = wgpu::Features::SHADER_F16
    .union(wgpu::Features::SUBGROUP)
    .union(wgpu::Features::TIMESTAMP_QUERY);

pub(crate) fn adapter_info(
    adapter: &wgpu::Adapter,
    limits: &wgpu::Limits,
    features: wgpu::Features,
) -> DeviceInfo {
    let i = adapter.get_info();
    let kind = match i.device_type {
        wgpu::DeviceType::DiscreteGpu => DeviceKind::DiscreteGpu,
        wgpu::DeviceType::IntegratedGpu => DeviceKind::IntegratedGpu,
        wgpu::DeviceType::VirtualGpu => DeviceKind::VirtualGpu,
        wgpu::DeviceType::Cpu => DeviceKind::SoftwareAdapter,
        wgpu::DeviceType::Other => DeviceKind::Other,
    };
    let driver = [i.driver.as_str(), i.driver_info.as_str()]
        .iter()
        .filter(|s| !s.is_empty())
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    // Browsers keep the adapter's description to themselves unless the page asks for it.
    let name = if i.name.is_empty() {
        format!("unnamed {} adapter", i.backend)
    } else {
        i.name.clone()
    };
    DeviceInfo {
        name,
        backend: i.backend.to_string(),
        kind,
        driver,
        limits: DeviceLimits {
            max_storage_binding_bytes: limits.max_storage_buffer_binding_size,
            max_buffer_bytes: limits.max_buffer_size,
            max_workgroup_storage_bytes: limits.max_compute_workgroup_storage_size,
            max_invocations_per_workgroup: limits.max_compute_invocations_per_workgroup,
            max_workgroups_per_dimension: limits.max_compute_workgroups_per_dimension,
        },
        features: DeviceFeatures {
            shader_f16: features.contains(wgpu::Features::SHADER_F16),
            f16_storage: adapter
                .get_downlevel_capabilities()
                .flags
                .contains(wgpu::DownlevelFlags::SHADER_F16_IN_F32),
            subgroups: features.contains(wgpu::Features::SUBGROUP),
            timestamps: features.contains(wgpu::Features::TIMESTAMP_QUERY),
            subgroup_size: (i.subgroup_min_size, i.subgroup_max_size),
        },
    }
}

fn cpu_info() -> DeviceInfo {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    DeviceInfo {
        name: format!("host CPU ({threads} threads)"),
        backend: "host".into(),
        kind: DeviceKind::HostCpu,
        driver: String::new(),
        limits: DeviceLimits {
            max_storage_binding_bytes: isize::MAX as u64,
            max_buffer_bytes: isize::MAX as u64,
            max_workgroup_storage_bytes: 0,
            max_invocations_per_workgroup: 0,
            max_workgroups_per_dimension: 0,
        },
        features: DeviceFeatures::default(),
    }
}
