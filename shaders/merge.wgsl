// Merges the per-split partials of the fused kernels into the new states: with M = max_s m_s,
// w_s = exp(m_s − M) and L = Σ_s w_s·l_s, the state is Σ_s w_s·acc_s / L, exactly the softmax
// over all patterns however they were split or chunked. Also writes lse = M + ln L (for the
// energy) and the step's convergence test (what change.wgsl does on the unfused path): the
// largest |new − old| per row, and over the block in `flag`.
//
// One workgroup per query and slice of 256 features (a 2-D grid): each thread owns one feature,
// so no invocation walks a whole state of any width (a software adapter stops an invocation's
// loops after a fixed count of iterations, and a few queries still give a GPU many
// workgroups). Every workgroup of a row recomputes M and L from the (m, l) pairs, a read of
// splits / 256 values per thread. The split weights live in workgroup memory so that each
// feature's sum over splits costs one read per split. The workgroup reductions come from
// reduce_shared.wgsl or reduce_subgroup.wgsl (prepended). Slices meet in `delta` and `flag`
// through atomicMax on the bits of non-negative floats; the host zeroes both first.
//
// With `zero_logit`, one more score fixed at 0 joins M and L and its weight is dropped: the
// softmax₁ of Separation::Softmax1 (as in softmax_apply.wgsl).

struct Params {
    rows: u32,
    dim: u32,
    splits: u32,
    zero_logit: u32,   // 1: softmax₁
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ml: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> part: array<f32>;
@group(0) @binding(3) var<storage, read> old_states: array<f32>;
@group(0) @binding(4) var<storage, read_write> new_states: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
@group(0) @binding(6) var<storage, read_write> delta: array<atomic<u32>>;
@group(0) @binding(7) var<storage, read_write> flag: atomic<u32>;

const WG: u32 = 256u;
// The host never plans more splits than this.
const MAX_SPLITS: u32 = 1024u;
const LOWEST: f32 = -3.402823e38;

var<workgroup> w: array<f32, MAX_SPLITS>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, lanes: Lanes) {
    let row = wg.y;
    let f = wg.x * WG + lanes.t;
    let t = lanes.t;
    if (row >= p.rows) {
        return;
    }
    let zero_logit = p.zero_logit != 0u;
    var mx = select(LOWEST, 0.0, zero_logit);
    for (var s = t; s < p.splits; s += WG) {
        mx = max(mx, ml[s * p.rows + row].x);
    }
    let m = workgroup_max(lanes, mx);
    var sum = 0.0;
    for (var s = t; s < p.splits; s += WG) {
        let v = ml[s * p.rows + row];
        let e = exp(v.x - m);
        w[s] = e;
        sum += e * v.y;
    }
    let l = workgroup_sum(lanes, sum) + select(0.0, exp(-m), zero_logit);
    let inv = 1.0 / l;
    var change = 0.0;
    if (f < p.dim) {
        var o = 0.0;
        for (var s = 0u; s < p.splits; s++) {
            o = fma(w[s], part[(s * p.rows + row) * p.dim + f], o);
        }
        o *= inv;
        let i = row * p.dim + f;
        new_states[i] = o;
        change = abs(o - old_states[i]);
    }
    change = workgroup_max(lanes, change);
    if (t == 0u) {
        if (wg.x == 0u) {
            lse[row] = m + log(l);
        }
        atomicMax(&delta[row], bitcast<u32>(change));
        atomicMax(&flag, bitcast<u32>(change));
    }
}
