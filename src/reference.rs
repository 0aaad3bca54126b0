//! The CPU reference in f64: short, plain and obviously right. The tests trust it, so it uses
//! loops that read like the formulas (THEORY.md), not the fast paths.
//!
//! Patterns X are N×d (one pattern per row), states Q are B×d (one state per row). The plain
//! functions are softmax retrieval; the `_with` forms take any [`Separation`], whose row
//! functions are in [`separations`].
//!
//! ```
//! use ndarray::array;
//! use hopfield::reference;
//! let x = array![[1.0, 0.0], [0.0, 1.0]];
//! let (next, w) = reference::update(x.view(), array![[0.9, 0.1]].view(), 20.0);
//! assert!(w[[0, 0]] > 0.99 && (next[[0, 0]] - w[[0, 0]]).abs() < 1e-15);
//! ```

pub mod separations;

use ndarray::{Array1, Array2, ArrayView2};

use crate::Separation;

/// Scores S = β Q Xᵀ.
pub fn scores(patterns: ArrayView2<f64>, states: ArrayView2<f64>, beta: f64) -> Array2<f64> {
    let (b, n) = (states.nrows(), patterns.nrows());
    let mut s = Array2::zeros((b, n));
    for q in 0..b {
        for i in 0..n {
            let dot: f64 = states
                .row(q)
                .iter()
                .zip(patterns.row(i))
                .map(|(a, x)| a * x)
                .sum();
            s[[q, i]] = beta * dot;
        }
    }
    s
}

/// Row-wise softmax of `s` and each row's log-sum-exp `m + ln Σ exp(s − m)`.
pub fn softmax_rows(s: ArrayView2<f64>) -> (Array2<f64>, Array1<f64>) {
    let mut p = s.to_owned();
    let mut lse = Array1::zeros(s.nrows());
    for (r, mut row) in p.rows_mut().into_iter().enumerate() {
        let m = row.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let l: f64 = row.iter().map(|v| (v - m).exp()).sum();
        row.mapv_inplace(|v| (v - m).exp() / l);
        lse[r] = m + l.ln();
    }
    (p, lse)
}

/// One update: new states `softmax(β Q Xᵀ) X` and the weights that formed them.
pub fn update(
    patterns: ArrayView2<f64>,
    states: ArrayView2<f64>,
    beta: f64,
) -> (Array2<f64>, Array2<f64>) {
    update_with(patterns, states, beta, Separation::Softmax)
}

/// Row-wise `sep` of the scores `s`, and each row's conjugate Ψ*(s) (see
/// [`separations::separate`]).
pub fn separate_rows(sep: Separation, s: ArrayView2<f64>) -> (Array2<f64>, Array1<f64>) {
    let mut p = Array2::zeros(s.dim());
    let mut conj = Array1::zeros(s.nrows());
    for (r, row) in s.rows().into_iter().enumerate() {
        let (w, c) = separations::separate(sep, &row.to_vec());
        p.row_mut(r).assign(&Array1::from(w));
        conj[r] = c;
    }
    (p, conj)
}

/// One update under `sep`: new states `sep(β Q Xᵀ) X` and the weights that formed them.
pub fn update_with(
    patterns: ArrayView2<f64>,
    states: ArrayView2<f64>,
    beta: f64,
    sep: Separation,
) -> (Array2<f64>, Array2<f64>) {
    let (p, _) = separate_rows(sep, scores(patterns, states, beta).view());
    let (b, d, n) = (states.nrows(), patterns.ncols(), patterns.nrows());
    let mut next = Array2::zeros((b, d));
    for q in 0..b {
        for k in 0..d {
            next[[q, k]] = (0..n).map(|i| p[[q, i]] * patterns[[i, k]]).sum();
        }
    }
    (next, p)
}

/// Energy E(ξ) = −lse(β, Xξ) + ½ξᵀξ + β⁻¹ ln N + ½M² of each state, M = max_i ‖x_i‖.
pub fn energy(patterns: ArrayView2<f64>, states: ArrayView2<f64>, beta: f64) -> Array1<f64> {
    energy_with(patterns, states, beta, Separation::Softmax)
}

/// Energy under `sep`: E(ξ) = −Ψ*(βXξ)/β + ½ξᵀξ + H_max/β + ½M², with Ψ* the conjugate of the
/// rule's negative entropy and H_max = [`Separation::max_entropy`] (docs/separations.md). For
/// softmax it is [`energy`].
pub fn energy_with(
    patterns: ArrayView2<f64>,
    states: ArrayView2<f64>,
    beta: f64,
    sep: Separation,
) -> Array1<f64> {
    let (_, conj) = separate_rows(sep, scores(patterns, states, beta).view());
    let shift = sep.max_entropy(patterns.nrows()) / beta;
    let m2 = patterns
        .rows()
        .into_iter()
        .map(|x| x.dot(&x))
        .fold(0.0, f64::max);
    states
        .rows()
        .into_iter()
        .zip(conj.iter())
        .map(|(q, c)| -c / beta + 0.5 * q.dot(&q) + shift + 0.5 * m2)
        .collect()
}

/// Largest |new − old| of each row.
pub fn max_change(old: ArrayView2<f64>, new: ArrayView2<f64>) -> Array1<f64> {
    old.rows()
        .into_iter()
        .zip(new.rows())
        .map(|(a, b)| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0, f64::max)
        })
        .collect()
}

/// `steps` updates from `queries`: the final states, the weights of the last step and the
/// largest change of each state in the last step.
pub fn retrieve(
    patterns: ArrayView2<f64>,
    queries: ArrayView2<f64>,
    beta: f64,
    steps: usize,
) -> (Array2<f64>, Array2<f64>, Array1<f64>) {
    retrieve_with(patterns, queries, beta, steps, Separation::Softmax)
}

/// [`retrieve`] under `sep`.
pub fn retrieve_with(
    patterns: ArrayView2<f64>,
    queries: ArrayView2<f64>,
    beta: f64,
    steps: usize,
    sep: Separation,
) -> (Array2<f64>, Array2<f64>, Array1<f64>) {
    let mut states = queries.to_owned();
    let mut weights = Array2::zeros((queries.nrows(), patterns.nrows()));
    let mut change = Array1::zeros(queries.nrows());
    for _ in 0..steps {
        let (next, w) = update_with(patterns, states.view(), beta, sep);
        change = max_change(states.view(), next.view());
        states = next;
        weights = w;
    }
    (states, weights, change)
}
