//! `shaders/bias_act.wgsl`: a projection's bias and the layer's output activation, in place.

use super::heads::grid;
use super::kernel::{groups_for, Dev, Kernel};
use super::programs::{self, Variant};
use super::recorder::{bindings, Recorder};

const WG: usize = 256;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    len: u32,
    cols: u32,
    bias: u32,
    act: u32,
}

bindings!(
    /// The matrix (updated in place) and the bias (any buffer without one).
    BiasActBindings { y, bias }
);

/// The activation after the bias, as the shader numbers it.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Act {
    None = 0,
    Tanh = 1,
    Relu = 2,
    Sigmoid = 3,
}

pub(crate) struct BiasAct(Kernel);

impl BiasAct {
    pub(crate) fn new(device: Dev<'_>) -> Self {
        BiasAct(Kernel::new(device, &programs::BIAS_ACT, Variant::PLAIN))
    }

    /// Records `y[r, c] ← act(y[r, c] + bias[c])` over `rows × cols` elements.
    pub(crate) fn encode(
        &self,
        rec: &mut Recorder<'_>,
        (rows, cols): (usize, usize),
        bias: bool,
        act: Act,
        b: BiasActBindings<'_>,
    ) {
        let len = rows * cols;
        let params = Params {
            len: len as u32,
            cols: cols as u32,
            bias: u32::from(bias),
            act: act as u32,
        };
        let max = rec.ctx().limits.max_compute_workgroups_per_dimension;
        let groups = groups_for(len, WG) as usize;
        rec.dispatch(&self.0, &params, &b, grid(groups, max));
    }
}
