// One pick of the top-k selection (see topk_key.wgsl): a workgroup per row reads the row's 256
// counts of the next key byte, finds the byte value where the k-th largest key falls (counting
// from the largest value down), records it, subtracts the keys above it from those still to
// find, and zeroes the counts for the next pass. Byte 0 starts the row: nothing found, k to
// find.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> sel: array<Sel>;
@group(0) @binding(2) var<storage, read_write> counts: array<u32>;

// above[v]: keys whose byte is greater than v, by a suffix scan.
var<workgroup> above: array<u32, WG>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let v = lid3.x;
    let row = wg.x;
    // Every invocation reaches every barrier: the row test guards the memory accesses only.
    let live = row < p.rows;
    var s = Sel(0u, 0u, p.k, 0u);
    var here = 0u;
    if (live) {
        if (p.byte > 0u) {
            s = sel[row];
        }
        here = counts[row * WG + v];
    }
    // Inclusive suffix sums, Hillis–Steele: after the loop above[v] = Σ_{u ≥ v} count[u].
    above[v] = here;
    workgroupBarrier();
    for (var step = 1u; step < WG; step <<= 1u) {
        var add = 0u;
        if (v + step < WG) {
            add = above[v + step];
        }
        workgroupBarrier();
        above[v] += add;
        workgroupBarrier();
    }
    let greater = above[v] - here;
    if (live) {
        if (here > 0u && greater < s.need && s.need <= greater + here) {
            var found = s;
            if (p.byte < 4u) {
                found.hi = s.hi | (v << (24u - 8u * p.byte));
            } else {
                found.lo = s.lo | (v << (24u - 8u * (p.byte - 4u)));
            }
            found.need = s.need - greater;
            sel[row] = found;
        }
        counts[row * WG + v] = 0u;
    }
}
