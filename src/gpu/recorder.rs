//! The one way kernels are recorded: a [`Recorder`] over a command encoder takes a kernel, its
//! parameter block, its buffers as a named [`Bindings`] struct and a grid, and also records the
//! poisoning, clearing and copying that happen between kernels. Uniform buffers and bind groups
//! are made in one place, [`Recorder::bind_group`].

use wgpu::util::DeviceExt;

use super::kernel::Kernel;
use super::GpuContext;

/// A kernel's storage buffers in binding order (binding 0 is the parameter block).
pub(crate) trait Bindings {
    fn entries(&self) -> Vec<wgpu::BufferBinding<'_>>;
}

/// Declares a struct of named buffer bindings whose field order is the binding order of its
/// shader (bindings 1, 2, …), and its [`Bindings`] impl.
macro_rules! bindings {
    ($(#[$meta:meta])* $name:ident { $($(#[$fmeta:meta])* $field:ident),+ $(,)? }) => {
        $(#[$meta])*
        pub(crate) struct $name<'a> {
            $($(#[$fmeta])* pub $field: wgpu::BufferBinding<'a>,)+
        }

        impl $crate::gpu::recorder::Bindings for $name<'_> {
            fn entries(&self) -> Vec<wgpu::BufferBinding<'_>> {
                vec![$(self.$field.clone()),+]
            }
        }
    };
}
pub(crate) use bindings;

/// Records into one command encoder on one device.
pub(crate) struct Recorder<'a> {
    ctx: &'a GpuContext,
    encoder: &'a mut wgpu::CommandEncoder,
}

impl<'a> Recorder<'a> {
    pub(crate) fn new(ctx: &'a GpuContext, encoder: &'a mut wgpu::CommandEncoder) -> Self {
        Recorder { ctx, encoder }
    }

    pub(crate) fn ctx(&self) -> &'a GpuContext {
        self.ctx
    }

    /// Records one dispatch of `kernel` over `grid` workgroups: binding 0 is `params` as a
    /// uniform, bindings 1.. are `bindings` in their order.
    pub(crate) fn dispatch<P: bytemuck::Pod>(
        &mut self,
        kernel: &Kernel,
        params: &P,
        bindings: &impl Bindings,
        grid: (u32, u32, u32),
    ) {
        let group = self.bind_group(kernel, bytemuck::bytes_of(params), &bindings.entries());
        let mut pass = self
            .encoder
            .begin_compute_pass(&wgpu::ComputePassDescriptor {
                label: Some(kernel.label()),
                timestamp_writes: None,
            });
        pass.set_pipeline(kernel.pipeline());
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups(grid.0, grid.1, grid.2);
    }

    /// The bind group of one dispatch, with its parameter block in a uniform buffer: the only
    /// place either is made, so that caching them per dispatch site changes this function alone.
    fn bind_group(
        &self,
        kernel: &Kernel,
        params: &[u8],
        buffers: &[wgpu::BufferBinding<'_>],
    ) -> wgpu::BindGroup {
        let device = &self.ctx.device;
        self.ctx.counters.buffer();
        self.ctx.counters.bind_group();
        self.ctx.counters.upload(params.len() as u64);
        let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(kernel.label()),
            contents: params,
            usage: wgpu::BufferUsages::UNIFORM,
        });
        let mut entries = vec![wgpu::BindGroupEntry {
            binding: 0,
            resource: uniform.as_entire_binding(),
        }];
        entries.extend(
            buffers
                .iter()
                .enumerate()
                .map(|(i, b)| wgpu::BindGroupEntry {
                    binding: i as u32 + 1,
                    resource: wgpu::BindingResource::Buffer(b.clone()),
                }),
        );
        device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(kernel.label()),
            layout: kernel.layout(),
            entries: &entries,
        })
    }

    /// In poisoning mode, fills `buffer[..bytes]` with NaN before the kernels after it run
    /// (see [`GpuContext::poison`]).
    pub(crate) fn poison(&mut self, buffer: &wgpu::Buffer, bytes: u64) {
        self.ctx.poison(self.encoder, buffer, bytes);
    }

    /// Zeroes all of `buffer` (for kernels that meet by atomicMax, or count).
    pub(crate) fn clear(&mut self, buffer: &wgpu::Buffer) {
        self.encoder.clear_buffer(buffer, 0, None);
    }

    /// Copies the first `bytes` of `from` to the start of `to`.
    pub(crate) fn copy(&mut self, from: &wgpu::Buffer, to: &wgpu::Buffer, bytes: u64) {
        self.encoder.copy_buffer_to_buffer(from, 0, to, 0, bytes);
    }
}
