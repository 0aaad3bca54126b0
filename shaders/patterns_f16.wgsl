// Stored patterns in f16, packed two to a 32-bit word (element 2k in the low half), each row
// padded with zeros to a multiple of 4 elements, so a row is a whole number of 8-byte quads.
// Widened to f32 on load with unpack2x16float, which is core WGSL: no SHADER_F16 feature is
// needed, and all arithmetic stays f32. Prepended to every kernel that reads patterns.

@group(0) @binding(2) var<storage, read> patterns: array<vec2<u32>>;

// Element `col` of pattern `row`; `row_words` is the padded row length in 32-bit words.
fn pattern(row: u32, col: u32, row_words: u32) -> f32 {
    let w = row * row_words + (col >> 1u);
    let pair = unpack2x16float(patterns[w >> 1u][w & 1u]);
    return select(pair.x, pair.y, (col & 1u) == 1u);
}

// Elements 4·quad … 4·quad + 3 of pattern `row`, in one 8-byte load.
fn pattern4(row: u32, quad: u32, row_words: u32) -> vec4<f32> {
    let w = patterns[((row * row_words) >> 1u) + quad];
    return vec4<f32>(unpack2x16float(w.x), unpack2x16float(w.y));
}
