// Prelude of every binary-network kernel (classical and dense): the parameter block they share
// and the sign rule. A zero field keeps the neuron's state (binary::sign on the host), so a
// zero field is never a change and both backends agree on what a fixed point is.

struct Params {
    rows: u32,   // queries in the batch
    dim: u32,    // neurons d
    n: u32,      // stored patterns (dense network)
    sweep: u32,  // 1-based number of this sweep: what last_change records on a flip
    kind: u32,   // dense interaction: 0 polynomial, 1 rectified polynomial, 2 exponential
    power: u32,  // n of the polynomials
    beta: f32,   // β of the exponential
    // The range of the walked axis this dispatch covers: the host splits every long loop
    // (over d or N) into dispatches of bounded trip count, because Mesa's llvmpipe silently
    // ends an invocation after 65,535 loop iterations in total.
    begin: u32,
    end: u32,
    // Words between two queries' rows of clamp flags (d), or 0 where one row serves them all.
    clamp_stride: u32,
    _pad: u32,
}

@group(0) @binding(0) var<uniform> p: Params;

fn decide(field: f32, current: f32) -> f32 {
    if (field > 0.0) {
        return 1.0;
    }
    if (field < 0.0) {
        return -1.0;
    }
    return current;
}
