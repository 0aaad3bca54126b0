// The threshold search's first interval (see threshold.wgsl): per row, [max y − 1,
// max y − N^(1−α)] from the segment maxima of the scores that softmax_stats.wgsl wrote. One
// workgroup per row; a thread reads segments / 256 of them.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> stats: array<vec2<f32>>;       // (max, sum) per segment
@group(0) @binding(2) var<storage, read_write> interval: array<vec2<f32>>;   // (lo, hi) per row

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, lanes: Lanes) {
    let row = wg.x;
    if (row >= p.rows) {
        return;
    }
    var m = LOWEST;
    for (var s = lanes.t; s < p.segments; s += WG) {
        m = max(m, stats[row * p.segments + s].x);
    }
    let top = p.scale * workgroup_max(lanes, m);
    if (lanes.t == 0u) {
        interval[row] = vec2<f32>(top - 1.0, top - exp2(-p.scale * log2(f32(p.cols))));
    }
}
