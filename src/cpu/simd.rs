//! The inner loops of both CPU paths. Each kernel runs its AVX2 + FMA version (`x86`) when the
//! CPU has those features, checked at run time, and a portable version otherwise: the crate is
//! built for the baseline target (SSE2 on x86-64), so nothing faster can be assumed.

#[cfg(target_arch = "x86_64")]
use super::x86;

/// Floats per group: one AVX2 register.
pub(super) const LANES: usize = 8;

/// Makes every kernel take its portable version, so tests cover it on any CPU. Results are
/// right either way, so tests running meanwhile are unaffected.
#[cfg(test)]
pub(super) static FORCE_PORTABLE: std::sync::atomic::AtomicBool =
    std::sync::atomic::AtomicBool::new(false);

/// Whether the `x86` kernels may run (cached by std after the first call).
#[inline]
fn avx2_fma() -> bool {
    #[cfg(test)]
    if FORCE_PORTABLE.load(std::sync::atomic::Ordering::Relaxed) {
        return false;
    }
    #[cfg(target_arch = "x86_64")]
    return std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma");
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// Which version of the kernels runs, for the log.
pub(super) fn kernel_name() -> &'static str {
    if avx2_fma() {
        "AVX2+FMA"
    } else {
        "portable"
    }
}

/// Smallest batch for the tiled kernels: below it, packing each chunk costs more than it saves.
const TILES_MIN_BATCH: usize = 4;

/// Whether the fused step of `b` queries should use the tiled kernels (`tiles`).
pub(super) fn use_tiles(b: usize) -> bool {
    b >= TILES_MIN_BATCH && avx2_fma()
}

/// Runs the `x86` version of a kernel when the CPU allows, else the portable expression.
macro_rules! dispatch {
    ($name:ident($($arg:expr),*), $portable:expr) => {{
        #[cfg(target_arch = "x86_64")]
        if avx2_fma() {
            // SAFETY: the x86 kernels need AVX2 and FMA, which this CPU was just found to have.
            return unsafe { x86::$name($($arg),*) };
        }
        $portable
    }};
}

/// `out[j] ← beta · (x_j · q)` for each row `x_j` of `rows` (row-major, `q.len()` columns).
pub(super) fn scores(rows: &[f32], q: &[f32], beta: f32, out: &mut [f32]) {
    dispatch!(scores(rows, q, beta, out), {
        for (x, o) in rows.chunks_exact(q.len()).zip(out) {
            *o = beta * dot(x, q);
        }
    })
}

/// `acc ← acc + Σ_j p_j x_j` over the rows `x_j` of `rows` (row-major, `acc.len()` columns).
pub(super) fn weighted_add(rows: &[f32], p: &[f32], acc: &mut [f32]) {
    dispatch!(weighted_add(rows, p, acc), {
        for (x, &w) in rows.chunks_exact(acc.len()).zip(p) {
            for (a, v) in acc.iter_mut().zip(x) {
                *a += w * v;
            }
        }
    })
}

/// `s ← e^(s − shift)` element-wise (every `s − shift` ≤ 0); returns Σ s.
pub(super) fn exp_shifted(s: &mut [f32], shift: f32) -> f32 {
    dispatch!(exp_shifted(s, shift), exp_shifted_portable(s, shift))
}

/// Largest element (−∞ for none).
pub(super) fn max(s: &[f32]) -> f32 {
    dispatch!(max(s), s.iter().fold(f32::NEG_INFINITY, |a, &v| a.max(v)))
}

/// `s ← s · k`: simple enough that LLVM vectorises it for any target.
pub(super) fn scale(s: &mut [f32], k: f32) {
    for v in s {
        *v *= k;
    }
}

/// Eight partial sums, so the baseline build gets some instruction-level parallelism.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    for (u, v) in a.chunks_exact(LANES).zip(b.chunks_exact(LANES)) {
        for k in 0..LANES {
            acc[k] += u[k] * v[k];
        }
    }
    let body = a.len() - a.len() % LANES;
    let tail: f32 = a[body..].iter().zip(&b[body..]).map(|(u, v)| u * v).sum();
    acc.iter().sum::<f32>() + tail
}

pub(super) fn exp_shifted_portable(s: &mut [f32], shift: f32) -> f32 {
    let mut sum = [0.0f32; LANES];
    let mut groups = s.chunks_exact_mut(LANES);
    for g in &mut groups {
        for k in 0..LANES {
            g[k] = exp(g[k] - shift);
            sum[k] += g[k];
        }
    }
    let tail: f32 = groups
        .into_remainder()
        .iter_mut()
        .map(|v| {
            *v = exp(*v - shift);
            *v
        })
        .sum();
    sum.iter().sum::<f32>() + tail
}

