//! Inner loops written over fixed groups of [`LANES`] floats, which LLVM turns into vector code
//! without intrinsics. The crate is built for the baseline target (SSE2 on x86-64), so every
//! caller is compiled twice through [`multiversion!`]: once with AVX2 and FMA, chosen at run
//! time when the CPU has them, and once portable.

/// Floats per group: one AVX2 register.
pub(super) const LANES: usize = 8;

/// Defines `$name` to run `$generic::<true>` (AVX2 + FMA code) when the CPU supports it and
/// `$generic::<false>` (baseline code) otherwise. The const flag tells [`fma`] which it may use.
macro_rules! multiversion {
    ($vis:vis fn $name:ident($($arg:ident: $ty:ty),* $(,)?) $(-> $ret:ty)? = $generic:ident;) => {
        $vis fn $name($($arg: $ty),*) $(-> $ret)? {
            #[cfg(any(target_arch = "x86", target_arch = "x86_64"))]
            {
                #[target_feature(enable = "avx2,fma")]
                fn fast($($arg: $ty),*) $(-> $ret)? {
                    $generic::<true>($($arg),*)
                }
                if std::arch::is_x86_feature_detected!("avx2")
                    && std::arch::is_x86_feature_detected!("fma")
                {
                    // SAFETY: both target features were just detected on this CPU.
                    return unsafe { fast($($arg),*) };
                }
            }
            $generic::<false>($($arg),*)
        }
    };
}
pub(super) use multiversion;

/// `a·b + c`, fused only where FMA is known to exist: elsewhere `mul_add` is a libm call.
#[inline(always)]
pub(super) fn fma<const FMA: bool>(a: f32, b: f32, c: f32) -> f32 {
    if FMA {
        a.mul_add(b, c)
    } else {
        a * b + c
    }
}

/// e^x for x ≤ 0 (Cephes' expf: 2^n · p(r) with |r| ≤ ln2/2, within 2 ulp), branch-free so a
/// group of lanes vectorises; x below the f32 normal range gives 0, as e^x rounds to it anyway.
#[inline(always)]
pub(super) fn exp<const FMA: bool>(x: f32) -> f32 {
    // Below −86, 2^n·p could leave the normal range, where the exponent trick is wrong.
    const LO: f32 = -86.0;
    // Adding 1.5·2²³ rounds to an integer without a libm call and leaves n in the low bits.
    const SHIFTER: f32 = 12_582_912.0;
    let xc = if x < LO { LO } else { x };
    let t = fma::<FMA>(xc, std::f32::consts::LOG2_E, SHIFTER);
    let n = t - SHIFTER;
    let r = fma::<FMA>(n, -0.693_359_375, xc);
    let r = fma::<FMA>(n, 2.121_944_4e-4, r);
    let mut p = 1.987_569_1e-4;
    for c in [
        1.398_199_9e-3,
        8.333_452e-3,
        4.166_579_6e-2,
        1.666_666_5e-1,
        0.5,
    ] {
        p = fma::<FMA>(p, r, c);
    }
    let p = fma::<FMA>(p, r * r, r) + 1.0;
    // 2^n · p by adding n to the exponent field; n ∈ [−124, 0] keeps it normal.
    let n_bits = t.to_bits().wrapping_sub(SHIFTER.to_bits());
    let e = f32::from_bits(p.to_bits().wrapping_add(n_bits << 23));
    if x < LO {
        0.0
    } else {
        e
    }
}

#[inline(always)]
fn hsum(v: [f32; LANES]) -> f32 {
    ((v[0] + v[4]) + (v[1] + v[5])) + ((v[2] + v[6]) + (v[3] + v[7]))
}

