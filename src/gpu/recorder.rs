//! The one way kernels are recorded: a [`Recorder`] over a command encoder takes a kernel, its
//! parameter block, its buffers as a named [`Bindings`] struct and a grid, and also records the
//! poisoning, clearing and copying that happen between kernels. Uniform buffers and bind groups
//! are made in one place, [`Recorder::bind_group`], which reuses them from a workspace's
//! [`BindGroups`] where the caller has one.

use wgpu::util::DeviceExt;

use super::kernel::Kernel;
use super::workspace::{BindGroups, BindKey};
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
    binds: Option<&'a mut BindGroups>,
}

impl<'a> Recorder<'a> {
    /// A recorder that makes every dispatch's bind group afresh.
    pub(crate) fn new(ctx: &'a GpuContext, encoder: &'a mut wgpu::CommandEncoder) -> Self {
        Recorder {
            ctx,
            encoder,
            binds: None,
        }
    }

    /// A recorder that reuses bind groups from `binds` and keeps those it makes there.
    pub(crate) fn reusing(
        ctx: &'a GpuContext,
        encoder: &'a mut wgpu::CommandEncoder,
        binds: &'a mut BindGroups,
    ) -> Self {
        Recorder {
            ctx,
            encoder,
            binds: Some(binds),
        }
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

    /// The bind group of one dispatch, with its parameter block in a uniform buffer: taken from
    /// the recorder's [`BindGroups`] where an equal one is there, else made (and kept there).
    fn bind_group(
        &mut self,
        kernel: &Kernel,
        params: &[u8],
        buffers: &[wgpu::BufferBinding<'_>],
    ) -> wgpu::BindGroup {
        let Some(binds) = self.binds.as_deref_mut() else {
            return make_bind_group(self.ctx, kernel, params, buffers);
        };
        let key = BindKey::new(kernel, params, buffers);
        if let Some(group) = binds.get(&key) {
            return group.clone();
        }
        let group = make_bind_group(self.ctx, kernel, params, buffers);
        binds.insert(key, group.clone());
        group
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

/// A bind group for one dispatch, with `params` in a uniform buffer of its own: the only place
/// either is made.
fn make_bind_group(
    ctx: &GpuContext,
    kernel: &Kernel,
    params: &[u8],
    buffers: &[wgpu::BufferBinding<'_>],
) -> wgpu::BindGroup {
    let device = &ctx.device;
    ctx.counters.buffer();
    ctx.counters.bind_group();
    ctx.counters.upload(params.len() as u64);
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
