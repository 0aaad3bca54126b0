//! What the theory of the continuous modern Hopfield network (Ramsauer et al. 2020; THEORY.md)
//! says about a memory and a retrieval, as numbers a program can check: which kind of fixed
//! point a query reached, how well separated a pattern is, Theorem 5's error bound after one
//! update, Theorem 3's storage capacity, and a β chosen from them ([`suggest_beta`]).
//!
//! ```
//! use hopfield::diagnostics::{separation, well_separated};
//! use ndarray::array;
//! let x = array![[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]];
//! assert_eq!(separation(x.view(), 0)?, 1.0);           // x₀ᵀx₀ − max_j x₀ᵀx_j
//! assert!(well_separated(x.view(), 0, 20.0)?);
//! assert!(!well_separated(x.view(), 0, 1.0)?);
//! # Ok::<(), hopfield::Error>(())
//! ```

use ndarray::{ArrayView1, ArrayView2};

mod beta;
pub use beta::{separations, suggest_beta, BetaAdvice, Spread, Suggestion};

use crate::error::{Error, Result};
use crate::Retrieval;

/// The kind of fixed point a retrieval's state is near, read from its attention weights.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum FixedPoint {
    /// The weight is concentrated on one pattern: the state is (close to) that pattern.
    Single {
        /// Index of the pattern.
        pattern: usize,
    },
    /// The weight is spread over a group of patterns, strongest first: a metastable state
    /// near the group's weighted mean.
    Metastable {
        /// The patterns of the group (as many as the effective number of patterns, rounded).
        patterns: Vec<usize>,
    },
    /// The weight is spread over (nearly) all patterns: the global fixed point near their mean.
    Global,
    /// Most of the weight is on no pattern at all: softmax₁'s "no-op" memory
    /// ([`Separation::Softmax1`](crate::Separation::Softmax1)), whose weights sum to less than
    /// one, retrieved (nearly) nothing, and the state is near zero.
    Nothing,
}

/// Below this effective number of patterns a state is a single pattern's.
pub const SINGLE_BELOW: f64 = 1.5;
/// From this fraction of N effective patterns up, a state is the global average.
pub const GLOBAL_FROM: f64 = 0.5;
/// Below this total weight (possible for softmax₁ only) a state retrieved nothing.
pub const NOTHING_BELOW: f64 = 0.5;

/// exp(entropy) of a weights row (a probability vector over the N patterns): 1 when one
/// pattern takes all the weight, N when all weigh the same.
///
/// ```
/// use hopfield::diagnostics::effective_patterns;
/// assert!((effective_patterns(ndarray::array![0.25, 0.25, 0.25, 0.25].view()) - 4.0).abs() < 1e-6);
/// assert!((effective_patterns(ndarray::array![1.0, 0.0, 0.0].view()) - 1.0).abs() < 1e-12);
/// ```
pub fn effective_patterns(weights: ArrayView1<f32>) -> f64 {
    let entropy: f64 = weights
        .iter()
        .map(|&p| f64::from(p))
        .filter(|&p| p > 0.0)
        .map(|p| -p * p.ln())
        .sum();
    entropy.exp()
}

/// The kind of fixed point one row of attention weights describes: [`FixedPoint::Nothing`]
/// where the weights sum to less than [`NOTHING_BELOW`] (softmax₁), and otherwise, of the
/// weights divided by their sum, [`FixedPoint::Single`] below [`SINGLE_BELOW`] effective
/// patterns, [`FixedPoint::Global`] from [`GLOBAL_FROM`]·N up, and otherwise
/// [`FixedPoint::Metastable`] with the round(effective) strongest patterns. It reads the
/// weights of any [`Separation`](crate::Separation): a sparse rule's zeros count for nothing.
///
/// ```
/// use hopfield::diagnostics::{fixed_point, FixedPoint};
/// use ndarray::array;
/// assert_eq!(fixed_point(array![0.01, 0.98, 0.01, 0.0].view()), FixedPoint::Single { pattern: 1 });
/// assert_eq!(
///     fixed_point(array![0.48, 0.01, 0.5, 0.01, 0.0, 0.0].view()),
///     FixedPoint::Metastable { patterns: vec![2, 0] }
/// );
/// assert_eq!(fixed_point(array![0.3, 0.3, 0.4].view()), FixedPoint::Global);
/// assert_eq!(fixed_point(array![0.01, 0.02, 0.01].view()), FixedPoint::Nothing);
/// ```
pub fn fixed_point(weights: ArrayView1<f32>) -> FixedPoint {
    let n = weights.len();
    let mass: f64 = weights.iter().map(|&p| f64::from(p)).sum();
    if mass < NOTHING_BELOW {
        return FixedPoint::Nothing;
    }
    let normalised = weights.mapv(|p| (f64::from(p) / mass) as f32);
    let effective = effective_patterns(normalised.view());
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_by(|&i, &j| weights[j].total_cmp(&weights[i]).then(i.cmp(&j)));
    if effective < SINGLE_BELOW {
        FixedPoint::Single { pattern: order[0] }
    } else if effective >= GLOBAL_FROM * n as f64 {
        FixedPoint::Global
    } else {
        order.truncate(effective.round() as usize);
        FixedPoint::Metastable { patterns: order }
    }
}

