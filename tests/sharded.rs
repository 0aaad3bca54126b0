//! A memory sharded over lavapipe (Vulkan), llvmpipe (GL) and the CPU path in one process
//! (issue 16) equals one memory holding the same patterns.
//!
//! Tolerances: one step within 1e-5 (relative, Frobenius) of the f64 reference, as every
//! retrieval path; several steps within 1e-5 per step of a single CPU memory's trajectory, on
//! queries near stored patterns (where trajectories are stable, so rounding does not grow);
//! top-k weights within 1e-5 absolute, energies within 1e-5 relative.

mod common;

use hopfield::{Device, Error, Memory, RetrieveOptions, Separation, ShardedMemory};
use ndarray::{Array2, ArrayView2};
use rand::RngExt;

/// lavapipe, llvmpipe's GL and the CPU path, or `None` where an adapter is missing (a failure
/// under `HOPFIELD_REQUIRE_GPU=1`).
fn three_devices() -> Option<Vec<Device>> {
    let devices = vec![
        common::gpu_on("vulkan")?,
        common::gpu_on("gl")?,
        Device::cpu(),
    ];
    let backends: Vec<String> = devices
        .iter()
        .map(|d| d.info().backend.to_lowercase())
        .collect();
    assert!(
        backends[0].contains("vulkan") && backends[1].contains("gl") && !devices[2].is_gpu(),
        "three devices on three backends: {backends:?}"
    );
    Some(devices)
}

fn sharded(devices: &[Device], shares: &[f64], x: ArrayView2<f32>) -> ShardedMemory {
    let mut memory = ShardedMemory::with_shares(devices, x.ncols(), shares).unwrap();
    memory.append(x).unwrap();
    memory
}

/// Compares a sharded retrieval with one memory's, `steps` steps deep. `want` carries that
/// memory's weights as well (`one`), whose columns are `one_ids`, so that top-k is checked rank
/// by rank by weight (`common::check_top_by_weight`): the three devices round differently, so
/// near-ties may come in either order.
fn compare(
    got: &hopfield::Retrieval,
    want: &hopfield::Retrieval,
    ids: &[u64],
    one_ids: &[u64],
    steps: f64,
    what: &str,
) {
    let err = common::rel_err(got.states.view(), common::to64(want.states.view()).view());
    assert!(err <= 1e-5 * steps, "{what}: states off by {err:e}");
    if let (Some(top), Some(want_top)) = (&got.top_k, &want.top_k) {
        let weights = want.weights.as_ref().expect("`one` asks for weights");
        common::check_top_by_weight(
            top,
            want_top,
            weights.view(),
            one_ids,
            ids,
            1e-5 * steps,
            what,
        );
    }
    assert_eq!(got.top_k.is_some(), want.top_k.is_some(), "{what}: top-k");
    if let (Some(e), Some(w)) = (&got.energy, &want.energy) {
        for (a, b) in e
            .before
            .iter()
            .zip(&w.before)
            .chain(e.after.iter().zip(&w.after))
        {
            assert!(
                (a - b).abs() <= 1e-5 * steps * (1.0 + b.abs()),
                "{what}: energy {a} vs {b}"
            );
        }
    }
    assert_eq!(
        got.energy.is_some(),
        want.energy.is_some(),
        "{what}: energies"
    );
}

/// One step on awkward shapes and random shares, both separations, top-k and energies.
#[test]
fn one_step_on_three_adapters_is_one_memory() {
    let Some(devices) = three_devices() else {
        return;
    };
    let mut rng = common::rng("sharded one step");
    for case in 0..common::cases(6) {
        let (b, n, d) = (
            common::awkward(&mut rng),
            common::awkward(&mut rng),
            common::awkward(&mut rng),
        );
        let shares: Vec<f64> = (0..3).map(|_| rng.random_range(0.2..3.0)).collect();
        let x = common::normal(&mut rng, n, d, 2.0);
        let q = common::normal(&mut rng, b, d, 2.0);
        let beta = rng.random_range(0.1f32..6.0);
        let memory = sharded(&devices, &shares, x.view());
        if n >= 64 {
            // Every share is at least 3 % of the total.
            assert!(memory.shards().iter().all(|m| !m.is_empty()), "{shares:?}");
        }
        let one = Memory::from_array(&Device::cpu(), x.view()).unwrap();
        for separation in [Separation::Softmax, Separation::Softmax1] {
            let options = RetrieveOptions::new(beta)
                .separation(separation)
                .with_top_k(n.min(3))
                .with_energy();
            let what =
                format!("case {case}: B={b} N={n} d={d} β={beta} shares {shares:?} {separation}");
            let got = memory.retrieve(q.view(), &options).unwrap();
            let want = one
                .retrieve(q.view(), &options.clone().with_weights())
                .unwrap();
            compare(&got, &want, &memory.ids(), one.ids(), 1.0, &what);
            if separation == Separation::Softmax {
                let (reference, _) = common::one_step_f64(x.view(), q.view(), f64::from(beta));
                let err = common::rel_err(got.states.view(), reference.view());
                assert!(err <= 1e-5, "{what}: off the f64 reference by {err:e}");
            }
        }
    }
}

