// Exact top-k by radix selection, shared by the three top-k kernels. Each weight w at column c
// of a row becomes one 64-bit key, (bits of w, NOT c): weights are non-negative, so their bit
// patterns order as the values do, and the complemented column makes every key distinct with
// the lower column the larger on a tie. The k largest keys of a row are then exactly the k
// largest weights, ties broken by the lower index, and the k-th largest key T is found one
// byte at a time, most significant first: each pass counts the keys that agree with T's bytes
// found so far by their next byte (topk_count), and a pick (topk_pick) finds the byte
// where the k-th key falls. After eight passes the k keys ≥ T are gathered (topk_gather).
// No invocation walks a row: each workgroup takes a segment of SEG columns, 16 per
// invocation, and a pick looks at 256 counts.

struct Params {
    rows: u32,
    cols: u32,
    k: u32,
    byte: u32,    // 0..7: which byte of the key, most significant first
}

// One row's selection so far: the key bytes found (in hi, lo, one per pass) and how many of the k
// keys are still to be found among those that agree with them.
struct Sel {
    hi: u32,
    lo: u32,
    need: u32,
    _pad: u32,
}

const WG: u32 = 256u;
const SEG: u32 = 4096u;

fn key_hi(w: f32) -> u32 {
    return bitcast<u32>(w);
}

fn key_lo(col: u32) -> u32 {
    return ~col;
}

// Byte number `byte` of the key (hi, lo), most significant first.
fn key_byte(hi: u32, lo: u32, byte: u32) -> u32 {
    if (byte < 4u) {
        return (hi >> (24u - 8u * byte)) & 255u;
    }
    return (lo >> (24u - 8u * (byte - 4u))) & 255u;
}

// Whether the key agrees with the selection's first `byte` bytes.
fn key_agrees(hi: u32, lo: u32, s: Sel, byte: u32) -> bool {
    if (byte == 0u) {
        return true;
    }
    if (byte <= 4u) {
        let shift = 32u - 8u * byte;
        // A shift by 32 is undefined in WGSL; four bytes compare all of hi.
        if (byte == 4u) {
            return hi == s.hi;
        }
        return (hi >> shift) == (s.hi >> shift);
    }
    let shift = 32u - 8u * (byte - 4u);
    return hi == s.hi && (lo >> shift) == (s.lo >> shift);
}