impl Retrieval {
    /// The kind of fixed point each query's state is near ([`fixed_point`] of its weights
    /// row); `None` unless the weights were asked for
    /// ([`RetrieveOptions::with_weights`](crate::RetrieveOptions::with_weights)).
    pub fn fixed_points(&self) -> Option<Vec<FixedPoint>> {
        let w = self.weights.as_ref()?;
        Some(w.rows().into_iter().map(fixed_point).collect())
    }
}

fn dot(a: ArrayView1<f32>, b: ArrayView1<f32>) -> f64 {
    a.iter()
        .zip(b)
        .map(|(&x, &y)| f64::from(x) * f64::from(y))
        .sum()
}

fn check_pattern(patterns: ArrayView2<f32>, i: usize) -> Result<()> {
    if patterns.nrows() < 2 {
        return Err(Error::InvalidOptions(format!(
            "separation needs at least 2 patterns, got {}",
            patterns.nrows()
        )));
    }
    if i >= patterns.nrows() {
        return Err(Error::IndexOutOfRange {
            index: i,
            len: patterns.nrows(),
        });
    }
    check_finite_patterns(patterns)
}

fn check_finite_patterns(patterns: ArrayView2<f32>) -> Result<()> {
    let data: Vec<f32> = patterns.iter().copied().collect();
    crate::error::check_finite("patterns", &data, patterns.ncols().max(1))
}

fn check_beta(beta: f64) -> Result<()> {
    if !(beta.is_finite() && beta > 0.0) {
        return Err(Error::InvalidBeta(beta as f32));
    }
    Ok(())
}

/// Separation of pattern i: Δ_i = x_iᵀx_i − max_{j≠i} x_iᵀx_j (patterns are the rows, N ≥ 2).
pub fn separation(patterns: ArrayView2<f32>, i: usize) -> Result<f64> {
    check_pattern(patterns, i)?;
    let xi = patterns.row(i);
    let nearest = (0..patterns.nrows())
        .filter(|&j| j != i)
        .map(|j| dot(xi, patterns.row(j)))
        .fold(f64::NEG_INFINITY, f64::max);
    Ok(dot(xi, xi) - nearest)
}

/// M = max_i ‖x_i‖.
fn largest_norm(patterns: ArrayView2<f32>) -> f64 {
    patterns
        .rows()
        .into_iter()
        .map(|x| dot(x, x).sqrt())
        .fold(0.0, f64::max)
}

/// The separation Theorems 4–5 need at inverse temperature β:
/// 2/(βN) + β⁻¹ ln(2(N−1)NβM²).
pub fn separation_needed(n: usize, beta: f64, max_norm: f64) -> f64 {
    let n = n as f64;
    2.0 / (beta * n) + (2.0 * (n - 1.0) * n * beta * max_norm * max_norm).ln() / beta
}

/// Whether pattern i is well separated at β: Δ_i ≥ [`separation_needed`]. Then the ball
/// S_i = {ξ : ‖ξ − x_i‖ ≤ 1/(βNM)} is mapped into itself and holds a fixed point x_i*.
pub fn well_separated(patterns: ArrayView2<f32>, i: usize, beta: f64) -> Result<bool> {
    check_beta(beta)?;
    let delta = separation(patterns, i)?;
    Ok(delta >= separation_needed(patterns.nrows(), beta, largest_norm(patterns)))
}

/// Theorem 5's bound on ‖f(ξ) − x_i‖ after one update from `query` ξ ∈ S_i:
/// 2(N−1) exp(−β(Δ_i − 2 max{‖ξ − x_i‖, ‖x_i* − x_i‖} M)) M, with the unknown fixed point's
/// distance ‖x_i* − x_i‖ replaced by the radius of S_i, 1/(βNM), which bounds it.
///
/// Fails with [`Error::InvalidOptions`] if pattern i is not well separated or ξ is outside
/// S_i, where the theorem says nothing.
pub fn theorem5_bound(
    patterns: ArrayView2<f32>,
    i: usize,
    query: ArrayView1<f32>,
    beta: f64,
) -> Result<f64> {
    if query.len() != patterns.ncols() {
        return Err(Error::DimensionMismatch {
            what: "query",
            expected: patterns.ncols(),
            got: query.len(),
        });
    }
    if !well_separated(patterns, i, beta)? {
        return Err(Error::InvalidOptions(format!(
            "pattern {i} is not well separated at beta = {beta}: Theorem 5 does not apply"
        )));
    }
    let n = patterns.nrows() as f64;
    let m = largest_norm(patterns);
    let radius = 1.0 / (beta * n * m);
    let dist = query
        .iter()
        .zip(patterns.row(i))
        .map(|(&a, &b)| (f64::from(a) - f64::from(b)).powi(2))
        .sum::<f64>()
        .sqrt();
    if dist > radius {
        return Err(Error::InvalidOptions(format!(
            "the query is {dist:e} from pattern {i}, outside the ball S_i of radius {radius:e}"
        )));
    }
    let delta = separation(patterns, i)?;
    Ok(2.0 * (n - 1.0) * (-beta * (delta - 2.0 * dist.max(radius) * m)).exp() * m)
}

