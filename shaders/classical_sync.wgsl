// One synchronous sweep of the classical network for a batch:
//   new[q, i] = sign(Σ_j C[i, j] old[q, j] − t[i]),  C = d·W, t = d·θ.
// The scale d changes no sign and makes Hebbian weights integers, whose sums are exact in f32.
//
// One invocation per (neuron i, query q). C is symmetric, so invocation i walks column i:
// neighbouring invocations read neighbouring words of each row of C, and old[q, j] is the same
// word for the whole workgroup. Each dispatch sums the columns j in [begin, end) onto the
// field kept in `fields` since the previous one, so the sum runs in the same order as one
// loop would; the dispatch that reaches j = d decides. A clamped neuron needs no field: it
// only copies its state across, in that last dispatch.

@group(0) @binding(1) var<storage, read> weights: array<f32>;
@group(0) @binding(2) var<storage, read> thresholds: array<f32>;
@group(0) @binding(3) var<storage, read> old_states: array<f32>;
@group(0) @binding(4) var<storage, read_write> new_states: array<f32>;
@group(0) @binding(5) var<storage, read_write> fields: array<f32>;
@group(0) @binding(6) var<storage, read> clamped: array<u32>;
@group(0) @binding(7) var<storage, read_write> last_change: array<u32>;
@group(0) @binding(8) var<storage, read_write> changed: atomic<u32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    let q = gid.y;
    if (i >= p.dim || q >= p.rows) {
        return;
    }
    let base = q * p.dim;
    if (clamped[q * p.clamp_stride + i] != 0u) {
        if (p.end == p.dim) {
            new_states[base + i] = old_states[base + i];
        }
        return;
    }
    var h = 0.0;
    if (p.begin > 0u) {
        h = fields[base + i];
    }
    for (var j = p.begin; j < p.end; j++) {
        h += weights[j * p.dim + i] * old_states[base + j];
    }
    if (p.end < p.dim) {
        fields[base + i] = h;
        return;
    }
    let current = old_states[base + i];
    let next = decide(h - thresholds[i], current);
    new_states[base + i] = next;
    if (next != current) {
        // Every invocation of this query that flips writes the same value.
        last_change[q] = p.sweep;
        atomicAdd(&changed, 1u);
    }
}
