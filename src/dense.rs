//! Dense associative memory (Krotov & Hopfield 2016; Demircigil et al. 2017): binary states,
//! energy E(σ) = −Σ_μ F(ξ_μ·σ) with a fast-growing interaction F, which stores far more
//! patterns than the classical network (polynomial F: ~d^{n−1}; exponential: ~2^{d/2}).
//!
//! Neuron l is set to the sign of Σ_μ F(a_μ + ξ_μl) − F(a_μ − ξ_μl), where
//! a_μ = m_μ − σ_l ξ_μl is the overlap m_μ = ξ_μ·σ without neuron l: the energy drop of setting
//! it to +1 rather than −1. Keeping the overlaps and moving them by 2σ_l ξ_μl on each flip makes
//! a sweep N×d work (see [`binary`](mod@crate::binary) for sweeps and the sign rule).
//!
//! ```
//! use hopfield::dense::{Dense, Interaction};
//! use hopfield::binary::RecallOptions;
//! use hopfield::Device;
//! use ndarray::array;
//!
//! let patterns = array![[1.0, 1.0, 1.0, -1.0, -1.0], [-1.0, 1.0, -1.0, 1.0, -1.0]];
//! let net = Dense::new(&Device::cpu(), patterns.view(), Interaction::Polynomial(3))?;
//! let out = net.recall(array![[1.0, -1.0, 1.0, -1.0, -1.0]].view(), &RecallOptions::synchronous())?;
//! assert_eq!(out.states.row(0), patterns.row(0));
//! # Ok::<(), hopfield::Error>(())
//! ```

use ndarray::{Array1, Array2, ArrayView2};

use crate::binary::{self, check_queries, check_states, Recall, RecallOptions, Update};
use crate::device::{Backend, Device};
use crate::error::{Error, Result};
use crate::gpu::dense::DenseGpu;

/// The interaction function F of a dense associative memory.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Interaction {
    /// F(z) = zⁿ (n ≥ 1; n = 2 is the classical network).
    Polynomial(u32),
    /// F(z) = max(z, 0)ⁿ (n ≥ 1).
    RectifiedPolynomial(u32),
    /// F(z) = exp(βz) (β > 0), computed relative to the largest overlap so it never overflows.
    Exponential {
        /// Inverse temperature.
        beta: f32,
    },
}

/// Largest |F| the polynomial fields may reach: they are summed in f32 on a GPU.
const FIELD_LIMIT: f64 = 1e37;

impl Interaction {
    /// F(z), in f64.
    ///
    /// ```
    /// use hopfield::dense::Interaction;
    /// assert_eq!(Interaction::Polynomial(3).apply(-2.0), -8.0);
    /// assert_eq!(Interaction::RectifiedPolynomial(3).apply(-2.0), 0.0);
    /// ```
    pub fn apply(&self, z: f64) -> f64 {
        match *self {
            Interaction::Polynomial(n) => z.powi(n as i32),
            Interaction::RectifiedPolynomial(n) => z.max(0.0).powi(n as i32),
            Interaction::Exponential { beta } => (f64::from(beta) * z).exp(),
        }
    }

    fn validate(&self, n: usize, dim: usize) -> Result<()> {
        match *self {
            Interaction::Polynomial(p) | Interaction::RectifiedPolynomial(p) => {
                if p == 0 {
                    return Err(Error::InvalidOptions(
                        "a polynomial interaction needs a power n >= 1".into(),
                    ));
                }
                let reach = n as f64 * (dim as f64 + 1.0).powi(p as i32);
                if reach > FIELD_LIMIT {
                    return Err(Error::InvalidOptions(format!(
                        "fields of F(z) = z^{p} over {n} patterns of dimension {dim} could reach \
                         {reach:e}, past the f32 range the GPU sums in"
                    )));
                }
                Ok(())
            }
            Interaction::Exponential { beta } if !(beta.is_finite() && beta > 0.0) => {
                Err(Error::InvalidBeta(beta))
            }
            Interaction::Exponential { .. } => Ok(()),
        }
    }

    /// What the kernels' parameter block calls this interaction: (kind, power, β).
    pub(crate) fn code(&self) -> (u32, u32, f32) {
        match *self {
            Interaction::Polynomial(n) => (0, n, 0.0),
            Interaction::RectifiedPolynomial(n) => (1, n, 0.0),
            Interaction::Exponential { beta } => (2, 0, beta),
        }
    }
}

/// A dense associative memory on a [`Device`].
pub struct Dense {
    interaction: Interaction,
    /// N×d, every entry ±1.
    patterns: Array2<f32>,
    engine: Engine,
}

/// Where the recalls run: the host, or a GPU holding the patterns.
enum Engine {
    Cpu,
    Gpu(DenseGpu),
}