/// Largest element (−∞ for none).
#[inline(always)]
pub(super) fn max(s: &[f32]) -> f32 {
    let mut m = [f32::NEG_INFINITY; LANES];
    let groups = s.chunks_exact(LANES);
    let mut best = groups
        .remainder()
        .iter()
        .fold(f32::NEG_INFINITY, |a, &v| if v > a { v } else { a });
    for g in groups {
        for k in 0..LANES {
            m[k] = if g[k] > m[k] { g[k] } else { m[k] };
        }
    }
    for v in m {
        best = if v > best { v } else { best };
    }
    best
}

/// `s ← e^(s − shift)` element-wise; returns Σ s.
#[inline(always)]
pub(super) fn exp_shifted<const FMA: bool>(s: &mut [f32], shift: f32) -> f32 {
    let mut sum = [0.0f32; LANES];
    let mut groups = s.chunks_exact_mut(LANES);
    for g in &mut groups {
        for k in 0..LANES {
            g[k] = exp::<FMA>(g[k] - shift);
            sum[k] += g[k];
        }
    }
    let mut tail = 0.0;
    for v in groups.into_remainder() {
        *v = exp::<FMA>(*v - shift);
        tail += *v;
    }
    hsum(sum) + tail
}

/// `s ← s · k`.
#[inline(always)]
pub(super) fn scale(s: &mut [f32], k: f32) {
    for v in s {
        *v *= k;
    }
}

/// `beta · (x_j · q)` for each of the rows `x_j` of `rows` (row-major, `q.len()` columns) into
/// `out`. Four rows at a time, so each load of `q` feeds four independent accumulators.
#[inline(always)]
pub(super) fn scores<const FMA: bool>(rows: &[f32], q: &[f32], beta: f32, out: &mut [f32]) {
    let d = q.len();
    let mut quads = rows.chunks_exact(4 * d);
    let mut outs = out.chunks_exact_mut(4);
    for (x, o) in (&mut quads).zip(&mut outs) {
        let (x0, rest) = x.split_at(d);
        let (x1, rest) = rest.split_at(d);
        let (x2, x3) = rest.split_at(d);
        let mut acc = [[0.0f32; LANES]; 4];
        let groups = q.chunks_exact(LANES).zip(x0.chunks_exact(LANES));
        let groups = groups.zip(x1.chunks_exact(LANES));
        let groups = groups.zip(x2.chunks_exact(LANES).zip(x3.chunks_exact(LANES)));
        for (((qg, a), b), (c, e)) in groups {
            for k in 0..LANES {
                acc[0][k] = fma::<FMA>(a[k], qg[k], acc[0][k]);
                acc[1][k] = fma::<FMA>(b[k], qg[k], acc[1][k]);
                acc[2][k] = fma::<FMA>(c[k], qg[k], acc[2][k]);
                acc[3][k] = fma::<FMA>(e[k], qg[k], acc[3][k]);
            }
        }
        let t = d - d % LANES;
        for (r, xr) in [x0, x1, x2, x3].into_iter().enumerate() {
            let tail = q[t..]
                .iter()
                .zip(&xr[t..])
                .fold(0.0, |a, (u, v)| fma::<FMA>(*u, *v, a));
            o[r] = beta * (hsum(acc[r]) + tail);
        }
    }
    for (x, o) in quads.remainder().chunks_exact(d).zip(outs.into_remainder()) {
        *o = beta * dot::<FMA>(x, q);
    }
}

#[inline(always)]
fn dot<const FMA: bool>(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; LANES];
    let groups = a.chunks_exact(LANES).zip(b.chunks_exact(LANES));
    for (u, v) in groups {
        for k in 0..LANES {
            acc[k] = fma::<FMA>(u[k], v[k], acc[k]);
        }
    }
    let t = a.len() - a.len() % LANES;
    let tail = a[t..]
        .iter()
        .zip(&b[t..])
        .fold(0.0, |s, (u, v)| fma::<FMA>(*u, *v, s));
    hsum(acc) + tail
}

