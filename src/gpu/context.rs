//! One opened wgpu device: queue, compiled kernels, error capture, poisoning and the GL lock
//! (reading back is `readback.rs`, timestamps `timer.rs`).

use std::future::Future;
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};

use super::bias_act::BiasAct;
use super::binary::BinaryKernels;
use super::change::Change;
use super::clamp::Clamp;
use super::counters::Counters;
use super::fused::Fused;
use super::heads::Heads;
use super::kernel::Dev;
use super::layer_norm::LayerNorm;
use super::mask::Mask;
use super::merge::Merge;
use super::poller::Poller;
use super::programs;
use super::readback::StagingPool;
use super::similarity::Similarity;
use super::softmax::Softmax;
use super::threshold::Threshold;
use super::timer::TimerPool;
use super::topk::TopK;
use super::weighted_sum::{SumSplits, WeightedSum};
use crate::device::{adapter_info, wanted_features, DeviceInfo, USED_FEATURES};
use crate::error::{Error, Result};
use crate::storage::Precision;

/// The kernels that read patterns, compiled for one storage precision.
pub(crate) struct PatternKernels {
    pub similarity: Similarity,
    pub weighted_sum: WeightedSum,
    pub fused: Fused,
}

/// What a Hopfield layer's forward adds to the retrieval kernels.
pub(crate) struct LayerKernels {
    pub norm: LayerNorm,
    pub bias_act: BiasAct,
    pub heads: Heads,
}

/// The kernels, each compiled once per device; those for a storage precision on first use.
pub(crate) struct Kernels {
    pub softmax: Softmax,
    pub change: Change,
    pub merge: Merge,
    pub sum_splits: SumSplits,
    pub mask: Mask,
    binary: OnceLock<BinaryKernels>,
    topk: OnceLock<TopK>,
    threshold: OnceLock<Threshold>,
    clamp: OnceLock<Clamp>,
    layer: OnceLock<LayerKernels>,
    /// Whether the device reduces with subgroup operations (kernels compiled on first use).
    subgroups: bool,
    by_precision: [OnceLock<PatternKernels>; 2],
    /// The device's limits, by which kernels built in two tile sizes pick one.
    limits: wgpu::Limits,
    counters: Arc<Counters>,
}

impl Kernels {
    /// The binary-network kernels (classical and dense), compiled on first use.
    pub(crate) fn binary(&self, device: &wgpu::Device) -> &BinaryKernels {
        self.binary
            .get_or_init(|| BinaryKernels::new(self.dev(device)))
    }

    /// The top-k selection kernels, compiled on first use.
    pub(crate) fn topk(&self, device: &wgpu::Device) -> &TopK {
        self.topk.get_or_init(|| TopK::new(self.dev(device)))
    }

    /// The sparsemax and α-entmax kernels, compiled on first use.
    pub(crate) fn threshold(&self, device: &wgpu::Device) -> &Threshold {
        self.threshold
            .get_or_init(|| Threshold::new(self.dev(device), self.subgroups))
    }

    /// The partial-cue clamp, compiled on first use.
    pub(crate) fn clamp(&self, device: &wgpu::Device) -> &Clamp {
        self.clamp.get_or_init(|| Clamp::new(self.dev(device)))
    }

    /// The Hopfield-layer kernels, compiled on first use.
    pub(crate) fn layer(&self, device: &wgpu::Device) -> &LayerKernels {
        self.layer.get_or_init(|| LayerKernels {
            norm: LayerNorm::new(self.dev(device), self.subgroups),
            bias_act: BiasAct::new(self.dev(device)),
            heads: Heads::new(self.dev(device)),
        })
    }

    fn dev<'a>(&'a self, device: &'a wgpu::Device) -> Dev<'a> {
        Dev {
            device,
            counters: &self.counters,
        }
    }

    pub(crate) fn for_patterns(&self, device: &wgpu::Device, p: Precision) -> &PatternKernels {
        let slot = match p {
            Precision::F32 => &self.by_precision[0],
            Precision::F16 => &self.by_precision[1],
        };
        let dev = self.dev(device);
        slot.get_or_init(|| PatternKernels {
            similarity: Similarity::new(dev, p),
            weighted_sum: WeightedSum::new(dev, p),
            fused: Fused::new(dev, &self.limits, p),
        })
    }
}

