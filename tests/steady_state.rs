//! The per-call path in steady state (issue 14): retrieving again with the same shapes and
//! options creates no buffer, bind group or pipeline, and what a memory keeps between calls is
//! invisible in results and follows every change to the memory.

mod common;

use hopfield::{Device, DeviceStats, Fusion, Memory, Retrieval, RetrieveOptions, Separation};
use ndarray::Array2;

/// Runs `options` twice and returns the second call's counts and both results.
fn twice(
    device: &Device,
    memory: &Memory,
    q: &Array2<f32>,
    options: &RetrieveOptions,
) -> (DeviceStats, Retrieval, Retrieval) {
    let first = memory.retrieve(q.view(), options).unwrap();
    let before = device.stats();
    let second = memory.retrieve(q.view(), options).unwrap();
    (device.stats().since(before), first, second)
}

fn assert_same(a: &Retrieval, b: &Retrieval, what: &str) {
    assert_eq!(a.states, b.states, "{what}: states");
    assert_eq!(a.weights, b.weights, "{what}: weights");
    assert_eq!(a.max_change, b.max_change, "{what}: max change");
    assert_eq!(a.steps, b.steps, "{what}: steps");
    let energies = |r: &Retrieval| {
        r.energy
            .as_ref()
            .map(|e| (e.before.clone(), e.after.clone()))
    };
    assert_eq!(energies(a), energies(b), "{what}: energies");
}

/// Every way through a retrieval, fused and unfused, with steps, convergence, weights, top-k
/// and energies: the second call creates nothing, uploads only its queries, and returns the
/// first call's result to the bit.
#[test]
fn a_second_call_creates_nothing() {
    let Some(device) = common::own_gpu() else {
        return;
    };
    let mut rng = common::rng("steady state");
    let (b, n, d) = (3, 257, 37);
    let memory = Memory::from_array(&device, common::normal(&mut rng, n, d, 1.0).view()).unwrap();
    let q = common::normal(&mut rng, b, d, 1.0);
    let cases = [
        ("one step", RetrieveOptions::new(2.0)),
        ("three steps", RetrieveOptions::new(2.0).steps(3)),
        (
            "until converged",
            RetrieveOptions::new(4.0).until_converged(1e-6, 6),
        ),
        ("energy", RetrieveOptions::new(2.0).steps(2).with_energy()),
        ("weights", RetrieveOptions::new(2.0).with_weights()),
        ("top-k", RetrieveOptions::new(2.0).with_top_k(7)),
        (
            "unfused",
            RetrieveOptions::new(2.0).fusion(Fusion::Unfused).steps(2),
        ),
        (
            "sparsemax",
            RetrieveOptions::new(8.0)
                .separation(Separation::Sparsemax)
                .steps(2),
        ),
        (
            "entmax",
            RetrieveOptions::new(8.0)
                .separation(Separation::Entmax(1.5))
                .with_energy(),
        ),
        (
            "softmax1",
            RetrieveOptions::new(2.0).separation(Separation::Softmax1),
        ),
        (
            "top-k rule",
            RetrieveOptions::new(2.0).separation(Separation::TopK(5)),
        ),
    ];
    for (what, options) in cases {
        let (call, first, second) = twice(&device, &memory, &q, &options);
        assert_eq!(call.buffers_created, 0, "{what}: {call:?}");
        assert_eq!(call.bind_groups_created, 0, "{what}: {call:?}");
        assert_eq!(call.pipelines_created, 0, "{what}: {call:?}");
        assert_eq!(call.bytes_uploaded, (b * d * 4) as u64, "{what}: {call:?}");
        assert_same(&first, &second, what);
    }
    // A partial cue uploads its mask and cue beside the queries, and nothing else.
    let mask = ndarray::Array2::from_shape_fn((b, d), |(r, c)| (r + c) % 2 == 0);
    let options = RetrieveOptions::new(2.0).steps(2).known(mask).clamp_known();
    let (call, first, second) = twice(&device, &memory, &q, &options);
    assert_eq!(call.buffers_created, 0, "clamped: {call:?}");
    assert_eq!(call.bind_groups_created, 0, "clamped: {call:?}");
    assert_eq!(
        call.bytes_uploaded,
        3 * (b * d * 4) as u64,
        "clamped: {call:?}"
    );
    assert_same(&first, &second, "clamped");
}

/// A β that changes from call to call needs parameter blocks of its own: each value is right,
/// and going back to an earlier β finds its bind groups again.
#[test]
fn each_beta_gets_its_own_parameters() {
    let Some(device) = common::own_gpu() else {
        return;
    };
    let mut rng = common::rng("steady state beta");
    let (b, n, d) = (2, 131, 19);
    let x = common::normal(&mut rng, n, d, 1.0);
    let q = common::normal(&mut rng, b, d, 1.0);
    let memory = Memory::from_array(&device, x.view()).unwrap();
    let cpu = Memory::from_array(&Device::cpu(), x.view()).unwrap();
    for beta in [0.5, 8.0, 0.5] {
        let options = RetrieveOptions::new(beta);
        let got = memory.retrieve(q.view(), &options).unwrap();
        let want = cpu.retrieve(q.view(), &options).unwrap();
        let err = common::rel_err(got.states.view(), common::to64(want.states.view()).view());
        assert!(err <= 1e-5, "β = {beta}: relative error {err:.2e}");
    }
    let before = device.stats();
    memory
        .retrieve(q.view(), &RetrieveOptions::new(8.0))
        .unwrap();
    assert_eq!(device.stats().since(before).bind_groups_created, 0);
}

