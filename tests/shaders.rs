//! Every WGSL program the crate builds — each kernel with each pattern-storage and reduction
//! prelude it is compiled with, as the crate's own registry lists them — parses and validates
//! with naga (wgpu's shader compiler), with no adapter needed. A broken shader fails here with
//! naga's message instead of as an invalid pipeline at run time.

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
    let programs = hopfield::__programs();
    for p in &programs {
        validate(&p.name, &p.wgsl, p.subgroups);
    }
    // 4 kernels × 2 pattern formats (fused_rows × 2 tile sizes), 3 × 2 reductions, 8 with
    // neither.
    assert_eq!(programs.len(), 4 * 2 + 2 + 3 * 2 + 8);
}

/// The device checks and the tile-size choice read the registry's declared needs; they must
/// be what the WGSL really asks for.
#[test]
fn declared_needs_are_what_the_wgsl_asks() {
    for p in hopfield::__programs() {
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

/// WebGPU guarantees 16 KiB of workgroup memory, 8 storage buffers per stage and 256
/// invocations: every program has a variant within them, but for the optional fused_tile.
#[test]
fn every_needed_program_fits_webgpu_defaults() {
    let limits = (16_384, 8, 256);
    let programs = hopfield::__programs();
    let base = |name: &str| name.split([' ', '(']).next().unwrap_or(name).to_string();
    let mut names: Vec<String> = programs.iter().map(|p| base(&p.name)).collect();
    names.dedup();
    for name in names.iter().filter(|n| n.as_str() != "fused_tile") {
        let fits = programs.iter().filter(|p| &base(&p.name) == name).any(|p| {
            p.needs.workgroup_bytes <= limits.0
                && p.needs.storage_buffers <= limits.1
                && p.needs.invocations <= limits.2
        });
        assert!(fits, "{name} has no variant within WebGPU's default limits");
    }
}

#[test]
fn every_shader_file_is_part_of_a_program() {
    let programs = hopfield::__programs();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    for entry in std::fs::read_dir(&dir).expect("the shaders folder") {
        let path = entry.expect("a shaders entry").path();
        let wgsl = std::fs::read_to_string(&path).expect("a readable shader");
        assert!(
            programs.iter().any(|p| p.wgsl.contains(&wgsl)),
            "{} is in no program the crate builds",
            path.display()
        );
    }
}
