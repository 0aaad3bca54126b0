//! Every WGSL program the crate compiles, declared once: its sources in order, the prelude
//! axes it is built along, what it asks of the device, and whether wgpu zero-initialises its
//! workgroup memory. The kernel constructors build from these declarations; [`export`] lists
//! every variant of every one of them for `tests/shaders.rs` (naga, which also checks each
//! declared need against the WGSL) and `hopfield shaders` (Tint), so none can drift apart.

use crate::error::{Error, Result};
use crate::shaders::{Dialect, Shader};
use crate::storage::Precision;

/// What one program asks of the device. Kernels run 256 or 64 invocations and bind at most 7
/// storage buffers, within WebGPU's guaranteed limits (256 and 8); workgroup memory is the
/// figure that varies, and the one kernel built in two tile sizes picks by it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Needs {
    /// Bytes of workgroup memory (`max_compute_workgroup_storage_size`).
    pub workgroup_bytes: u32,
    /// Storage buffers bound (`max_storage_buffers_per_shader_stage`).
    pub storage_buffers: u32,
    /// Invocations per workgroup (`max_compute_invocations_per_workgroup`).
    pub invocations: u32,
}

impl Needs {
    const fn new(workgroup_bytes: u32, storage_buffers: u32, invocations: u32) -> Needs {
        Needs {
            workgroup_bytes,
            storage_buffers,
            invocations,
        }
    }

    /// The first limit of `limits` this program would break, as (name, needed, limit).
    pub(crate) fn exceeds(&self, limits: &wgpu::Limits) -> Option<(&'static str, u32, u32)> {
        [
            (
                "max_compute_workgroup_storage_size",
                self.workgroup_bytes,
                limits.max_compute_workgroup_storage_size,
            ),
            (
                "max_storage_buffers_per_shader_stage",
                self.storage_buffers,
                limits.max_storage_buffers_per_shader_stage,
            ),
            (
                "max_compute_invocations_per_workgroup",
                self.invocations,
                limits.max_compute_invocations_per_workgroup,
            ),
        ]
        .into_iter()
        .find(|&(_, needed, limit)| needed > limit)
    }

    pub(crate) fn fits(&self, limits: &wgpu::Limits) -> bool {
        self.exceeds(limits).is_none()
    }
}

/// Tile sizes of a kernel built in two: wide where the device has the workgroup memory for
/// them, compact within WebGPU's guaranteed 16 KiB.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Tiles {
    Wide,
    Compact,
}

/// The compact tile sizes of a program built in two: the WGSL prelude of each size, and the
/// compact size's workgroup memory (the wide size's is the program's own [`Needs`]).
pub(crate) struct TwoSizes {
    pub wide: &'static str,
    pub compact: &'static str,
    pub compact_workgroup_bytes: u32,
}

/// One WGSL program: the prelude of each axis it has, then `sources`, concatenated.
pub(crate) struct Program {
    pub name: &'static str,
    /// Starts with the patterns' storage format: `fn pattern(row, col, row_words) -> f32`.
    pub patterns: bool,
    /// Starts with `workgroup_max` / `workgroup_sum`, by subgroups or workgroup memory.
    pub reductions: bool,
    pub sources: &'static [&'static str],
    /// What the program asks of the device (in its wide tile size where it has two).
    pub needs: Needs,
    /// Set for a program built in two tile sizes, whose prelude then chooses them.
    pub sizes: Option<TwoSizes>,
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
    pub tiles: Tiles,
}

