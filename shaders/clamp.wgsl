// Partial cues (RetrieveOptions::known with clamp_known): after each update, the features the
// caller knows go back to the values it gave, so only the unknown ones are filled in by the
// stored patterns; the change test that follows then measures the unknown features' motion.
// One invocation per feature, a workgroup per slice of 256 features of one state (a 2-D grid,
// so no dimension runs past the per-dimension workgroup limit).

struct Params {
    rows: u32,
    dim: u32,
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> known: array<u32>;   // 1 = known, one word per feature
@group(0) @binding(2) var<storage, read> cue: array<f32>;     // the queries as given
@group(0) @binding(3) var<storage, read_write> states: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(global_invocation_id) gid: vec3<u32>) {
    let f = gid.x;
    let row = gid.y;
    if (f < p.dim && row < p.rows) {
        let i = row * p.dim + f;
        if (known[i] != 0u) {
            states[i] = cue[i];
        }
    }
}
