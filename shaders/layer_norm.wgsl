// Row-wise LayerNorm in place, as torch.nn.LayerNorm computes it: biased variance, ε inside the
// square root, then the optional learned gain and bias. One workgroup per row, so no invocation
// walks a whole row: each thread takes every 256th feature (a row of at most MAX_WIDTH features,
// checked on the host, is at most 4096 trips per pass, three passes, within the software
// adapters' loop budget), and the threads' partial sums meet through the workgroup reductions
// of reduce_shared.wgsl or reduce_subgroup.wgsl (prepended).
//
// The variance is a second pass over the centred values rather than E[x²] − E[x]²: rows of a
// large mean would otherwise lose it to cancellation, and the host reference works in f64.

struct Params {
    rows: u32,
    width: u32,      // features per row (rows are contiguous)
    eps: f32,
    affine: u32,     // 1: multiply by gain and add bias; 0: the two bindings are placeholders
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> x: array<f32>;
@group(0) @binding(2) var<storage, read> gain: array<f32>;
@group(0) @binding(3) var<storage, read> bias: array<f32>;

const WG: u32 = 256u;

@compute @workgroup_size(256, 1, 1)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    lanes: Lanes,
) {
    // Rows past the per-dimension workgroup limit continue along y.
    let row = wg.y * groups.x + wg.x;
    // Uniform across the workgroup, so the barriers of the reductions stay uniform.
    if (row >= p.rows) {
        return;
    }
    let base = row * p.width;
    var s = 0.0;
    for (var c = lanes.t; c < p.width; c += WG) {
        s += x[base + c];
    }
    let mean = workgroup_sum(lanes, s) / f32(p.width);
    var v = 0.0;
    for (var c = lanes.t; c < p.width; c += WG) {
        let d = x[base + c] - mean;
        v = fma(d, d, v);
    }
    let inv = inverseSqrt(workgroup_sum(lanes, v) / f32(p.width) + p.eps);
    for (var c = lanes.t; c < p.width; c += WG) {
        var y = (x[base + c] - mean) * inv;
        if (p.affine != 0u) {
            y = fma(y, gain[c], bias[c]);
        }
        x[base + c] = y;
    }
}
