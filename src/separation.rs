//! Separation functions: how one step turns a query's scores z = βXξ into the weights p of its
//! next state ξ' = Xᵀp. Softmax is the classical modern Hopfield network; the others are the
//! sparse and generalised rules of the associative-memory work since 2023. The formulas, their
//! energies and the papers they come from are in docs/separations.md.
//!
//! ```
//! use hopfield::{Device, Memory, RetrieveOptions, Separation};
//! use ndarray::array;
//!
//! let memory = Memory::from_array(&Device::cpu(), array![[1.0, 0.0], [0.0, 1.0]].view())?;
//! let opts = RetrieveOptions::new(4.0).separation(Separation::Sparsemax).with_weights();
//! let out = memory.retrieve(array![[0.9, 0.1]].view(), &opts)?;
//! assert_eq!(out.weights.unwrap()[[0, 1]], 0.0); // sparsemax gives the far pattern no weight
//! # Ok::<(), hopfield::Error>(())
//! ```

use std::fmt;
use std::str::FromStr;

use crate::error::{Error, Result};

/// The map from a query's scores z = βXξ (one per stored pattern) to its weights.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
#[non_exhaustive]
pub enum Separation {
    /// softmax(z): every pattern gets some weight (Ramsauer et al. 2020).
    #[default]
    Softmax,
    /// sparsemax(z) = [z − τ]₊, the Euclidean projection onto the simplex: exact zeros for the
    /// patterns scoring below a threshold τ (Hu et al. 2023).
    Sparsemax,
    /// α-entmax(z) = [(α−1)z − τ]₊^{1/(α−1)} for α > 1 (Santos et al. 2024): between softmax
    /// (the limit α → 1, refused here: ask for [`Separation::Softmax`]) and sparsemax (α = 2,
    /// which is computed exactly as [`Separation::Sparsemax`]).
    Entmax(f32),
    /// softmax₁(z) = exp(zᵢ) / (1 + Σⱼ exp(zⱼ)) (Hu et al. 2024): the weights sum to less than
    /// one, so a query that matches nothing retrieves a state near zero.
    Softmax1,
    /// Softmax over the k largest scores (ties to the lower index), zero elsewhere.
    TopK(usize),
}

impl Separation {
    /// Checks the parameters against a memory of `n` patterns (what a retrieval checks before
    /// anything runs): α finite and > 1, 1 ≤ k ≤ n.
    pub fn validate(self, n: usize) -> Result<()> {
        match self {
            Separation::Entmax(alpha) if !(alpha.is_finite() && alpha > 1.0) => {
                Err(Error::InvalidOptions(format!(
                    "Separation::Entmax(α) needs a finite α > 1, got {alpha} (α = 1 is the limit \
                     Separation::Softmax)"
                )))
            }
            Separation::TopK(k) if k == 0 || k > n => Err(Error::InvalidOptions(format!(
                "Separation::TopK(k) needs 1 <= k <= N, got k = {k} with N = {n} stored patterns"
            ))),
            _ => Ok(()),
        }
    }

    /// Whether the fused kernels (online softmax, on the GPU) compute this rule: softmax, and
    /// softmax₁, whose extra score joins their log-sum-exp merge. The others need each row's
    /// scores whole, for a threshold or a selection.
    pub fn fuses(self) -> bool {
        matches!(self, Separation::Softmax | Separation::Softmax1)
    }

    /// The rule as computed: `Entmax(2)` is sparsemax, and runs its exact algorithm.
    pub(crate) fn canonical(self) -> Separation {
        match self {
            Separation::Entmax(2.0) => Separation::Sparsemax,
            other => other,
        }
    }

    /// The largest value of the rule's entropy H over the weights of `n` patterns. The energy
    /// E(ξ) = −Ψ*(βXξ)/β + ½‖ξ‖² (Ψ*(z) = max_p pᵀz + H(p)) is shifted by H_max/β + ½M², which
    /// makes it ≥ 0 for every rule (and is Ramsauer et al.'s ln(N)/β for softmax).
    pub fn max_entropy(self, n: usize) -> f64 {
        let n = n as f64;
        match self.canonical() {
            Separation::Softmax => n.ln(),
            Separation::Sparsemax => 0.5 * (1.0 - 1.0 / n),
            Separation::Entmax(alpha) => {
                let a = f64::from(alpha);
                (1.0 - n.powf(1.0 - a)) / (a * (a - 1.0))
            }
            Separation::Softmax1 => (n + 1.0).ln(),
            Separation::TopK(k) => (k as f64).ln(),
        }
    }
}

/// The spelling [`FromStr`] reads: `softmax`, `sparsemax`, `entmax:1.5`, `softmax1`, `topk:8`.
impl fmt::Display for Separation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Separation::Softmax => f.write_str("softmax"),
            Separation::Sparsemax => f.write_str("sparsemax"),
            Separation::Entmax(alpha) => write!(f, "entmax:{alpha}"),
            Separation::Softmax1 => f.write_str("softmax1"),
            Separation::TopK(k) => write!(f, "topk:{k}"),
        }
    }
}

impl FromStr for Separation {
    type Err = Error;

    /// Parses the [`Display`](fmt::Display) spelling; the parameters are checked against a
    /// memory only when a retrieval is asked for.
    fn from_str(s: &str) -> Result<Separation> {
        let bad = |why: &str| {
            Error::InvalidOptions(format!(
                "separation {s:?}: {why} (softmax, sparsemax, entmax:ALPHA, softmax1 or topk:K)"
            ))
        };
        let (name, arg) = match s.split_once(':') {
            Some((name, arg)) => (name, Some(arg)),
            None => (s, None),
        };
        match (name, arg) {
            ("softmax", None) => Ok(Separation::Softmax),
            ("sparsemax", None) => Ok(Separation::Sparsemax),
            ("softmax1", None) => Ok(Separation::Softmax1),
            ("entmax", Some(a)) => a
                .parse()
                .map(Separation::Entmax)
                .map_err(|_| bad("α is not a number")),
            ("topk", Some(k)) => k
                .parse()
                .map(Separation::TopK)
                .map_err(|_| bad("k is not a whole number")),
            ("entmax" | "topk", None) => Err(bad("it needs its parameter after a colon")),
            _ => Err(bad("unknown name or a parameter it does not take")),
        }
    }
}
