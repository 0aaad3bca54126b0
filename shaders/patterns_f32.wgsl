// Stored patterns in f32, each row padded with zeros to a multiple of 4 elements, so that a
// row is a whole number of 16-byte quads. Prepended to every kernel that reads patterns, so
// each kernel is written once for both storage precisions.

@group(0) @binding(2) var<storage, read> patterns: array<vec4<f32>>;

// Element `col` of pattern `row`; `row_words` is the padded row length in 32-bit words.
fn pattern(row: u32, col: u32, row_words: u32) -> f32 {
    let i = row * row_words + col;
    return patterns[i >> 2u][i & 3u];
}

// Elements 4·quad … 4·quad + 3 of pattern `row`, in one 16-byte load.
fn pattern4(row: u32, quad: u32, row_words: u32) -> vec4<f32> {
    return patterns[((row * row_words) >> 2u) + quad];
}
