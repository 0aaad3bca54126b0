// Fused retrieval for a few queries ("flash-decoding"). A workgroup takes QB queries and one
// split of a chunk's patterns, and walks the split in tiles of TR patterns keeping per query the
// running max m of the scaled scores, the running sum l of exp(s − m), and the running weighted
// sum acc = Σ exp(s − m)·x over one slice of DS output features. The scores never leave the
// workgroup; merge.wgsl combines the splits by log-sum-exp.
//
// With few queries the step is bound by reading the patterns, so what matters is that each
// pattern is read coalesced, 16 bytes per load (rows are padded to whole quads), and that
// there are enough splits to fill the GPU (the host picks the split length). The second read of a tile, for the weighted sum, comes from cache.
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

// KT (features per score tile), PASSES (weighted-sum passes per pattern tile) and TILE_WORDS
// come from the tile-size prelude the host picks by the device's workgroup memory: 64, 2 and
// 4160 (18,992 bytes in all) where it has room, else 32, 4 and 2112 (10,288 bytes, within
// WebGPU's guaranteed 16 KiB).
const QB: u32 = 4u;
const TR: u32 = 64u;
const DS: u32 = 128u;
// A padded row, so the TR threads reading one column of the tile hit TR different banks.
const XS: u32 = KT + 1u;
// Scores are refused above 1e37 on the host, so this never collides with a real score.
const LOWEST: f32 = -3.402823e38;

// Scores: TR × XS pattern tile. Weighted sum: (TR / PASSES) × DS of the same patterns.
var<workgroup> tile: array<f32, TILE_WORDS>;
var<workgroup> q_tile: array<array<f32, KT>, QB>;
var<workgroup> p_tile: array<array<f32, TR>, QB>;
var<workgroup> m_run: array<f32, QB>;
var<workgroup> l_run: array<f32, QB>;
var<workgroup> scale: array<f32, QB>;
var<workgroup> red: array<f32, 64>;   // QB × 16 partial maxima or sums

@compute @workgroup_size(256, 1, 1)
fn main(@builtin(workgroup_id) wg: vec3<u32>, @builtin(local_invocation_index) t: u32) {
    let split = wg.x;
    let q0 = wg.y * QB;
    let f0 = wg.z * DS;
    let start = split * p.split_len;
    let end = min(start + p.split_len, p.n);

    // Scores: thread (sq, sr) owns query sq against pattern sr of the tile.
    let sq = t / TR;
    let sr = t % TR;
    // Weighted sum: thread owns feature f0 + af of queries aq and aq + 2.
    let af = t % DS;
    let aq = t / DS;

    if (t < QB) {
        m_run[t] = LOWEST;
        l_run[t] = 0.0;
    }
    var acc0 = 0.0;
    var acc1 = 0.0;

    for (var r0 = start; r0 < end; r0 += TR) {
        var s = 0.0;
        for (var k0 = 0u; k0 < p.dim; k0 += KT) {
            // Consecutive threads read consecutive 16-byte quads of one pattern: coalesced.
            for (var l = 0u; l < TR * KT / 1024u; l++) {
                let idx = t + l * 256u;
                let r = idx / (KT / 4u);
                let kq = idx % (KT / 4u);
                var v = vec4<f32>(0.0);
                if (r0 + r < end && k0 + 4u * kq < p.dim) {
                    v = pattern4(r0 + r, k0 / 4u + kq, p.row_words);
                }
                let at = r * XS + 4u * kq;
                tile[at] = v.x;
                tile[at + 1u] = v.y;
                tile[at + 2u] = v.z;
                tile[at + 3u] = v.w;
            }
            let qq = t / KT;
            let qk = t % KT;
            if (qq < QB) {
                var qv = 0.0;
                if (q0 + qq < p.rows && k0 + qk < p.dim) {
                    qv = states[(q0 + qq) * p.dim + k0 + qk];
                }
                q_tile[qq][qk] = qv;
            }
            workgroupBarrier();
            for (var k = 0u; k < KT; k++) {
                s = fma(q_tile[sq][k], tile[sr * XS + k], s);
            }
            workgroupBarrier();
        }
        // beta after the dot product: the sum stays in the patterns' scale.
        let valid = r0 + sr < end;
        let score = p.beta * s;
        p_tile[sq][sr] = select(LOWEST, score, valid);
        workgroupBarrier();
        // Tile statistics in two levels: 16 threads per query fold 4 scores each, then every
        // thread of the query folds those 16, so no thread walks the whole tile alone.
        let part_i = sq * 16u + sr / 4u;
        if (sr % 4u == 0u) {
            let b = sr;
            red[part_i] = max(max(p_tile[sq][b], p_tile[sq][b + 1u]), max(p_tile[sq][b + 2u], p_tile[sq][b + 3u]));
        }
        workgroupBarrier();
        var mx = m_run[sq];
        for (var i = 0u; i < 16u; i++) {
            mx = max(mx, red[sq * 16u + i]);
        }
        let e = select(0.0, exp(score - mx), valid);
        // Every thread has read m_run and red before they change.
        workgroupBarrier();
        p_tile[sq][sr] = e;
        if (sr == 0u) {
            scale[sq] = exp(m_run[sq] - mx);
            m_run[sq] = mx;
        }
        workgroupBarrier();
        if (sr % 4u == 0u) {
            let b = sr;
            red[part_i] = (p_tile[sq][b] + p_tile[sq][b + 1u]) + (p_tile[sq][b + 2u] + p_tile[sq][b + 3u]);
        }
        workgroupBarrier();
        if (sr == 0u) {
            var sum = 0.0;
            for (var i = 0u; i < 16u; i++) {
                sum += red[sq * 16u + i];
            }
            l_run[sq] = l_run[sq] * scale[sq] + sum;
        }
        acc0 *= scale[aq];
        acc1 *= scale[aq + 2u];
        for (var h = 0u; h < TR; h += TR / PASSES) {
            for (var l = 0u; l < (TR / PASSES) * DS / 1024u; l++) {
                let idx = t + l * 256u;
                let r = idx / (DS / 4u);
                let fq = idx % (DS / 4u);
                var v = vec4<f32>(0.0);
                if (r0 + h + r < end && f0 + 4u * fq < p.dim) {
                    v = pattern4(r0 + h + r, f0 / 4u + fq, p.row_words);
                }
                let at = r * DS + 4u * fq;
                tile[at] = v.x;
                tile[at + 1u] = v.y;
                tile[at + 2u] = v.z;
                tile[at + 3u] = v.w;
            }
            workgroupBarrier();
            for (var r = 0u; r < TR / PASSES; r++) {
                let x = tile[r * DS + af];
                acc0 = fma(p_tile[aq][h + r], x, acc0);
                acc1 = fma(p_tile[aq + 2u][h + r], x, acc1);
            }
            workgroupBarrier();
        }
    }

    let slot = p.split0 + split;
    if (wg.z == 0u && t < QB && q0 + t < p.rows) {
        ml[slot * p.rows + q0 + t] = vec2<f32>(m_run[t], l_run[t]);
    }
    if (f0 + af < p.dim) {
        if (q0 + aq < p.rows) {
            part[(slot * p.rows + q0 + aq) * p.dim + f0 + af] = acc0;
        }
        if (q0 + aq + 2u < p.rows) {
            part[(slot * p.rows + q0 + aq + 2u) * p.dim + f0 + af] = acc1;
        }
    }
}
