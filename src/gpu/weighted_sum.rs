//! `shaders/weighted_sum.wgsl`: new states O = P X, one chunk of patterns per call.

use super::kernel::{groups_for, patterns_wgsl, Kernel};
use super::similarity::Columns;
use crate::storage::Precision;

const TILE: usize = 64;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    n: u32,
    dim: u32,
    row_words: u32,
    ld: u32,
    col_offset: u32,
    accumulate: u32,
    _pad: u32,
}

pub(crate) struct WeightedSum(Kernel);

impl WeightedSum {
    pub(crate) fn new(device: &wgpu::Device, precision: Precision) -> Self {
        WeightedSum(Kernel::new(
            device,
            "weighted_sum",
            &[
                patterns_wgsl(precision),
                include_str!("../../shaders/weighted_sum.wgsl"),
            ],
        ))
    }

    /// Records `states[rows × dim] (+)= weights[rows, cols] · chunk[n × dim]`, adding to the
    /// states when `accumulate` (every chunk after the first).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn encode(
        &self,
        device: &wgpu::Device,
        encoder: &mut wgpu::CommandEncoder,
        (rows, n, dim, row_words): (usize, usize, usize, usize),
        cols: Columns,
        accumulate: bool,
        weights: wgpu::BufferBinding<'_>,
        chunk: wgpu::BufferBinding<'_>,
        states: wgpu::BufferBinding<'_>,
    ) {
        let params = Params {
            rows: rows as u32,
            n: n as u32,
            dim: dim as u32,
            row_words: row_words as u32,
            ld: cols.ld as u32,
            col_offset: cols.offset as u32,
            accumulate: u32::from(accumulate),
            _pad: 0,
        };
        self.0.dispatch(
            device,
            encoder,
            &params,
            &[weights, chunk, states],
            (groups_for(dim, TILE), groups_for(rows, TILE), 1),
        );
    }
}
