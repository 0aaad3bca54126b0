// Convergence test of one update step: delta[r] = max_k |new[r, k] − old[r, k]|, and the
// largest delta of the block in `flag`, the only thing the host reads between steps.
//
// A workgroup takes one slice of SLICE features of one row (a 2-D grid), so no invocation walks
// a whole row of any width: a software adapter stops an invocation's loops after a fixed count
// of iterations. Slices meet through atomicMax: non-negative f32 values order the same as their
// bit patterns read as u32, so atomicMax on the bits is a float max without a float atomic
// (which WGSL does not have). The host zeroes `delta` and `flag` first.

struct Params {
    rows: u32,
    dim: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> old_states: array<f32>;
@group(0) @binding(2) var<storage, read> new_states: array<f32>;
@group(0) @binding(3) var<storage, read_write> delta: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> flag: atomic<u32>;

const WG: u32 = 64u;
const SLICE: u32 = 4096u;

var<workgroup> red: array<f32, WG>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let slice = wg.x;
    let row = wg.y;
    let lid = lid3.x;
    if (row >= p.rows) {
        return;
    }
    let end = min((slice + 1u) * SLICE, p.dim);
    var m = 0.0;
    for (var c = slice * SLICE + lid; c < end; c += WG) {
        let i = row * p.dim + c;
        m = max(m, abs(new_states[i] - old_states[i]));
    }
    red[lid] = m;
    workgroupBarrier();
    for (var s = WG / 2u; s > 0u; s >>= 1u) {
        if (lid < s) {
            red[lid] = max(red[lid], red[lid + s]);
        }
        workgroupBarrier();
    }
    if (lid == 0u) {
        let bits = bitcast<u32>(red[0]);
        atomicMax(&delta[row], bits);
        atomicMax(&flag, bits);
    }
}
