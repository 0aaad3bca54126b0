//! What every kernel shares: a compute pipeline compiled once from its WGSL file, and a
//! dispatch that binds a uniform parameter block followed by storage buffers, in order.

use wgpu::util::DeviceExt;

use crate::storage::Precision;

pub(crate) struct Kernel {
    label: &'static str,
    pipeline: wgpu::ComputePipeline,
    layout: wgpu::BindGroupLayout,
}

impl Kernel {
    /// Compiles the concatenation of `sources` (a kernel that reads patterns is prefixed with
    /// the WGSL of their storage format, [`patterns_wgsl`]).
    pub(crate) fn new(device: &wgpu::Device, label: &'static str, sources: &[&str]) -> Kernel {
        Kernel::build(device, label, sources, true)
    }

    /// Like [`new`](Self::new), for a kernel that writes every element of its workgroup memory
    /// before reading it, so wgpu's zero-initialisation of that memory is skipped. Where the
    /// backend cannot zero it natively (GL), wgpu has every workgroup clear all its shared
    /// arrays behind a barrier; besides the time that costs each workgroup, Mesa's llvmpipe
    /// then spends minutes compiling `fused_tile` (26 KiB of shared arrays) instead of seconds.
    pub(crate) fn writing_before_reading(
        device: &wgpu::Device,
        label: &'static str,
        sources: &[&str],
    ) -> Kernel {
        Kernel::build(device, label, sources, false)
    }

    fn build(device: &wgpu::Device, label: &'static str, sources: &[&str], zeroed: bool) -> Kernel {
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(label),
            source: wgpu::ShaderSource::Wgsl(sources.concat().into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(label),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: wgpu::PipelineCompilationOptions {
                zero_initialize_workgroup_memory: zeroed,
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

/// The WGSL that declares the patterns (binding 2) and `fn pattern(row, col, row_words) -> f32`
/// for a storage precision.
pub(crate) fn patterns_wgsl(precision: Precision) -> &'static str {
    match precision {
        Precision::F32 => include_str!("../../shaders/patterns_f32.wgsl"),
        Precision::F16 => include_str!("../../shaders/patterns_f16.wgsl"),
    }
}

/// The WGSL of `workgroup_max` / `workgroup_sum` over 256 invocations: with subgroup
/// operations where the device has them, else through a workgroup-memory tree.
pub(crate) fn reduce_wgsl(subgroups: bool) -> &'static str {
    if subgroups {
        include_str!("../../shaders/reduce_subgroup.wgsl")
    } else {
        include_str!("../../shaders/reduce_shared.wgsl")
    }
}

/// Workgroups needed to cover `n` items `per_group` at a time.
pub(crate) fn groups_for(n: usize, per_group: usize) -> u32 {
    n.div_ceil(per_group) as u32
}
