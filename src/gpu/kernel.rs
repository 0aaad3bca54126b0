//! What every kernel shares: a compute pipeline compiled once from its program, and a
//! dispatch that binds a uniform parameter block followed by storage buffers, in order.

use wgpu::util::DeviceExt;

use super::programs::{Program, Variant};

pub(crate) struct Kernel {
    label: &'static str,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

impl Kernel {
    /// Compiles `program` in `variant` (see [`programs`](super::programs)).
    ///
    /// wgpu does not check a pipeline's workgroup memory against the device's limits, and a
    /// driver given more than it has may fail in any way; the variant choice must keep within
    /// them (`programs::check_device`, `Program::tiles_for`), and breaking that is a bug here.
    pub(crate) fn new(device: &wgpu::Device, program: &Program, variant: Variant) -> Kernel {
        let label = program.name;
        if let Some((limit, needed, have)) = program.needs(variant).exceeds(&device.limits()) {
            panic!("{label} ({variant:?}) needs {needed} of {limit}; the device allows {have}");
        }
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(program.source(variant).into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(label),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: wgpu::PipelineCompilationOptions {
                zero_initialize_workgroup_memory: program.zeroed,
                ..Default::default()
            },
            cache: None,
        });
        let layout = pipeline.get_bind_group_layout(0);
        Kernel {
            label,
            pipeline,
            layout,
        }
    }

    /// Records one dispatch: binding 0 is `params` as a uniform, bindings 1.. are `buffers`.
    pub(crate) fn dispatch<P: bytemuck::Pod>(
        &self,
        device: &wgpu::Device,
        encoder: &mut wgpu::CommandEncoder,
        params: &P,
        buffers: &[wgpu::BufferBinding<'_>],
        groups: (u32, u32, u32),
    ) {
        let uniform = device.create_buffer_init(&wgpu::util::BufferInitDescriptor {
            label: Some(self.label),
            contents: bytemuck::bytes_of(params),
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
        let bind_group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(self.label),
            layout: &self.layout,
            entries: &entries,
        });
        let mut pass = encoder.begin_compute_pass(&wgpu::ComputePassDescriptor {
            label: Some(self.label),
            timestamp_writes: None,
        });
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &bind_group, &[]);
        pass.dispatch_workgroups(groups.0, groups.1, groups.2);
    }
}

/// Workgroups needed to cover `n` items `per_group` at a time.
pub(crate) fn groups_for(n: usize, per_group: usize) -> u32 {
    n.div_ceil(per_group) as u32
}
