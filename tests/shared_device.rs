//! Sharing the application's GPU (issue 14): a `Device` over the application's own wgpu device
//! and queue, and retrieval from its queries buffer into its states buffer, recorded into its
//! command encoder between its own pipelines, with nothing read back by the crate.

mod common;

use hopfield::wgpu::{self, util::DeviceExt};
use hopfield::{BufferIo, Device, Error, Memory, RetrieveOptions};
use ndarray::Array2;

/// The application's side: its adapter, device and queue, opened as an application would
/// (`WGPU_BACKEND` honoured). `None` (a skip) without an adapter unless `HOPFIELD_REQUIRE_GPU`.
fn app_gpu() -> Option<(wgpu::Adapter, wgpu::Device, wgpu::Queue)> {
    let instance =
        wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle_from_env());
    let adapter = pollster::block_on(instance.request_adapter(&Default::default()));
    let Ok(adapter) = adapter else {
        assert!(
            std::env::var("HOPFIELD_REQUIRE_GPU").is_err(),
            "HOPFIELD_REQUIRE_GPU is set and no adapter was found"
        );
        return None;
    };
    let (device, queue) = pollster::block_on(adapter.request_device(&Default::default())).unwrap();
    Some((adapter, device, queue))
}

/// A one-line compute pass of the application's: `dst[i] = src[i] * a + b`.
struct Affine {
    pipeline: wgpu::ComputePipeline,
}

impl Affine {
    fn new(device: &wgpu::Device, a: f32, b: f32) -> Affine {
        let wgsl = format!(
            "@group(0) @binding(0) var<storage, read> src: array<f32>;
             @group(0) @binding(1) var<storage, read_write> dst: array<f32>;
             @compute @workgroup_size(64)
             fn main(@builtin(global_invocation_id) id: vec3<u32>) {{
                 if (id.x < arrayLength(&dst)) {{ dst[id.x] = src[id.x] * {a:?} + {b:?}; }}
             }}"
        );
        let module = device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("application pass"),
            source: wgpu::ShaderSource::Wgsl(wgsl.into()),
        });
        let pipeline = device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some("application pass"),
            layout: None,
            module: &module,
            entry_point: Some("main"),
            compilation_options: Default::default(),
            cache: None,
        });
        Affine { pipeline }
    }

    fn record(
        &self,
        device: &wgpu::Device,
        encoder: &mut wgpu::CommandEncoder,
        src: &wgpu::Buffer,
        dst: &wgpu::Buffer,
    ) {
        let group = device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: None,
            layout: &self.pipeline.get_bind_group_layout(0),
            entries: &[
                wgpu::BindGroupEntry {
                    binding: 0,
                    resource: src.as_entire_binding(),
                },
                wgpu::BindGroupEntry {
                    binding: 1,
                    resource: dst.as_entire_binding(),
                },
            ],
        });
        let mut pass = encoder.begin_compute_pass(&Default::default());
        pass.set_pipeline(&self.pipeline);
        pass.set_bind_group(0, &group, &[]);
        pass.dispatch_workgroups((dst.size() / 4).div_ceil(64) as u32, 1, 1);
    }
}

fn storage(device: &wgpu::Device, bytes: u64, extra: wgpu::BufferUsages) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: bytes,
        usage: wgpu::BufferUsages::STORAGE | extra,
        mapped_at_creation: false,
    })
}

/// Reads `buffer` back as the application would.
fn read(device: &wgpu::Device, queue: &wgpu::Queue, buffer: &wgpu::Buffer) -> Vec<f32> {
    let staging = device.create_buffer(&wgpu::BufferDescriptor {
        label: None,
        size: buffer.size(),
        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    });
    let mut encoder = device.create_command_encoder(&Default::default());
    encoder.copy_buffer_to_buffer(buffer, 0, &staging, 0, buffer.size());
    queue.submit([encoder.finish()]);
    staging
        .slice(..)
        .map_async(wgpu::MapMode::Read, |r| r.unwrap());
    device.poll(wgpu::PollType::wait_indefinitely()).unwrap();
    let out = bytemuck::cast_slice(&staging.slice(..).get_mapped_range().unwrap()).to_vec();
    out
}

