//! What a Hopfield layer is: hflayers' constructor arguments that matter at inference.

use std::str::FromStr;

use crate::error::{Error, Result};
use crate::Separation;

/// β, the inverse temperature of the association softmax.
#[derive(Clone, Debug, PartialEq, Default)]
pub enum Scaling {
    /// hflayers' default: `1/√head_dim`, or `1.0` in static execution (every pattern static,
    /// no output projection, no Hopfield-space normalisation).
    #[default]
    Default,
    /// One β for every head.
    Scalar(f32),
    /// One β per head; head `h` is the features `[h·head_dim, (h+1)·head_dim)` of the state.
    /// (hflayers applies such a tensor to the wrong features, `f mod num_heads`; this crate
    /// applies it to the head's own.)
    PerHead(Vec<f32>),
}

/// The activation applied to the output (hflayers' `association_activation`, a `torch.<name>`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Activation {
    /// `torch.tanh`.
    Tanh,
    /// `torch.relu`.
    Relu,
    /// `torch.sigmoid`.
    Sigmoid,
}

impl Activation {
    pub(crate) fn apply(self, x: f32) -> f32 {
        match self {
            Activation::Tanh => x.tanh(),
            Activation::Relu => x.max(0.0),
            Activation::Sigmoid => 1.0 / (1.0 + (-x).exp()),
        }
    }
}

impl FromStr for Activation {
    type Err = Error;

    /// The name as hflayers takes it (`"tanh"`, `"relu"`, `"sigmoid"`).
    fn from_str(name: &str) -> Result<Activation> {
        match name {
            "tanh" => Ok(Activation::Tanh),
            "relu" => Ok(Activation::Relu),
            "sigmoid" => Ok(Activation::Sigmoid),
            other => Err(Error::InvalidOptions(format!(
                "unknown association activation {other:?} (known: tanh, relu, sigmoid)"
            ))),
        }
    }
}

/// One LayerNorm switch: on or off, with or without a learned gain and bias, and its ε.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) struct Norm {
    pub on: bool,
    pub affine: bool,
    pub eps: f32,
}

impl Norm {
    const fn new(on: bool) -> Norm {
        Norm {
            on,
            affine: on,
            eps: 1e-5,
        }
    }
}

/// The options of an hflayers `Hopfield` layer that matter at inference, with hflayers'
/// defaults; each setter is named after the keyword argument it mirrors.
///
/// `dropout` is accepted so that a configuration copies over unchanged, but dropout is a
/// training feature: these layers only run inference, where it is off (PyTorch's `eval()`).
///
/// ```
/// use hopfield::layers::HopfieldConfig;
/// let config = HopfieldConfig::new(64).num_heads(4).update_steps_max(Some(2)).batch_first(true);
/// assert_eq!(config.head_dim(), Some(16));
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct HopfieldConfig {
    pub(crate) input_size: Option<usize>,
    pub(crate) hidden_size: Option<usize>,
    pub(crate) output_size: Option<usize>,
    pub(crate) pattern_size: Option<usize>,
    pub(crate) num_heads: usize,
    pub(crate) scaling: Scaling,
    pub(crate) update_steps_max: Option<usize>,
    pub(crate) update_steps_eps: f32,
    pub(crate) stored_pattern_size: Option<usize>,
    pub(crate) pattern_projection_size: Option<usize>,
    pub(crate) norm_stored: Norm,
    pub(crate) norm_state: Norm,
    pub(crate) norm_projection: Norm,
    pub(crate) norm_hopfield_space: Norm,
    pub(crate) stored_static: bool,
    pub(crate) state_static: bool,
    pub(crate) projection_static: bool,
    pub(crate) projection_connected: bool,
    pub(crate) batch_first: bool,
    pub(crate) association_activation: Option<Activation>,
    pub(crate) dropout: f32,
    pub(crate) input_bias: bool,
    pub(crate) concat_bias_pattern: bool,
    pub(crate) add_zero_association: bool,
    pub(crate) disable_out_projection: bool,
    pub(crate) separation: Separation,
}

