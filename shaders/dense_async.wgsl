// One asynchronous sweep of the dense network: the neurons of each query in `order`, each
// deciding from the overlaps m[q, :] (dense_overlaps.wgsl, run before the sweep) and, when it
// flips, moving every overlap by 2·σ_l·ξ_μl. That keeps a sweep at N×d work instead of N×d².
//
// One workgroup per query; its 64 invocations split the N patterns for each neuron's field,
// merge their partial fields in workgroup memory, and invocation 0 decides. Overlaps are sums
// of ±1 and stay exact integers in f32 through the incremental updates. A dispatch visits the
// positions [begin, end) of the order; states and overlaps persist in storage to the next.
// Clamped neurons keep their place in the order and are passed over; they never move the
// overlaps, but their values are in them.

@group(0) @binding(1) var<storage, read> patterns_t: array<f32>;
@group(0) @binding(2) var<storage, read> order: array<u32>;
@group(0) @binding(3) var<storage, read_write> overlaps: array<f32>;
@group(0) @binding(4) var<storage, read_write> states: array<f32>;
@group(0) @binding(5) var<storage, read> clamped: array<u32>;
@group(0) @binding(6) var<storage, read_write> last_change: array<u32>;
@group(0) @binding(7) var<storage, read_write> changed: atomic<u32>;

const WG: u32 = 64u;

var<workgroup> shifts: array<f32, WG>;
var<workgroup> sums: array<f32, WG>;
var<workgroup> flip: f32;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let q = wg.x;
    // Uniform across the workgroup, so the barriers below stay in uniform control flow.
    if (q >= p.rows) {
        return;
    }
    let m0 = q * p.n;
    var flipped = false;
    for (var k = p.begin; k < p.end; k++) {
        let l = order[k];
        // One neuron of one query, read from read-only storage: the same for the whole
        // workgroup, so skipping it keeps the barriers below in uniform control flow.
        if (clamped[q * p.clamp_stride + l] != 0u) {
            continue;
        }
        let current = states[q * p.dim + l];
        var f = field_zero();
        for (var mu = t; mu < p.n; mu += WG) {
            let x = patterns_t[l * p.n + mu];
            f = field_add(f, overlaps[m0 + mu] - current * x, x);
        }
        shifts[t] = f.shift;
        sums[t] = f.sum;
        workgroupBarrier();
        for (var s = WG / 2u; s > 0u; s >>= 1u) {
            if (t < s) {
                let g = field_merge(Field(shifts[t], sums[t]), Field(shifts[t + s], sums[t + s]));
                shifts[t] = g.shift;
                sums[t] = g.sum;
            }
            workgroupBarrier();
        }
        if (t == 0u) {
            let next = decide(sums[0], current);
            flip = 0.0;
            if (next != current) {
                states[q * p.dim + l] = next;
                flip = next;
                flipped = true;
            }
        }
        workgroupBarrier();
        let moved = flip;
        if (moved != 0.0) {
            for (var mu = t; mu < p.n; mu += WG) {
                overlaps[m0 + mu] += 2.0 * moved * patterns_t[l * p.n + mu];
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
