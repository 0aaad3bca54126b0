//! `shaders/clamp.wgsl`: a partial cue's known features put back to their given values after
//! each update (`RetrieveOptions::clamp_known`).

use super::kernel::{groups_for, Dev, Kernel};
use super::plan::WORD;
use super::programs::{self, Variant};
use super::recorder::{bindings, Recorder};
use super::GpuContext;

/// Features per workgroup (the shader's workgroup size).
const SLICE: usize = 256;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    dim: u32,
    _pad: [u32; 2],
}

bindings!(ClampBindings { known, cue, states });

/// A block's cue and known-feature mask (one word per feature), written per call.
pub(crate) struct ClampBuffers {
    pub known: wgpu::Buffer,
    pub cue: wgpu::Buffer,
}

impl ClampBuffers {
    pub(crate) fn new(ctx: &GpuContext, elements: usize) -> Self {
        let bytes = elements as u64 * WORD;
        ClampBuffers {
            known: ctx.storage("known features", bytes),
            cue: ctx.storage("cue", bytes),
        }
    }

    pub(crate) fn bytes(&self) -> u64 {
        self.known.size() + self.cue.size()
    }
}

pub(crate) struct Clamp(Kernel);

impl Clamp {
    pub(crate) fn new(device: Dev<'_>) -> Self {
        Clamp(Kernel::new(device, &programs::CLAMP, Variant::PLAIN))
    }

    /// Records `states[r, f] ← cue[r, f]` wherever `known[r, f]`, for `rows` states of `dim`.
    pub(crate) fn encode(
        &self,
        rec: &mut Recorder<'_>,
        (rows, dim): (usize, usize),
        b: ClampBindings<'_>,
    ) {
        let params = Params {
            rows: rows as u32,
            dim: dim as u32,
            _pad: [0; 2],
        };
        let grid = (groups_for(dim, SLICE), rows as u32, 1);
        rec.dispatch(&self.0, &params, &b, grid);
    }
}
