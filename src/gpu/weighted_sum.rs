//! `shaders/weighted_sum.wgsl`: new states O = P X.

use super::kernel::{groups_for, Kernel};

const TILE: usize = 64;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    n: u32,
    dim: u32,
    _pad: u32,
}

pub(crate) struct WeightedSum(Kernel);

impl WeightedSum {
    pub(crate) fn new(device: &wgpu::Device) -> Self {
        WeightedSum(Kernel::new(
            device,
            "weighted_sum",
            include_str!("../../shaders/weighted_sum.wgsl"),
        ))
    }

    /// Records `states[rows × dim] = weights[rows × n] · patterns[n × dim]`.
    pub(crate) fn encode(
        &self,
        device: &wgpu::Device,
        encoder: &mut wgpu::CommandEncoder,
        (rows, n, dim): (usize, usize, usize),
        weights: wgpu::BufferBinding<'_>,
        patterns: wgpu::BufferBinding<'_>,
        states: wgpu::BufferBinding<'_>,
    ) {
        let params = Params {
            rows: rows as u32,
            n: n as u32,
            dim: dim as u32,
            _pad: 0,
        };
        self.0.dispatch(
            device,
            encoder,
            &params,
            &[weights, patterns, states],
            (groups_for(dim, TILE), groups_for(rows, TILE), 1),
        );
    }
}
