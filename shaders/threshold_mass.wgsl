// One pass of the threshold search (see threshold.wgsl) over one segment of one row: the mass
// Σ[y − t]₊^q at the midpoint t of the row's interval, or, in the last pass (at_lo), at t = lo
// the three sums the Newton step needs, (Σw^q, Σw^(q+1), Σw^(q−1)) over w = y − t > 0. The
// last two cost no power of their own: w^q·w and w^q/w.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> scores: array<f32>;
@group(0) @binding(2) var<storage, read> interval: array<vec2<f32>>;
@group(0) @binding(3) var<storage, read_write> sums: array<vec4<f32>>;   // [row][segment]

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, lanes: Lanes) {
    let seg = wg.x;
    let row = wg.y;
    if (row >= p.rows || seg >= p.segments) {
        return;
    }
    let iv = interval[row];
    // Uniform (a parameter), so the reductions below stay in uniform control flow.
    let at_lo = p.at_lo != 0u;
    let t = select(0.5 * (iv.x + iv.y), iv.x, at_lo);
    let base = row * p.cols;
    let end = min((seg + 1u) * SEG, p.cols);
    var acc = vec3<f32>(0.0);
    for (var c = seg * SEG + lanes.t; c < end; c += WG) {
        let w = p.scale * scores[base + c] - t;
        if (w > 0.0) {
            let u = power(w, p.q);
            acc += vec3<f32>(u, u * w, u / w);
        }
    }
    let mass = workgroup_sum(lanes, acc.x);
    var out = vec4<f32>(mass, 0.0, 0.0, 0.0);
    if (at_lo) {
        out.y = workgroup_sum(lanes, acc.y);
        out.z = workgroup_sum(lanes, acc.z);
    }
    if (lanes.t == 0u) {
        sums[row * p.segments + seg] = out;
    }
}
