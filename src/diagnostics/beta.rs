//! Choosing β from the stored patterns' geometry (Ramsauer et al. 2020, Theorems 3–5): how far
//! apart they are, and the smallest β at which every pattern is well separated and Theorem 5's
//! bound on the error of one update from the pattern is below a tolerance; or, when the
//! patterns are not separated at all, which one and why no β helps.

use ndarray::{s, Array2, ArrayView2, Axis};

use super::{capacity, check_beta, separation_needed, Capacity};
use crate::error::{Error, Result};

/// Scores held at once while computing separations: bounds the working memory to 32 MiB.
const GRAM_BLOCK: usize = 1 << 22;

/// Smallest, median and largest of some values.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Spread {
    /// The smallest value.
    pub min: f64,
    /// The median (the mean of the middle two for an even count).
    pub median: f64,
    /// The largest value.
    pub max: f64,
}

impl Spread {
    fn of(values: &[f64]) -> Spread {
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let mid = v.len() / 2;
        let median = if v.len() % 2 == 1 {
            v[mid]
        } else {
            0.5 * (v[mid - 1] + v[mid])
        };
        Spread {
            min: v[0],
            median,
            max: v[v.len() - 1],
        }
    }
}

/// What the patterns say about β; see [`suggest_beta`].
#[derive(Clone, Debug, PartialEq)]
pub struct BetaAdvice {
    /// Number of patterns N.
    pub patterns: usize,
    /// Their dimension d.
    pub dim: usize,
    /// Their norms ‖x_i‖.
    pub norms: Spread,
    /// Their separations Δ_i = x_iᵀx_i − max_{j≠i} x_iᵀx_j.
    pub separation: Spread,
    /// The pattern with the smallest separation.
    pub least_separated: usize,
    /// The suggestion, or why there is none.
    pub beta: Suggestion,
    /// Theorem 3's capacity at the suggested β for patterns on a sphere of this dimension and
    /// the patterns' largest norm (failure probability 0.001); `None` without a β or for d < 2.
    pub capacity: Option<Capacity>,
}

/// The outcome of [`suggest_beta`].
#[derive(Clone, Debug, PartialEq)]
pub enum Suggestion {
    /// The smallest β at which every pattern is well separated and one update from any
    /// pattern lands within `tolerance · M` of it by Theorem 5 (M the largest norm).
    Beta(f64),
    /// Some pattern is not separated from its nearest rival (Δ ≤ 0: another pattern scores at
    /// least as high against it as it does itself, as a duplicate or a longer pattern in the
    /// same direction does), so no β makes it a fixed point by these theorems; retrieval from
    /// near it ends at a mixture however large β is. Removing duplicates or normalising the
    /// patterns to one norm are the usual remedies.
    NotSeparated {
        /// The pattern.
        pattern: usize,
        /// Its separation Δ ≤ 0.
        separation: f64,
    },
}

/// Every pattern's separation Δ_i = x_iᵀx_i − max_{j≠i} x_iᵀx_j, in f64 (N ≥ 2). Takes
/// N²·d multiply-adds, in blocks of the Gram matrix bounded to 32 MiB.
pub fn separations(patterns: ArrayView2<f32>) -> Result<Vec<f64>> {
    let n = patterns.nrows();
    if n < 2 {
        return Err(Error::InvalidOptions(format!(
            "separation needs at least 2 patterns, got {n}"
        )));
    }
    super::check_finite_patterns(patterns)?;
    let x: Array2<f64> = patterns.mapv(f64::from);
    let rows = (GRAM_BLOCK / n).max(1);
    let mut out = Vec::with_capacity(n);
    for start in (0..n).step_by(rows) {
        let block = x.slice(s![start..(start + rows).min(n), ..]);
        let gram = block.dot(&x.t());
        for (r, row) in gram.axis_iter(Axis(0)).enumerate() {
            let i = start + r;
            let rival = row
                .iter()
                .enumerate()
                .filter(|&(j, _)| j != i)
                .map(|(_, &v)| v)
                .fold(f64::NEG_INFINITY, f64::max);
            out.push(row[i] - rival);
        }
    }
    Ok(out)
}

