// One synchronous sweep of the dense network: every neuron of every query decides from the
// overlaps of the old state (dense_overlaps.wgsl, run just before), into the other state
// buffer. One invocation per (neuron l, query q). A dispatch adds the patterns μ in
// [begin, end) to the partial field (shift, sum) the previous one left in `fields`, in the
// order of one pass over N; the dispatch that reaches μ = N decides. A clamped neuron needs
// no field: it only copies its state across, in that last dispatch.

@group(0) @binding(1) var<storage, read> patterns_t: array<f32>;
@group(0) @binding(2) var<storage, read> overlaps: array<f32>;
@group(0) @binding(3) var<storage, read> old_states: array<f32>;
@group(0) @binding(4) var<storage, read_write> new_states: array<f32>;
@group(0) @binding(5) var<storage, read_write> fields: array<f32>;
@group(0) @binding(6) var<storage, read> clamped: array<u32>;
@group(0) @binding(7) var<storage, read_write> last_change: array<u32>;
@group(0) @binding(8) var<storage, read_write> changed: atomic<u32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let l = gid.x;
    let q = gid.y;
    if (l >= p.dim || q >= p.rows) {
        return;
    }
    let current = old_states[q * p.dim + l];
    if (clamped[q * p.clamp_stride + l] != 0u) {
        if (p.end == p.n) {
            new_states[q * p.dim + l] = current;
        }
        return;
    }
    let at = 2u * (q * p.dim + l);
    var f = field_zero();
    if (p.begin > 0u) {
        f = Field(fields[at], fields[at + 1u]);
    }
    for (var mu = p.begin; mu < p.end; mu++) {
        let x = patterns_t[l * p.n + mu];
        f = field_add(f, overlaps[q * p.n + mu] - current * x, x);
    }
    if (p.end < p.n) {
        fields[at] = f.shift;
        fields[at + 1u] = f.sum;
        return;
    }
    let next = decide(f.sum, current);
    new_states[q * p.dim + l] = next;
    if (next != current) {
        last_change[q] = p.sweep;
        atomicAdd(&changed, 1u);
    }
}
