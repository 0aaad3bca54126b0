//! Every WGSL program the crate compiles, declared once: its sources in order, the prelude
//! axes it is built along, and whether wgpu zero-initialises its workgroup memory. The kernel
//! constructors build from these declarations; [`export`] lists every variant of every one of
//! them for `tests/shaders.rs` (naga) and `hopfield shaders` (Tint), so none can drift apart.

use crate::shaders::{Dialect, Shader};
use crate::storage::Precision;

/// One WGSL program: the prelude of each axis it has, then `sources`, concatenated.
pub(crate) struct Program {
    pub name: &'static str,
    /// Starts with the patterns' storage format: `fn pattern(row, col, row_words) -> f32`.
    pub patterns: bool,
    /// Starts with `workgroup_max` / `workgroup_sum`, by subgroups or workgroup memory.
    pub reductions: bool,
    pub sources: &'static [&'static str],
    /// False for a kernel that writes every element of its workgroup memory before reading
    /// it, so wgpu's zero-initialisation is skipped. Where the backend cannot zero it natively
    /// (GL), wgpu has every workgroup clear all its shared arrays behind a barrier; besides the
    /// time that costs each workgroup, Mesa's llvmpipe then spends minutes compiling
    /// `fused_tile` (26 KiB of shared arrays) instead of seconds.
    pub zeroed: bool,
}

/// A choice on each axis; a program reads only those of the axes it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Variant {
    pub precision: Precision,
    pub subgroups: bool,
}

impl Variant {
    /// For a program with no axes.
    pub(crate) const PLAIN: Variant = Variant {
        precision: Precision::F32,
        subgroups: false,
    };

    pub(crate) fn patterns(precision: Precision) -> Variant {
        Variant {
            precision,
            ..Variant::PLAIN
        }
    }

    /// `subgroups`: reduce with subgroup operations (the device must have `SUBGROUP`).
    pub(crate) fn reductions(subgroups: bool) -> Variant {
        Variant {
            subgroups,
            ..Variant::PLAIN
        }
    }
}

impl Program {
    /// A program with no axes, zero-initialised.
    const fn new(name: &'static str, sources: &'static [&'static str]) -> Program {
        Program {
            name,
            patterns: false,
            reductions: false,
            sources,
            zeroed: true,
        }
    }

    const fn patterns(self) -> Program {
        Program {
            patterns: true,
            ..self
        }
    }

    const fn reductions(self) -> Program {
        Program {
            reductions: true,
            ..self
        }
    }

    const fn unzeroed(self) -> Program {
        Program {
            zeroed: false,
            ..self
        }
    }

    /// The WGSL of this program in `variant`, in the dialect wgpu takes on this target.
    pub(crate) fn source(&self, variant: Variant) -> String {
        self.source_in(variant, Dialect::WGPU)
    }

    /// The WGSL of this program in `variant`, written for `dialect`.
    pub(crate) fn source_in(&self, variant: Variant, dialect: Dialect) -> String {
        let enable = (dialect == Dialect::WebGpu && self.needs_subgroups(variant))
            .then_some("enable subgroups;\n");
        let patterns = self.patterns.then(|| patterns_wgsl(variant.precision));
        let reduce = self.reductions.then(|| reduce_wgsl(variant.subgroups));
        enable
            .into_iter()
            .chain(patterns)
            .chain(reduce)
            .chain(self.sources.iter().copied())
            .collect()
    }

    /// Whether the device must have subgroup operations to build this program in `variant`.
    fn needs_subgroups(&self, variant: Variant) -> bool {
        self.reductions && variant.subgroups
    }

    /// The program's name with the choices `variant` makes on its axes, e.g. `merge-subgroups`.
    fn variant_name(&self, variant: Variant) -> String {
        let mut name = self.name.to_string();
        if self.patterns {
            name += &format!("-{}", variant.precision);
        }
        if self.reductions {
            name += if variant.subgroups {
                "-subgroups"
            } else {
                "-shared"
            };
        }
        name
    }

    /// Every variant the crate may build this program in.
    fn variants(&self) -> Vec<Variant> {
        let precisions: &[Precision] = if self.patterns {
            &[Precision::F32, Precision::F16]
        } else {
            &[Precision::F32]
        };
        let subgroups: &[bool] = if self.reductions {
            &[false, true]
        } else {
            &[false]
        };
        precisions
            .iter()
            .flat_map(|&precision| {
                subgroups.iter().map(move |&subgroups| Variant {
                    precision,
                    subgroups,
                })
            })
            .collect()
    }
}

/// The WGSL that declares the patterns (binding 2) and `fn pattern(row, col, row_words) -> f32`
/// for a storage precision.
fn patterns_wgsl(precision: Precision) -> &'static str {
    match precision {
        Precision::F32 => include_str!("../../shaders/patterns_f32.wgsl"),
        Precision::F16 => include_str!("../../shaders/patterns_f16.wgsl"),
    }
}