/// `acc ← acc + Σ_j p_j x_j` over the rows `x_j` of `rows` (row-major, `acc.len()` columns),
/// four rows per pass over `acc` so it is loaded and stored a quarter as often.
#[inline(always)]
pub(super) fn weighted_add<const FMA: bool>(rows: &[f32], p: &[f32], acc: &mut [f32]) {
    let d = acc.len();
    let mut quads = rows.chunks_exact(4 * d);
    let mut ps = p.chunks_exact(4);
    for (x, w) in (&mut quads).zip(&mut ps) {
        let (x0, rest) = x.split_at(d);
        let (x1, rest) = rest.split_at(d);
        let (x2, x3) = rest.split_at(d);
        for k in 0..d {
            let a = fma::<FMA>(w[0], x0[k], acc[k]);
            let b = fma::<FMA>(w[1], x1[k], a);
            let c = fma::<FMA>(w[2], x2[k], b);
            acc[k] = fma::<FMA>(w[3], x3[k], c);
        }
    }
    for (x, &w) in quads.remainder().chunks_exact(d).zip(ps.remainder()) {
        for (a, v) in acc.iter_mut().zip(x) {
            *a = fma::<FMA>(w, *v, *a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exp_all<const FMA: bool>(xs: &mut [f32]) -> f32 {
        exp_shifted::<FMA>(xs, 0.0)
    }
    multiversion! { fn exp_dispatch(xs: &mut [f32]) -> f32 = exp_all; }

    /// Within 2 ulp of the correctly rounded value over the whole range used, on both builds.
    #[test]
    fn exp_is_accurate() {
        let xs: Vec<f32> = (0..=200_000)
            .map(|i| -90.0 * i as f32 / 200_000.0)
            .collect();
        for (which, got) in [
            ("dispatched", {
                let mut v = xs.clone();
                exp_dispatch(&mut v);
                v
            }),
            ("baseline", {
                let mut v = xs.clone();
                exp_all::<false>(&mut v);
                v
            }),
        ] {
            for (&x, &e) in xs.iter().zip(&got) {
                let want = f64::from(x).exp();
                if x < -86.0 {
                    assert_eq!(e, 0.0, "{which}: exp({x})");
                    continue;
                }
                let ulp = f64::from(f32::EPSILON) * want;
                assert!(
                    (f64::from(e) - want).abs() <= 2.0 * ulp,
                    "{which}: exp({x}) = {e}, want {want}"
                );
            }
        }
    }

    #[test]
    fn kernels_match_plain_loops() {
        for d in [1, 3, 8, 13, 64, 67] {
            for rows in [1, 4, 7] {
                let x: Vec<f32> = (0..rows * d)
                    .map(|i| ((i * 37) % 11) as f32 - 5.0)
                    .collect();
                let q: Vec<f32> = (0..d).map(|i| ((i * 13) % 7) as f32 - 3.0).collect();
                let mut s = vec![0.0; rows];
                scores::<false>(&x, &q, 0.5, &mut s);
                for (j, &v) in s.iter().enumerate() {
                    let want: f32 = x[j * d..(j + 1) * d]
                        .iter()
                        .zip(&q)
                        .map(|(a, b)| a * b)
                        .sum();
                    assert_eq!(v, 0.5 * want, "d={d} rows={rows} j={j}");
                }
                let p: Vec<f32> = (0..rows).map(|j| j as f32 + 1.0).collect();
                let mut acc = vec![1.0; d];
                weighted_add::<false>(&x, &p, &mut acc);
                for (k, &a) in acc.iter().enumerate() {
                    let want = 1.0 + (0..rows).map(|j| p[j] * x[j * d + k]).sum::<f32>();
                    assert!(
                        (a - want).abs() <= 1e-4 * want.abs().max(1.0),
                        "d={d} k={k}"
                    );
                }
                assert_eq!(max(&s), s.iter().copied().fold(f32::NEG_INFINITY, f32::max));
            }
        }
    }
}
