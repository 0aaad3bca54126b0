// Retrieved states O = P X: each new state is the attention-weighted sum of stored patterns,
// one chunk of patterns per dispatch; chunks after the first add to what is there.
//
// P (rows × n, row-major) and X (n × dim, row-major): P streams along its rows, X along its
// columns, so the two shared tiles are loaded with different thread-to-element maps, each
// chosen so that consecutive threads read consecutive addresses. One 64×64 output tile per
// workgroup, n consumed in slices of KT, a 4×4 register block per thread, zero-padded edges.

struct Params {
    rows: u32,        // states in this block
    n: u32,           // patterns in this chunk
    dim: u32,         // features d
    row_words: u32,   // words per stored pattern row
    ld: u32,          // row stride of the weight matrix (all N patterns)
    col_offset: u32,  // this chunk's first column in the weight matrix
    accumulate: u32,  // 1: add to the states (a later chunk); 0: overwrite them
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> states: array<f32>;

const TILE: u32 = 64u;
const KT: u32 = 16u;
const WG: u32 = 16u;

var<workgroup> w_tile: array<array<f32, TILE>, KT>;   // [k][row]
var<workgroup> x_tile: array<array<f32, TILE>, KT>;   // [k][feature]

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let row0 = wg.y * TILE;
    let col0 = wg.x * TILE;
    let tx = lid.x;
    let ty = lid.y;
    let flat = ty * WG + tx;

    var acc: array<array<f32, 4>, 4>;
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            acc[i][j] = 0.0;
        }
    }

    for (var k0 = 0u; k0 < p.n; k0 += KT) {
        for (var l = 0u; l < 4u; l++) {
            let idx = flat + l * 256u;
            // weights: consecutive threads along k (contiguous in a row of P)
            let wr = idx / KT;
            let wk = idx % KT;
            var wv = 0.0;
            if (row0 + wr < p.rows && k0 + wk < p.n) {
                wv = weights[(row0 + wr) * p.ld + p.col_offset + k0 + wk];
            }
            w_tile[wk][wr] = wv;
            // patterns: consecutive threads along the feature axis (contiguous in a row of X)
            let xk = idx / TILE;
            let xc = idx % TILE;
            var xv = 0.0;
            if (k0 + xk < p.n && col0 + xc < p.dim) {
                xv = pattern(k0 + xk, col0 + xc, p.row_words);
            }
            x_tile[xk][xc] = xv;
        }
        workgroupBarrier();
        for (var k = 0u; k < KT; k++) {
            var a: array<f32, 4>;
            var b: array<f32, 4>;
            for (var i = 0u; i < 4u; i++) {
                a[i] = w_tile[k][ty + i * WG];
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
            if (r < p.rows && c < p.dim) {
                var prior = 0.0;
                if (p.accumulate != 0u) {
                    prior = states[r * p.dim + c];
                }
                states[r * p.dim + c] = prior + acc[i][j];
            }
        }
    }
}
