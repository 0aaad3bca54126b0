// Workgroup-wide reductions of one f32 per invocation (256 invocations) with subgroup
// operations: each subgroup reduces in registers, then every invocation folds the per-subgroup
// results (at most 32 on an 8-wide adapter, 8 on NVIDIA's 32-wide subgroups) — two barriers
// instead of the nine of the tree in reduce_shared.wgsl. Indexed by subgroup_id, so nothing
// assumes which invocations share a subgroup, nor its size. Compiled only when the device
// has wgpu's SUBGROUP feature. Call from workgroup-uniform control flow.

struct Lanes {
    @builtin(local_invocation_index) t: u32,
    @builtin(subgroup_id) subgroup: u32,
    @builtin(subgroup_invocation_id) lane: u32,
    @builtin(num_subgroups) subgroups: u32,
}

var<workgroup> red: array<f32, 256>;

fn workgroup_max(lanes: Lanes, v: f32) -> f32 {
    let s = subgroupMax(v);
    if (lanes.lane == 0u) {
        red[lanes.subgroup] = s;
    }
    workgroupBarrier();
    var out = red[0];
    for (var i = 1u; i < lanes.subgroups; i++) {
        out = max(out, red[i]);
    }
    // Every invocation has read red before the next reduction overwrites it.
    workgroupBarrier();
    return out;
}

fn workgroup_sum(lanes: Lanes, v: f32) -> f32 {
    let s = subgroupAdd(v);
    if (lanes.lane == 0u) {
        red[lanes.subgroup] = s;
    }
    workgroupBarrier();
    var out = red[0];
    for (var i = 1u; i < lanes.subgroups; i++) {
        out += red[i];
    }
    workgroupBarrier();
    return out;
}