/// Appending, removing, clearing and replacing a row each leave the next retrieval equal to a
/// fresh memory's over the same patterns, on both paths. A row overwritten in place keeps the
/// scratch and bind groups (the call makes no buffer); every other change drops them, even one
/// that comes back to the same pattern count (the call makes scratch, not only parameter
/// blocks: more buffers than bind groups).
#[test]
fn changes_to_the_memory_reach_the_next_call() {
    let Some(device) = common::own_gpu() else {
        return;
    };
    let mut rng = common::rng("steady state changes");
    let (b, n, d) = (2, 61, 17);
    let q = common::normal(&mut rng, b, d, 1.0);
    for fusion in [Fusion::Fused, Fusion::Unfused] {
        let options = RetrieveOptions::new(3.0).steps(2).fusion(fusion);
        let mut memory =
            Memory::from_array(&device, common::normal(&mut rng, n, d, 1.0).view()).unwrap();
        memory.retrieve(q.view(), &options).unwrap();

        let extra = common::normal(&mut rng, 5, d, 1.0);
        let row = common::normal(&mut rng, 1, d, 1.0);
        let refill = common::normal(&mut rng, n, d, 1.0);
        type Change<'a> = Box<dyn Fn(&mut Memory) + 'a>;
        let changes: [(&str, bool, Change); 4] = [
            (
                "append",
                true,
                Box::new(|m| m.append(extra.view()).unwrap()),
            ),
            (
                "replace in place",
                false,
                Box::new(|m| m.replace(3, row.as_slice().unwrap()).unwrap()),
            ),
            (
                "remove back to the same count",
                true,
                Box::new(|m| m.remove(&[0, 7, 40, 41, 65]).unwrap()),
            ),
            (
                "clear and refill",
                true,
                Box::new(|m| {
                    m.clear();
                    m.append(refill.view()).unwrap();
                }),
            ),
        ];
        for (what, anew, change) in changes {
            change(&mut memory);
            let before = device.stats();
            let got = memory.retrieve(q.view(), &options).unwrap();
            let call = device.stats().since(before);
            let fresh = Memory::from_array(&device, memory.patterns().unwrap().view()).unwrap();
            let want = fresh.retrieve(q.view(), &options).unwrap();
            let what = format!("{what} ({fusion:?})");
            assert_same(&got, &want, &what);
            if anew {
                assert!(
                    call.buffers_created > call.bind_groups_created,
                    "{what}: {call:?}"
                );
            } else {
                assert_eq!(call.buffers_created, 0, "{what}: {call:?}");
            }
        }
        assert_eq!(memory.len(), n);
    }
}

/// A snapshot is another memory: it keeps nothing of the original's, and a row replaced in
/// the original (whose chunk the snapshot shares, so it is copied) reaches the original's next
/// retrieval and not the snapshot's.
#[test]
fn snapshots_keep_their_own() {
    let Some(device) = common::own_gpu() else {
        return;
    };
    let mut rng = common::rng("steady state snapshot");
    let (b, n, d) = (2, 40, 9);
    let q = common::normal(&mut rng, b, d, 1.0);
    let options = RetrieveOptions::new(3.0);
    let mut memory =
        Memory::from_array(&device, common::normal(&mut rng, n, d, 1.0).view()).unwrap();
    let before_change = memory.retrieve(q.view(), &options).unwrap();
    let snapshot = memory.snapshot();

    let stats = device.stats();
    let first = snapshot.retrieve(q.view(), &options).unwrap();
    assert!(device.stats().since(stats).buffers_created > 0);
    assert_same(&first, &before_change, "snapshot");

    // The same pattern as the query's: the original's answer must move towards it.
    memory.replace(0, q.row(0).as_slice().unwrap()).unwrap();
    let changed = memory.retrieve(q.view(), &options).unwrap();
    let fresh = Memory::from_array(&device, memory.patterns().unwrap().view()).unwrap();
    assert_same(
        &changed,
        &fresh.retrieve(q.view(), &options).unwrap(),
        "original",
    );
    assert_ne!(changed.states, before_change.states);
    let again = snapshot.retrieve(q.view(), &options).unwrap();
    assert_same(&again, &before_change, "snapshot after the change");
}

/// Threads retrieving from one memory at once never share scratch: each gets the result it
/// would get alone.
#[test]
fn threads_do_not_share_scratch() {
    let Some(device) = common::own_gpu() else {
        return;
    };
    let mut rng = common::rng("steady state threads");
    let (b, n, d) = (4, 300, 33);
    let memory = Memory::from_array(&device, common::normal(&mut rng, n, d, 1.0).view()).unwrap();
    let queries: Vec<Array2<f32>> = (0..4)
        .map(|_| common::normal(&mut rng, b, d, 1.0))
        .collect();
    let options = RetrieveOptions::new(2.0).steps(3);
    let alone: Vec<Retrieval> = queries
        .iter()
        .map(|q| memory.retrieve(q.view(), &options).unwrap())
        .collect();
    std::thread::scope(|s| {
        let handles: Vec<_> = queries
            .iter()
            .map(|q| {
                s.spawn(|| {
                    (0..3)
                        .map(|_| memory.retrieve(q.view(), &options).unwrap())
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        for (h, want) in handles.into_iter().zip(&alone) {
            for got in h.join().unwrap() {
                assert_same(&got, want, "thread");
            }
        }
    });
}
