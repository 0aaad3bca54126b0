//! `shaders/softmax.wgsl`: row-wise stable softmax in place, with each row's log-sum-exp.

use super::kernel::{reduce_wgsl, Kernel};

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    _pad: [u32; 2],
}

pub(crate) struct Softmax(Kernel);

impl Softmax {
    /// `subgroups`: reduce with subgroup operations (the device must have `SUBGROUP`).
    pub(crate) fn new(device: &wgpu::Device, subgroups: bool) -> Self {
        Softmax(Kernel::new(
            device,
            "softmax",
            &[
                reduce_wgsl(subgroups),
                include_str!("../../shaders/softmax.wgsl"),
            ],
        ))
    }

    /// Records `scores[r, :] ← softmax(scores[r, :])` and `lse[r] = max + ln Σ exp(· − max)`.
    /// One workgroup per row: `rows` must not exceed the per-dimension workgroup limit.
    pub(crate) fn encode(
        &self,
        device: &wgpu::Device,
        encoder: &mut wgpu::CommandEncoder,
        (rows, n): (usize, usize),
        scores: wgpu::BufferBinding<'_>,
        lse: wgpu::BufferBinding<'_>,
    ) {
        let params = Params {
            rows: rows as u32,
            cols: n as u32,
            _pad: [0; 2],
        };
        self.0.dispatch(
            device,
            encoder,
            &params,
            &[scores, lse],
            (rows as u32, 1, 1),
        );
    }
}
