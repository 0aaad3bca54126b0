//! The separation functions in f64, one score row at a time, written to be checked by eye
//! against docs/separations.md: sparsemax by sorting, α-entmax by bisection on τ until the
//! interval stops shrinking in f64.

use crate::Separation;

/// The weights of one row of scores `z` under `sep`, and the conjugate Ψ*(z) = pᵀz + H(p) at
/// those weights (the log-sum-exp for softmax), whose −1/β times is the energy's score term.
pub fn separate(sep: Separation, z: &[f64]) -> (Vec<f64>, f64) {
    match sep.canonical() {
        Separation::Softmax => (softmax(z), lse(z)),
        Separation::Softmax1 => {
            let mut with_zero = z.to_vec();
            with_zero.push(0.0);
            (softmax1(z), lse(&with_zero))
        }
        Separation::TopK(k) => {
            let p = top_k_softmax(z, k);
            let top: Vec<f64> = top_k_indices(z, k).iter().map(|&i| z[i]).collect();
            (p, lse(&top))
        }
        Separation::Sparsemax => {
            let (p, _) = sparsemax(z);
            let conj = dot(&p, z) - 0.5 * dot(&p, &p) + 0.5;
            (p, conj)
        }
        Separation::Entmax(alpha) => {
            let a = f64::from(alpha);
            let (p, _) = entmax(z, a);
            let tsallis = (1.0 - p.iter().map(|v| v.powf(a)).sum::<f64>()) / (a * (a - 1.0));
            let conj = dot(&p, z) + tsallis;
            (p, conj)
        }
    }
}

/// Where the support ends, in score units: the weight of pattern i is 0 exactly when zᵢ ≤ τ
/// (sparsemax, entmax), or when zᵢ ranks below k (top-k: τ is then the k-th largest score).
/// `None` for the rules that give every pattern weight.
pub fn threshold(sep: Separation, z: &[f64]) -> Option<f64> {
    match sep.canonical() {
        Separation::Sparsemax => Some(sparsemax(z).1),
        Separation::Entmax(alpha) => {
            let a = f64::from(alpha);
            Some(entmax(z, a).1 / (a - 1.0))
        }
        Separation::TopK(k) => top_k_indices(z, k).last().map(|&i| z[i]),
        _ => None,
    }
}

/// max + ln Σ exp(z − max).
pub fn lse(z: &[f64]) -> f64 {
    let m = z.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln()
}

/// exp(zᵢ) / Σ exp(zⱼ).
pub fn softmax(z: &[f64]) -> Vec<f64> {
    let l = lse(z);
    z.iter().map(|v| (v - l).exp()).collect()
}

/// exp(zᵢ) / (1 + Σ exp(zⱼ)): the softmax over z and one more score fixed at 0, whose weight
/// is dropped. Shifting by max(max z, 0) keeps every exponent ≤ 0.
pub fn softmax1(z: &[f64]) -> Vec<f64> {
    let m = z.iter().cloned().fold(0.0, f64::max);
    let den = (-m).exp() + z.iter().map(|v| (v - m).exp()).sum::<f64>();
    z.iter().map(|v| (v - m).exp() / den).collect()
}

/// The indices of the k largest scores, largest first, ties to the lower index.
pub fn top_k_indices(z: &[f64], k: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..z.len()).collect();
    order.sort_by(|&i, &j| z[j].total_cmp(&z[i]).then(i.cmp(&j)));
    order.truncate(k);
    order
}

/// Softmax over the k largest scores, zero elsewhere.
pub fn top_k_softmax(z: &[f64], k: usize) -> Vec<f64> {
    let top = top_k_indices(z, k);
    let l = lse(&top.iter().map(|&i| z[i]).collect::<Vec<_>>());
    let mut p = vec![0.0; z.len()];
    for i in top {
        p[i] = (z[i] - l).exp();
    }
    p
}

/// sparsemax(z) = [z − τ]₊ and τ, by sorting (Martins & Astudillo 2016, Algorithm 1): the
/// support is the largest k with 1 + k·z₍ₖ₎ > Σ_{j≤k} z₍ⱼ₎, and τ = (Σ_{j≤k} z₍ⱼ₎ − 1)/k.
pub fn sparsemax(z: &[f64]) -> (Vec<f64>, f64) {
    let mut sorted = z.to_vec();
    sorted.sort_by(|a, b| b.total_cmp(a));
    let (mut sum, mut tau) = (0.0, 0.0);
    for (k, &v) in sorted.iter().enumerate() {
        sum += v;
        let k = (k + 1) as f64;
        if 1.0 + k * v > sum {
            tau = (sum - 1.0) / k;
        }
    }
    (z.iter().map(|v| (v - tau).max(0.0)).collect(), tau)
}

/// α-entmax(z) = [(α−1)z − τ]₊^{1/(α−1)} and τ, for α > 1. The sum is decreasing in τ, ≥ 1 at
/// τ = max − 1 (the largest term alone is 1) and ≤ 1 at τ = max − N^{1−α} (each term ≤ 1/N),
/// so bisection between them runs until the midpoint equals an end. The weights are divided by
/// their sum, as the `entmax` package's `entmax_bisect` does, so they sum to 1 to rounding.
pub fn entmax(z: &[f64], alpha: f64) -> (Vec<f64>, f64) {
    let y: Vec<f64> = z.iter().map(|v| (alpha - 1.0) * v).collect();
    let power = 1.0 / (alpha - 1.0);
    let mass = |tau: f64| -> f64 { y.iter().map(|v| (v - tau).max(0.0).powf(power)).sum() };
    let top = y.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
    let (mut lo, mut hi) = (top - 1.0, top - (y.len() as f64).powf(1.0 - alpha));
    loop {
        let mid = 0.5 * (lo + hi);
        if mid <= lo || mid >= hi {
            break;
        }
        if mass(mid) >= 1.0 {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    let p: Vec<f64> = y.iter().map(|v| (v - lo).max(0.0).powf(power)).collect();
    let total: f64 = p.iter().sum();
    (p.iter().map(|v| v / total).collect(), lo)
}

fn dot(a: &[f64], b: &[f64]) -> f64 {
    a.iter().zip(b).map(|(x, y)| x * y).sum()
}
