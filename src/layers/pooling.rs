//! `HopfieldPooling`: a learned set of state patterns pools a set of stored patterns.

use std::path::Path;

use ndarray::{Array2, ArrayView3};

use super::{
    broadcast, in_layout, seq_view, ForwardOptions, Hopfield, HopfieldConfig, LayerOutput, Weights,
};
use crate::device::Device;
use crate::error::Result;

/// hflayers' `HopfieldPooling`: `quantity` learned states (`pooling_weights`) retrieve from each
/// input set, so a set of any size becomes `quantity × output_size` numbers (attention pooling,
/// as in multiple-instance learning).
#[derive(Clone, Debug)]
pub struct HopfieldPooling {
    hopfield: Hopfield,
    pooling: Array2<f32>,
}

impl HopfieldPooling {
    /// The layer of `config` with `quantity` pooling states, from weights named as hflayers'
    /// `HopfieldPooling.state_dict()` names them (`hopfield.…`, `pooling_weights`).
    pub fn new(
        device: &Device,
        config: HopfieldConfig,
        quantity: usize,
        weights: &Weights,
    ) -> Result<HopfieldPooling> {
        let d = config.input_size.unwrap_or(0);
        let shape = if config.batch_first {
            vec![1, quantity, d]
        } else {
            vec![quantity, 1, d]
        };
        let others = vec![("pooling_weights".to_string(), shape)];
        let hopfield = Hopfield::with_prefix(device, config, weights, "hopfield.", others)?;
        let pooling = Array2::from_shape_vec((quantity, d), weights.data("pooling_weights"))
            .unwrap_or_else(|_| Array2::zeros((quantity, d)));
        Ok(HopfieldPooling { hopfield, pooling })
    }

    /// [`new`](Self::new) with the weights of a safetensors file.
    pub fn load(
        device: &Device,
        config: HopfieldConfig,
        quantity: usize,
        path: impl AsRef<Path>,
    ) -> Result<HopfieldPooling> {
        HopfieldPooling::new(device, config, quantity, &Weights::load(path)?)
    }

    /// Pools sets `input` `(N, S, input_size)` (length first without `batch_first`), used as
    /// stored patterns and as pattern projection, into `(N, quantity·output_size)`.
    pub fn forward(&self, input: ArrayView3<f32>) -> Result<Array2<f32>> {
        Ok(self.forward_with(input, input, &ForwardOptions::new())?.out)
    }

    /// The asynchronous form of [`forward`](Self::forward), the one for a GPU on the web.
    pub async fn forward_async(&self, input: ArrayView3<'_, f32>) -> Result<Array2<f32>> {
        let options = ForwardOptions::new();
        Ok(self.forward_with_async(input, input, &options).await?.out)
    }

    /// hflayers' `forward((stored, projection))` with masks. The output is hflayers'
    /// `out.flatten(start_dim=1)`: `(N, quantity·out)` batch first, else `(quantity, N·out)`.
    pub fn forward_with(
        &self,
        stored: ArrayView3<f32>,
        projection: ArrayView3<f32>,
        options: &ForwardOptions<'_>,
    ) -> Result<LayerOutput<Array2<f32>>> {
        let pass = self.forward_with_async(stored, projection, options);
        crate::wait::now("HopfieldPooling::forward_with", pass)
    }

    /// The asynchronous form of [`forward_with`](Self::forward_with).
    pub async fn forward_with_async(
        &self,
        stored: ArrayView3<'_, f32>,
        projection: ArrayView3<'_, f32>,
        options: &ForwardOptions<'_>,
    ) -> Result<LayerOutput<Array2<f32>>> {
        let (device, core) = self.hopfield.core();
        let bf = core.config.batch_first;
        let stored = seq_view(stored, bf);
        let state = broadcast(&self.pooling, stored.dim().0);
        let (out, association, iterations) = core
            .forward(
                device,
                stored,
                state.view(),
                seq_view(projection, bf),
                options,
            )
            .await?;
        let out = in_layout(out, bf);
        let (a, b, c) = out.dim();
        let flat = out
            .into_shape_with_order((a, b * c))
            .unwrap_or_else(|_| Array2::zeros((a, b * c)));
        Ok(LayerOutput {
            out: flat,
            association,
            softmax_iterations: iterations,
        })
    }

    /// The pooling states, `(quantity, input_size)`.
    pub fn pooling_weights(&self) -> ndarray::ArrayView2<'_, f32> {
        self.pooling.view()
    }
}