impl Variant {
    /// For a program with no axes.
    pub(crate) const PLAIN: Variant = Variant {
        precision: Precision::F32,
        subgroups: false,
        tiles: Tiles::Wide,
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
    const fn new(name: &'static str, sources: &'static [&'static str], needs: Needs) -> Program {
        Program {
            name,
            patterns: false,
            reductions: false,
            sources,
            needs,
            sizes: None,
            zeroed: true,
        }
    }

    const fn two_sizes(self, sizes: TwoSizes) -> Program {
        Program {
            sizes: Some(sizes),
            ..self
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
        let sizes = self.sizes.as_ref().map(|s| match variant.tiles {
            Tiles::Wide => s.wide,
            Tiles::Compact => s.compact,
        });
        enable
            .into_iter()
            .chain(patterns)
            .chain(reduce)
            .chain(sizes)
            .chain(self.sources.iter().copied())
            .collect()
    }

    /// What this program asks of the device in `variant`.
    pub(crate) fn needs(&self, variant: Variant) -> Needs {
        match (&self.sizes, variant.tiles) {
            (Some(s), Tiles::Compact) => Needs {
                workgroup_bytes: s.compact_workgroup_bytes,
                ..self.needs
            },
            _ => self.needs,
        }
    }

    /// The tile size to build this program in on a device with `limits`: wide where it fits,
    /// else compact where the program has that size; `None` where neither fits.
    pub(crate) fn tiles_for(&self, limits: &wgpu::Limits) -> Option<Tiles> {
        let fits = |tiles| {
            let v = Variant {
                tiles,
                ..Variant::PLAIN
            };
            self.needs(v).fits(limits)
        };
        let compact = self.sizes.is_some().then_some(Tiles::Compact);
        std::iter::once(Tiles::Wide)
            .chain(compact)
            .find(|&t| fits(t))
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
        if self.sizes.is_some() && variant.tiles == Tiles::Compact {
            name += "-compact";
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
        let tiles: &[Tiles] = if self.sizes.is_some() {
            &[Tiles::Wide, Tiles::Compact]
        } else {
            &[Tiles::Wide]
        };
        let mut out = Vec::new();
        for &precision in precisions {
            for &subgroups in subgroups {
                for &tiles in tiles {
                    out.push(Variant {
                        precision,
                        subgroups,
                        tiles,
                    });
                }
            }
        }
        out
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
const TOPK_KEY: &str = include_str!("../../shaders/topk_key.wgsl");
const DENSE_FIELD: &str = include_str!("../../shaders/dense_field.wgsl");
const THRESHOLD: &str = include_str!("../../shaders/threshold.wgsl");

pub(crate) const SIMILARITY: Program = Program::new(
    "similarity",
    &[include_str!("../../shaders/similarity.wgsl")],
    Needs::new(8192, 3, 256),
)
.patterns();
pub(crate) const WEIGHTED_SUM: Program = Program::new(
    "weighted_sum",
    &[include_str!("../../shaders/weighted_sum.wgsl")],
    Needs::new(8192, 3, 256),
)
.patterns();
pub(crate) const FUSED_ROWS: Program = Program::new(
    "fused_rows",
    &[include_str!("../../shaders/fused_rows.wgsl")],
    Needs::new(18_992, 4, 256),
)
.patterns()
.two_sizes(TwoSizes {
    wide: "const KT: u32 = 64u;\nconst PASSES: u32 = 2u;\nconst TILE_WORDS: u32 = 4160u;\n",
    compact: "const KT: u32 = 32u;\nconst PASSES: u32 = 4u;\nconst TILE_WORDS: u32 = 2112u;\n",
    compact_workgroup_bytes: 10_288,
})
.unzeroed();
/// Optional: where the device's workgroup memory is too small for it, `fused_rows` takes
/// every block (see `Fused`).
pub(crate) const FUSED_TILE: Program = Program::new(
    "fused_tile",
    &[include_str!("../../shaders/fused_tile.wgsl")],
    Needs::new(26_624, 4, 256),
)
.patterns()
.unzeroed();
pub(crate) const SOFTMAX_STATS: Program = Program::new(
    "softmax_stats",
    &[include_str!("../../shaders/softmax_stats.wgsl")],
    Needs::new(1024, 2, 256),
)
.reductions();
pub(crate) const SOFTMAX_APPLY: Program = Program::new(
    "softmax_apply",
    &[include_str!("../../shaders/softmax_apply.wgsl")],
    Needs::new(1024, 3, 256),
)
.reductions();
pub(crate) const MERGE: Program = Program::new(
    "merge",
    &[include_str!("../../shaders/merge.wgsl")],
    Needs::new(5120, 7, 256),
)
.reductions();
pub(crate) const CHANGE: Program = Program::new(
    "change",
    &[include_str!("../../shaders/change.wgsl")],
    Needs::new(256, 4, 64),
);
pub(crate) const SUM_SPLITS: Program = Program::new(
    "sum_splits",
    &[include_str!("../../shaders/sum_splits.wgsl")],
    Needs::new(0, 2, 256),
);
pub(crate) const CLAMP: Program = Program::new(
    "clamp",
    &[include_str!("../../shaders/clamp.wgsl")],
    Needs::new(0, 3, 256),
);
pub(crate) const MASK: Program = Program::new(
    "mask",
    &[include_str!("../../shaders/mask.wgsl")],
    Needs::new(0, 2, 256),
);
pub(crate) const LAYER_NORM: Program = Program::new(
    "layer_norm",
    &[include_str!("../../shaders/layer_norm.wgsl")],
    Needs::new(1024, 3, 256),
)
.reductions();
pub(crate) const BIAS_ACT: Program = Program::new(
    "bias_act",
    &[include_str!("../../shaders/bias_act.wgsl")],
    Needs::new(0, 2, 256),
);
pub(crate) const HEADS: Program = Program::new(
    "heads",
    &[include_str!("../../shaders/heads.wgsl")],
    Needs::new(0, 2, 256),
);
pub(crate) const TOPK_COUNT: Program = Program::new(
    "topk_count",
    &[TOPK_KEY, include_str!("../../shaders/topk_count.wgsl")],
    Needs::new(1024, 3, 256),
)
.unzeroed();
pub(crate) const TOPK_PICK: Program = Program::new(
    "topk_pick",
    &[TOPK_KEY, include_str!("../../shaders/topk_pick.wgsl")],
    Needs::new(1024, 2, 256),
)
.unzeroed();
pub(crate) const TOPK_GATHER: Program = Program::new(
    "topk_gather",
    &[TOPK_KEY, include_str!("../../shaders/topk_gather.wgsl")],
    Needs::new(0, 4, 256),
);
pub(crate) const TOPK_KEEP: Program = Program::new(
    "topk_keep",
    &[TOPK_KEY, include_str!("../../shaders/topk_keep.wgsl")],
    Needs::new(0, 2, 256),
);
pub(crate) const THRESHOLD_BOUNDS: Program = Program::new(
    "threshold_bounds",
    &[
        THRESHOLD,
        include_str!("../../shaders/threshold_bounds.wgsl"),
    ],
    Needs::new(1024, 2, 256),
)
.reductions();
pub(crate) const THRESHOLD_MASS: Program = Program::new(
    "threshold_mass",
    &[THRESHOLD, include_str!("../../shaders/threshold_mass.wgsl")],
    Needs::new(1024, 3, 256),
)
.reductions();
pub(crate) const THRESHOLD_STEP: Program = Program::new(
    "threshold_step",
    &[THRESHOLD, include_str!("../../shaders/threshold_step.wgsl")],
    Needs::new(1024, 2, 256),
)
.reductions();
pub(crate) const THRESHOLD_APPLY: Program = Program::new(
    "threshold_apply",
    &[
        THRESHOLD,
        include_str!("../../shaders/threshold_apply.wgsl"),
    ],
    Needs::new(1024, 4, 256),
)
.reductions();
pub(crate) const CLASSICAL_SYNC: Program = Program::new(
    "classical_sync",
    &[BINARY, include_str!("../../shaders/classical_sync.wgsl")],
    Needs::new(0, 8, 64),
);
pub(crate) const CLASSICAL_ASYNC: Program = Program::new(
    "classical_async",
    &[BINARY, include_str!("../../shaders/classical_async.wgsl")],
    Needs::new(256, 7, 64),
);
pub(crate) const DENSE_OVERLAPS: Program = Program::new(
    "dense_overlaps",
    &[BINARY, include_str!("../../shaders/dense_overlaps.wgsl")],
    Needs::new(0, 3, 64),
);
pub(crate) const DENSE_SYNC: Program = Program::new(
    "dense_sync",
    &[
        BINARY,
        DENSE_FIELD,
        include_str!("../../shaders/dense_sync.wgsl"),
    ],
    Needs::new(0, 8, 64),
);
pub(crate) const DENSE_ASYNC: Program = Program::new(
    "dense_async",
    &[
        BINARY,
        DENSE_FIELD,
        include_str!("../../shaders/dense_async.wgsl"),
    ],
    Needs::new(516, 7, 64),
);

/// Every program.
const ALL: [&Program; 27] = [
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
    &CLAMP,
    &LAYER_NORM,
    &BIAS_ACT,
    &HEADS,
    &TOPK_COUNT,
    &TOPK_PICK,
    &TOPK_GATHER,
    &TOPK_KEEP,
    &THRESHOLD_BOUNDS,
    &THRESHOLD_MASS,
    &THRESHOLD_STEP,
    &THRESHOLD_APPLY,
    &CLASSICAL_SYNC,
    &CLASSICAL_ASYNC,
    &DENSE_OVERLAPS,
    &DENSE_SYNC,
    &DENSE_ASYNC,
];

/// Fails with [`Error::OverLimit`] where `limits` leave no size of some program the crate
/// needs (`fused_tile` is optional); run when a device opens, so no pipeline fails later.
pub(crate) fn check_device(limits: &wgpu::Limits) -> Result<()> {
    for p in ALL.iter().filter(|p| p.name != FUSED_TILE.name) {
        if p.tiles_for(limits).is_some() {
            continue;
        }
        let smallest = Variant {
            tiles: p.sizes.as_ref().map_or(Tiles::Wide, |_| Tiles::Compact),
            ..Variant::PLAIN
        };
        if let Some((limit_name, needed, limit)) = p.needs(smallest).exceeds(limits) {
            return Err(Error::OverLimit {
                what: format!("the {} kernel", p.name),
                needed: needed.into(),
                limit: limit.into(),
                limit_name,
            });
        }
    }
    Ok(())
}

/// Every variant of every program the crate may build on a device with `limits`, written for
/// `dialect`; those that need subgroup operations only if `subgroups`.
pub(crate) fn export(dialect: Dialect, limits: &wgpu::Limits, subgroups: bool) -> Vec<Shader> {
    ALL.iter()
        .flat_map(|p| {
            p.variants()
                .into_iter()
                .filter(|&v| builds(p, v, limits) && (subgroups || !p.needs_subgroups(v)))
                .map(move |v| Shader {
                    name: p.variant_name(v),
                    wgsl: p.source_in(v, dialect),
                    subgroups: p.needs_subgroups(v),
                    needs: p.needs(v),
                })
        })
        .collect()
}

/// Whether the crate builds `program` in `variant` on a device with `limits`: a program built
/// in two tile sizes in the one [`Program::tiles_for`] picks, the optional `fused_tile` where it
/// fits, and every other program in every variant (`check_device` refused a device they
/// would not fit).
fn builds(program: &Program, variant: Variant, limits: &wgpu::Limits) -> bool {
    if program.sizes.is_some() {
        return program.tiles_for(limits) == Some(variant.tiles);
    }
    program.name != FUSED_TILE.name || program.needs(variant).fits(limits)
}
