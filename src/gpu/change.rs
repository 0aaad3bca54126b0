//! `shaders/change.wgsl`: per-state largest change of one update, and its block maximum.

use super::kernel::{groups_for, Dev, Kernel};
use super::programs::{self, Variant};
use super::recorder::{bindings, Recorder};

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

bindings!(ChangeBindings {
    old,
    new,
    delta,
    flag
});

impl Change {
    pub(crate) fn new(device: Dev<'_>) -> Self {
        Change(Kernel::new(device, &programs::CHANGE, Variant::PLAIN))
    }

    /// Records `delta[r] = max_k |new[r,k] − old[r,k]|` and `flag = max(flag, max_r delta[r])`
    /// (as f32 bits; the caller zeroes `delta` and `flag` first). One workgroup per slice of a
    /// row.
    pub(crate) fn encode(
        &self,
        rec: &mut Recorder<'_>,
        (rows, dim): (usize, usize),
        b: ChangeBindings<'_>,
    ) {
        let params = Params {
            rows: rows as u32,
            dim: dim as u32,
            _pad: [0; 2],
        };
        rec.dispatch(
            &self.0,
            &params,
            &b,
            (groups_for(dim, SLICE), rows as u32, 1),
        );
    }
}
