// First pass of the row-wise softmax: the (max, sum) of one segment of one row of scores, with
// m = max S[r, seg] and l = Σ exp(S[r, seg] − m). softmax_apply.wgsl merges a row's segments
// and normalises it.
//
// A row is cut into segments of SEG columns, one workgroup each, so that no invocation walks a
// whole row: a software adapter stops an invocation's loops after a fixed count of iterations
// (Mesa's llvmpipe at 65,535, silently), and a real GPU wants more than one workgroup per row
// when there are few queries. Each thread keeps a running (max, sum) over its SEG / 256 strided
// columns (online softmax, one exp per score); the threads' pairs merge as M = max m_t,
// L = Σ l_t·exp(m_t − M) through the workgroup reductions of reduce_shared.wgsl or
// reduce_subgroup.wgsl (prepended).

struct Params {
    rows: u32,
    cols: u32,
    segments: u32,   // ceil(cols / SEG)
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read_write> stats: array<vec2<f32>>;   // [row][segment]

const WG: u32 = 256u;
const SEG: u32 = 4096u;
const LOWEST: f32 = -3.402823e38;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, lanes: Lanes) {
    let seg = wg.x;
    let row = wg.y;
    // Uniform across the workgroup, so the barriers of the reductions stay uniform.
    if (row >= p.rows || seg >= p.segments) {
        return;
    }
    let base = row * p.cols;
    let end = min((seg + 1u) * SEG, p.cols);
    var m = LOWEST;
    var l = 0.0;
    for (var c = seg * SEG + lanes.t; c < end; c += WG) {
        // Rescale the sum only when the max moves.
        let s = scores[base + c];
        if (s > m) {
            l = l * exp(m - s) + 1.0;
            m = s;
        } else {
            l += exp(s - m);
        }
    }
    let seg_max = workgroup_max(lanes, m);
    let seg_sum = workgroup_sum(lanes, l * exp(m - seg_max));
    if (lanes.t == 0u) {
        stats[row * p.segments + seg] = vec2<f32>(seg_max, seg_sum);
    }
}
