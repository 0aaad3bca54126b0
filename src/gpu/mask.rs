//! `shaders/mask.wgsl`: masked scores set to −∞ before the softmax.

use super::kernel::{groups_for, Dev, Kernel};
use super::programs::{self, Variant};
use super::recorder::{bindings, Recorder};

const WG: usize = 256;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    len: u32,
    /// −∞, which a WGSL program cannot write as a constant.
    masked: f32,
    _pad: [u32; 2],
}

pub(crate) struct Mask(Kernel);

bindings!(MaskBindings { scores, mask });

impl Mask {
    pub(crate) fn new(device: Dev<'_>) -> Self {
        Mask(Kernel::new(device, &programs::MASK, Variant::PLAIN))
    }

    /// The number of scores one dispatch can mask.
    pub(crate) fn max_len(max_groups: u32) -> usize {
        max_groups as usize * WG
    }

    /// Records `scores[i] = −∞` wherever `mask[i] ≠ 0`, for `i < len` (at most
    /// [`max_len`](Self::max_len)).
    pub(crate) fn encode(&self, rec: &mut Recorder<'_>, len: usize, b: MaskBindings<'_>) {
        let params = Params {
            len: len as u32,
            masked: f32::NEG_INFINITY,
            _pad: [0; 2],
        };
        rec.dispatch(&self.0, &params, &b, (groups_for(len, WG), 1, 1));
    }
}
