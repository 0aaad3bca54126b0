// Stored patterns in f16, packed two to a 32-bit word (element 2k in the low half). Widened to
// f32 on load with unpack2x16float, which is core WGSL: no SHADER_F16 feature is needed, and all
// arithmetic stays f32. Prepended to every kernel that reads patterns.

@group(0) @binding(2) var<storage, read> patterns: array<u32>;

fn pattern(row: u32, col: u32, row_words: u32) -> f32 {
    let pair = unpack2x16float(patterns[row * row_words + (col >> 1u)]);
    return select(pair.x, pair.y, (col & 1u) == 1u);
}