/// The WGSL of `workgroup_max` / `workgroup_sum` over 256 invocations: with subgroup
/// operations where the device has them, else through a workgroup-memory tree.
fn reduce_wgsl(subgroups: bool) -> &'static str {
    if subgroups {
        include_str!("../../shaders/reduce_subgroup.wgsl")
    } else {
        include_str!("../../shaders/reduce_shared.wgsl")
    }
}

const BINARY: &str = include_str!("../../shaders/binary.wgsl");
const DENSE_FIELD: &str = include_str!("../../shaders/dense_field.wgsl");

pub(crate) const SIMILARITY: Program = Program::new(
    "similarity",
    &[include_str!("../../shaders/similarity.wgsl")],
)
.patterns();
pub(crate) const WEIGHTED_SUM: Program = Program::new(
    "weighted_sum",
    &[include_str!("../../shaders/weighted_sum.wgsl")],
)
.patterns();
pub(crate) const FUSED_ROWS: Program = Program::new(
    "fused_rows",
    &[include_str!("../../shaders/fused_rows.wgsl")],
)
.patterns()
.unzeroed();
pub(crate) const FUSED_TILE: Program = Program::new(
    "fused_tile",
    &[include_str!("../../shaders/fused_tile.wgsl")],
)
.patterns()
.unzeroed();
pub(crate) const SOFTMAX_STATS: Program = Program::new(
    "softmax_stats",
    &[include_str!("../../shaders/softmax_stats.wgsl")],
)
.reductions();
pub(crate) const SOFTMAX_APPLY: Program = Program::new(
    "softmax_apply",
    &[include_str!("../../shaders/softmax_apply.wgsl")],
)
.reductions();
pub(crate) const MERGE: Program =
    Program::new("merge", &[include_str!("../../shaders/merge.wgsl")]).reductions();
pub(crate) const CHANGE: Program =
    Program::new("change", &[include_str!("../../shaders/change.wgsl")]);
pub(crate) const SUM_SPLITS: Program = Program::new(
    "sum_splits",
    &[include_str!("../../shaders/sum_splits.wgsl")],
);
pub(crate) const MASK: Program = Program::new("mask", &[include_str!("../../shaders/mask.wgsl")]);
pub(crate) const CLASSICAL_SYNC: Program = Program::new(
    "classical_sync",
    &[BINARY, include_str!("../../shaders/classical_sync.wgsl")],
);
pub(crate) const CLASSICAL_ASYNC: Program = Program::new(
    "classical_async",
    &[BINARY, include_str!("../../shaders/classical_async.wgsl")],
);
pub(crate) const DENSE_OVERLAPS: Program = Program::new(
    "dense_overlaps",
    &[BINARY, include_str!("../../shaders/dense_overlaps.wgsl")],
);
pub(crate) const DENSE_SYNC: Program = Program::new(
    "dense_sync",
    &[
        BINARY,
        DENSE_FIELD,
        include_str!("../../shaders/dense_sync.wgsl"),
    ],
);
pub(crate) const DENSE_ASYNC: Program = Program::new(
    "dense_async",
    &[
        BINARY,
        DENSE_FIELD,
        include_str!("../../shaders/dense_async.wgsl"),
    ],
);

/// Every program.
const ALL: [&Program; 15] = [
    &SIMILARITY,
    &WEIGHTED_SUM,
    &FUSED_ROWS,
    &FUSED_TILE,
    &SOFTMAX_STATS,
    &SOFTMAX_APPLY,
    &MERGE,
    &CHANGE,
    &SUM_SPLITS,
    &MASK,
    &CLASSICAL_SYNC,
    &CLASSICAL_ASYNC,
    &DENSE_OVERLAPS,
    &DENSE_SYNC,
    &DENSE_ASYNC,
];

/// Every variant of every program the crate may build on a device with `limits`, written for
/// `dialect`; those that need subgroup operations only if `subgroups`.
pub(crate) fn export(dialect: Dialect, limits: &wgpu::Limits, subgroups: bool) -> Vec<Shader> {
    ALL.iter()
        .flat_map(|p| {
            p.variants()
                .into_iter()
                .filter(|&v| fits(p, v, limits) && (subgroups || !p.needs_subgroups(v)))
                .map(move |v| Shader {
                    name: p.variant_name(v),
                    wgsl: p.source_in(v, dialect),
                    subgroups: p.needs_subgroups(v),
                })
        })
        .collect()
}

/// Whether the crate would build `program` in `variant` on a device with `limits`: the one place
/// where a variant that only some devices can run (a kernel's workgroup memory, say) is chosen
/// for export. Today every variant is built on every device, whatever its limits.
fn fits(program: &Program, variant: Variant, limits: &wgpu::Limits) -> bool {
    let _ = (program, variant, limits);
    true
}
