//! LayerNorm over the last axis, as `torch.nn.LayerNorm` computes it (biased variance, ε inside
//! the square root), in f64 per row so a row of large mean loses nothing to cancellation.

/// A LayerNorm of rows of `dim` features, with an optional learned gain and bias.
#[derive(Clone, Debug)]
pub(crate) struct LayerNorm {
    pub dim: usize,
    pub eps: f32,
    pub affine: Option<(Vec<f32>, Vec<f32>)>,
}

impl LayerNorm {
    /// Normalises every row of `data` (rows of `self.dim` values) in place.
    pub(crate) fn apply(&self, data: &mut [f32]) {
        for row in data.chunks_mut(self.dim) {
            self.apply_row(row);
        }
    }

    /// Normalises every consecutive chunk of `self.dim` values of each row in place: the
    /// per-head normalisation of the Hopfield space.
    pub(crate) fn apply_row(&self, row: &mut [f32]) {
        let n = row.len() as f64;
        let mean = row.iter().map(|&x| f64::from(x)).sum::<f64>() / n;
        let var = row
            .iter()
            .map(|&x| (f64::from(x) - mean).powi(2))
            .sum::<f64>()
            / n;
        let inv = 1.0 / (var + f64::from(self.eps)).sqrt();
        for (i, x) in row.iter_mut().enumerate() {
            let y = (f64::from(*x) - mean) * inv;
            *x = match &self.affine {
                Some((w, b)) => (y * f64::from(w[i]) + f64::from(b[i])) as f32,
                None => y as f32,
            };
        }
    }
}
