// Row-wise numerically stable softmax, in place: P[r, :] = exp(S[r, :] − m) / l with
// m = max S[r, :] and l = Σ exp(S[r, :] − m). Subtracting the row maximum keeps every
// exponent ≤ 0, so scores of 1e10 neither overflow nor lose the winning pattern.
//
// Also writes lse[r] = m + ln l (= β·lse(β, Xξ) in THEORY.md's notation), from which the host
// forms the energy without another pass over S.
//
// One workgroup per row. Each thread keeps a running (max, sum) over its strided share of the
// row (online softmax, one exp per score), so the row is read once to normalise it and once
// more to write it. The per-thread pairs merge as M = max m_t, L = Σ l_t·exp(m_t − M), with
// the workgroup reductions of reduce_shared.wgsl or reduce_subgroup.wgsl (prepended).

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

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, lanes: Lanes) {
    let row = wg.x;
    let lid = lanes.t;
    // `row` is uniform across the workgroup, so this early exit keeps barriers uniform.
    if (row >= p.rows) {
        return;
    }
    let base = row * p.cols;

    var m = LOWEST;
    var l = 0.0;
    for (var c = lid; c < p.cols; c += WG) {
        // Rescale the sum only when the max moves.
        let s = scores[base + c];
        if (s > m) {
            l = l * exp(m - s) + 1.0;
            m = s;
        } else {
            l += exp(s - m);
        }
    }
    let row_max = workgroup_max(lanes, m);
    let row_sum = workgroup_sum(lanes, l * exp(m - row_max));

    let inv = 1.0 / row_sum;
    for (var c = lid; c < p.cols; c += WG) {
        scores[base + c] = exp(scores[base + c] - row_max) * inv;
    }
    if (lid == 0u) {
        lse[row] = row_max + log(row_sum);
    }
}
