// Sparsemax and α-entmax on the device (Separation::Sparsemax, Separation::Entmax), shared by
// the four threshold kernels. A row of scores z gets the weights p = [y − τ]₊^q, y = (α − 1)·z,
// q = 1/(α − 1) (sparsemax: α = 2, q = 1), with τ the one threshold at which they sum to 1.
// That sum, the mass, falls as τ rises; it is ≥ 1 at τ = max y − 1 (the largest term alone is
// 1) and ≤ 1 at τ = max y − N^(1−α) (every term ≤ 1/N). So, with no sort and no readback:
//   threshold_bounds   per row: that interval [lo, hi], from the segment maxima of
//                      softmax_stats.wgsl;
//   threshold_mass     per segment: the mass at the interval's midpoint;
//   threshold_step     per row: keeps the half where mass(lo) ≥ 1 > mass(hi);
//   (those two, a fixed number of times, then threshold_mass once more at lo, see below)
//   threshold_apply    per segment: the weights in place of the scores, and the row's Ψ*.
//
// Bisection leaves τ within one last interval width of the truth, a rounding of the scores:
// enough to find the support, not to weigh the scores just above τ correctly. So the last mass
// pass takes, over the support S = {y > lo} at w = y − lo, the sums Σw^q (the mass), Σw^(q+1)
// and Σw^(q−1), and apply takes one Newton step on Σ(w − δ)^q = 1 from δ = 0:
// δ = (Σw^q − 1) / (q·Σw^(q−1)), τ = lo + δ. The sum is linear in δ for sparsemax, so there
// the step is exact: Michelot's τ = (Σ_S y − 1)/|S|, and scores below it get exactly 0.
//
// The segments are softmax_stats.wgsl's (SEG columns, one workgroup each): no invocation walks
// a row, and per-row kernels read a row's segment sums strided across the workgroup.

struct Params {
    rows: u32,
    cols: u32,
    segments: u32,   // ceil(cols / SEG)
    at_lo: u32,      // threshold_mass: 1 = the last pass, the sums at lo; 0 = the midpoint's mass
    scale: f32,      // α − 1
    q: f32,          // 1 / (α − 1)
    alpha: f32,
    _pad: f32,
}

const WG: u32 = 256u;
const SEG: u32 = 4096u;
const LOWEST: f32 = -3.402823e38;

// w^q for w > 0, exact for the common exponents: sparsemax's 1 and 1.5-entmax's 2.
fn power(w: f32, q: f32) -> f32 {
    if (q == 1.0) {
        return w;
    }
    if (q == 2.0) {
        return w * w;
    }
    return exp2(q * log2(w));
}
