//! What every kernel shares: a compute pipeline compiled once from its program, with the
//! layout of its bindings (a uniform parameter block, then storage buffers; the
//! [`Recorder`](super::recorder::Recorder) dispatches it).

use super::counters::Counters;
use super::programs::{Program, Variant};

/// A device and its counters: what kernels are built on.
#[derive(Clone, Copy)]
pub(crate) struct Dev<'a> {
    pub device: &'a wgpu::Device,
    pub counters: &'a Counters,
}

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
    pub(crate) fn new(dev: Dev<'_>, program: &Program, variant: Variant) -> Kernel {
        let (device, label) = (dev.device, program.name);
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
        dev.counters.pipeline();
        let layout = pipeline.get_bind_group_layout(0);
        Kernel {
            label,
            pipeline,
            layout,
        }
    }

    pub(crate) fn label(&self) -> &'static str {
        self.label
    }

    pub(crate) fn pipeline(&self) -> &wgpu::ComputePipeline {
        &self.pipeline
    }

    pub(crate) fn layout(&self) -> &wgpu::BindGroupLayout {
        &self.layout
    }
}

/// Workgroups needed to cover `n` items `per_group` at a time.
pub(crate) fn groups_for(n: usize, per_group: usize) -> u32 {
    n.div_ceil(per_group) as u32
}
