// Between a layer's flat activations, (batch, len, cols) row-major, and the per-(batch, head)
// problem regions the attention kernels bind (attention.rs): problem p = b·heads + h has `rows`
// rows of `row_len` words at word p·stride, its row r column c being the flat element
// (b, r, h·head_stride + c) for r < len and c < width. head_stride = width splits the features
// among the heads; 0 gives every head all of them (hflayers' tiling of a static input).
//
// split: every word of every region is written, the flat element or 0 (the zero association's
// rows, rows past `len`, and the padding of a row to `row_len`), so a region needs no clearing.
// merge: the inverse, region → flat, for r < len and c < width only.
// One element per invocation.

struct Params {
    problems: u32,
    heads: u32,
    rows: u32,       // rows per problem region (≥ len)
    row_len: u32,    // words per region row (≥ width)
    len: u32,        // rows per batch item in the flat layout
    width: u32,      // columns per head
    cols: u32,       // columns of a flat row
    head_stride: u32,
    stride: u32,     // words from one problem's region to the next
    merge: u32,      // 0: flat → regions; 1: regions → flat
    _pad0: u32,
    _pad1: u32,
}

@group(0) @binding(0) var<uniform> p: Params;
@group(0) @binding(1) var<storage, read_write> flat: array<f32>;
@group(0) @binding(2) var<storage, read_write> regions: array<f32>;

@compute @workgroup_size(256, 1, 1)
fn main(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(num_workgroups) groups: vec3<u32>,
    @builtin(local_invocation_index) t: u32,
) {
    // Elements past the per-dimension workgroup limit continue along y.
    let e = (wg.y * groups.x + wg.x) * 256u + t;
    let per = p.rows * p.row_len;
    if (e >= p.problems * per) {
        return;
    }
    let problem = e / per;
    let r = (e % per) / p.row_len;
    let c = e % p.row_len;
    let b = problem / p.heads;
    let h = problem % p.heads;
    let inside = r < p.len && c < p.width;
    let f = (b * p.len + r) * p.cols + h * p.head_stride + c;
    let g = problem * p.stride + r * p.row_len + c;
    if (p.merge == 0u) {
        var v = 0.0;
        if (inside) {
            v = flat[f];
        }
        regions[g] = v;
    } else if (inside) {
        flat[f] = regions[g];
    }
}
