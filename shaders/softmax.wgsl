// Row-wise numerically stable softmax, in place: P[r, :] = exp(S[r, :] − m) / l with
// m = max S[r, :] and l = Σ exp(S[r, :] − m). Subtracting the row maximum keeps every
// exponent ≤ 0, so scores of 1e10 neither overflow nor lose the winning pattern.
//
// Also writes lse[r] = m + ln l (= β·lse(β, Xξ) in THEORY.md's notation), from which the host
// forms the energy without another pass over S.
//
// One workgroup per row; reductions through workgroup memory, so it runs on adapters
// without subgroup support.

struct Params {
    rows: u32,
    cols: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> scores: array<f32>;
@group(0) @binding(2) var<storage, read_write> lse: array<f32>;

const WG: u32 = 256u;

var<workgroup> red: array<f32, WG>;

fn reduce_max(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            red[lid] = max(red[lid], red[lid + s]);
        }
        workgroupBarrier();
    }
    let out = red[0];
    // Every thread must have read red[0] before the next reduction overwrites it.
    workgroupBarrier();
    return out;
}

fn reduce_sum(lid: u32, v: f32) -> f32 {
    red[lid] = v;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            red[lid] = red[lid] + red[lid + s];
        }
        workgroupBarrier();
    }
    let out = red[0];
    workgroupBarrier();
    return out;
}

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = wg.x;
    let lid = lid3.x;
    // `row` is uniform across the workgroup, so this early exit keeps barriers uniform.
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;

    var m = -3.402823e38;
    for (var c = lid; c < p.cols; c += WG) {
        m = max(m, scores[base + c]);
    }
    m = reduce_max(lid, m);

    var l = 0.0;
    for (var c = lid; c < p.cols; c += WG) {
        l += exp(scores[base + c] - m);
    }
    l = reduce_sum(lid, l);

    let inv = 1.0 / l;
    for (var c = lid; c < p.cols; c += WG) {
        scores[base + c] = exp(scores[base + c] - m) * inv;
    }
    if (lid == 0u) {
        lse[row] = m + log(l);
    }
}