impl Default for HopfieldConfig {
    /// hflayers' defaults without an `input_size` (enough only for static execution).
    fn default() -> Self {
        HopfieldConfig {
            input_size: None,
            hidden_size: None,
            output_size: None,
            pattern_size: None,
            num_heads: 1,
            scaling: Scaling::Default,
            update_steps_max: Some(0),
            update_steps_eps: 1e-4,
            stored_pattern_size: None,
            pattern_projection_size: None,
            norm_stored: Norm::new(true),
            norm_state: Norm::new(true),
            norm_projection: Norm::new(true),
            norm_hopfield_space: Norm::new(false),
            stored_static: false,
            state_static: false,
            projection_static: false,
            projection_connected: false,
            batch_first: true,
            association_activation: None,
            dropout: 0.0,
            input_bias: true,
            concat_bias_pattern: false,
            add_zero_association: false,
            disable_out_projection: false,
            separation: Separation::Softmax,
        }
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty => $($field:ident).+ $(= $wrap:ident)?;)*) => {
        $(
            $(#[$doc])*
            #[must_use]
            pub fn $name(mut self, value: $ty) -> Self {
                self.$($field).+ = $($wrap)?(value);
                self
            }
        )*
    };
}

impl HopfieldConfig {
    /// hflayers' defaults for states (and, unless said otherwise, stored patterns and pattern
    /// projections) of `input_size` features.
    pub fn new(input_size: usize) -> Self {
        HopfieldConfig {
            input_size: Some(input_size),
            ..Default::default()
        }
    }