pub(crate) struct GpuContext {
    /// Unique per context for the process's life (an address could be reused once a context
    /// is dropped): what caches of device data are keyed by.
    pub id: u64,
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: DeviceInfo,
    pub limits: wgpu::Limits,
    pub kernels: Kernels,
    /// Shared with the kernels, which count the pipelines they build.
    pub(crate) counters: Arc<Counters>,
    lost: Arc<Mutex<Option<String>>>,
    /// `None` on GL, whose backend holds its one context during `poll(wait)`: a poller thread
    /// would starve every other thread's calls, so there the reading thread polls.
    pub(super) poller: Option<Poller>,
    pub(super) staging: StagingPool,
    pub(super) timers: TimerPool,
    poison: Option<Mutex<Option<wgpu::Buffer>>>,
    /// `Some` on GL (see [`exclusive`](Self::exclusive)).
    serial: Option<Mutex<()>>,
}

const POISON: f32 = f32::NAN;

impl GpuContext {
    /// Opens a device on `adapter` with `limits`: the adapter's own, or WebGPU's defaults to
    /// run as a browser would. Fails with [`Error::OverLimit`] where they leave some kernel
    /// the crate needs no size that fits.
    pub(crate) async fn new(
        adapter: wgpu::Adapter,
        limits: wgpu::Limits,
        poison: bool,
    ) -> Result<GpuContext> {
        let features = wanted_features(&adapter);
        programs::check_device(&limits)?;
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("hopfield"),
                required_features: features,
                required_limits: limits.clone(),
                ..Default::default()
            })
            .await
            .map_err(|e| Error::RequestDevice {
                adapter: adapter.get_info().name,
                reason: e.to_string(),
            })?;
        let ctx = GpuContext::on(&adapter, device, queue, poison);
        // wgpu's default handler panics; every error we can cause is captured by a scope, so
        // anything reaching this handler is logged, not turned into a panic in user code.
        ctx.device
            .on_uncaptured_error(Arc::new(|e| log::error!("uncaptured wgpu error: {e}")));
        let lost = Arc::clone(&ctx.lost);
        ctx.device.set_device_lost_callback(move |reason, msg| {
            *lost.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!("{reason:?}: {msg}"));
        });
        Ok(ctx)
    }

    /// A context on a device the application opened (see [`Device::from_wgpu`]): its limits
    /// and the features the crate uses, as they are. Its uncaptured-error handler and
    /// device-lost callback stay the application's: the crate's own errors are all captured by
    /// scopes, and a lost device shows in them.
    ///
    /// [`Device::from_wgpu`]: crate::Device::from_wgpu
    pub(crate) fn shared(
        adapter: &wgpu::Adapter,
        device: wgpu::Device,
        queue: wgpu::Queue,
    ) -> Result<GpuContext> {
        programs::check_device(&device.limits())?;
        Ok(GpuContext::on(adapter, device, queue, false))
    }

    /// The context over an open device.
    fn on(
        adapter: &wgpu::Adapter,
        device: wgpu::Device,
        queue: wgpu::Queue,
        poison: bool,
    ) -> GpuContext {
        let (features, limits) = (device.features() & USED_FEATURES, device.limits());
        let subgroups = features.contains(wgpu::Features::SUBGROUP);
        let counters = Arc::new(Counters::default());
        let dev = Dev {
            device: &device,
            counters: &counters,
        };
        let kernels = Kernels {
            softmax: Softmax::new(dev, subgroups),
            change: Change::new(dev),
            merge: Merge::new(dev, subgroups),
            sum_splits: SumSplits::new(dev),
            mask: Mask::new(dev),
            binary: OnceLock::new(),
            topk: OnceLock::new(),
            threshold: OnceLock::new(),
            clamp: OnceLock::new(),
            layer: OnceLock::new(),
            subgroups,
            by_precision: [OnceLock::new(), OnceLock::new()],
            limits: limits.clone(),
            counters: Arc::clone(&counters),
        };
        let info = adapter_info(adapter, &limits, features);
        let gl = adapter.get_info().backend == wgpu::Backend::Gl;
        static NEXT_ID: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        GpuContext {
            id: NEXT_ID.fetch_add(1, std::sync::atomic::Ordering::Relaxed),
            poller: (!gl).then(|| Poller::new(device.clone())),
            serial: gl.then(|| Mutex::new(())),
            device,
            queue,
            info,
            limits,
            kernels,
            counters,
            lost: Arc::new(Mutex::new(None)),
            staging: StagingPool::default(),
            timers: TimerPool::default(),
            poison: poison.then(|| Mutex::new(None)),
        }
    }

    /// Held for the whole of every operation that touches a GL device (creating or dropping
    /// buffers, writing, recording, submitting, polling, mapping); `None` elsewhere.
    ///
    /// wgpu's GL backend has one context per adapter and gives up waiting for it after a few
    /// seconds with a panic ("Could not lock adapter context"), while llvmpipe holds it for as
    /// long as a submission executes. Waiting here instead has no such limit. Not re-entrant:
    /// take it only at the outermost call that reaches the device.
    pub(crate) fn exclusive(&self) -> Option<MutexGuard<'_, ()>> {
        self.serial
            .as_ref()
            .map(|m| m.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The largest storage binding and buffer this device allows, whichever is smaller.
    pub(crate) fn max_binding_bytes(&self) -> u64 {
        self.limits
            .max_storage_buffer_binding_size
            .min(self.limits.max_buffer_size)
    }

    /// Fails with [`Error::OverLimit`] where `bytes` of `what` cannot be one binding.
    pub(crate) fn check_binding(&self, what: impl FnOnce() -> String, bytes: u64) -> Result<()> {
        if bytes > self.max_binding_bytes() {
            return Err(Error::OverLimit {
                what: what(),
                needed: bytes,
                limit: self.max_binding_bytes(),
                limit_name: "max_storage_buffer_binding_size",
            });
        }
        Ok(())
    }

    pub(crate) fn check_alive(&self) -> Result<()> {
        match &*self.lost.lock().unwrap_or_else(|e| e.into_inner()) {
            Some(why) => Err(Error::DeviceLost(why.clone())),
            None => Ok(()),
        }
    }

    /// Creates a buffer, counted.
    pub(crate) fn buffer(&self, desc: &wgpu::BufferDescriptor<'_>) -> wgpu::Buffer {
        self.counters.buffer();
        self.device.create_buffer(desc)
    }

    /// Queues a write of `data` into `buffer` at `offset`, counted.
    pub(crate) fn write(&self, buffer: &wgpu::Buffer, offset: u64, data: &[u8]) {
        self.counters.upload(data.len() as u64);
        self.queue.write_buffer(buffer, offset, data);
    }

    /// Submits `commands` (none: only the queued writes), counted.
    pub(crate) fn submit<I: IntoIterator<Item = wgpu::CommandBuffer>>(&self, commands: I) {
        self.counters.submission();
        self.queue.submit(commands);
    }

    pub(crate) fn storage(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(4),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_SRC
                | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// Runs `f` inside out-of-memory, validation and internal error scopes; the returned future
    /// says whether anything inside failed. Scopes are popped before returning, so no
    /// (non-`Send`) scope guard is held across an `.await`.
    pub(crate) fn scoped<T>(
        &self,
        what: &str,
        f: impl FnOnce() -> T,
    ) -> (T, impl Future<Output = Result<()>> + Send + 'static) {
        let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let out = f();
        let validation = validation.pop();
        let oom = oom.pop();
        let internal = internal.pop();
        let what = what.to_string();
        let lost = Arc::clone(&self.lost);
        let done = async move {
            let (v, o, i) = (validation.await, oom.await, internal.await);
            if let Some(why) = lost.lock().unwrap_or_else(|e| e.into_inner()).clone() {
                return Err(Error::DeviceLost(why));
            }
            if o.is_some() {
                return Err(Error::OutOfDeviceMemory(what));
            }
            match v.or(i) {
                Some(e) => Err(Error::Gpu(format!("{what}: {e}"))),
                None => Ok(()),
            }
        };
        (out, done)
    }

    /// In poisoning mode, records a fill of `buffer[..bytes]` with NaN (as a copy inside the
    /// encoder, so it lands between the kernels that read and write the buffer).
    pub(crate) fn poison(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        buffer: &wgpu::Buffer,
        bytes: u64,
    ) {
        let Some(slot) = &self.poison else { return };
        let mut slot = slot.lock().unwrap_or_else(|e| e.into_inner());
        if slot.as_ref().is_none_or(|b| b.size() < bytes) {
            let fill = vec![POISON; (bytes / crate::storage::WORD_BYTES) as usize];
            let b = self.storage("poison", bytes);
            self.write(&b, 0, bytemuck::cast_slice(&fill));
            *slot = Some(b);
        }
        if let Some(src) = slot.as_ref() {
            encoder.copy_buffer_to_buffer(src, 0, buffer, 0, bytes);
        }
    }

    pub(crate) fn encoder(&self, label: &str) -> wgpu::CommandEncoder {
        self.device
            .create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some(label) })
    }
}
