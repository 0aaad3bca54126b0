// The epilogue of a projection `x·Wᵀ + b` (similarity.wgsl computes x·Wᵀ as scores with β = 1)
// and the layer's output activation: y ← act(y + b[column]), in place, one element per
// invocation.

struct Params {
    len: u32,        // elements: rows × cols
    cols: u32,
    bias: u32,       // 1: add bias[column]; 0: the bias binding is a placeholder
    act: u32,        // 0: none, 1: tanh, 2: relu, 3: sigmoid (torch's)
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> y: array<f32>;
@group(0) @binding(2) var<storage, read> bias: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    // Elements past the per-dimension workgroup limit continue along y.
    let i = (wg.y * groups.x + wg.x) * 256u + t;
    if (i >= p.len) {
        return;
    }
    var v = y[i];
    if (p.bias != 0u) {
        v += bias[i % p.cols];
    }
    switch p.act {
        case 1u: {
            v = tanh(v);
        }
        case 2u: {
            v = max(v, 0.0);
        }
        case 3u: {
            v = 1.0 / (1.0 + exp(-v));
        }
        default: {}
    }
    y[i] = v;
}
