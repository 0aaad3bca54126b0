// Overlaps of a batch of binary states with the stored patterns: m[q, μ] = Σ_j σ[q, j] ξ[μ, j].
// Sums of ±1 are integers, exact in f32. The patterns are stored transposed (d×N), so
// invocation μ reads word j·N + μ: neighbouring invocations, neighbouring words. A dispatch
// adds the neurons j in [begin, end) to what the previous ones left in `overlaps`.

@group(0) @binding(1) var<storage, read> patterns_t: array<f32>;
@group(0) @binding(2) var<storage, read> states: array<f32>;
@group(0) @binding(3) var<storage, read_write> overlaps: array<f32>;

@compute @workgroup_size(64, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let mu = gid.x;
    let q = gid.y;
    if (mu >= p.n || q >= p.rows) {
        return;
    }
    var m = 0.0;
    if (p.begin > 0u) {
        m = overlaps[q * p.n + mu];
    }
    for (var j = p.begin; j < p.end; j++) {
        m += states[q * p.dim + j] * patterns_t[j * p.n + mu];
    }
    overlaps[q * p.n + mu] = m;
}
