//! Retrieval between an application's own device buffers: queries that another pipeline
//! wrote, states that another pipeline reads, no round trip through the host.

use super::{Memory, Store};
use crate::error::{Error, Result};
use crate::gpu::{recorded, retrieval, GpuContext, PatternStore};
use crate::retrieve::{RetrieveOptions, Stop};
use crate::storage::WORD_BYTES;
use crate::wait;

/// An application's buffers for [`Memory::record_retrieval`]: `rows` queries of the memory's
/// dimension as row-major f32 at the start of `queries` (which needs
/// `BufferUsages::COPY_SRC`), and their states written in the same layout at the start of
/// `states` (which needs `BufferUsages::COPY_DST`). Both must be buffers of the memory's
/// device ([`Device::wgpu`](crate::Device::wgpu), or the application's own device shared
/// through [`Device::from_wgpu`](crate::Device::from_wgpu)).
#[derive(Clone, Copy, Debug)]
pub struct BufferIo<'a> {
    /// The queries, read.
    pub queries: &'a wgpu::Buffer,
    /// The states, written.
    pub states: &'a wgpu::Buffer,
    /// How many queries.
    pub rows: usize,
}

impl Memory {
    /// Records a retrieval of `io.rows` queries from the application's `io.queries` buffer
    /// into its `io.states` buffer, into the application's `encoder`: the states are on the
    /// device once the application submits it, behind whatever it recorded before and ahead
    /// of whatever it records after; the crate submits nothing and reads nothing back. The
    /// patterns read are those on the device when the commands run.
    ///
    /// Fixed step counts only (until-converged needs the host to read each step's change),
    /// and states only: weights, top-k, energies and timing are refused, as are a memory on
    /// the CPU, buffers too small for `io.rows` queries or without the usage they need
    /// ([`Error::InvalidBuffer`]), all before anything is recorded. A buffer of another
    /// device is reported by wgpu when the encoder is finished;
    /// [`retrieve_buffers`](Self::retrieve_buffers), which finishes its own encoder, returns it
    /// as [`Error::InvalidBuffer`]. The queries never reach the host, so they are not checked
    /// for NaN or for scores that overflow f32 as [`retrieve`](Self::retrieve)'s are.
    ///
    /// ```no_run
    /// # fn main() -> hopfield::Result<()> {
    /// use hopfield::wgpu::{self, util::DeviceExt};
    /// use hopfield::{BufferIo, Device, Memory, RetrieveOptions};
    /// let device = Device::gpu()?;
    /// let memory = Memory::from_array(&device, ndarray::array![[1.0, 0.0], [0.0, 1.0]].view())?;
    /// let (gpu, queue) = device.wgpu().expect("a GPU device");
    /// let queries = gpu.create_buffer_init(&wgpu::util::BufferInitDescriptor {
    ///     label: None,
    ///     contents: bytemuck::cast_slice(&[0.9f32, 0.1]),
    ///     usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC,
    /// });
    /// let states = gpu.create_buffer(&wgpu::BufferDescriptor {
    ///     label: None,
    ///     size: 8,
    ///     usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_DST,
    ///     mapped_at_creation: false,
    /// });
    /// let mut encoder = gpu.create_command_encoder(&Default::default());
    /// let io = BufferIo { queries: &queries, states: &states, rows: 1 };
    /// memory.record_retrieval(&mut encoder, io, &RetrieveOptions::new(8.0))?;
    /// // … record the passes that read `states` …
    /// queue.submit([encoder.finish()]);
    /// # Ok(())
    /// # }
    /// ```
    pub fn record_retrieval(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        io: BufferIo<'_>,
        options: &RetrieveOptions,
    ) -> Result<()> {
        let _serial = self.store.exclusive();
        wait::now(
            "Memory::record_retrieval",
            self.record_here(encoder, io, options),
        )
    }

    /// The asynchronous form of [`record_retrieval`](Self::record_retrieval) (the only form on
    /// the web): it awaits only wgpu's report on what it recorded.
    pub async fn record_retrieval_async(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        io: BufferIo<'_>,
        options: &RetrieveOptions,
    ) -> Result<()> {
        self.record_here(encoder, io, options).await
    }

