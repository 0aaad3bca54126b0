// Workgroup-wide reductions of one f32 per invocation (256 invocations), through a tree in
// workgroup memory: the portable path, for adapters without subgroup operations (the GL
// backend, and any adapter without wgpu's SUBGROUP feature). reduce_subgroup.wgsl has the same
// functions. Call them from workgroup-uniform control flow: they contain barriers.

struct Lanes {
    @builtin(local_invocation_index) t: u32,
}

const REDUCE_WG: u32 = 256u;

var<workgroup> red: array<f32, REDUCE_WG>;

fn workgroup_max(lanes: Lanes, v: f32) -> f32 {
    let t = lanes.t;
    red[t] = v;
    workgroupBarrier();
    for (var s = REDUCE_WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            red[t] = max(red[t], red[t + s]);
        }
        workgroupBarrier();
    }
    let out = red[0];
    // Every invocation has read red[0] before the next reduction overwrites it.
    workgroupBarrier();
    return out;
}

fn workgroup_sum(lanes: Lanes, v: f32) -> f32 {
    let t = lanes.t;
    red[t] = v;
    workgroupBarrier();
    for (var s = REDUCE_WG / 2u; s > 0u; s >>= 1u) {
        if (t < s) {
            red[t] = red[t] + red[t + s];
        }
        workgroupBarrier();
    }
    let out = red[0];
    workgroupBarrier();
    return out;
}
