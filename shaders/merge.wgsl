// Merges the per-split partials of the fused kernels into the new states: with M = max_s m_s,
// w_s = exp(m_s − M) and L = Σ_s w_s·l_s, the state is Σ_s w_s·acc_s / L, exactly the softmax
// over all patterns however they were split or chunked. Also writes lse = M + ln L (for the
// energy) and the step's convergence test (what change.wgsl does on the unfused path): the
// largest |new − old| per row, and over the block in `flag`.
//
// One workgroup per query; the split weights live in workgroup memory so that each feature's
// sum over splits costs one read per split. The workgroup reductions come from
// reduce_shared.wgsl or reduce_subgroup.wgsl (prepended).

struct Params {
    rows: u32,
    dim: u32,
    splits: u32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> ml: array<vec2<f32>>;
@group(0) @binding(2) var<storage, read> part: array<f32>;
@group(0) @binding(3) var<storage, read> old_states: array<f32>;
@group(0) @binding(4) var<storage, read_write> new_states: array<f32>;
@group(0) @binding(5) var<storage, read_write> lse: array<f32>;
@group(0) @binding(6) var<storage, read_write> delta: array<f32>;
@group(0) @binding(7) var<storage, read_write> flag: atomic<u32>;

const WG: u32 = 256u;
// The host never plans more splits than this.
const MAX_SPLITS: u32 = 1024u;
const LOWEST: f32 = -3.402823e38;

var<workgroup> w: array<f32, MAX_SPLITS>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, lanes: Lanes) {
    let row = wg.x;
    let t = lanes.t;
    if (row >= p.rows) {
        return;
    }
    var mx = LOWEST;
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
    let l = workgroup_sum(lanes, sum);
    let inv = 1.0 / l;
    var change = 0.0;
    for (var f = t; f < p.dim; f += WG) {
        var o = 0.0;
        for (var s = 0u; s < p.splits; s++) {
            o = fma(w[s], part[(s * p.rows + row) * p.dim + f], o);
        }
        o *= inv;
        let i = row * p.dim + f;
        new_states[i] = o;
        change = max(change, abs(o - old_states[i]));
    }
    change = workgroup_max(lanes, change);
    if (t == 0u) {
        lse[row] = m + log(l);
        delta[row] = change;
        atomicMax(&flag, bitcast<u32>(change));
    }
}
