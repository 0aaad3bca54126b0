// Separation::TopK on the device: with each row's k-th largest score T found by the selection
// passes over the scores (topk_count, topk_pick), every score outside the k largest becomes
// LOWEST, so the softmax that follows (softmax_stats, softmax_apply) gives it a weight of
// exactly 0 and the k kept scores a softmax of their own, with their log-sum-exp in lse. A
// dropped score never sets a row's maximum, since the k ≥ 1 kept ones are all above LOWEST.

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> scores: array<f32>;
@group(0) @binding(2) var<storage, read> sel: array<Sel>;

const LOWEST: f32 = -3.402823e38;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid3: vec3<u32>) {
    let row = wg.y;
    if (row >= p.rows) {
        return;
    }
    let t = sel[row];
    let end = min((wg.x + 1u) * SEG, p.cols);
    for (var c = wg.x * SEG + lid3.x; c < end; c += WG) {
        let i = row * p.cols + c;
        if (!key_kept(key_hi(scores[i]), key_lo(c), t)) {
            scores[i] = LOWEST;
        }
    }
}
