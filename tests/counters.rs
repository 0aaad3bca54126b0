//! Device counters (`Device::stats`): what a call creates, submits and moves, counted, so
//! structural costs are asserted here rather than timed.

mod common;

use hopfield::{Device, DeviceStats, Memory, RetrieveOptions};

/// A retrieval in steady state creates nothing, submits, uploads its queries and reads back
/// exactly its states and their last change (fused path, fixed steps, no extras).
#[test]
fn a_steady_state_retrieval_is_counted() {
    let Some(device) = common::own_gpu() else {
        return;
    };
    let mut rng = common::rng("counters");
    let (b, n, d) = (3, 257, 37);
    let x = common::normal(&mut rng, n, d, 1.0);
    let q = common::normal(&mut rng, b, d, 1.0);
    let memory = Memory::from_array(&device, x.view()).unwrap();
    let options = RetrieveOptions::new(2.0);
    memory.retrieve(q.view(), &options).unwrap();

    let before = device.stats();
    memory.retrieve(q.view(), &options).unwrap();
    let call = device.stats().since(before);
    assert_eq!(call.pipelines_created, 0, "{call:?}");
    assert_eq!(call.buffers_created, 0, "{call:?}");
    assert_eq!(call.bind_groups_created, 0, "{call:?}");
    assert_eq!(call.submissions, 1, "{call:?}");
    assert_eq!(call.bytes_uploaded, (b * d * 4) as u64, "{call:?}");
    assert_eq!(call.bytes_read_back, (b * d * 4 + b * 4) as u64, "{call:?}");

    // The same call again costs the same.
    let before = device.stats();
    memory.retrieve(q.view(), &options).unwrap();
    assert_eq!(device.stats().since(before), call);
}

/// Asking for the weights reads the B×N scores back too.
#[test]
fn weights_are_counted_in_the_readback() {
    let Some(device) = common::own_gpu() else {
        return;
    };
    let mut rng = common::rng("counters weights");
    let (b, n, d) = (2, 101, 16);
    let memory = Memory::from_array(&device, common::normal(&mut rng, n, d, 1.0).view()).unwrap();
    let q = common::normal(&mut rng, b, d, 1.0);
    let mut options = RetrieveOptions::new(2.0);
    options.weights = true;
    memory.retrieve(q.view(), &options).unwrap();
    let before = device.stats();
    memory.retrieve(q.view(), &options).unwrap();
    let call = device.stats().since(before);
    assert_eq!(
        call.bytes_read_back,
        (b * d * 4 + b * 4 + b * n * 4) as u64,
        "{call:?}"
    );
}

#[test]
fn reset_and_the_cpu_path() {
    let cpu = Device::cpu();
    let memory = Memory::from_array(&cpu, ndarray::array![[1.0, 0.0]].view()).unwrap();
    memory
        .retrieve(
            ndarray::array![[1.0, 0.0]].view(),
            &RetrieveOptions::new(1.0),
        )
        .unwrap();
    assert_eq!(cpu.stats(), DeviceStats::default());

    let Some(device) = common::own_gpu() else {
        return;
    };
    let memory = Memory::from_array(&device, ndarray::array![[1.0, 0.0]].view()).unwrap();
    memory
        .retrieve(
            ndarray::array![[1.0, 0.0]].view(),
            &RetrieveOptions::new(1.0),
        )
        .unwrap();
    assert!(device.stats().bytes_read_back > 0);
    device.reset_stats();
    assert_eq!(device.stats(), DeviceStats::default());
}

/// Until converged, the host reads the 4-byte convergence flag after each step and the states
/// and their last change at the end: nothing else, whatever the step count.
#[test]
fn an_until_converged_retrieval_reads_the_flag_per_step() {
    let Some(device) = common::own_gpu() else {
        return;
    };
    let mut rng = common::rng("counters converged");
    let (b, n, d) = (4, 97, 23);
    let memory = Memory::from_array(&device, common::normal(&mut rng, n, d, 1.0).view()).unwrap();
    let q = common::normal(&mut rng, b, d, 1.0);
    for (eps, max_steps) in [(0.0, 5), (1e-3, 40)] {
        let options = RetrieveOptions::new(8.0).until_converged(eps, max_steps);
        memory.retrieve(q.view(), &options).unwrap();
        let before = device.stats();
        let out = memory.retrieve(q.view(), &options).unwrap();
        let call = device.stats().since(before);
        let steps = out.steps[0];
        // A flag after every step but the last when the step budget ends the loop.
        let flags = if steps == max_steps { steps - 1 } else { steps };
        assert_eq!(
            call.bytes_read_back,
            (b * d * 4 + b * 4 + 4 * flags) as u64,
            "eps {eps}: {steps} steps, {call:?}"
        );
        assert_eq!(call.submissions, flags as u64 + 1, "{call:?}");
    }
}