/// Several steps, until converged, and a clamped partial cue, from queries near patterns.
/// Fewer patterns than dimensions keeps random unit patterns well separated (correlations
/// near 1/√d), so at β = 16 every query settles on its pattern within a few steps.
#[test]
fn trajectories_on_three_adapters_are_one_memory() {
    let Some(devices) = three_devices() else {
        return;
    };
    let mut rng = common::rng("sharded steps");
    let (b, n, d) = (13, 61, 64);
    let x = common::normal(&mut rng, n, d, 1.0);
    let rows: Vec<usize> = (0..b).map(|i| (i * 7) % n).collect();
    let q = x.select(ndarray::Axis(0), &rows) + common::normal(&mut rng, b, d, 0.3);
    let memory = sharded(&devices, &[1.0, 2.0, 1.0], x.view());
    let one = Memory::from_array(&Device::cpu(), x.view()).unwrap();
    let known = Array2::from_shape_fn((1, d), |(_, j)| j % 3 != 0);
    for (options, steps, what) in [
        (
            RetrieveOptions::new(16.0).steps(3).with_top_k(2),
            3.0,
            "3 steps",
        ),
        (
            RetrieveOptions::new(16.0)
                .until_converged(1e-6, 50)
                .with_top_k(1)
                .with_energy(),
            5.0,
            "until converged",
        ),
        (
            RetrieveOptions::new(16.0)
                .steps(4)
                .known(known.clone())
                .clamp_known()
                .with_energy(),
            4.0,
            "clamped cue",
        ),
        (
            RetrieveOptions::new(16.0)
                .separation(Separation::Softmax1)
                .steps(2)
                .known(known.clone()),
            2.0,
            "softmax1, cue",
        ),
    ] {
        let got = memory.retrieve(q.view(), &options).unwrap();
        let want = one
            .retrieve(q.view(), &options.clone().with_weights())
            .unwrap();
        compare(&got, &want, &memory.ids(), one.ids(), steps, what);
        if let Some(flags) = &want.converged {
            assert_eq!(got.converged.as_ref(), Some(flags), "{what}: converged");
            assert!(
                flags.iter().all(|&c| c),
                "{what}: the premise, convergence: last changes {}",
                want.max_change
            );
        }
    }
}

/// N past 2^16 over the three adapters, with spread weights so every pattern counts.
#[test]
fn past_2_16_on_three_adapters() {
    let Some(devices) = three_devices() else {
        return;
    };
    let mut rng = common::rng("sharded at scale");
    let (b, n, d) = (3, (1 << 16) + 3, 32);
    let x = common::normal(&mut rng, n, d, 1.0);
    let q = common::normal(&mut rng, b, d, 1.0);
    let memory = sharded(&devices, &[2.0, 1.0, 1.0], x.view());
    let options = RetrieveOptions::new(0.5).with_top_k(5);
    let got = memory.retrieve(q.view(), &options).unwrap();
    let (reference, _) = common::one_step_f64(x.view(), q.view(), 0.5);
    let err = common::rel_err(got.states.view(), reference.view());
    assert!(err <= 1e-5, "off the f64 reference by {err:e}");
    let top = got.top_k.unwrap();
    assert!(
        top.weights.iter().all(|&w| w < 1e-3),
        "the premise: spread weights"
    );
}