/// Constants of [`exp`], shared with its vector twin.
pub(super) mod exp_consts {
    /// Below this, 2^n·p could leave the normal range where the exponent trick holds; e^x is
    /// < 5e-38 there and taken as 0.
    pub const LO: f32 = -86.0;
    /// Adding 1.5·2²³ rounds to an integer and leaves it in the low mantissa bits.
    pub const SHIFTER: f32 = 12_582_912.0;
    /// ln 2 in two parts (Cody–Waite): the first has 9 significant bits, so n·LN2_HI is exact.
    pub const LN2_HI: f32 = 355.0 / 512.0;
    pub const LN2_LO: f32 = -2.121_944_4e-4;
    /// Cephes' expf polynomial for (e^r − 1 − r)/r² on |r| ≤ ln2/2, highest degree first.
    pub const POLY: [f32; 6] = [
        1.987_569_1e-4,
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5,
    ];
}

/// e^x for x ≤ 0 within 2 ulp (Cephes' expf), branch-free: 2^n · p(r) with x = n ln2 + r.
#[inline]
fn exp(x: f32) -> f32 {
    use exp_consts::*;
    let xc = x.max(LO);
    let t = xc * std::f32::consts::LOG2_E + SHIFTER;
    let n = t - SHIFTER;
    let r = xc - n * LN2_HI - n * LN2_LO;
    let p = POLY[1..].iter().fold(POLY[0], |p, &k| p * r + k);
    let p = p * (r * r) + r + 1.0;
    let n_bits = t.to_bits().wrapping_sub(SHIFTER.to_bits());
    let e = f32::from_bits(p.to_bits().wrapping_add(n_bits << 23));
    if x < LO {
        0.0
    } else {
        e
    }
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;

    fn check_exp(which: &str, xs: &[f32], got: &[f32]) {
        for (&x, &e) in xs.iter().zip(got) {
            let want = f64::from(x).exp();
            if x < exp_consts::LO {
                assert_eq!(e, 0.0, "{which}: exp({x})");
            } else {
                let ulp = f64::from(f32::EPSILON) * want;
                let err = (f64::from(e) - want).abs();
                assert!(err <= 2.0 * ulp, "{which}: exp({x}) = {e}, want {want}");
            }
        }
    }

    /// Within 2 ulp of e^x over the whole range used, on both versions.
    #[test]
    fn exp_is_accurate() {
        let xs: Vec<f32> = (0..=200_003)
            .map(|i| -90.0 * i as f32 / 200_003.0)
            .collect();
        let mut portable = xs.clone();
        exp_shifted_portable(&mut portable, 0.0);
        check_exp("portable", &xs, &portable);
        let mut dispatched = xs.clone();
        exp_shifted(&mut dispatched, 0.0);
        check_exp("dispatched", &xs, &dispatched);
        // The sum, on a short row so f32 accumulation stays well inside the tolerance.
        let xs: Vec<f32> = (0..1027).map(|i| -4.0 * i as f32 / 1027.0).collect();
        let mut got = xs.clone();
        let sum = exp_shifted(&mut got, 0.0);
        let want: f64 = got.iter().map(|&e| f64::from(e)).sum();
        assert!(
            (f64::from(sum) - want).abs() <= 1e-6 * want,
            "{sum} vs {want}"
        );
    }

    /// Every shape of remainder (rows not a multiple of 4, d not a multiple of 8 or 32), on
    /// whichever version this CPU runs, against plain loops.
    #[test]
    fn kernels_match_plain_loops() {
        check_kernels();
    }

    pub(in crate::cpu) fn check_kernels() {
        for d in [1, 3, 8, 13, 16, 24, 32, 40, 64, 67, 128] {
            for rows in [1, 4, 5, 7, 32] {
                let x: Vec<f32> = (0..rows * d)
                    .map(|i| ((i * 37) % 11) as f32 - 5.0)
                    .collect();
                let q: Vec<f32> = (0..d).map(|i| ((i * 13) % 7) as f32 - 3.0).collect();
                let mut s = vec![0.0; rows];
                scores(&x, &q, 0.5, &mut s);
                for (j, &v) in s.iter().enumerate() {
                    let row = &x[j * d..(j + 1) * d];
                    let want: f32 = row.iter().zip(&q).map(|(a, b)| a * b).sum();
                    assert_eq!(v, 0.5 * want, "scores d={d} rows={rows} j={j}");
                }
                let p: Vec<f32> = (0..rows).map(|j| j as f32 + 1.0).collect();
                let mut acc = vec![1.0; d];
                weighted_add(&x, &p, &mut acc);
                for (k, &a) in acc.iter().enumerate() {
                    let want = 1.0 + (0..rows).map(|j| p[j] * x[j * d + k]).sum::<f32>();
                    assert_eq!(a, want, "weighted_add d={d} rows={rows} k={k}");
                }
                assert_eq!(max(&x), x.iter().copied().fold(f32::NEG_INFINITY, f32::max));
            }
        }
    }
}
