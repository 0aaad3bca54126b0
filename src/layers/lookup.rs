//! `HopfieldLayer`: a state looks up a learned set of stored patterns (and, optionally,
//! separate learned targets).

use std::path::Path;

use ndarray::{Array2, Array3, ArrayView3};

use super::{
    broadcast, in_layout, seq_view, ForwardOptions, Hopfield, HopfieldConfig, LayerOutput, Weights,
};
use crate::device::Device;
use crate::error::Result;

/// hflayers' `HopfieldLayer`: the stored patterns are the layer's own `lookup_weights`
/// `(quantity, input_size)`; the pattern projection is `target_weights` when the lookup
/// weights are separated from the targets, else the lookup weights again. A lookup table
/// with soft, learned keys.
#[derive(Clone, Debug)]
pub struct HopfieldLayer {
    hopfield: Hopfield,
    lookup: Array2<f32>,
    targets: Option<Array2<f32>>,
}

impl HopfieldLayer {
    /// The layer of `config` with `quantity` stored patterns, separate targets if
    /// `separated` (hflayers' `lookup_weights_as_separated`), from weights named as hflayers'
    /// `HopfieldLayer.state_dict()` names them (`hopfield.…`, `lookup_weights`,
    /// `target_weights`). Whether the targets were trainable does not matter here.
    pub fn new(
        device: &Device,
        config: HopfieldConfig,
        quantity: usize,
        separated: bool,
        weights: &Weights,
    ) -> Result<HopfieldLayer> {
        let bf = config.batch_first;
        let shape = |d: usize| {
            if bf {
                vec![1, quantity, d]
            } else {
                vec![quantity, 1, d]
            }
        };
        let d = config.stored_size().unwrap_or(0);
        let t = config.projection_size().unwrap_or(0);
        let mut others = vec![("lookup_weights".to_string(), shape(d))];
        if separated {
            others.push(("target_weights".to_string(), shape(t)));
        }
        let hopfield = Hopfield::with_prefix(device, config, weights, "hopfield.", others)?;
        let table = |name: &str, d: usize| {
            Array2::from_shape_vec((quantity, d), weights.data(name))
                .unwrap_or_else(|_| Array2::zeros((quantity, d)))
        };
        Ok(HopfieldLayer {
            hopfield,
            lookup: table("lookup_weights", d),
            targets: separated.then(|| table("target_weights", t)),
        })
    }

    /// [`new`](Self::new) with the weights of a safetensors file.
    pub fn load(
        device: &Device,
        config: HopfieldConfig,
        quantity: usize,
        separated: bool,
        path: impl AsRef<Path>,
    ) -> Result<HopfieldLayer> {
        HopfieldLayer::new(device, config, quantity, separated, &Weights::load(path)?)
    }

    /// Looks up states `input` `(N, L, input_size)` (length first without `batch_first`).
    pub fn forward(&self, input: ArrayView3<f32>) -> Result<Array3<f32>> {
        Ok(self.forward_with(input, &ForwardOptions::new())?.out)
    }

    /// The asynchronous form of [`forward`](Self::forward), the one for a GPU on the web.
    pub async fn forward_async(&self, input: ArrayView3<'_, f32>) -> Result<Array3<f32>> {
        let options = ForwardOptions::new();
        Ok(self.forward_with_async(input, &options).await?.out)
    }

    /// [`forward`](Self::forward) with masks (over the `quantity` stored patterns) and the
    /// association matrix on request.
    pub fn forward_with(
        &self,
        input: ArrayView3<f32>,
        options: &ForwardOptions<'_>,
    ) -> Result<LayerOutput<Array3<f32>>> {
        crate::wait::now(
            "HopfieldLayer::forward_with",
            self.forward_with_async(input, options),
        )
    }

    /// The asynchronous form of [`forward_with`](Self::forward_with).
    pub async fn forward_with_async(
        &self,
        input: ArrayView3<'_, f32>,
        options: &ForwardOptions<'_>,
    ) -> Result<LayerOutput<Array3<f32>>> {
        let (device, core) = self.hopfield.core();
        let bf = core.config.batch_first;
        let state = seq_view(input, bf);
        let n = state.dim().0;
        let stored = broadcast(&self.lookup, n);
        let projection = broadcast(self.targets.as_ref().unwrap_or(&self.lookup), n);
        let (out, association, iterations) = core
            .forward(device, stored.view(), state, projection.view(), options)
            .await?;
        Ok(LayerOutput {
            out: in_layout(out, bf),
            association,
            softmax_iterations: iterations,
        })
    }
}
