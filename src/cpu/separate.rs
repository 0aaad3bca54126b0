//! The separations other than softmax on one row of f32 scores, in place. Scores and weights
//! are f32 as on the rest of the CPU path, but thresholds and sums are found in f64: a host
//! core pays nothing for it, and τ found in f32 would put scores within 1e-7·|z| of it on the
//! wrong side of the support far more often.
//!
//! Sparsemax and entmax find τ without sorting, as a GPU would have to: bisection on τ over
//! the row (each pass is O(N)), then for sparsemax an exact finish (Michelot 1986): from a
//! support known to contain the true one, τ = (Σ_S z − 1)/|S| and S shrinks to {z > τ} until
//! it stops changing.

use crate::Separation;

/// Bisection passes for sparsemax before the exact finish: the interval starts at most 1 wide,
/// so 2⁻⁴⁰ leaves at most the scores within 1e-12 of τ to be dropped by the finish.
const SPARSEMAX_BISECTIONS: usize = 40;
/// Passes that take entmax's τ to f64 resolution (the interval starts at most 1 wide).
const ENTMAX_BISECTIONS: usize = 64;

/// Replaces the scores `z` with the weights of `sep` (not softmax: the fused and GEMM paths
/// have their own) and returns the conjugate Ψ*(z), the energy's score term.
pub(crate) fn apply(sep: Separation, z: &mut [f32]) -> f32 {
    match sep.canonical() {
        Separation::Sparsemax => sparsemax(z),
        Separation::Entmax(alpha) => entmax(z, f64::from(alpha)),
        Separation::Softmax1 => softmax1(z),
        Separation::TopK(k) => top_k(z, k),
        Separation::Softmax => unreachable!("softmax rows are normalised by the caller"),
    }
}

fn max(z: &[f32]) -> f64 {
    f64::from(z.iter().copied().fold(f32::NEG_INFINITY, f32::max))
}

/// τ with Σ [yᵢ − τ]₊^power = 1, bisected `passes` times from [max − 1, max − N^{−1/power}],
/// where the sum is ≥ 1 and ≤ 1 (see `reference::separations::entmax`). Returns the lower
/// end, where the sum is still ≥ 1, so the support found contains the true one.
fn bisect(y: impl Fn(usize) -> f64, n: usize, top: f64, power: f64, passes: usize) -> f64 {
    let term = |v: f64| if power == 1.0 { v } else { v.powf(power) };
    let (mut lo, mut hi) = (top - 1.0, top - (n as f64).powf(-1.0 / power));
    for _ in 0..passes {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        let mass: f64 = (0..n).map(|i| term((y(i) - mid).max(0.0))).sum();
        if mass >= 1.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    lo
}

/// [z − τ]₊ with τ exact for the f32 scores; Ψ* = pᵀz − ½‖p‖² + ½.
fn sparsemax(z: &mut [f32]) -> f32 {
    let n = z.len();
    let mut tau = bisect(|i| f64::from(z[i]), n, max(z), 1.0, SPARSEMAX_BISECTIONS);
    loop {
        let (count, sum) = z
            .iter()
            .map(|&v| f64::from(v))
            .filter(|&v| v > tau)
            .fold((0usize, 0.0), |(c, s), v| (c + 1, s + v));
        let next = (sum - 1.0) / count as f64;
        // τ only grows as S shrinks, and S cannot empty: its largest score exceeds τ by ≥ 1/|S|.
        if next <= tau {
            break;
        }
        tau = next;
    }
    let (mut dot, mut sq) = (0.0, 0.0);
    for v in z.iter_mut() {
        let p = (f64::from(*v) - tau).max(0.0);
        dot += p * f64::from(*v);
        sq += p * p;
        *v = p as f32;
    }
    (dot - 0.5 * sq + 0.5) as f32
}

/// [(α−1)z − τ]₊^{1/(α−1)}, divided by its sum; Ψ* = pᵀz + (1 − Σ p^α)/(α(α−1)).
fn entmax(z: &mut [f32], alpha: f64) -> f32 {
    let scale = alpha - 1.0;
    let power = 1.0 / scale;
    let tau = bisect(
        |i| scale * f64::from(z[i]),
        z.len(),
        scale * max(z),
        power,
        ENTMAX_BISECTIONS,
    );
    let weight = |v: f32| {
        let t = (scale * f64::from(v) - tau).max(0.0);
        // α = 1.5, the common choice, squares instead of calling powf.
        if power == 2.0 {
            t * t
        } else {
            t.powf(power)
        }
    };
    let total: f64 = z.iter().map(|&v| weight(v)).sum();
    let (mut dot, mut pow_sum) = (0.0, 0.0);
    for v in z.iter_mut() {
        let p = weight(*v) / total;
        dot += p * f64::from(*v);
        pow_sum += p.powf(alpha);
        *v = p as f32;
    }
    (dot + (1.0 - pow_sum) / (alpha * scale)) as f32
}

/// Softmax₁ from a fused softmax step's states `out` (B×d, `d` per row, when given) and
/// log-sum-exps `lse`, in place: the extra zero score takes 1/(1 + e^lse) of the weight, so
/// softmax₁(z) = σ(lse)·softmax(z), every state scales by the logistic σ(lse), and
/// Ψ* = ln(1 + e^lse), the softplus of lse. Both in f64, in their stable forms. Returns each
/// row's σ(lse), which scales any of its softmax weights the same way.
pub(crate) fn softmax1_of(out: Option<&mut [f32]>, lse: &mut [f32], d: usize) -> Vec<f64> {
    let scales: Vec<f64> = lse
        .iter()
        .map(|&l| 1.0 / (1.0 + (-f64::from(l)).exp()))
        .collect();
    for l in lse.iter_mut() {
        let x = f64::from(*l);
        *l = (x.max(0.0) + (-x.abs()).exp().ln_1p()) as f32;
    }
    if let Some(out) = out {
        for (row, k) in out.chunks_exact_mut(d).zip(&scales) {
            row.iter_mut().for_each(|v| *v = (f64::from(*v) * k) as f32);
        }
    }
    scales
}

/// exp(zᵢ − m) / (exp(−m) + Σ exp(zⱼ − m)), m = max(max z, 0); Ψ* = m + ln(that denominator).
fn softmax1(z: &mut [f32]) -> f32 {
    let m = max(z).max(0.0);
    let mut den = (-m).exp();
    for v in z.iter_mut() {
        let e = (f64::from(*v) - m).exp();
        den += e;
        *v = e as f32;
    }
    let k = 1.0 / den;
    for v in z.iter_mut() {
        *v = (f64::from(*v) * k) as f32;
    }
    (m + den.ln()) as f32
}

/// Softmax over the k largest scores (ties to the lower index), 0 elsewhere; Ψ* = their lse.
fn top_k(z: &mut [f32], k: usize) -> f32 {
    let mut order: Vec<usize> = (0..z.len()).collect();
    let cmp = |&i: &usize, &j: &usize| z[j].total_cmp(&z[i]).then(i.cmp(&j));
    if k < order.len() {
        order.select_nth_unstable_by(k - 1, cmp);
        order.truncate(k);
    }
    let m = order
        .iter()
        .map(|&i| f64::from(z[i]))
        .fold(f64::NEG_INFINITY, f64::max);
    let kept: Vec<(usize, f64)> = order
        .iter()
        .map(|&i| (i, (f64::from(z[i]) - m).exp()))
        .collect();
    let den: f64 = kept.iter().map(|&(_, e)| e).sum();
    z.fill(0.0);
    for (i, e) in kept {
        z[i] = (e / den) as f32;
    }
    (m + den.ln()) as f32
}
