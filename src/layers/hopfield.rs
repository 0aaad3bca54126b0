//! `Hopfield`: associates state patterns with stored patterns and retrieves their projections.

use std::path::Path;

use ndarray::{Array3, ArrayView3};

use super::association::{expected, Association};
use super::{in_layout, seq_view, ForwardOptions, HopfieldConfig, LayerOutput, Weights};
use crate::device::Device;
use crate::error::Result;
use crate::wait;

/// hflayers' `Hopfield` layer at inference: `softmax(β·Q·Kᵀ)·V` per head, with
/// `Q = state·W_Qᵀ`, `K = stored·W_Kᵀ`, `V = projection·W_Vᵀ`, the options of
/// [`HopfieldConfig`], and an output projection.
#[derive(Clone, Debug)]
pub struct Hopfield {
    device: Device,
    core: Association,
}

impl Hopfield {
    /// The layer of `config` with `weights` named as hflayers' `Hopfield.state_dict()` names
    /// them; fails naming any tensor that is missing, extra or of the wrong shape.
    pub fn new(device: &Device, config: HopfieldConfig, weights: &Weights) -> Result<Hopfield> {
        Hopfield::with_prefix(device, config, weights, "", Vec::new())
    }

    /// [`new`](Self::new) with the weights of a safetensors file.
    pub fn load(
        device: &Device,
        config: HopfieldConfig,
        path: impl AsRef<Path>,
    ) -> Result<Hopfield> {
        Hopfield::new(device, config, &Weights::load(path)?)
    }

    /// A layer whose tensors are named `prefix` + hflayers' names, in a state dict that also
    /// holds `others` (a wrapping module's own tensors).
    pub(crate) fn with_prefix(
        device: &Device,
        config: HopfieldConfig,
        weights: &Weights,
        prefix: &str,
        others: Vec<(String, Vec<usize>)>,
    ) -> Result<Hopfield> {
        config.validate()?;
        let mut names = expected(&config, prefix);
        names.extend(others);
        weights.check(&names)?;
        Ok(Hopfield {
            device: device.clone(),
            core: Association::new(&config, weights, prefix),
        })
    }

    /// The configuration.
    pub fn config(&self) -> &HopfieldConfig {
        &self.core.config
    }

    /// Self-association: `input` is the stored pattern, the state and the pattern projection
    /// (each through its own LayerNorm, as in hflayers).
    pub fn forward(&self, input: ArrayView3<f32>) -> Result<Array3<f32>> {
        Ok(self
            .forward_with(input, input, input, &ForwardOptions::new())?
            .out)
    }

    /// The asynchronous form of [`forward`](Self::forward), the one for a GPU on the web.
    pub async fn forward_async(&self, input: ArrayView3<'_, f32>) -> Result<Array3<f32>> {
        let options = ForwardOptions::new();
        Ok(self
            .forward_with_async(input, input, input, &options)
            .await?
            .out)
    }

    /// hflayers' `forward((stored, state, projection))` with masks, returning the association
    /// matrix too if `options` ask for it. Shapes follow `batch_first`: `(N, S, ·)`,
    /// `(N, L, ·)`, `(N, S, ·)`, and an output `(N, L, out)`, or length first.
    pub fn forward_with(
        &self,
        stored: ArrayView3<f32>,
        state: ArrayView3<f32>,
        projection: ArrayView3<f32>,
        options: &ForwardOptions<'_>,
    ) -> Result<LayerOutput<Array3<f32>>> {
        let pass = self.forward_with_async(stored, state, projection, options);
        wait::now("Hopfield::forward_with", pass)
    }

    /// The asynchronous form of [`forward_with`](Self::forward_with).
    pub async fn forward_with_async(
        &self,
        stored: ArrayView3<'_, f32>,
        state: ArrayView3<'_, f32>,
        projection: ArrayView3<'_, f32>,
        options: &ForwardOptions<'_>,
    ) -> Result<LayerOutput<Array3<f32>>> {
        let bf = self.core.config.batch_first;
        let (out, association, iterations) = self
            .core
            .forward(
                &self.device,
                seq_view(stored, bf),
                seq_view(state, bf),
                seq_view(projection, bf),
                options,
            )
            .await?;
        Ok(LayerOutput {
            out: in_layout(out, bf),
            association,
            softmax_iterations: iterations,
        })
    }

    pub(crate) fn core(&self) -> (&Device, &Association) {
        (&self.device, &self.core)
    }
}
