//! `shaders/merge.wgsl`: the fused path's log-sum-exp merge of split partials into new states,
//! with the step's log-sum-exp and convergence test.

use super::kernel::{groups_for, Dev, Kernel};
use super::programs::{self, Variant};
use super::recorder::{bindings, Recorder};

/// The most splits one merge takes (the size of its workgroup array of split weights).
pub(crate) const MAX_SPLITS: usize = 1024;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    dim: u32,
    splits: u32,
    zero_logit: u32,
}

pub(crate) struct Merge(Kernel);

bindings!(
    /// The buffers a merge reads and writes.
    MergeBindings {
        ml,
        part,
        old,
        new,
        lse,
        delta,
        flag
    }
);

impl Merge {
    /// `subgroups`: reduce with subgroup operations (the device must have `SUBGROUP`).
    pub(crate) fn new(device: Dev<'_>, subgroups: bool) -> Self {
        Merge(Kernel::new(
            device,
            &programs::MERGE,
            Variant::reductions(subgroups),
        ))
    }

    /// Records the merge of `splits` partials per row into new states, lse, delta and the
    /// block's largest delta in `flag` (the caller zeroes `delta` and `flag` first); with
    /// `zero_logit`, of softmax₁'s. One workgroup per row and slice of 256 features.
    pub(crate) fn encode(
        &self,
        rec: &mut Recorder<'_>,
        (rows, dim, splits): (usize, usize, usize),
        zero_logit: bool,
        b: MergeBindings<'_>,
    ) {
        let params = Params {
            rows: rows as u32,
            dim: dim as u32,
            splits: splits as u32,
            zero_logit: zero_logit.into(),
        };
        rec.dispatch(&self.0, &params, &b, (groups_for(dim, 256), rows as u32, 1));
    }
}
