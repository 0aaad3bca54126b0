// Prelude of the dense-network updates: the field of neuron l,
//   Σ_μ F(a_μ + ξ_μl) − F(a_μ − ξ_μl),  a_μ = m_μ − σ_l ξ_μl (the overlap without neuron l),
// whose sign is the update (Krotov & Hopfield 2016). Only its sign matters, so for
// F(z) = exp(βz) the sum is kept scaled by exp(−β·shift), with shift the largest a_μ + 1 seen
// so far (online, as in a streaming softmax): every exponent is ≤ 0 and nothing overflows.
// Partial sums merge by rescaling to the larger shift.

struct Field {
    shift: f32,
    sum: f32,
}

const LOWEST: f32 = -3.402823e38;

fn field_zero() -> Field {
    return Field(LOWEST, 0.0);
}

// z^n by repeated products: pow() is undefined for a negative base.
fn power(z: f32, n: u32) -> f32 {
    var r = 1.0;
    for (var i = 0u; i < n; i++) {
        r *= z;
    }
    return r;
}

fn interaction(z: f32) -> f32 {
    if (p.kind == 1u) {
        return power(max(z, 0.0), p.power);
    }
    return power(z, p.power);
}

fn field_add(f: Field, a: f32, x: f32) -> Field {
    if (p.kind != 2u) {
        return Field(f.shift, f.sum + interaction(a + x) - interaction(a - x));
    }
    var r = f;
    let top = a + 1.0;
    if (top > r.shift) {
        r.sum *= exp(p.beta * (r.shift - top));
        r.shift = top;
    }
    r.sum += exp(p.beta * (a + x - r.shift)) - exp(p.beta * (a - x - r.shift));
    return r;
}

fn field_merge(f: Field, g: Field) -> Field {
    if (p.kind != 2u) {
        return Field(f.shift, f.sum + g.sum);
    }
    let s = max(f.shift, g.shift);
    return Field(s, f.sum * exp(p.beta * (f.shift - s)) + g.sum * exp(p.beta * (g.shift - s)));
}
