//! The benchmark workloads of `docs/workloads.md`: the shapes `(B, N, d)` that the performance
//! targets are stated for (W1–W4), and small versions a software adapter finishes in seconds
//! (S1–S4).
//!
//! Each is one retrieval step `softmax(β Q Xᵀ) X` of B queries against N stored patterns of
//! dimension d. The table is the one fact both benchmarks read, the `hopfield bench` command
//! and `cargo bench --bench retrieval`, so that a name means the same shape in every report.
//! It depends on nothing; what data fill the shapes is each benchmark's own choice.
//!
//! ```
//! use hopfield::workloads;
//!
//! let w1 = workloads::find("w1").unwrap();
//! assert_eq!((w1.b, w1.n, w1.d), (1, 1 << 20, 128));
//! assert_eq!(workloads::all().count(), workloads::FULL.len() + workloads::SMALL.len());
//! ```

use crate::Precision;

/// One benchmark shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Workload {
    /// `W1`…`W4` or `S1`…`S4`.
    pub name: &'static str,
    /// Queries per retrieval.
    pub b: usize,
    /// Stored patterns.
    pub n: usize,
    /// Dimension of a pattern.
    pub d: usize,
    /// What the shape stands for, in a few words.
    pub what: &'static str,
}

impl Workload {
    const fn new(name: &'static str, (b, n, d): (usize, usize, usize), what: &'static str) -> Self {
        Workload {
            name,
            b,
            n,
            d,
            what,
        }
    }

    /// Bytes of patterns one retrieval reads, counting X once: N·d elements of `precision`.
    pub fn bytes_read(&self, precision: Precision) -> u64 {
        (self.n * self.d * precision.bytes()) as u64
    }

    /// Floating-point operations of one step: two products of 2·B·N·d each.
    pub fn flop(&self) -> f64 {
        4.0 * (self.b * self.n * self.d) as f64
    }
}

/// W1–W4, the workloads the targets of `docs/workloads.md` are stated for (minutes on a
/// software adapter).
pub const FULL: &[Workload] = &[
    Workload::new("W1", (1, 1 << 20, 128), "single query, big memory"),
    Workload::new("W2", (1024, 1 << 16, 128), "large batch"),
    Workload::new("W3", (64, 1 << 14, 64), "mid batch"),
    Workload::new("W4", (1, 1024, 64), "latency"),
];

/// S1–S4, small versions a software adapter or the CPU path finishes in seconds.
pub const SMALL: &[Workload] = &[
    Workload::new("S1", (1, 1 << 14, 128), "small W1"),
    Workload::new("S2", (64, 1 << 12, 64), "small W3"),
    Workload::new("S3", (256, 1 << 12, 128), "small batch"),
    Workload::new("S4", (1, 1024, 64), "small latency (= W4)"),
];

/// Every workload, [`FULL`] then [`SMALL`].
pub fn all() -> impl Iterator<Item = &'static Workload> {
    FULL.iter().chain(SMALL.iter())
}

/// The workload of that name, ignoring case.
pub fn find(name: &str) -> Option<&'static Workload> {
    all().find(|w| w.name.eq_ignore_ascii_case(name))
}
