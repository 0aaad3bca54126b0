// Retrieved states O = P X: each new state is the attention-weighted sum of stored patterns.
//
// A dispatch takes `splits` consecutive runs of at most split_len patterns of one chunk (from
// pattern `first`), one run per workgroup layer z, and writes each run's sum into its own
// slice of `out`: split-N, so that no invocation walks all N patterns (a software adapter
// stops an invocation's loops after a fixed count of iterations, Mesa's llvmpipe at 65,535,
// silently) and so that a few queries still fill a GPU with workgroups. sum_splits.wgsl adds
// the slices into the states. A dispatch of one run may write the states themselves, adding
// to them (`accumulate`) after the first chunk.
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
    first: u32,       // the chunk's first pattern of this dispatch
    split_len: u32,   // patterns per run (one run per workgroup layer z)
    accumulate: u32,  // 1: add to what `out` holds; 0: overwrite it
    _pad0: u32,
    _pad1: u32,
    _pad2: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> weights: array<f32>;
@group(0) @binding(3) var<storage, read_write> out: array<f32>;   // [run][row][feature]

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
    let start = p.first + wg.z * p.split_len;
    let end = min(start + p.split_len, p.n);

    var acc: array<array<f32, 4>, 4>;
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 4u; j++) {
            acc[i][j] = 0.0;
        }
    }

    for (var k0 = start; k0 < end; k0 += KT) {
        for (var l = 0u; l < 4u; l++) {
            let idx = flat + l * 256u;
            // weights: consecutive threads along k (contiguous in a row of P)
            let wr = idx / KT;
            let wk = idx % KT;
            var wv = 0.0;
            if (row0 + wr < p.rows && k0 + wk < end) {
                wv = weights[(row0 + wr) * p.ld + p.col_offset + k0 + wk];
            }
            w_tile[wk][wr] = wv;
            // patterns: consecutive threads along the feature axis (contiguous in a row of X)
            let xk = idx / TILE;
            let xc = idx % TILE;
            var xv = 0.0;
            if (k0 + xk < end && col0 + xc < p.dim) {
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

    let slice = wg.z * p.rows * p.dim;
    for (var i = 0u; i < 4u; i++) {
        let r = row0 + ty + i * WG;
        for (var j = 0u; j < 4u; j++) {
            let c = col0 + tx + j * WG;
            if (r < p.rows && c < p.dim) {
                let at = slice + r * p.dim + c;
                var prior = 0.0;
                if (p.accumulate != 0u) {
                    prior = out[at];
                }
                out[at] = prior + acc[i][j];
            }
        }
    }
}
