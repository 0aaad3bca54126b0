// Stored patterns in f32: one word per element. Prepended to every kernel that reads patterns,
// so each kernel is written once for both storage precisions.

@group(0) @binding(2) var<storage, read> patterns: array<f32>;

fn pattern(row: u32, col: u32, row_words: u32) -> f32 {
    return patterns[row * row_words + col];
}
