// The end of the top-k selection (see topk_key.wgsl): with the k-th largest key T of each row
// found, the k columns whose keys are ≥ T write (index, weight) into the row's k slots, in the
// order they claim them (the host orders the k by weight, then index). The host zeroes
// `claimed` first.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> weights: array<f32>;
@group(0) @binding(2) var<storage, read> sel: array<Sel>;
@group(0) @binding(3) var<storage, read_write> claimed: array<atomic<u32>>;
@group(0) @binding(4) var<storage, read_write> top: array<u32>;   // (index, weight bits) × k per row

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = wg.y;
    if (row >= p.rows) {
        return;
    }
    let t = sel[row];
    let start = wg.x * SEG + lid3.x;
    let end = min((wg.x + 1u) * SEG, p.cols);
    for (var c = start; c < end; c += WG) {
        let w = weights[row * p.cols + c];
        let hi = key_hi(w);
        let lo = key_lo(c);
        if (key_kept(hi, lo, t)) {
            let slot = atomicAdd(&claimed[row], 1u);
            // Exactly k keys are ≥ T; the test only keeps a bug from writing out of the row.
            if (slot < p.k) {
                let at = 2u * (row * p.k + slot);
                top[at] = c;
                top[at + 1u] = bitcast<u32>(w);
            }
        }
    }
}
