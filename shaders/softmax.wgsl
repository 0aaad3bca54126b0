// Row-wise numerically stable softmax, in place: P[r, :] = exp(S[r, :] − m) / l with
// m = max S[r, :] and l = Σ exp(S[r, :] − m). Subtracting the row maximum keeps every
// exponent ≤ 0, so scores of 1e10 neither overflow nor lose the winning pattern.
//
// Also writes lse[r] = m + ln l (= β·lse(β, Xξ) in THEORY.md's notation), from which the host
// forms the energy without another pass over S.
//
// One workgroup per row. Each thread keeps a running (max, sum) over its strided share of the
// row (online softmax), so the row is read once to normalise it and once more to write it;
// the per-thread pairs merge by the same rule in a workgroup-memory tree, which runs on adapters
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
const LOWEST: f32 = -3.402823e38;

var<workgroup> red_m: array<f32, WG>;
var<workgroup> red_l: array<f32, WG>;

// (m, l) of the union of two sets, each given by its max m and its sum l of exp(s − m).
fn combine(ma: f32, la: f32, mb: f32, lb: f32) -> vec2<f32> {
    let m = max(ma, mb);
    return vec2<f32>(m, la * exp(ma - m) + lb * exp(mb - m));
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

    var m = LOWEST;
    var l = 0.0;
    for (var c = lid; c < p.cols; c += WG) {
        // One exp per score: rescale the sum only when the max moves.
        let s = scores[base + c];
        if (s > m) {
            l = l * exp(m - s) + 1.0;
            m = s;
        } else {
            l += exp(s - m);
        }
    }
    red_m[lid] = m;
    red_l[lid] = l;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            let ml = combine(red_m[lid], red_l[lid], red_m[lid + s], red_l[lid + s]);
            red_m[lid] = ml.x;
            red_l[lid] = ml.y;
        }
        workgroupBarrier();
    }
    m = red_m[0];
    l = red_l[0];

    let inv = 1.0 / l;
    for (var c = lid; c < p.cols; c += WG) {
        scores[base + c] = exp(scores[base + c] - m) * inv;
    }
    if (lid == 0u) {
        lse[row] = m + log(l);
    }
}