/// Shares decide where patterns go; ids are unique across shards; a refused append or removal
/// changes nothing; removal then retrieval equals one memory with the same removal.
#[test]
fn placement_ids_and_removal() {
    let devices = [Device::cpu(), Device::cpu()];
    let mut rng = common::rng("sharded placement");
    let x = common::normal(&mut rng, 400, 5, 1.0);
    let mut memory = ShardedMemory::with_shares(&devices, 5, &[1.0, 3.0]).unwrap();
    for rows in [0..1, 1..40, 40..400] {
        memory.append(x.slice(ndarray::s![rows, ..])).unwrap();
    }
    let lens: Vec<usize> = memory.shards().iter().map(Memory::len).collect();
    assert_eq!(lens, vec![100, 300]);
    assert_eq!(memory.ids().len(), 400);
    let mut sorted = memory.ids();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..400).collect::<Vec<u64>>());

    // The shard that lost patterns takes the next ones.
    let from_second: Vec<u64> = memory.shards()[1].ids()[..50].to_vec();
    memory.remove_ids(&from_second).unwrap();
    // New patterns, not copies of stored ones: exact ties across shards go to whichever side
    // the rescaling rounds up (docs/sharding.md), where one memory takes the lower row.
    memory
        .append(common::normal(&mut rng, 40, 5, 1.0).view())
        .unwrap();
    let lens: Vec<usize> = memory.shards().iter().map(Memory::len).collect();
    assert_eq!(lens, vec![100, 290]);

    let before = memory.ids();
    let taken = memory.shards()[0].ids()[0];
    assert_eq!(
        memory.append_with_ids(x.slice(ndarray::s![..2, ..]), &[10_000, taken]),
        Err(Error::DuplicateId(taken))
    );
    assert_eq!(
        memory.remove_ids(&[taken, 99_999]),
        Err(Error::UnknownId(99_999))
    );
    let mut nan = x.slice(ndarray::s![..3, ..]).to_owned();
    nan[[2, 1]] = f32::NAN;
    assert!(matches!(
        memory.append(nan.view()),
        Err(Error::NonFinite { .. })
    ));
    assert_eq!(
        memory.ids(),
        before,
        "refused calls leave the memory as it was"
    );

    // Against one memory holding the same patterns under the same ids.
    let q = common::normal(&mut rng, 4, 5, 1.0);
    let mut one = Memory::new(&Device::cpu(), 5).unwrap();
    for shard in memory.shards() {
        one.append_with_ids(shard.patterns().unwrap().view(), shard.ids())
            .unwrap();
    }
    let options = RetrieveOptions::new(3.0).with_top_k(4);
    let got = memory.retrieve(q.view(), &options).unwrap();
    let want = one
        .retrieve(q.view(), &options.clone().with_weights())
        .unwrap();
    compare(&got, &want, &memory.ids(), one.ids(), 1.0, "after removals");
}

#[test]
fn refusals() {
    let devices = [Device::cpu(), Device::cpu()];
    assert!(matches!(
        ShardedMemory::new(&[], 3),
        Err(Error::InvalidOptions(_))
    ));
    assert!(matches!(
        ShardedMemory::with_shares(&devices, 3, &[1.0, 0.0]),
        Err(Error::InvalidOptions(_))
    ));
    assert!(matches!(
        ShardedMemory::with_shares(&devices, 3, &[1.0]),
        Err(Error::InvalidOptions(_))
    ));
    let mut memory = ShardedMemory::new(&devices, 2).unwrap();
    let q = ndarray::array![[1.0f32, 0.0]];
    assert_eq!(
        memory
            .retrieve(q.view(), &RetrieveOptions::new(1.0))
            .unwrap_err(),
        Error::EmptyMemory
    );
    memory
        .append(ndarray::array![[1.0f32, 0.0], [0.0, 1.0]].view())
        .unwrap();
    for options in [
        RetrieveOptions::new(1.0).with_weights(),
        RetrieveOptions::new(1.0).separation(Separation::Sparsemax),
        RetrieveOptions::new(1.0).with_timing(),
    ] {
        assert!(
            matches!(
                memory.retrieve(q.view(), &options),
                Err(Error::InvalidOptions(_))
            ),
            "{options:?}"
        );
    }
    assert!(matches!(
        memory.retrieve(q.view(), &RetrieveOptions::new(1.0).with_top_k(3)),
        Err(Error::InvalidTopK { k: 3, n: 2 })
    ));
    assert!(matches!(
        memory.retrieve(ndarray::array![[1.0f32]].view(), &RetrieveOptions::new(1.0)),
        Err(Error::DimensionMismatch { .. })
    ));
}
