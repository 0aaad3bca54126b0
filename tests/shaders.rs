//! Every WGSL program the crate builds — each kernel with each pattern-storage and reduction
//! prelude it is compiled with, as the crate's own registry lists them — parses and validates
//! with naga (wgpu's shader compiler), with no adapter needed. A broken shader fails here with
//! naga's message instead of as an invalid pipeline at run time. (Tint, the browsers' compiler,
//! checks the same programs in scripts/test.sh: tools/tint-check.)

use hopfield::shaders::{programs, Dialect, Shader};

/// Every variant of every program, in naga's dialect, on any device: the union of what the
/// registry builds for WebGPU's default limits and for a device far above them.
fn every_program(dialect: Dialect) -> Vec<Shader> {
    let large = wgpu::Limits {
        max_compute_workgroup_storage_size: 64 << 10,
        max_compute_invocations_per_workgroup: 1024,
        max_compute_workgroup_size_x: 1024,
        ..wgpu::Limits::default()
    };
    let mut all = programs(dialect, &large, true);
    for shader in programs(dialect, &wgpu::Limits::default(), true) {
        if !all.iter().any(|s| s.name == shader.name) {
            all.push(shader);
        }
    }
    all
}

fn validate(name: &str, source: &str, subgroups: bool) -> naga::Module {
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
    module
}

/// (workgroup bytes, storage buffers, invocations per workgroup) of a module's entry point,
/// as naga lays the WGSL out.
fn needs_of(module: &naga::Module) -> (u32, u32, u32) {
    let mut layouter = naga::proc::Layouter::default();
    layouter.update(module.to_ctx()).expect("a layout");
    let (mut workgroup, mut storage) = (0, 0);
    for (_, var) in module.global_variables.iter() {
        match var.space {
            naga::AddressSpace::WorkGroup => workgroup += layouter[var.ty].size,
            naga::AddressSpace::Storage { .. } => storage += 1,
            _ => {}
        }
    }
    assert_eq!(module.entry_points.len(), 1, "one entry point per program");
    let [x, y, z] = module.entry_points[0].workgroup_size;
    (workgroup, storage, x * y * z)
}

#[test]
fn every_program_validates_in_every_variant() {
    let programs = every_program(Dialect::Naga);
    for s in &programs {
        validate(&s.name, &s.wgsl, s.subgroups);
    }
    // 4 kernels × 2 pattern formats (and fused_rows' compact tiles × 2), 8 × 2 reductions
    // (layer_norm and the four threshold kernels among them), 15 with neither (bias_act, heads,
    // topk_keep and clamp among them).
    assert_eq!(programs.len(), 4 * 2 + 2 + 8 * 2 + 15);
}

/// The device checks and the tile-size choice read the registry's declared needs; they must
/// be what the WGSL really asks for.
#[test]
fn declared_needs_are_what_the_wgsl_asks() {
    for p in every_program(Dialect::Naga) {
        let module = validate(&p.name, &p.wgsl, p.subgroups);
        let (workgroup_bytes, storage_buffers, invocations) = needs_of(&module);
        assert_eq!(
            (
                p.needs.workgroup_bytes,
                p.needs.storage_buffers,
                p.needs.invocations
            ),
            (workgroup_bytes, storage_buffers, invocations),
            "{}: declared (workgroup bytes, storage buffers, invocations) differ from the WGSL's",
            p.name
        );
    }
}

/// What the crate builds under WebGPU's default limits (16 KiB of workgroup memory, 8 storage
/// buffers per stage, 256 invocations) keeps within them, and leaves out no program but the
/// optional fused_tile.
#[test]
fn webgpu_defaults_build_every_program_within_them() {
    let limits = wgpu::Limits::default();
    let built = programs(Dialect::WebGpu, &limits, true);
    for s in &built {
        assert!(
            s.needs.workgroup_bytes <= limits.max_compute_workgroup_storage_size
                && s.needs.storage_buffers <= limits.max_storage_buffers_per_shader_stage
                && s.needs.invocations <= limits.max_compute_invocations_per_workgroup,
            "{} exceeds WebGPU's default limits: {:?}",
            s.name,
            s.needs
        );
    }
    let base = |name: &str| name.split('-').next().unwrap_or(name).to_string();
    for s in every_program(Dialect::WebGpu) {
        let name = base(&s.name);
        if name != "fused_tile" {
            assert!(
                built.iter().any(|b| base(&b.name) == name),
                "{name} is not built under WebGPU's default limits"
            );
        }
    }
    assert!(built.iter().any(|s| s.name == "fused_rows-f32-compact"));
    assert!(!built.iter().any(|s| s.name.starts_with("fused_tile")));
}

/// The WebGPU dialect is naga's with `enable subgroups;` before exactly the programs that use
/// subgroup operations; naga refuses the directive, so a program can only be in one dialect.
#[test]
fn the_webgpu_dialect_only_enables_subgroups() {
    let naga = every_program(Dialect::Naga);
    let webgpu = every_program(Dialect::WebGpu);
    assert_eq!(naga.len(), webgpu.len());
    for (n, w) in naga.iter().zip(&webgpu) {
        assert_eq!((&n.name, n.subgroups), (&w.name, w.subgroups));
        let expected = if n.subgroups {
            format!("enable subgroups;\n{}", n.wgsl)
        } else {
            n.wgsl.clone()
        };
        assert!(
            w.wgsl == expected,
            "{}: not naga's program plus the directive",
            w.name
        );
        assert!(!n.wgsl.contains("enable subgroups"), "{}", n.name);
    }
    assert!(webgpu.iter().any(|s| s.subgroups));
    let enabled = webgpu
        .iter()
        .find(|s| s.subgroups)
        .expect("a subgroup program");
    assert!(naga::front::wgsl::parse_str(&enabled.wgsl).is_err());
}

/// Without subgroups, every program that needs them is left out and every other one is kept.
#[test]
fn subgroup_programs_are_exported_only_when_asked_for() {
    let limits = wgpu::Limits::default();
    let with = programs(Dialect::WebGpu, &limits, true);
    let without = programs(Dialect::WebGpu, &limits, false);
    let plain: Vec<_> = with.iter().filter(|s| !s.subgroups).cloned().collect();
    assert_eq!(without, plain);
    assert!(with.len() > without.len());
}

#[test]
fn every_shader_file_is_part_of_a_program() {
    let programs = every_program(Dialect::Naga);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    for entry in std::fs::read_dir(&dir).expect("the shaders folder") {
        let path = entry.expect("a shaders entry").path();
        let wgsl = std::fs::read_to_string(&path).expect("a readable shader");
        assert!(
            programs.iter().any(|s| s.wgsl.contains(&wgsl)),
            "{} is in no program the crate builds",
            path.display()
        );
    }
}
