//! `shaders/similarity.wgsl`: scores S = β Q Xᵀ.

use super::kernel::{groups_for, Kernel};

const TILE: usize = 64;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    rows: u32,
    cols: u32,
    dim: u32,
    col_tile0: u32,
    beta: f32,
    _pad: [u32; 3],
}

pub(crate) struct Similarity(Kernel);

impl Similarity {
    pub(crate) fn new(device: &wgpu::Device) -> Self {
        Similarity(Kernel::new(
            device,
            "similarity",
            include_str!("../../shaders/similarity.wgsl"),
        ))
    }

    /// Records `scores[rows × n] = beta · queries[rows × dim] · patterns[n × dim]ᵀ`.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn encode(
        &self,
        device: &wgpu::Device,
        encoder: &mut wgpu::CommandEncoder,
        max_groups: u32,
        (rows, n, dim): (usize, usize, usize),
        beta: f32,
        queries: wgpu::BufferBinding<'_>,
        patterns: wgpu::BufferBinding<'_>,
        scores: wgpu::BufferBinding<'_>,
    ) {
        let col_tiles = groups_for(n, TILE);
        let row_tiles = groups_for(rows, TILE);
        // Past the per-dimension workgroup limit the column tiles go in several dispatches.
        let mut first = 0;
        while first < col_tiles {
            let count = (col_tiles - first).min(max_groups);
            let params = Params {
                rows: rows as u32,
                cols: n as u32,
                dim: dim as u32,
                col_tile0: first,
                beta,
                _pad: [0; 3],
            };
            self.0.dispatch(
                device,
                encoder,
                &params,
                &[queries.clone(), patterns.clone(), scores.clone()],
                (count, row_tiles, 1),
            );
            first += count;
        }
    }
}
