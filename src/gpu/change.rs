//! `shaders/change.wgsl`: per-state largest change of one update, and its block maximum.

use super::kernel::{groups_for, Kernel};
use super::programs::{self, Variant};

/// Features per workgroup (the shader's `SLICE`).
const SLICE: usize = 4096;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    dim: u32,
    _pad: [u32; 2],
}

pub(crate) struct Change(Kernel);

impl Change {
    pub(crate) fn new(device: &wgpu::Device) -> Self {
        Change(Kernel::new(device, &programs::CHANGE, Variant::PLAIN))
    }

    /// Records `delta[r] = max_k |new[r,k] − old[r,k]|` and `flag = max(flag, max_r delta[r])`
    /// (as f32 bits; the caller zeroes `delta` and `flag` first). One workgroup per slice of a
    /// row.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn encode(
        &self,
        device: &wgpu::Device,
        encoder: &mut wgpu::CommandEncoder,
        (rows, dim): (usize, usize),
        old: wgpu::BufferBinding<'_>,
        new: wgpu::BufferBinding<'_>,
        delta: wgpu::BufferBinding<'_>,
        flag: wgpu::BufferBinding<'_>,
    ) {
        let params = Params {
            rows: rows as u32,
            dim: dim as u32,
            _pad: [0; 2],
        };
        self.0.dispatch(
            device,
            encoder,
            &params,
            &[old, new, delta, flag],
            (groups_for(dim, SLICE), rows as u32, 1),
        );
    }
}
