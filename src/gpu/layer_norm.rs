//! `shaders/layer_norm.wgsl`: a layer's LayerNorms on the device, row by row in place.

use super::heads::grid;
use super::kernel::{Dev, Kernel};
use super::programs::{self, Variant};
use super::recorder::{bindings, Recorder};

/// The widest row one workgroup normalises: 4096 strided trips per pass for each of its 256
/// invocations, three passes, inside the project's loop budget (16,384 per invocation).
pub(crate) const MAX_WIDTH: usize = 256 * 4096;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    width: u32,
    eps: f32,
    affine: u32,
}

bindings!(
    /// The rows (normalised in place), and the gain and bias (any buffer when not affine).
    LayerNormBindings { x, gain, bias }
);

pub(crate) struct LayerNorm(Kernel);

impl LayerNorm {
    pub(crate) fn new(device: Dev<'_>, subgroups: bool) -> Self {
        LayerNorm(Kernel::new(
            device,
            &programs::LAYER_NORM,
            Variant::reductions(subgroups),
        ))
    }

    /// Records the normalisation of `rows` rows of `width` (at most [`MAX_WIDTH`]) features;
    /// `rows` at most the square of the per-dimension workgroup limit.
    pub(crate) fn encode(
        &self,
        rec: &mut Recorder<'_>,
        (rows, width): (usize, usize),
        eps: f32,
        affine: bool,
        b: LayerNormBindings<'_>,
    ) {
        let params = Params {
            rows: rows as u32,
            width: width as u32,
            eps,
            affine: u32::from(affine),
        };
        let max = rec.ctx().limits.max_compute_workgroups_per_dimension;
        rec.dispatch(&self.0, &params, &b, grid(rows, max));
    }
}