/// Theorem 3's storage capacity, for patterns uniform on the sphere of radius M = K√(d−1).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Capacity {
    /// c = b / W₀(exp(a + ln b)), a = 2/(d−1)·(1 + ln(2βK²p(d−1))), b = 2K²β/5.
    pub c: f64,
    /// √p · c^{(d−1)/4}: with probability 1 − p at least this many patterns are stored and
    /// retrievable (when [`assumption_holds`](Self::assumption_holds)).
    pub patterns: f64,
    /// Whether c ≥ (2/√p)^{4/(d−1)}, the theorem's condition.
    pub assumption_holds: bool,
}

/// Theorem 3 at inverse temperature `beta`, radius factor `k`, dimension `d` (≥ 2) and
/// failure probability `p` in (0, 1).
///
/// ```
/// let cap = hopfield::diagnostics::capacity(1.0, 3.0, 20, 0.001)?;
/// assert!((cap.c - 3.1546).abs() < 1e-4);   // the paper's worked value
/// # Ok::<(), hopfield::Error>(())
/// ```
pub fn capacity(beta: f64, k: f64, d: usize, p: f64) -> Result<Capacity> {
    check_beta(beta)?;
    if !(k.is_finite() && k > 0.0) {
        return Err(Error::InvalidOptions(format!(
            "K must be finite and > 0, got {k}"
        )));
    }
    if d < 2 {
        return Err(Error::InvalidOptions(format!(
            "Theorem 3 needs d >= 2, got {d}"
        )));
    }
    if !(p > 0.0 && p < 1.0) {
        return Err(Error::InvalidOptions(format!(
            "p must lie in (0, 1), got {p}"
        )));
    }
    let dm1 = d as f64 - 1.0;
    let a = 2.0 / dm1 * (1.0 + (2.0 * beta * k * k * p * dm1).ln());
    let b = 2.0 * k * k * beta / 5.0;
    let c = b / lambert_w0_of_exp(a + b.ln());
    Ok(Capacity {
        c,
        patterns: p.sqrt() * c.powf(dm1 / 4.0),
        assumption_holds: c >= (2.0 / p.sqrt()).powf(4.0 / dm1),
    })
}

/// The principal branch W₀ of the Lambert W function (w·eʷ = x, w ≥ −1) for x ≥ −1/e; NaN
/// below. Halley's iteration from a branch-point or logarithmic start, to full f64 precision.
///
/// ```
/// use hopfield::diagnostics::lambert_w0;
/// assert!((lambert_w0(std::f64::consts::E) - 1.0).abs() < 1e-15);
/// assert!((lambert_w0(-(-1.0f64).exp()) + 1.0).abs() < 1e-7);
/// ```
pub fn lambert_w0(x: f64) -> f64 {
    let branch = -(-1.0f64).exp();
    if x.is_nan() || x < branch {
        return f64::NAN;
    }
    if x == f64::INFINITY {
        return f64::INFINITY;
    }
    if x > std::f64::consts::E {
        return lambert_w0_of_exp(x.ln());
    }
    if x == 0.0 {
        return 0.0;
    }
    // Near −1/e, W ≈ −1 + √(2(1 + e·x)); elsewhere on (−1/e, e], ln(1 + x) is close.
    let mut w = if x < -0.25 {
        -1.0 + (2.0 * (1.0 + std::f64::consts::E * x)).max(0.0).sqrt()
    } else {
        x.ln_1p()
    };
    for _ in 0..64 {
        let ew = w.exp();
        let f = w * ew - x;
        let wp1 = w + 1.0;
        if wp1.abs() < 1e-300 {
            break;
        }
        let step = f / (ew * wp1 - (w + 2.0) * f / (2.0 * wp1));
        w -= step;
        if step.abs() <= 4.0 * f64::EPSILON * (1.0 + w.abs()) {
            break;
        }
    }
    w
}

/// W₀(e^y) for any real y, without forming e^y (which overflows past y ≈ 709): solves
/// w + ln w = y by Newton's method for y > 1 (w > 1 there), and defers to [`lambert_w0`] below.
fn lambert_w0_of_exp(y: f64) -> f64 {
    if y <= 1.0 {
        return lambert_w0(y.exp());
    }
    let mut w = if y > 3.0 { y - y.ln() } else { 1.0 };
    for _ in 0..64 {
        let step = (w + w.ln() - y) / (1.0 + 1.0 / w);
        w -= step;
        if step.abs() <= 4.0 * f64::EPSILON * w.abs() {
            break;
        }
    }
    w
}
