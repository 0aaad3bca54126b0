// Fused retrieval for many queries (FlashAttention-2 style). A workgroup takes a tile of QB
// queries and one split of a chunk's patterns; per tile of TR patterns it forms the QB × TR
// scores with 4×4 register blocks (as similarity.wgsl does), folds them into a running max m,
// sum l and weighted sum acc per query (online softmax), and multiplies the weights with the
// tile's patterns over one slice of DS output features with 4×8 register blocks. The scores
// never leave workgroup memory; merge.wgsl combines the splits by log-sum-exp. Patterns are
// read one 16-byte quad per load (rows are padded to whole quads).
//
// Every workgroup array element is written before it is read (the host skips wgpu's zeroing
// of workgroup memory for this kernel: see Kernel::writing_before_reading); keep it so.

struct Params {
    rows: u32,        // queries in this block
    n: u32,           // patterns in this chunk
    dim: u32,         // features d
    row_words: u32,   // words per stored pattern row
    split_len: u32,   // patterns per split, a multiple of TR
    split0: u32,      // this chunk's first split in the partials
    beta: f32,
    _pad0: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read> states: array<f32>;
@group(0) @binding(3) var<storage, read_write> ml: array<vec2<f32>>;  // (m, l) per split, query
@group(0) @binding(4) var<storage, read_write> part: array<f32>;      // acc per split, query, feature

const QB: u32 = 64u;
const TR: u32 = 64u;
const KT: u32 = 16u;
const DS: u32 = 128u;
const WG: u32 = 16u;
// A padded score row, so threads walking one column of different rows hit different banks.
const SS: u32 = TR + 1u;
// Scores are refused above 1e37 on the host, so this never collides with a real score.
const LOWEST: f32 = -3.402823e38;

// Scores: queries [KT][QB] then patterns [KT][TR]. Weighted sum: patterns [KT][DS].
var<workgroup> stage: array<f32, 2048>;
var<workgroup> p_tile: array<f32, 4160>;   // QB × SS
var<workgroup> red: array<f32, 256>;
var<workgroup> m_run: array<f32, QB>;
var<workgroup> l_run: array<f32, QB>;
var<workgroup> scale: array<f32, QB>;

@compute @workgroup_size(16, 16, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_id) lid: vec3<u32>) {
    let split = wg.x;
    let q0 = wg.y * QB;
    let f0 = wg.z * DS;
    let start = split * p.split_len;
    let end = min(start + p.split_len, p.n);
    let tx = lid.x;
    let ty = lid.y;
    let t = ty * WG + tx;
    // Row statistics: four threads per query row, 16 scores each.
    let row = t / 4u;
    let quarter = t % 4u;

    if (t < QB) {
        m_run[t] = LOWEST;
        l_run[t] = 0.0;
    }
    var acc: array<array<f32, 8>, 4>;
    for (var i = 0u; i < 4u; i++) {
        for (var j = 0u; j < 8u; j++) {
            acc[i][j] = 0.0;
        }
    }

    for (var r0 = start; r0 < end; r0 += TR) {
        var s: array<array<f32, 4>, 4>;
        for (var i = 0u; i < 4u; i++) {
            for (var j = 0u; j < 4u; j++) {
                s[i][j] = 0.0;
            }
        }
        for (var k0 = 0u; k0 < p.dim; k0 += KT) {
            for (var l = 0u; l < 4u; l++) {
                let idx = t + l * 256u;
                let r = idx / KT;
                let k = idx % KT;
                var qv = 0.0;
                if (q0 + r < p.rows && k0 + k < p.dim) {
                    qv = states[(q0 + r) * p.dim + k0 + k];
                }
                stage[k * QB + r] = qv;
            }
            // One 16-byte quad of one pattern per thread; stored k-major like the queries.
            let xr = t / (KT / 4u);
            let xq = t % (KT / 4u);
            var xv = vec4<f32>(0.0);
            if (r0 + xr < end && k0 + 4u * xq < p.dim) {
                xv = pattern4(r0 + xr, k0 / 4u + xq, p.row_words);
            }
            let at = KT * QB + 4u * xq * TR + xr;
            stage[at] = xv.x;
            stage[at + TR] = xv.y;
            stage[at + 2u * TR] = xv.z;
            stage[at + 3u * TR] = xv.w;
            workgroupBarrier();
            for (var k = 0u; k < KT; k++) {
                var a: array<f32, 4>;
                var b: array<f32, 4>;
                for (var i = 0u; i < 4u; i++) {
                    a[i] = stage[k * QB + ty + i * WG];
                    b[i] = stage[KT * QB + k * TR + tx + i * WG];
                }
                for (var i = 0u; i < 4u; i++) {
                    for (var j = 0u; j < 4u; j++) {
                        s[i][j] = fma(a[i], b[j], s[i][j]);
                    }
                }
            }
            workgroupBarrier();
        }
        for (var i = 0u; i < 4u; i++) {
            for (var j = 0u; j < 4u; j++) {
                let c = tx + j * WG;
                // beta after the dot product: the sum stays in the patterns' scale.
                p_tile[(ty + i * WG) * SS + c] = select(LOWEST, p.beta * s[i][j], r0 + c < end);
            }
        }
        workgroupBarrier();

        var mx = LOWEST;
        for (var c = 0u; c < 16u; c++) {
            mx = max(mx, p_tile[row * SS + quarter * 16u + c]);
        }
        red[t] = mx;
        workgroupBarrier();
        let m_old = m_run[row];
        let base = row * 4u;
        let m_new = max(m_old, max(max(red[base], red[base + 1u]), max(red[base + 2u], red[base + 3u])));
        var sum = 0.0;
        for (var c = 0u; c < 16u; c++) {
            let i = row * SS + quarter * 16u + c;
            let v = p_tile[i];
            let e = select(0.0, exp(v - m_new), v > LOWEST);
            p_tile[i] = e;
            sum += e;
        }
        // Every thread has read red and m_run before they are overwritten.
        workgroupBarrier();
        red[t] = sum;
        workgroupBarrier();
        if (quarter == 0u) {
            let sc = exp(m_old - m_new);
            scale[row] = sc;
            m_run[row] = m_new;
            l_run[row] = l_run[row] * sc + (red[base] + red[base + 1u]) + (red[base + 2u] + red[base + 3u]);
        }
        workgroupBarrier();

        for (var i = 0u; i < 4u; i++) {
            let sc = scale[ty + i * WG];
            for (var j = 0u; j < 8u; j++) {
                acc[i][j] *= sc;
            }
        }
        for (var h = 0u; h < TR; h += KT) {
            for (var l = 0u; l < KT * DS / 1024u; l++) {
                let idx = t + l * 256u;
                let r = idx / (DS / 4u);
                let fq = idx % (DS / 4u);
                var v = vec4<f32>(0.0);
                if (r0 + h + r < end && f0 + 4u * fq < p.dim) {
                    v = pattern4(r0 + h + r, f0 / 4u + fq, p.row_words);
                }
                let at = r * DS + 4u * fq;
                stage[at] = v.x;
                stage[at + 1u] = v.y;
                stage[at + 2u] = v.z;
                stage[at + 3u] = v.w;
            }
            workgroupBarrier();
            for (var k = 0u; k < KT; k++) {
                var a: array<f32, 4>;
                var b: array<f32, 8>;
                for (var i = 0u; i < 4u; i++) {
                    a[i] = p_tile[(ty + i * WG) * SS + h + k];
                }
                for (var j = 0u; j < 8u; j++) {
                    b[j] = stage[k * DS + tx + j * WG];
                }
                for (var i = 0u; i < 4u; i++) {
                    for (var j = 0u; j < 8u; j++) {
                        acc[i][j] = fma(a[i], b[j], acc[i][j]);
                    }
                }
            }
            workgroupBarrier();
        }
    }

    let slot = p.split0 + split;
    if (wg.z == 0u && t < QB && q0 + t < p.rows) {
        ml[slot * p.rows + q0 + t] = vec2<f32>(m_run[t], l_run[t]);
    }
    for (var i = 0u; i < 4u; i++) {
        let q = q0 + ty + i * WG;
        for (var j = 0u; j < 8u; j++) {
            let f = f0 + tx + j * WG;
            if (q < p.rows && f < p.dim) {
                part[(slot * p.rows + q) * p.dim + f] = acc[i][j];
            }
        }
    }
}