    setters! {
        /// Features per head of the association space (`hidden_size`; default
        /// `input_size / num_heads`).
        hidden_size: usize => hidden_size = Some;
        /// Output features (`output_size`; default `input_size`).
        output_size: usize => output_size = Some;
        /// Features per head of the pattern projection (`pattern_size`; default the head dim).
        pattern_size: usize => pattern_size = Some;
        /// Number of heads (`num_heads`, default 1).
        num_heads: usize => num_heads;
        /// β (`scaling`).
        scaling: Scaling => scaling;
        /// Update steps after the first association (`update_steps_max`): `Some(0)` (the
        /// default) is one softmax, `None` runs until every head has converged.
        update_steps_max: Option<usize> => update_steps_max;
        /// A head stops once no batch item's association changed by more than this in
        /// Frobenius norm (`update_steps_eps`, default 1e-4).
        update_steps_eps: f32 => update_steps_eps;
        /// Features of the stored patterns (`stored_pattern_size`; default `input_size`).
        stored_pattern_size: usize => stored_pattern_size = Some;
        /// Features of the pattern projection input (`pattern_projection_size`; default
        /// `input_size`).
        pattern_projection_size: usize => pattern_projection_size = Some;
        /// LayerNorm of the stored patterns (`normalize_stored_pattern`, default on).
        normalize_stored_pattern: bool => norm_stored.on;
        /// Its gain and bias (`normalize_stored_pattern_affine`, default on).
        normalize_stored_pattern_affine: bool => norm_stored.affine;
        /// Its ε (`normalize_stored_pattern_eps`, default 1e-5).
        normalize_stored_pattern_eps: f32 => norm_stored.eps;
        /// LayerNorm of the state patterns (`normalize_state_pattern`, default on).
        normalize_state_pattern: bool => norm_state.on;
        /// Its gain and bias (`normalize_state_pattern_affine`, default on).
        normalize_state_pattern_affine: bool => norm_state.affine;
        /// Its ε (`normalize_state_pattern_eps`, default 1e-5).
        normalize_state_pattern_eps: f32 => norm_state.eps;
        /// LayerNorm of the pattern projection input (`normalize_pattern_projection`, default on).
        normalize_pattern_projection: bool => norm_projection.on;
        /// Its gain and bias (`normalize_pattern_projection_affine`, default on).
        normalize_pattern_projection_affine: bool => norm_projection.affine;
        /// Its ε (`normalize_pattern_projection_eps`, default 1e-5).
        normalize_pattern_projection_eps: f32 => norm_projection.eps;
        /// LayerNorm of the projected states and stored patterns per head
        /// (`normalize_hopfield_space`, default off).
        normalize_hopfield_space: bool => norm_hopfield_space.on;
        /// Its gain and bias, shared by the heads (`normalize_hopfield_space_affine`).
        normalize_hopfield_space_affine: bool => norm_hopfield_space.affine;
        /// Its ε (`normalize_hopfield_space_eps`, default 1e-5).
        normalize_hopfield_space_eps: f32 => norm_hopfield_space.eps;
        /// Use the stored patterns as keys unprojected (`stored_pattern_as_static`).
        stored_pattern_as_static: bool => stored_static;
        /// Use the states as queries unprojected (`state_pattern_as_static`).
        state_pattern_as_static: bool => state_static;
        /// Use the pattern projection input as values unprojected (`pattern_projection_as_static`).
        pattern_projection_as_static: bool => projection_static;
        /// Project the values through the key projection first
        /// (`pattern_projection_as_connected`).
        pattern_projection_as_connected: bool => projection_connected;
        /// Inputs and outputs are `(batch, length, features)` (default) rather than
        /// `(length, batch, features)` (`batch_first`).
        batch_first: bool => batch_first;
        /// Applied to the output (`association_activation`).
        association_activation: Option<Activation> => association_activation;
        /// Accepted for parity with hflayers; dropout acts only in training, so at inference
        /// it is off whatever its value (`dropout`).
        dropout: f32 => dropout;
        /// Biases in the input and output projections (`input_bias`, default on).
        input_bias: bool => input_bias;
        /// hflayers' `concat_bias_pattern`: its `bias_k`/`bias_v` tensors are loaded (so that a
        /// state dict with them fits) but, as in hflayers' forward, never used.
        concat_bias_pattern: bool => concat_bias_pattern;
        /// Append a zero stored pattern and a zero value to every head (`add_zero_association`).
        add_zero_association: bool => add_zero_association;
        /// No output projection: the heads' retrievals concatenated are the output
        /// (`disable_out_projection`).
        disable_out_projection: bool => disable_out_projection;
        /// The association's rule (default softmax, hflayers' only one): sparsemax or α-entmax
        /// for sparse attention, softmax₁, or top-k (see [`Separation`]). A mask's −∞ scores
        /// get weight 0 under every rule. Not an hflayers option: its sparse fork's.
        separation: Separation => separation;
    }

    /// Every pattern static, no output projection or Hopfield-space normalisation: the layer
    /// is pure retrieval, with head dimension the states' depth and β = 1 by default.
    pub fn static_execution(&self) -> bool {
        self.stored_static
            && self.state_static
            && self.projection_static
            && !self.projection_connected
            && !self.norm_hopfield_space.on
            && !self.norm_hopfield_space.affine
            && self.disable_out_projection
    }

    /// Features per head of the association space, where the configuration fixes it.
    pub fn head_dim(&self) -> Option<usize> {
        if self.static_execution() {
            return None;
        }
        self.hidden_size
            .or_else(|| self.input_size.map(|d| d / self.num_heads.max(1)))
    }

    pub(crate) fn pattern_dim(&self) -> Option<usize> {
        self.pattern_size.or(self.head_dim())
    }

    pub(crate) fn stored_size(&self) -> Option<usize> {
        self.stored_pattern_size.or(self.input_size)
    }

    pub(crate) fn projection_size(&self) -> Option<usize> {
        self.pattern_projection_size.or(self.input_size)
    }

    pub(crate) fn out_dim(&self) -> Option<usize> {
        self.output_size.or(self.input_size)
    }

