//! Hopfield layers as in the PyTorch package [hflayers](https://github.com/ml-jku/hopfield-layers)
//! ("Hopfield Networks is All You Need"), for inference: [`Hopfield`], [`HopfieldPooling`] and
//! [`HopfieldLayer`], with the options of hflayers' constructors ([`HopfieldConfig`]) and its
//! weights read unrenamed from a safetensors file ([`Weights`]). Train in PyTorch, deploy here,
//! on any GPU or the CPU, with the same outputs.
//!
//! Export from PyTorch in three lines:
//!
//! ```python
//! from safetensors.torch import save_file
//! layer.eval()
//! save_file(layer.state_dict(), "layer.safetensors")
//! ```
//!
//! and load it with the constructor arguments it was built with:
//!
//! ```no_run
//! use hopfield::layers::{HopfieldConfig, HopfieldPooling};
//! use hopfield::Device;
//!
//! let device = Device::auto()?;
//! // HopfieldPooling(input_size=8, num_heads=2, quantity=3) in PyTorch:
//! let config = HopfieldConfig::new(8).num_heads(2);
//! let pooling = HopfieldPooling::load(&device, config, 3, "layer.safetensors")?;
//! let sets = ndarray::Array3::<f32>::zeros((16, 40, 8)); // 16 sets of 40 instances
//! let pooled = pooling.forward(sets.view())?;            // (16, 3 * 8)
//! # Ok::<(), hopfield::Error>(())
//! ```
//!
//! A layer whose patterns are all used as they are needs no weights at all — this is plain
//! Hopfield retrieval, one softmax per head:
//!
//! ```
//! use hopfield::layers::{ForwardOptions, Hopfield, HopfieldConfig, Scaling, Weights};
//! use hopfield::Device;
//! use ndarray::array;
//!
//! let config = HopfieldConfig::default()
//!     .stored_pattern_as_static(true)
//!     .state_pattern_as_static(true)
//!     .pattern_projection_as_static(true)
//!     .disable_out_projection(true)
//!     .normalize_stored_pattern(false)
//!     .normalize_stored_pattern_affine(false)
//!     .normalize_state_pattern(false)
//!     .normalize_state_pattern_affine(false)
//!     .normalize_pattern_projection(false)
//!     .normalize_pattern_projection_affine(false)
//!     .scaling(Scaling::Scalar(8.0));
//! let layer = Hopfield::new(&Device::cpu(), config, &Weights::new())?;
//! let stored = array![[[1.0f32, 0.0], [0.0, 1.0]]];     // (N=1, S=2, 2)
//! let state = array![[[0.9f32, 0.2]]];                  // (N=1, L=1, 2)
//! let options = ForwardOptions::new().with_association();
//! let out = layer.forward_with(stored.view(), state.view(), stored.view(), &options)?;
//! assert!(out.out[[0, 0, 0]] > 0.99);                   // retrieves the first pattern
//! assert_eq!(out.association.unwrap().dim(), (1, 1, 1, 2));
//! # Ok::<(), hopfield::Error>(())
//! ```
//!
//! On a GPU [`Device`](crate::Device) the whole forward runs there — LayerNorms, projections
//! (through the retrieval similarity kernel as a GEMM), the per-head attention on the retrieval
//! kernels, the output projection and the activation — as one submission with one readback of
//! the output (and of the association when asked for), the weights uploaded by the first call;
//! only update steps with a stopping decision read associations back in between. On the CPU it
//! runs in plain loops, the reference for the GPU path. Dropout is a training feature
//! and is off here, as in PyTorch's `eval()`.
//!
//! Two hflayers behaviours are not reproduced, on purpose: a per-head scaling tensor is applied
//! to each head's own features (hflayers multiplies feature `f` by `scaling[f mod heads]`), and
//! static patterns with several heads and batch items keep each batch item's patterns to
//! itself (hflayers mixes batch items there).

mod association;
mod attend;
mod config;
mod hopfield;
mod lookup;
mod norm;
mod on_device;
mod pooling;
mod weights;

use ndarray::{Array2, Array3, Array4, ArrayView2, ArrayView3, ArrayViewD};

pub use config::{Activation, HopfieldConfig, Scaling};
pub use hopfield::Hopfield;
pub use lookup::HopfieldLayer;
pub use pooling::HopfieldPooling;
pub use weights::Weights;

/// Masks of a forward pass and whether to return the association matrix.
#[derive(Clone, Debug, Default)]
pub struct ForwardOptions<'a> {
    pub(crate) padding_mask: Option<ArrayView2<'a, bool>>,
    pub(crate) association_mask: Option<ArrayViewD<'a, bool>>,
    pub(crate) association: bool,
}

impl<'a> ForwardOptions<'a> {
    /// No masks; the association matrix is not returned.
    pub fn new() -> Self {
        Self::default()
    }

    /// hflayers' `stored_pattern_padding_mask`, `(N, S)`: `true` = ignore that stored pattern
    /// (for sets shorter than the batch's longest).
    #[must_use]
    pub fn padding_mask(mut self, mask: ArrayView2<'a, bool>) -> Self {
        self.padding_mask = Some(mask);
        self
    }

    /// hflayers' `association_mask`, `(L, S)` for every batch item and head or
    /// `(N·heads, L, S)` indexed `batch·heads + head`: `true` = state `l` may not associate
    /// with stored pattern `s`. A state whose every pattern is masked gets NaN, as in PyTorch.
    #[must_use]
    pub fn association_mask(mut self, mask: ArrayViewD<'a, bool>) -> Self {
        self.association_mask = Some(mask);
        self
    }

    /// Also return the final association (softmax) matrix per head, `(N, heads, L, S)`.
    #[must_use]
    pub fn with_association(mut self) -> Self {
        self.association = true;
        self
    }
}

/// What a forward pass gives back.
#[derive(Clone, Debug)]
pub struct LayerOutput<A> {
    /// The layer's output.
    pub out: A,
    /// The final association matrix per head, `(N, heads, L, S)` (`S + 1` with the zero
    /// association), if it was asked for; masked entries are exactly 0.
    pub association: Option<Array4<f32>>,
    /// Softmaxes taken by the longest-running head: 1 + its update steps.
    pub softmax_iterations: usize,
}

/// `x` batch first: as it is, or with its first two axes swapped.
fn seq_view(x: ArrayView3<'_, f32>, batch_first: bool) -> ArrayView3<'_, f32> {
    if batch_first {
        x
    } else {
        x.permuted_axes([1, 0, 2])
    }
}

/// A batch-first output `(N, L, out)` in the layer's layout: as it is, or `(L, N, out)`.
fn in_layout(out: Array3<f32>, batch_first: bool) -> Array3<f32> {
    if batch_first {
        out
    } else {
        out.permuted_axes([1, 0, 2])
            .as_standard_layout()
            .into_owned()
    }
}

/// A learned `(rows, d)` table repeated for each of `n` batch items.
fn broadcast(table: &Array2<f32>, n: usize) -> Array3<f32> {
    let (rows, d) = table.dim();
    table
        .broadcast((n, rows, d))
        .map(|b| b.to_owned())
        .unwrap_or_else(|| Array3::zeros((n, rows, d)))
}
