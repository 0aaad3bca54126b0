// Association masks: a forbidden (state, stored pattern) pair gets the score −∞, so the softmax
// that follows gives it a weight of exactly 0, as PyTorch's masked_fill(−inf) + softmax does.
// A row whose every entry is masked therefore has no finite maximum and its softmax is NaN, as
// in PyTorch: the mask does not invent a distribution the caller did not ask for.
//
// A separate pass rather than a branch in softmax.wgsl keeps the retrieval softmax, which never
// sees a mask, exactly as it was; the pass is one read and at most one write per score.

struct Params {
    len: u32,         // scores in this problem (rows × cols)
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> scores: array<f32>;
@group(0) @binding(2) var<storage, read> mask: array<u32>;   // 1 = masked, one word per score

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let i = gid.x;
    if (i < p.len && mask[i] != 0u) {
        // −∞ cannot be a WGSL constant, nor a constant expression (Tint rejects the bitcast of
        // its bits as unrepresentable); bits loaded from a `var` are a runtime value.
        var neg_inf_bits = 0xff800000u;
        scores[i] = bitcast<f32>(neg_inf_bits);
    }
}
