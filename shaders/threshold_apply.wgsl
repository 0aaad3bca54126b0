// The end of the threshold search (see threshold.wgsl): every workgroup of a row sums the row's
// last segment sums at lo, takes the Newton step δ, and writes its segment's weights
// p = [w − δ]₊^q (w = y − lo) in place of the scores; segment 0's also writes the row's
// conjugate Ψ*(z) = pᵀz + (1 − Σp^α)/(α(α−1)) into lse, the energy's score term. With the
// weights summing to 1 and y = τ + p^(α−1) on the support, pᵀz = (τ + Σp^α)/(α − 1), and
// Σp^α = Σ(w − δ)^(q+1) is expanded to second order in δ from the sums (exact for sparsemax,
// where q + 1 = 2), so Ψ* costs no further pass.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> scores: array<f32>;
@group(0) @binding(2) var<storage, read> interval: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read> sums: array<vec4<f32>>;
@group(0) @binding(4) var<storage, read_write> lse: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, lanes: Lanes) {
    let seg = wg.x;
    let row = wg.y;
    if (row >= p.rows || seg >= p.segments) {
        return;
    }
    var acc = vec3<f32>(0.0);
    for (var s = lanes.t; s < p.segments; s += WG) {
        acc += sums[row * p.segments + s].xyz;
    }
    let mass = workgroup_sum(lanes, acc.x);
    let up = workgroup_sum(lanes, acc.y);     // Σw^(q+1)
    let down = workgroup_sum(lanes, acc.z);   // Σw^(q−1)
    let iv = interval[row];
    // Clamped to the interval: rounding in the first bounds can leave mass(lo) a hair under 1.
    let delta = clamp((mass - 1.0) / (p.q * down), 0.0, iv.y - iv.x);

    let base = row * p.cols;
    let end = min((seg + 1u) * SEG, p.cols);
    for (var c = seg * SEG + lanes.t; c < end; c += WG) {
        let w = p.scale * scores[base + c] - iv.x - delta;
        scores[base + c] = select(0.0, power(w, p.q), w > 0.0);
    }
    if (seg == 0u && lanes.t == 0u) {
        let q1 = p.q + 1.0;
        let s_alpha = up - q1 * delta * mass + 0.5 * q1 * p.q * delta * delta * down;
        let tau = iv.x + delta;
        lse[row] = (tau + s_alpha) / p.scale + (1.0 - s_alpha) / (p.alpha * p.scale);
    }
}
