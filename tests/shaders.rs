//! Every WGSL program the crate builds — each kernel with each pattern-storage and reduction
//! prelude it is compiled with — parses and validates with naga (wgpu's shader compiler),
//! with no adapter needed. A broken shader fails here with naga's message instead of as an
//! invalid pipeline at run time.

const PATTERNS: [&str; 2] = [
    include_str!("../shaders/patterns_f32.wgsl"),
    include_str!("../shaders/patterns_f16.wgsl"),
];
const REDUCE: [(&str, bool); 2] = [
    (include_str!("../shaders/reduce_shared.wgsl"), false),
    (include_str!("../shaders/reduce_subgroup.wgsl"), true),
];

fn validate(name: &str, source: &str, subgroups: bool) {
    let module = naga::front::wgsl::parse_str(source)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
    // What wgpu grants every adapter with `DownlevelFlags::SHADER_F16_IN_F32` (unpack2x16float).
    let mut caps = naga::valid::Capabilities::SHADER_FLOAT16_IN_FLOAT32;
    if subgroups {
        caps |= naga::valid::Capabilities::SUBGROUP;
    }
    let mut validator = naga::valid::Validator::new(naga::valid::ValidationFlags::all(), caps);
    if subgroups {
        validator.subgroup_stages(naga::valid::ShaderStages::COMPUTE);
        validator.subgroup_operations(naga::valid::SubgroupOperationSet::all());
    }
    validator
        .validate(&module)
        .unwrap_or_else(|e| panic!("{name}: {}", e.emit_to_string(source)));
}

#[test]
fn kernels_reading_patterns_validate_for_both_precisions() {
    let kernels = [
        ("similarity", include_str!("../shaders/similarity.wgsl")),
        ("weighted_sum", include_str!("../shaders/weighted_sum.wgsl")),
        ("fused_rows", include_str!("../shaders/fused_rows.wgsl")),
        ("fused_tile", include_str!("../shaders/fused_tile.wgsl")),
    ];
    for (name, body) in kernels {
        for (i, prelude) in PATTERNS.iter().enumerate() {
            validate(
                &format!("{name} with patterns #{i}"),
                &[prelude, body].concat(),
                false,
            );
        }
    }
}

#[test]
fn kernels_with_reductions_validate_with_and_without_subgroups() {
    let kernels = [
        (
            "softmax_stats",
            include_str!("../shaders/softmax_stats.wgsl"),
        ),
        (
            "softmax_apply",
            include_str!("../shaders/softmax_apply.wgsl"),
        ),
        ("merge", include_str!("../shaders/merge.wgsl")),
    ];
    for (name, body) in kernels {
        for (prelude, subgroups) in REDUCE {
            let what = format!("{name} (subgroups: {subgroups})");
            validate(&what, &[prelude, body].concat(), subgroups);
        }
    }
}

#[test]
fn standalone_kernels_validate() {
    validate("change", include_str!("../shaders/change.wgsl"), false);
    validate(
        "sum_splits",
        include_str!("../shaders/sum_splits.wgsl"),
        false,
    );
    validate("mask", include_str!("../shaders/mask.wgsl"), false);
}

#[test]
fn binary_network_kernels_validate() {
    let prelude = include_str!("../shaders/binary.wgsl");
    let field = include_str!("../shaders/dense_field.wgsl");
    let kernels = [
        (
            "classical_sync",
            include_str!("../shaders/classical_sync.wgsl"),
            "",
        ),
        (
            "classical_async",
            include_str!("../shaders/classical_async.wgsl"),
            "",
        ),
        (
            "dense_overlaps",
            include_str!("../shaders/dense_overlaps.wgsl"),
            "",
        ),
        (
            "dense_sync",
            include_str!("../shaders/dense_sync.wgsl"),
            field,
        ),
        (
            "dense_async",
            include_str!("../shaders/dense_async.wgsl"),
            field,
        ),
    ];
    for (name, body, extra) in kernels {
        validate(name, &[prelude, extra, body].concat(), false);
    }
}