    /// hflayers' one matrix `in_proj_weight` (rather than `q/k/v_proj_weight`).
    pub(crate) fn shared_projection(&self) -> bool {
        self.stored_size() == self.input_size
            && self.projection_size() == self.input_size
            && self.pattern_size.is_none()
            && !self.projection_connected
    }

    /// The combinations hflayers rejects, or that this crate does not express.
    pub(crate) fn validate(&self) -> Result<()> {
        self.validate_numbers()?;
        if self.static_execution() {
            return Ok(());
        }
        self.validate_sizes()
    }

    /// Checks the separation against a call's `keys` stored patterns per head (top-k's k).
    pub(crate) fn check_separation(&self, keys: usize) -> Result<()> {
        self.separation.validate(keys)
    }

    /// The head count, the normalisations' flags and eps, the update eps, the separation and
    /// the scaling.
    fn validate_numbers(&self) -> Result<()> {
        let bad = |why: String| Err(Error::InvalidOptions(why));
        if self.num_heads == 0 {
            return bad("num_heads must be at least 1".into());
        }
        for (name, n) in [
            ("stored pattern", self.norm_stored),
            ("state pattern", self.norm_state),
            ("pattern projection", self.norm_projection),
            ("Hopfield space", self.norm_hopfield_space),
        ] {
            if n.affine && !n.on {
                return bad(format!(
                    "affine {name} normalisation without the normalisation has no effect"
                ));
            }
            if !(n.eps.is_finite() && n.eps >= 0.0) {
                return bad(format!("{name} normalisation eps must be finite and >= 0"));
            }
        }
        if !(self.update_steps_eps.is_finite() && self.update_steps_eps >= 0.0) {
            return Err(Error::InvalidEps(self.update_steps_eps));
        }
        // α here; top-k's k against the keys of each call (`check_separation`).
        match self.separation {
            Separation::TopK(0) => return bad("Separation::TopK(k) needs k >= 1".into()),
            Separation::TopK(_) => {}
            other => other.validate(1)?,
        }
        match &self.scaling {
            Scaling::Scalar(b) if !b.is_finite() => return Err(Error::InvalidBeta(*b)),
            Scaling::PerHead(b) if b.len() != self.num_heads => {
                return bad(format!(
                    "a per-head scaling needs {} values, got {}",
                    self.num_heads,
                    b.len()
                ))
            }
            Scaling::PerHead(b) => {
                if let Some(x) = b.iter().find(|x| !x.is_finite()) {
                    return Err(Error::InvalidBeta(*x));
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// The sizes a layer that projects needs: input, head, pattern and output dimensions, and
    /// what a connected projection or a bias pattern asks of the stored pattern.
    fn validate_sizes(&self) -> Result<()> {
        let bad = |why: String| Err(Error::InvalidOptions(why));
        let Some(input) = self.input_size else {
            return bad(
                "input_size is required unless every pattern is static, the output \
                        projection is disabled and the Hopfield space is not normalised"
                    .into(),
            );
        };
        if self.hidden_size.is_none() && !input.is_multiple_of(self.num_heads) {
            return bad(format!(
                "num_heads ({}) must divide input_size ({input}) when hidden_size is not set",
                self.num_heads
            ));
        }
        if self.head_dim() == Some(0) || self.pattern_size == Some(0) {
            return bad("head and pattern dimensions must be positive".into());
        }
        if self.projection_connected {
            if self.stored_static {
                return bad(
                    "a connected pattern projection needs a projected (non-static) \
                            stored pattern"
                        .into(),
                );
            }
            if self.stored_size() != self.projection_size() {
                return bad(
                    "a connected pattern projection needs stored_pattern_size == \
                            pattern_projection_size"
                        .into(),
                );
            }
        }
        if self.concat_bias_pattern && self.stored_static {
            return bad("concat_bias_pattern needs a non-static stored pattern".into());
        }
        if !self.disable_out_projection && self.out_dim() == Some(0) {
            return bad("output_size must be positive".into());
        }
        Ok(())
    }
}
