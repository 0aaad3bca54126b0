// Scores S = beta * Q Xᵀ for a block of queries against one chunk of the stored patterns,
// written into that chunk's columns of the block's score matrix.
//
// Q (rows × dim) and X (n × dim) are both row-major with the feature axis contiguous, so both
// operands stream along `dim`: one 64×64 output tile per workgroup, the shared dimension
// consumed in slices of KT, each thread accumulating a 4×4 register block. Threads own
// interleaved rows/columns (ty + 16·i, tx + 16·j) so that neighbouring threads read
// neighbouring shared-memory words and write neighbouring output columns.
// Tiles are zero-padded at the edges: no shape needs to be a multiple of the tile.
//
// One dispatch consumes only the features k_begin..k_end (at most a few thousand): a software
// adapter cuts an invocation's loops after a fixed number of iterations, so a long shared
// dimension goes in several dispatches, each adding its raw dot products to the previous ones,
// and the last multiplies the sum by beta. Each score is still one sum in feature order.

struct Params {
    rows: u32,        // queries in this block
    cols: u32,        // patterns in this chunk
    dim: u32,         // features d
    col_tile0: u32,   // first column tile of this dispatch (dispatches are split past the
                      // per-dimension workgroup limit)
    scale: f32,       // beta on the last slice of features, 1 before it
    row_words: u32,   // words per stored pattern row
    ld: u32,          // row stride of the score matrix (all N patterns)
    col_offset: u32,  // this chunk's first column in the score matrix
    k_begin: u32,     // this dispatch's features: k_begin..k_end
    k_end: u32,
    accumulate: u32,  // 1: add to the raw sums of earlier slices; 0: start afresh
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> queries: array<f32>;
@group(0) @binding(3) var<storage, read_write> scores: array<f32>;

const TILE: u32 = 64u;
const KT: u32 = 16u;
const WG: u32 = 16u;

// k-major so the inner loop reads a row of 64 contiguous words.
var<workgroup> q_tile: array<array<f32, TILE>, KT>;
var<workgroup> x_tile: array<array<f32, TILE>, KT>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wg.y * TILE;
    let col0 = (p.col_tile0 + wg.x) * TILE;
    let tx = lid.x;
    let ty = lid.y;
    let flat = ty * WG + tx;

    var acc: array<array<f32, 4>, 4>;
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            acc[i][j] = 0.0;
        }
    }

    for (var k0 = p.k_begin; k0 < p.k_end; k0 += KT) {
        // 256 threads load 64×16 elements of each operand: 4 each, consecutive threads on
        // consecutive k of one row, so global reads coalesce along the contiguous axis.
        for (var l = 0u; l < 4u; l++) {
            let idx = flat + l * 256u;
            let r = idx / KT;
            let k = idx % KT;
            let gk = k0 + k;
            var qv = 0.0;
            if (row0 + r < p.rows && gk < p.k_end) {
                qv = queries[(row0 + r) * p.dim + gk];
            }
            q_tile[k][r] = qv;
            var xv = 0.0;
            if (col0 + r < p.cols && gk < p.k_end) {
                xv = pattern(col0 + r, gk, p.row_words);
            }
            x_tile[k][r] = xv;
        }
        workgroupBarrier();
        for (var k = 0u; k < KT; k++) {
            var a: array<f32, 4>;
            var b: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                a[i] = q_tile[k][ty + i * WG];
                b[i] = x_tile[k][tx + i * WG];
            }
            for (var i = 0u; i < 4u; i++) {
                for (var j = 0u; j < 4u; j++) {
                    acc[i][j] = fma(a[i], b[j], acc[i][j]);
                }
            }
        }
        workgroupBarrier();
    }

    for (var i = 0u; i < 4u; i++) {
        let r = row0 + ty + i * WG;
        for (var j = 0u; j < 4u; j++) {
            let c = col0 + tx + j * WG;
            if (r < p.rows && c < p.cols) {
                // beta applied after the dot product: the dot stays in the patterns' own
                // scale, so a large beta cannot overflow a partial sum.
                let at = r * p.ld + p.col_offset + c;
                var prior = 0.0;
                if (p.accumulate != 0u) {
                    prior = scores[at];
                }
                scores[at] = p.scale * (prior + acc[i][j]);
            }
        }
    }
}