impl Dense {
    /// Stores `patterns` (N×d, ±1, N ≥ 1) with interaction F on `device`.
    pub fn new(
        device: &Device,
        patterns: ArrayView2<f32>,
        interaction: Interaction,
    ) -> Result<Dense> {
        check_states("patterns", patterns)?;
        if patterns.nrows() == 0 {
            return Err(Error::EmptyMemory);
        }
        interaction.validate(patterns.nrows(), patterns.ncols())?;
        let patterns = patterns.as_standard_layout().into_owned();
        let engine = match &device.backend {
            Backend::Cpu => Engine::Cpu,
            Backend::Gpu(ctx) => Engine::Gpu(DenseGpu::new(ctx, patterns.view())?),
        };
        Ok(Dense {
            interaction,
            patterns,
            engine,
        })
    }

    /// Neurons d.
    pub fn dim(&self) -> usize {
        self.patterns.ncols()
    }

    /// The stored patterns (N×d).
    pub fn patterns(&self) -> ArrayView2<'_, f32> {
        self.patterns.view()
    }

    /// The interaction F.
    pub fn interaction(&self) -> Interaction {
        self.interaction
    }

    /// E(σ) = −Σ_μ F(ξ_μ·σ) of each row of `states` (±1, B×d), in f64. For the exponential
    /// interaction this overflows to −∞ once β·d passes ~709.
    pub fn energy(&self, states: ArrayView2<f32>) -> Result<Array1<f64>> {
        check_queries(states, self.dim())?;
        Ok(states
            .rows()
            .into_iter()
            .map(|s| self.energy_of(&s.to_vec()))
            .collect())
    }

    fn energy_of(&self, s: &[f32]) -> f64 {
        -self
            .overlaps(s)
            .iter()
            .map(|&m| self.interaction.apply(f64::from(m)))
            .sum::<f64>()
    }

    /// m_μ = ξ_μ·σ: integers, exact.
    fn overlaps(&self, s: &[f32]) -> Vec<i32> {
        self.patterns
            .rows()
            .into_iter()
            .map(|x| x.iter().zip(s).map(|(&a, &b)| (a * b) as i32).sum())
            .collect()
    }

    /// The sign-deciding field of neuron l given the overlaps `m` of a state with σ_l =
    /// `current`; for the exponential, scaled by exp(−β·shift) with shift = max a_μ + 1.
    fn field(&self, m: &[i32], l: usize, current: f32) -> f64 {
        let c = current as i32;
        let column = self.patterns.column(l);
        let without = |mu: usize| m[mu] - c * column[mu] as i32;
        let shift = match self.interaction {
            Interaction::Exponential { .. } => (0..m.len()).map(without).max().unwrap_or(0) + 1,
            _ => 0,
        };
        (0..m.len())
            .map(|mu| {
                let (a, x) = (without(mu) - shift, column[mu] as i32);
                self.interaction.apply(f64::from(a + x)) - self.interaction.apply(f64::from(a - x))
            })
            .sum()
    }

    /// Updates each query (a row of `queries`, B×d, ±1) until a sweep changes nothing or the
    /// sweep limit, and returns the final states with their energies.
    pub fn recall(&self, queries: ArrayView2<f32>, opts: &RecallOptions) -> Result<Recall> {
        opts.validate(queries.nrows(), self.dim())?;
        check_queries(queries, self.dim())?;
        let swept = match &self.engine {
            Engine::Gpu(gpu) => binary::on_device(queries, |q| {
                crate::wait::now(
                    "dense::Dense::recall",
                    gpu.recall(q, self.interaction, opts),
                )
            })?,
            Engine::Cpu => self.recall_on_host(queries, opts),
        };
        Ok(binary::with_energy(swept, |s| self.energy_of(s)))
    }

    fn recall_on_host(&self, queries: ArrayView2<f32>, opts: &RecallOptions) -> binary::Swept {
        let d = self.dim();
        binary::recall_on_host(queries, opts, |state, clamped, sweep| {
            let mut m = self.overlaps(state);
            let mut changed = false;
            match opts.update {
                Update::Synchronous => {
                    let free = state.iter_mut().zip(clamped).enumerate();
                    for (l, (s, _)) in free.filter(|(_, (_, &c))| !c) {
                        let next = binary::sign(self.field(&m, l, *s), *s);
                        changed |= next != *s;
                        *s = next;
                    }
                }
                Update::Asynchronous { seed } => {
                    for l in binary::sweep_order(seed, sweep, d) {
                        let l = l as usize;
                        if clamped[l] {
                            continue;
                        }
                        let next = binary::sign(self.field(&m, l, state[l]), state[l]);
                        if next != state[l] {
                            changed = true;
                            state[l] = next;
                            for (mu, x) in self.patterns.column(l).iter().enumerate() {
                                m[mu] += 2 * next as i32 * *x as i32;
                            }
                        }
                    }
                }
            }
            changed
        })
    }
}