    /// [`record_retrieval`](Self::record_retrieval) into an encoder of the crate's own, which
    /// it submits: the states are in `io.states` for any work the application submits after
    /// this returns. Nothing is read back.
    pub fn retrieve_buffers(&self, io: BufferIo<'_>, options: &RetrieveOptions) -> Result<()> {
        let _serial = self.store.exclusive();
        wait::now("Memory::retrieve_buffers", self.submit_here(io, options))
    }

    /// The asynchronous form of [`retrieve_buffers`](Self::retrieve_buffers).
    pub async fn retrieve_buffers_async(
        &self,
        io: BufferIo<'_>,
        options: &RetrieveOptions,
    ) -> Result<()> {
        self.submit_here(io, options).await
    }

    async fn submit_here(&self, io: BufferIo<'_>, options: &RetrieveOptions) -> Result<()> {
        let (ctx, _) = self.on_gpu()?;
        let mut encoder = ctx.encoder("retrieval between application buffers");
        self.record_here(&mut encoder, io, options).await?;
        let ((), done) = ctx.scoped("submitting a retrieval between application buffers", || {
            ctx.submit([encoder.finish()])
        });
        done.await.map_err(|e| match e {
            // The crate's own commands are valid (the tests hold it to that); what wgpu refuses
            // here is the application's buffers.
            Error::Gpu(reason) => Error::InvalidBuffer {
                what: "queries or states",
                reason,
            },
            other => other,
        })
    }

    async fn record_here(
        &self,
        encoder: &mut wgpu::CommandEncoder,
        io: BufferIo<'_>,
        options: &RetrieveOptions,
    ) -> Result<()> {
        let (ctx, store) = self.on_gpu()?;
        check_buffer_options(options)?;
        options.validate(self.len())?;
        let bytes = (io.rows * self.dim) as u64 * WORD_BYTES;
        let need = |what, buffer: &wgpu::Buffer, usage: wgpu::BufferUsages| {
            if !buffer.usage().contains(usage) {
                return Err(Error::InvalidBuffer {
                    what,
                    reason: format!(
                        "needs {usage:?} among its usages, which are {:?}",
                        buffer.usage()
                    ),
                });
            }
            if buffer.size() < bytes {
                return Err(Error::InvalidBuffer {
                    what,
                    reason: format!(
                        "holds {} bytes; {} queries of dimension {} need {bytes}",
                        buffer.size(),
                        io.rows,
                        self.dim
                    ),
                });
            }
            Ok(())
        };
        need("queries", io.queries, wgpu::BufferUsages::COPY_SRC)?;
        need("states", io.states, wgpu::BufferUsages::COPY_DST)?;
        if io.rows == 0 {
            return Ok(());
        }
        let plan = retrieval::blocks(ctx, store, self.dim, options)?;
        let io = recorded::Io {
            queries: io.queries,
            states: io.states,
            rows: io.rows,
        };
        recorded::record(ctx, store, &plan, options, encoder, &io).await
    }

    fn on_gpu(&self) -> Result<(&GpuContext, &PatternStore)> {
        match &self.store {
            Store::Gpu(ctx, store) => Ok((ctx, store)),
            Store::Cpu(_) => Err(Error::InvalidOptions(
                "this memory is on the CPU device: retrieval between wgpu buffers needs a GPU \
                 device"
                    .into(),
            )),
        }
    }
}

/// What a retrieval between device buffers can do: fixed steps, states only.
fn check_buffer_options(options: &RetrieveOptions) -> Result<()> {
    let refused = if matches!(options.stop, Stop::Converged { .. }) {
        Some("until-converged (the host would read each step's change): give a step count")
    } else if options.weights || options.top_k.is_some() {
        Some("weights or top-k (only states are written to the application's buffer)")
    } else if options.energy {
        Some("energies (they are computed on the host)")
    } else if options.timing {
        Some("timing (it is read back to the host)")
    } else if options.known.is_some() {
        Some("partial cues (the mask is applied on the host): zero the unknown features first")
    } else {
        None
    };
    match refused {
        Some(what) => Err(Error::InvalidOptions(format!(
            "a retrieval between device buffers does not do {what}"
        ))),
        None => Ok(()),
    }
}
