// Second pass of the row-wise softmax: every workgroup merges all the segment statistics of its
// row (softmax_stats.wgsl) into the row's M = max m_s and L = Σ l_s·exp(m_s − M), then
// normalises its own segment in place, P = exp(S − M) / L. Recomputing M and L in each
// segment's workgroup costs segments / 256 reads per thread and saves a pass.
//
// The workgroup of segment 0 also writes lse[r] = M + ln L (= β·lse(β, Xξ) in the theory's
// notation), from which the host forms the energy without another pass over S.
//
// With `zero_logit` the row has one more score, fixed at 0, whose weight is dropped: softmax₁,
// exp(zᵢ) / (1 + Σⱼ exp(zⱼ)) (Separation::Softmax1). It joins M and L like any other score, so
// exponents stay ≤ 0 whichever side of 0 the scores are, and lse becomes ln(1 + Σ exp z).

struct Params {
    rows: u32,
    cols: u32,
    segments: u32,
    zero_logit: u32,   // 1: softmax₁
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> scores: array<f32>;
@group(0) @binding(2) var<storage, read> stats: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> lse: array<f32>;

const WG: u32 = 256u;
const SEG: u32 = 4096u;
const LOWEST: f32 = -3.402823e38;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, lanes: Lanes) {
    let seg = wg.x;
    let row = wg.y;
    if (row >= p.rows || seg >= p.segments) {
        return;
    }
    let first = row * p.segments;
    let zero_logit = p.zero_logit != 0u;
    var m = select(LOWEST, 0.0, zero_logit);
    for (var s = lanes.t; s < p.segments; s += WG) {
        m = max(m, stats[first + s].x);
    }
    let row_max = workgroup_max(lanes, m);
    var l = 0.0;
    for (var s = lanes.t; s < p.segments; s += WG) {
        let v = stats[first + s];
        l += v.y * exp(v.x - row_max);
    }
    let row_sum = workgroup_sum(lanes, l) + select(0.0, exp(-row_max), zero_logit);

    let base = row * p.cols;
    let end = min((seg + 1u) * SEG, p.cols);
    let inv = 1.0 / row_sum;
    for (var c = seg * SEG + lanes.t; c < end; c += WG) {
        scores[base + c] = exp(scores[base + c] - row_max) * inv;
    }
    if (seg == 0u && lanes.t == 0u) {
        lse[row] = row_max + log(row_sum);
    }
}