/// The application's pipeline doubles its raw data into the queries, the crate retrieves from
/// them into the states inside the same encoder, and the application's next pipeline adds one
/// to the states: the result is the host path's states plus one, and the crate read nothing
/// back, submitted nothing, and (the second time) created nothing.
#[test]
fn a_retrieval_between_the_applications_pipelines() {
    let Some((adapter, gpu, queue)) = app_gpu() else {
        return;
    };
    let device = Device::from_wgpu(&adapter, gpu.clone(), queue.clone()).unwrap();
    let mut rng = common::rng("shared device");
    let (b, n, d) = (5, 263, 29);
    let memory = Memory::from_array(&device, common::normal(&mut rng, n, d, 1.0).view()).unwrap();
    let raw = common::normal(&mut rng, b, d, 0.5);
    let options = RetrieveOptions::new(3.0).steps(2);
    let want = memory
        .retrieve((&raw * 2.0).view(), &options)
        .unwrap()
        .states
        .mapv(|v| v + 1.0);

    let bytes = (b * d * 4) as u64;
    let source = gpu.create_buffer_init(&wgpu::util::BufferInitDescriptor {
        label: None,
        contents: bytemuck::cast_slice(raw.as_slice().unwrap()),
        usage: wgpu::BufferUsages::STORAGE,
    });
    let queries = storage(&gpu, bytes, wgpu::BufferUsages::COPY_SRC);
    let states = storage(&gpu, bytes, wgpu::BufferUsages::COPY_DST);
    let result = storage(&gpu, bytes, wgpu::BufferUsages::COPY_SRC);
    let (double, add_one) = (Affine::new(&gpu, 2.0, 0.0), Affine::new(&gpu, 1.0, 1.0));
    let io = BufferIo {
        queries: &queries,
        states: &states,
        rows: b,
    };
    for round in 0..2 {
        let mut encoder = gpu.create_command_encoder(&Default::default());
        double.record(&gpu, &mut encoder, &source, &queries);
        let before = device.stats();
        memory.record_retrieval(&mut encoder, io, &options).unwrap();
        let call = device.stats().since(before);
        add_one.record(&gpu, &mut encoder, &states, &result);
        queue.submit([encoder.finish()]);
        let got = Array2::from_shape_vec((b, d), read(&gpu, &queue, &result)).unwrap();
        assert_eq!(got, want, "round {round}");
        assert_eq!(call.bytes_read_back, 0, "{call:?}");
        assert_eq!(call.submissions, 0, "{call:?}");
        // The first round makes its scratch and parameter blocks; the queries never pass
        // through the host either time.
        if round == 1 {
            assert_eq!(call, Default::default(), "{call:?}");
        }
    }

    // Submitted by the crate: one submission, still nothing read back.
    let mut encoder = gpu.create_command_encoder(&Default::default());
    encoder.clear_buffer(&states, 0, None);
    queue.submit([encoder.finish()]);
    let before = device.stats();
    memory.retrieve_buffers(io, &options).unwrap();
    let call = device.stats().since(before);
    assert_eq!((call.submissions, call.bytes_read_back), (1, 0), "{call:?}");
    let mut encoder = gpu.create_command_encoder(&Default::default());
    add_one.record(&gpu, &mut encoder, &states, &result);
    queue.submit([encoder.finish()]);
    let got = Array2::from_shape_vec((b, d), read(&gpu, &queue, &result)).unwrap();
    assert_eq!(got, want, "submitted by the crate");
}

/// What a retrieval between buffers cannot use is refused before anything is recorded, with
/// the reason; a buffer of another device is refused by wgpu, as `Error::InvalidBuffer`.
#[test]
fn bad_buffers_and_options_are_refused() {
    let Some((adapter, gpu, queue)) = app_gpu() else {
        return;
    };
    let device = Device::from_wgpu(&adapter, gpu.clone(), queue.clone()).unwrap();
    let (b, d) = (3, 8);
    let memory = Memory::from_array(&device, Array2::eye(d).view()).unwrap();
    let bytes = (b * d * 4) as u64;
    let queries = storage(&gpu, bytes, wgpu::BufferUsages::COPY_SRC);
    let states = storage(&gpu, bytes, wgpu::BufferUsages::COPY_DST);
    let small = storage(&gpu, bytes - 4, wgpu::BufferUsages::COPY_DST);
    let io = |queries, states| BufferIo {
        queries,
        states,
        rows: b,
    };
    let options = RetrieveOptions::new(2.0);
    let mut encoder = gpu.create_command_encoder(&Default::default());
    let cases: [(BufferIo, RetrieveOptions, &str); 6] = [
        (io(&queries, &small), options.clone(), "holds 92 bytes"),
        (io(&states, &states), options.clone(), "COPY_SRC"),
        (io(&queries, &queries), options.clone(), "COPY_DST"),
        (
            io(&queries, &states),
            options.clone().with_top_k(1),
            "top-k",
        ),
        (
            io(&queries, &states),
            options.clone().with_energy(),
            "energies",
        ),
        (
            io(&queries, &states),
            options.clone().until_converged(1e-4, 5),
            "until-converged",
        ),
    ];
    for (io, options, says) in cases {
        let before = device.stats();
        let err = memory
            .record_retrieval(&mut encoder, io, &options)
            .unwrap_err();
        assert!(
            matches!(err, Error::InvalidBuffer { .. } | Error::InvalidOptions(_)),
            "{err:?}"
        );
        assert!(err.to_string().contains(says), "{err}");
        assert_eq!(device.stats().since(before), Default::default());
    }
    // The encoder took nothing from the refused calls and is still the application's to use.
    queue.submit([encoder.finish()]);

    let cpu = Memory::from_array(&Device::cpu(), Array2::eye(d).view()).unwrap();
    let err = cpu.retrieve_buffers(io(&queries, &states), &options);
    assert!(matches!(err, Err(Error::InvalidOptions(_))), "{err:?}");

    let (other, _) = pollster::block_on(adapter.request_device(&Default::default())).unwrap();
    let foreign = storage(&other, bytes, wgpu::BufferUsages::COPY_DST);
    let err = memory
        .retrieve_buffers(io(&queries, &foreign), &options)
        .unwrap_err();
    assert!(matches!(err, Error::InvalidBuffer { .. }), "{err:?}");
}
