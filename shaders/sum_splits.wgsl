// Adds the per-run partial states of weighted_sum.wgsl into the states:
// states[e] = (accumulate ? states[e] : 0) + Σ_s part[s][e], one invocation per element.
// The host bounds the runs per dispatch, so each invocation's loop is short on any adapter;
// a 2-D grid keeps large blocks within the per-dimension workgroup limit.

struct Params {
    elems: u32,        // rows × dim
    splits: u32,       // runs in `part`
    accumulate: u32,   // 1: add to the states (a later dispatch); 0: overwrite them
    groups_x: u32,     // workgroups along x of this dispatch
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> part: array<f32>;
@group(0) @binding(2) var<storage, read_write> states: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let e = (wg.y * p.groups_x + wg.x) * 256u + t;
    if (e >= p.elems) {
        return;
    }
    var sum = 0.0;
    if (p.accumulate != 0u) {
        sum = states[e];
    }
    for (var s = 0u; s < p.splits; s++) {
        sum += part[s * p.elems + e];
    }
    states[e] = sum;
}
