// Exact top-k by radix selection, shared by the top-k kernels. Each value v at column c of a
// row becomes one 64-bit key, (order bits of v, NOT c): the order bits of a float sort as its
// value does (negatives too, so the scores of Separation::TopK select as well as weights), and
// the complemented column makes every key distinct with the lower column the larger on a tie.
// The k largest keys of a row are then exactly the k largest values, ties broken by the lower
// index, and the k-th largest key T is found one byte at a time, most significant first: each
// pass counts the keys that agree with T's bytes found so far by their next byte (topk_count),
// and a pick (topk_pick) finds the byte where the k-th key falls. After eight passes the k keys
// ≥ T are gathered (topk_gather), or every other score is dropped (topk_keep).
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

// A non-negative float's bits order as its value: set the sign bit to put them above every
// negative. A negative float's bits order against its value: flip them all.
fn key_hi(v: f32) -> u32 {
    let bits = bitcast<u32>(v);
    return select(bits | 0x80000000u, ~bits, (bits & 0x80000000u) != 0u);
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

// Whether the key is among the row's k largest, T being the k-th largest (after the eighth pass).
fn key_kept(hi: u32, lo: u32, t: Sel) -> bool {
    return hi > t.hi || (hi == t.hi && lo >= t.lo);
}
