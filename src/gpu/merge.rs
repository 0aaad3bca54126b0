//! `shaders/merge.wgsl`: the fused path's log-sum-exp merge of split partials into new states,
//! with the step's log-sum-exp and convergence test.

use super::kernel::{groups_for, Kernel};
use super::programs::{self, Variant};

/// The most splits one merge takes (the size of its workgroup array of split weights).
pub(crate) const MAX_SPLITS: usize = 1024;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    dim: u32,
    splits: u32,
    _pad: u32,
}

pub(crate) struct Merge(Kernel);

/// The buffers a merge reads and writes.
pub(crate) struct MergeBuffers<'a> {
    pub ml: wgpu::BufferBinding<'a>,
    pub part: wgpu::BufferBinding<'a>,
    pub old: wgpu::BufferBinding<'a>,
    pub new: wgpu::BufferBinding<'a>,
    pub lse: wgpu::BufferBinding<'a>,
    pub delta: wgpu::BufferBinding<'a>,
    pub flag: wgpu::BufferBinding<'a>,
}

impl Merge {
    /// `subgroups`: reduce with subgroup operations (the device must have `SUBGROUP`).
    pub(crate) fn new(device: &wgpu::Device, subgroups: bool) -> Self {
        Merge(Kernel::new(
            device,
            &programs::MERGE,
            Variant::reductions(subgroups),
        ))
    }

    /// Records the merge of `splits` partials per row into new states, lse, delta and the
    /// block's largest delta in `flag` (the caller zeroes `delta` and `flag` first). One
    /// workgroup per row and slice of 256 features.
    pub(crate) fn encode(
        &self,
        device: &wgpu::Device,
        encoder: &mut wgpu::CommandEncoder,
        (rows, dim, splits): (usize, usize, usize),
        b: MergeBuffers<'_>,
    ) {
        let params = Params {
            rows: rows as u32,
            dim: dim as u32,
            splits: splits as u32,
            _pad: 0,
        };
        self.0.dispatch(
            device,
            encoder,
            &params,
            &[b.ml, b.part, b.old, b.new, b.lse, b.delta, b.flag],
            (groups_for(dim, 256), rows as u32, 1),
        );
    }
}
