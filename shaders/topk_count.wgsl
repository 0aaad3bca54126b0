// One pass of the top-k selection (see topk_key.wgsl): per row, how many keys that agree with
// the bytes found so far have each value of the next byte. A workgroup counts its segment in
// workgroup memory and adds the non-zero counts to the row's 256; the host zeroes them before
// the first pass and each pick zeroes its row's after reading them.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> values: array<f32>;   // weights, or scores (Separation::TopK)
@group(0) @binding(2) var<storage, read> sel: array<Sel>;
@group(0) @binding(3) var<storage, read_write> counts: array<atomic<u32>>;

var<workgroup> local_counts: array<atomic<u32>, WG>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let lid = lid3.x;
    let row = wg.y;
    atomicStore(&local_counts[lid], 0u);
    workgroupBarrier();
    if (row < p.rows) {
        let s = sel[row];
        let start = wg.x * SEG + lid;
        let end = min((wg.x + 1u) * SEG, p.cols);
        for (var c = start; c < end; c += WG) {
            let hi = key_hi(values[row * p.cols + c]);
            let lo = key_lo(c);
            if (key_agrees(hi, lo, s, p.byte)) {
                atomicAdd(&local_counts[key_byte(hi, lo, p.byte)], 1u);
            }
        }
    }
    workgroupBarrier();
    let n = atomicLoad(&local_counts[lid]);
    if (row < p.rows && n > 0u) {
        atomicAdd(&counts[row * WG + lid], n);
    }
}
