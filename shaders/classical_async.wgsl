// One asynchronous sweep of the classical network: the neurons of each query are visited in
// `order` (the host's permutation for this sweep, the same the CPU path uses), and each sees
// the flips before it.
//
// One workgroup per query. The visit is sequential by nature, so the parallelism is inside
// each neuron: the 64 invocations split the dot product Σ_j C[l, j] σ[j] (a contiguous row of
// C, read coalesced), reduce it in workgroup memory, and invocation 0 decides and writes σ[l].
// The state stays in storage (d is not bounded by workgroup memory); storageBarrier makes the
// write visible before the next neuron's dot product. A dispatch visits the positions
// [begin, end) of the order; the state persists in storage to the next dispatch. Clamped
// neurons keep their place in the order and are passed over.

@group(0) @binding(1) var<storage, read> weights: array<f32>;
@group(0) @binding(2) var<storage, read> thresholds: array<f32>;
@group(0) @binding(3) var<storage, read> order: array<u32>;
@group(0) @binding(4) var<storage, read_write> states: array<f32>;
@group(0) @binding(5) var<storage, read> clamped: array<u32>;
@group(0) @binding(6) var<storage, read_write> last_change: array<u32>;
@group(0) @binding(7) var<storage, read_write> changed: atomic<u32>;

const WG: u32 = 64u;

var<workgroup> partial: array<f32, WG>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let q = wg.x;
    // Uniform across the workgroup, so the barriers below stay in uniform control flow.
    if (q >= p.rows) {
        return;
    }
    let base = q * p.dim;
    var flipped = false;
    for (var k = p.begin; k < p.end; k++) {
        let l = order[k];
        // One neuron of one query, read from read-only storage: the same for the whole
        // workgroup, so skipping it keeps the barriers below in uniform control flow.
        if (clamped[q * p.clamp_stride + l] != 0u) {
            continue;
        }
        var h = 0.0;
        for (var j = t; j < p.dim; j += WG) {
            h += weights[l * p.dim + j] * states[base + j];
        }
        partial[t] = h;
        workgroupBarrier();
        for (var s = WG / 2u; s > 0u; s >>= 1u) {
            if (t < s) {
                partial[t] += partial[t + s];
            }
            workgroupBarrier();
        }
        if (t == 0u) {
            let current = states[base + l];
            let next = decide(partial[0] - thresholds[l], current);
            if (next != current) {
                states[base + l] = next;
                flipped = true;
            }
        }
        storageBarrier();
        workgroupBarrier();
    }
    if (flipped) {
        last_change[q] = p.sweep;
        atomicAdd(&changed, 1u);
    }
}
