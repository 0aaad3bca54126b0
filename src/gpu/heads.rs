//! `shaders/heads.wgsl`: a layer's flat activations split into the per-(batch, head) problem
//! regions of [`attention`](super::attention), and the outputs merged back.

use super::kernel::{groups_for, Dev, Kernel};
use super::programs::{self, Variant};
use super::recorder::{bindings, Recorder};

const WG: usize = 256;

/// A grid of `groups` workgroups within `max` per dimension: along x, continuing along y
/// (the shaders number a group `y · groups_x + x` and ignore those past the end).
pub(crate) fn grid(groups: usize, max: u32) -> (u32, u32, u32) {
    let x = groups.clamp(1, max as usize);
    (x as u32, groups.div_ceil(x).max(1) as u32, 1)
}

/// The most workgroups [`grid`] covers.
pub(crate) fn max_groups(max: u32) -> usize {
    max as usize * max as usize
}

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    problems: u32,
    heads: u32,
    rows: u32,
    row_len: u32,
    len: u32,
    width: u32,
    cols: u32,
    head_stride: u32,
    stride: u32,
    merge: u32,
    _pad: [u32; 2],
}

/// The layouts on both sides: `batch × heads` problems of `rows × row_len` words, `stride`
/// words apart, against flat rows of `cols`, `len` per batch item, each head reading `width`
/// columns from column `head · head_stride`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct HeadLayout {
    pub problems: usize,
    pub heads: usize,
    pub rows: usize,
    pub row_len: usize,
    pub stride: usize,
    pub len: usize,
    pub width: usize,
    pub cols: usize,
    pub head_stride: usize,
}

bindings!(HeadsBindings { flat, regions });

pub(crate) struct Heads(Kernel);

impl Heads {
    pub(crate) fn new(device: Dev<'_>) -> Self {
        Heads(Kernel::new(device, &programs::HEADS, Variant::PLAIN))
    }

    /// Workgroups one copy of `l` takes.
    pub(crate) fn groups(l: &HeadLayout) -> usize {
        groups_for(l.problems * l.rows * l.row_len, WG) as usize
    }

    /// Records flat → regions (`merge` false, every region word written) or regions → flat.
    pub(crate) fn encode(
        &self,
        rec: &mut Recorder<'_>,
        l: &HeadLayout,
        merge: bool,
        b: HeadsBindings<'_>,
    ) {
        let params = Params {
            problems: l.problems as u32,
            heads: l.heads as u32,
            rows: l.rows as u32,
            row_len: l.row_len as u32,
            len: l.len as u32,
            width: l.width as u32,
            cols: l.cols as u32,
            head_stride: l.head_stride as u32,
            stride: l.stride as u32,
            merge: u32::from(merge),
            _pad: [0; 2],
        };
        let max = rec.ctx().limits.max_compute_workgroups_per_dimension;
        rec.dispatch(&self.0, &params, &b, grid(Self::groups(l), max));
    }
}
