//! Every WGSL program the crate builds — each kernel with each pattern-storage and reduction
//! prelude it is compiled with, as the crate's own registry lists them — parses and validates
//! with naga (wgpu's shader compiler), with no adapter needed. A broken shader fails here with
//! naga's message instead of as an invalid pipeline at run time.

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
fn every_program_validates_in_every_variant() {
    let programs = hopfield::__programs();
    for (name, source, subgroups) in &programs {
        validate(name, source, *subgroups);
    }
    // 4 kernels × 2 pattern formats, 3 × 2 reductions, 8 with neither.
    assert_eq!(programs.len(), 4 * 2 + 3 * 2 + 8);
}

#[test]
fn every_shader_file_is_part_of_a_program() {
    let programs = hopfield::__programs();
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("shaders");
    for entry in std::fs::read_dir(&dir).expect("the shaders folder") {
        let path = entry.expect("a shaders entry").path();
        let wgsl = std::fs::read_to_string(&path).expect("a readable shader");
        assert!(
            programs.iter().any(|(_, source, _)| source.contains(&wgsl)),
            "{} is in no program the crate builds",
            path.display()
        );
    }
}