/// The smallest β at which every pattern is well separated (Δ_i ≥ [`separation_needed`]) and
/// Theorem 5's bound on the error of one update from any pattern, 2(N−1)·e^{−β Δ + 2/N}·M
/// (the query at the pattern, the fixed point within the ball S_i), is at most
/// `tolerance · M`; with the norms, the separations and Theorem 3's capacity at that β. A
/// pattern with Δ ≤ 0 gives [`Suggestion::NotSeparated`] instead.
///
/// The theorems are sufficient conditions: retrieval often works at smaller β, never
/// reliably where they say the patterns are not separated.
///
/// ```
/// use hopfield::diagnostics::{suggest_beta, Suggestion};
/// let x = ndarray::Array2::<f32>::eye(8);                         // orthonormal: Δ = 1
/// let advice = suggest_beta(x.view(), 1e-3)?;
/// let Suggestion::Beta(beta) = advice.beta else { panic!("separated") };
/// assert!(beta > 5.0 && beta < 20.0);
/// # Ok::<(), hopfield::Error>(())
/// ```
pub fn suggest_beta(patterns: ArrayView2<f32>, tolerance: f64) -> Result<BetaAdvice> {
    if !(tolerance > 0.0 && tolerance < 1.0) {
        return Err(Error::InvalidOptions(format!(
            "the tolerance must lie in (0, 1), got {tolerance}"
        )));
    }
    let deltas = separations(patterns)?;
    let (n, d) = patterns.dim();
    let norms: Vec<f64> = patterns
        .rows()
        .into_iter()
        .map(|x| x.iter().map(|&v| f64::from(v).powi(2)).sum::<f64>().sqrt())
        .collect();
    let norms = Spread::of(&norms);
    let least_separated = (0..n)
        .min_by(|&a, &b| deltas[a].total_cmp(&deltas[b]))
        .unwrap_or(0);
    let worst = deltas[least_separated];
    let beta = if worst <= 0.0 {
        Suggestion::NotSeparated {
            pattern: least_separated,
            separation: worst,
        }
    } else {
        Suggestion::Beta(smallest_beta(n, worst, norms.max, tolerance))
    };
    let capacity = match beta {
        Suggestion::Beta(b) if d >= 2 => {
            let k = norms.max / ((d - 1) as f64).sqrt();
            Some(capacity(b, k, d, 1e-3)?)
        }
        _ => None,
    };
    Ok(BetaAdvice {
        patterns: n,
        dim: d,
        norms,
        separation: Spread::of(&deltas),
        least_separated,
        beta,
        capacity,
    })
}

/// The smallest β with both conditions for the least separated pattern, of separation
/// `delta` (positive) with `m` the largest norm: the error condition in closed form, then, if
/// the pattern is not yet well separated there, doubling and bisection on the separation
/// condition (whose right-hand side falls as β grows in this range).
fn smallest_beta(n: usize, delta: f64, m: f64, tolerance: f64) -> f64 {
    let nf = n as f64;
    let for_error = ((2.0 * (nf - 1.0) / tolerance).ln() + 2.0 / nf) / delta;
    let separated = |beta: f64| delta >= separation_needed(n, beta, m);
    if separated(for_error) {
        return for_error;
    }
    let (mut lo, mut hi) = (for_error, for_error * 2.0);
    // Δ > 0 and the needed separation tends to 0 as β grows: a finite β passes.
    while !separated(hi) {
        lo = hi;
        hi *= 2.0;
    }
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if separated(mid) {
            hi = mid;
        } else {
            lo = mid;
        }
        if hi - lo <= 1e-12 * hi {
            break;
        }
    }
    debug_assert!(check_beta(hi).is_ok());
    hi
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Brute force: the separations match `separation` one pattern at a time, across blocks.
    #[test]
    fn separations_match_the_definition() {
        let x = Array2::from_shape_fn((37, 5), |(i, j)| ((i * 7 + j * 3) % 11) as f32 - 5.0);
        let all = separations(x.view()).unwrap();
        for (i, &d) in all.iter().enumerate() {
            assert_eq!(d, super::super::separation(x.view(), i).unwrap());
        }
    }

    /// At the suggested β both conditions hold, and just below it one fails.
    #[test]
    fn the_suggestion_is_the_smallest() {
        for (n, delta, m, tol) in [
            (8, 1.0, 1.0, 1e-3),
            (1000, 0.05, 3.0, 1e-6),
            (2, 2.0, 1.5, 0.1),
        ] {
            let beta = smallest_beta(n, delta, m, tol);
            let nf = n as f64;
            let error = |b: f64| 2.0 * (nf - 1.0) * (-b * delta + 2.0 / nf).exp();
            let ok = |b: f64| error(b) <= tol * (1.0 + 1e-9) && delta >= separation_needed(n, b, m);
            assert!(ok(beta), "{n} {delta} {m} {tol}: β = {beta}");
            assert!(
                !ok(beta * (1.0 - 1e-6)),
                "{n} {delta} {m} {tol}: β = {beta}"
            );
        }
    }
}
