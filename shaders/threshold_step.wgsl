// One step of the threshold search (see threshold.wgsl): per row, the mass at the interval's
// midpoint, summed over the segments threshold_mass.wgsl wrote, decides which half keeps
// mass(lo) ≥ 1 > mass(hi). Once the midpoint rounds to an end the interval is one rounding
// wide and stays as it is, so running more steps than a row needs changes nothing.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> sums: array<vec4<f32>>;
@group(0) @binding(2) var<storage, read_write> interval: array<vec2<f32>>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, lanes: Lanes) {
    let row = wg.x;
    if (row >= p.rows) {
        return;
    }
    var m = 0.0;
    for (var s = lanes.t; s < p.segments; s += WG) {
        m += sums[row * p.segments + s].x;
    }
    let mass = workgroup_sum(lanes, m);
    if (lanes.t == 0u) {
        let iv = interval[row];
        // The same midpoint threshold_mass evaluated, by the same arithmetic.
        let mid = 0.5 * (iv.x + iv.y);
        if (mid > iv.x && mid < iv.y) {
            interval[row] = select(vec2<f32>(iv.x, mid), vec2<f32>(mid, iv.y), mass >= 1.0);
        }
    }
}
