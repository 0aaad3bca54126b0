//! Many callers at once, as a client crate would have them: threads sharing memories, a writer
//! beside readers on snapshots, a tokio runtime whose thread must stay free, and long calls on
//! GL (one context for every thread) beside short ones. Every result is checked against the
//! f64 reference of the very patterns it was computed from.

mod common;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use common::{normal, rel_err, to64};
use hopfield::{reference, Device, Memory, MemoryOptions, Precision, Retrieval, RetrieveOptions};
use ndarray::{Array2, ArrayView2};
use rand::rngs::StdRng;
use rand::RngExt;

/// The states of `out` against `steps` updates in f64 on `memory`'s own patterns (through
/// ndarray's matrix products: `reference::retrieve` loops in plain Rust, minutes for the long
/// calls here), and its top-k ids against `memory`'s ids.
fn check(memory: &Memory, q: ArrayView2<f32>, out: &Retrieval, beta: f32, steps: usize) {
    let x = to64(memory.patterns().unwrap().view());
    let mut want = to64(q);
    for _ in 0..steps {
        let scores = want.dot(&x.t()) * f64::from(beta);
        let (p, _) = reference::softmax_rows(scores.view());
        want = p.dot(&x);
    }
    let e = rel_err(out.states.view(), want.view());
    assert!(
        e <= 1e-5 * steps as f64,
        "N={} steps={steps}: rel err {e:e}",
        memory.len()
    );
    if let Some(top) = &out.top_k {
        for (&i, &id) in top.indices.iter().zip(&top.ids) {
            assert_eq!(memory.ids()[i], id, "top-k id of index {i}");
        }
    }
}

/// 8 threads retrieve from snapshots of one shared memory while a writer appends, replaces
/// and removes; each result matches the reference of the snapshot it came from.
fn readers_beside_a_writer(device: &Device) {
    let mut rng = common::rng("readers_beside_a_writer");
    let d = 13;
    let options = MemoryOptions::default().max_chunk_bytes(61 * Precision::F32.row_bytes(d));
    let mut memory = Memory::with_options(device, d, options).unwrap();
    memory.append(normal(&mut rng, 97, d, 1.0).view()).unwrap();
    let shared = Arc::new(Mutex::new(memory));
    let start = Barrier::new(9);
    let writes = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for reader in 0..8 {
            let (shared, start) = (Arc::clone(&shared), &start);
            let mut rng = common::rng(&format!("reader {reader}"));
            s.spawn(move || {
                start.wait();
                for _ in 0..5 {
                    // The lock is held for an O(chunks) clone, never for a retrieval.
                    let snapshot = shared.lock().unwrap().snapshot();
                    let b = [1, 3, 7][rng.random_range(0..3)];
                    let q = normal(&mut rng, b, d, 1.0);
                    let opts = RetrieveOptions::new(0.7).steps(2).with_top_k(1);
                    let out = snapshot.retrieve(q.view(), &opts).unwrap();
                    check(&snapshot, q.view(), &out, 0.7, 2);
                }
            });
        }
        s.spawn(|| {
            start.wait();
            for _ in 0..30 {
                let count = rng.random_range(1..20);
                let rows = normal(&mut rng, count, d, 1.0);
                let mut m = shared.lock().unwrap();
                match rng.random_range(0..3) {
                    0 => m.append(rows.view()).unwrap(),
                    1 => {
                        let at = rng.random_range(0..m.len());
                        m.replace(at, rows.row(0).as_slice().unwrap()).unwrap()
                    }
                    _ if m.len() > 20 => {
                        let gone: Vec<usize> =
                            (0..5).map(|_| rng.random_range(0..m.len())).collect();
                        m.remove(&gone).unwrap();
                    }
                    _ => {}
                }
                writes.fetch_add(1, Ordering::Relaxed);
            }
        });
    });
    assert_eq!(writes.load(Ordering::Relaxed), 30);
}

/// A memory's state as the tests model it: rows (as stored), ids and labels.
#[derive(Clone)]
struct Model {
    rows: Vec<Vec<f32>>,
    ids: Vec<u64>,
    labels: Vec<Option<String>>,
}

impl Model {
    fn of(memory: &Memory) -> Model {
        let x = memory.patterns().unwrap();
        Model {
            rows: x.rows().into_iter().map(|r| r.to_vec()).collect(),
            ids: memory.ids().to_vec(),
            labels: (0..memory.len())
                .map(|i| memory.label_of(i).map(String::from))
                .collect(),
        }
    }
}

/// One random mutation: append (fresh or given ids), replace, remove, label or clear.
fn mutate(memory: &mut Memory, rng: &mut StdRng) {
    let d = memory.dim();
    let n = memory.len();
    match rng.random_range(0..10) {
        0..=2 => {
            let count = rng.random_range(1..30);
            let x = normal(rng, count, d, 1.0);
            memory.append(x.view()).unwrap();
        }
        3 => {
            let id = memory.ids().iter().max().map_or(0, |m| m + 5);
            memory
                .append_with_ids(normal(rng, 1, d, 1.0).view(), &[id])
                .unwrap();
        }
        4..=5 if n > 0 => {
            let row = normal(rng, 1, d, 1.0).into_raw_vec_and_offset().0;
            memory.replace(rng.random_range(0..n), &row).unwrap();
        }
        6..=7 if n > 0 => {
            let gone: Vec<usize> = (0..3).map(|_| rng.random_range(0..n)).collect();
            memory.remove(&gone).unwrap();
        }
        8 if n > 0 => {
            let label = format!("label {}", rng.random_range(0..100));
            memory
                .set_label(rng.random_range(0..n), Some(label))
                .unwrap();
        }
        9 => memory.clear(),
        _ => {}
    }
}

/// Snapshots keep exactly what they saw while the original (and they themselves) are mutated
/// at random, across chunk boundaries and in f16; a retrieval from each old snapshot is its
/// own reference's.
fn snapshots_keep_what_they_saw(device: &Device) {
    let mut rng = common::rng("snapshots_keep_what_they_saw");
    for precision in [Precision::F32, Precision::F16] {
        let d = 7;
        let options = MemoryOptions::default()
            .precision(precision)
            .max_chunk_bytes(13 * precision.row_bytes(d));
        let mut memory = Memory::with_options(device, d, options).unwrap();
        let mut kept: Vec<(Memory, Model)> = Vec::new();
        let mut mine = Model::of(&memory);
        for step in 0..48 {
            if rng.random_range(0..3) == 0 {
                kept.push((memory.snapshot(), Model::of(&memory)));
            }
            // Mutating a snapshot must leave the original (and other snapshots) alone too.
            if !kept.is_empty() && rng.random_range(0..4) == 0 {
                let at = rng.random_range(0..kept.len());
                mutate(&mut kept[at].0, &mut rng);
                kept[at].1 = Model::of(&kept[at].0);
                let now = Model::of(&memory);
                assert_eq!(now.rows, mine.rows, "{precision} original: rows");
                assert_eq!(now.ids, mine.ids, "{precision} original: ids");
            }
            mutate(&mut memory, &mut rng);
            mine = Model::of(&memory);
            // Reading back every snapshot after every step is slow on GL; corruption stays.
            if step % 8 != 7 {
                continue;
            }
            for (i, (snapshot, model)) in kept.iter().enumerate() {
                let now = Model::of(snapshot);
                assert_eq!(now.rows, model.rows, "{precision} snapshot {i}: rows");
                assert_eq!(now.ids, model.ids, "{precision} snapshot {i}: ids");
                assert_eq!(now.labels, model.labels, "{precision} snapshot {i}: labels");
            }
        }
        for (snapshot, _) in kept.iter().filter(|(s, _)| !s.is_empty()) {
            let q = normal(&mut rng, 3, d, 1.0);
            let opts = RetrieveOptions::new(1.5).steps(2).with_top_k(1);
            check(
                snapshot,
                q.view(),
                &snapshot.retrieve(q.view(), &opts).unwrap(),
                1.5,
                2,
            );
        }
    }
}

/// Steps for one retrieval of `q` on `memory` to take about `target` (timed once: a size, not
/// an assertion).
fn steps_for(
    memory: &Memory,
    q: ArrayView2<f32>,
    beta: f32,
    target: Duration,
    cap: usize,
) -> usize {
    // The first call compiles the kernels.
    memory.retrieve(q, &RetrieveOptions::new(beta)).unwrap();
    let t = Instant::now();
    memory.retrieve(q, &RetrieveOptions::new(beta)).unwrap();
    let one = t.elapsed().max(Duration::from_micros(100));
    (target.as_secs_f64() / one.as_secs_f64())
        .ceil()
        .clamp(1.0, cap as f64) as usize
}

/// A memory large enough that one step is real work on any device.
fn big(device: &Device, rng: &mut StdRng) -> (Memory, Array2<f32>) {
    let (n, d) = (8191, 129);
    let memory = Memory::from_array(device, normal(rng, n, d, 1.0).view()).unwrap();
    (memory, normal(rng, 5, d, 1.0))
}

/// On a current-thread tokio runtime a 1 ms heartbeat task keeps beating while a long
/// `retrieve_async` is awaited beside it: the largest gap between beats is a small part of the
/// retrieval's own duration (both measured in this run). A future that records, submits or
/// computes inside `poll` stalls the heartbeat for (nearly) the whole retrieval.
fn async_retrieval_leaves_the_executor_free(device: &Device) {
    let mut rng = common::rng("async_retrieval_leaves_the_executor_free");
    let (memory, q) = big(device, &mut rng);
    let beta = 0.05;
    let steps = steps_for(&memory, q.view(), beta, Duration::from_millis(800), 100);
    let opts = RetrieveOptions::new(beta).steps(steps);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let (out, took, gap, beats) = runtime.block_on(async {
        let stop = Arc::new(AtomicBool::new(false));
        let beats = Arc::new(Mutex::new(Vec::new()));
        let heart = tokio::spawn({
            let (stop, beats) = (Arc::clone(&stop), Arc::clone(&beats));
            async move {
                while !stop.load(Ordering::Relaxed) {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    beats.lock().unwrap().push(Instant::now());
                }
            }
        });
        tokio::time::sleep(Duration::from_millis(5)).await;
        let t0 = Instant::now();
        let out = memory.retrieve_async(q.view(), &opts).await.unwrap();
        let t1 = Instant::now();
        stop.store(true, Ordering::Relaxed);
        heart.await.unwrap();
        let mut during: Vec<Instant> = vec![t0];
        during.extend(beats.lock().unwrap().iter().filter(|&&b| b > t0 && b < t1));
        during.push(t1);
        let gap = during.windows(2).map(|w| w[1] - w[0]).max().unwrap();
        (out, t1 - t0, gap, during.len() - 2)
    });
    eprintln!("{steps} steps took {took:?}; {beats} beats, largest gap {gap:?}");
    assert!(
        gap * 4 < took,
        "the executor stalled for {gap:?} of a {took:?} retrieval ({beats} beats)"
    );
    check(&memory, q.view(), &out, beta, steps);
}

/// One thread runs a retrieval long enough to hold a GL context past wgpu's lock timeout
/// (about 6 s, then a panic "Could not lock adapter context"), while two others retrieve,
/// append and read back on the same device. On GL the long call runs about 9 s; elsewhere,
/// where no such timeout exists, at most 8 steps.
fn long_calls_beside_short_ones(device: &Device) {
    let mut rng = common::rng("long_calls_beside_short_ones");
    let (memory, q) = big(device, &mut rng);
    let beta = 0.05;
    let (target, cap) = if device.info().backend == "gl" {
        (9000, 100)
    } else {
        (500, 8)
    };
    let steps = steps_for(&memory, q.view(), beta, Duration::from_millis(target), cap);
    let long_started = Barrier::new(3);
    std::thread::scope(|s| {
        s.spawn(|| {
            long_started.wait();
            let t = Instant::now();
            let out = memory.retrieve(q.view(), &RetrieveOptions::new(beta).steps(steps));
            eprintln!("long call: {steps} steps in {:?}", t.elapsed());
            check(&memory, q.view(), &out.unwrap(), beta, steps);
        });
        for short in 0..2 {
            let mut rng = common::rng(&format!("short caller {short}"));
            let long_started = &long_started;
            s.spawn(move || {
                let mut small =
                    Memory::from_array(device, normal(&mut rng, 31, 5, 1.0).view()).unwrap();
                long_started.wait();
                // Let the long call reach the device first.
                std::thread::sleep(Duration::from_millis(300));
                for _ in 0..3 {
                    small.append(normal(&mut rng, 3, 5, 1.0).view()).unwrap();
                    let q = normal(&mut rng, 2, 5, 1.0);
                    let opts = RetrieveOptions::new(1.0).steps(2);
                    check(
                        &small,
                        q.view(),
                        &small.retrieve(q.view(), &opts).unwrap(),
                        1.0,
                        2,
                    );
                }
            });
        }
    });
}

on_every_backend!(
    readers_beside_a_writer,
    snapshots_keep_what_they_saw,
    async_retrieval_leaves_the_executor_free,
    long_calls_beside_short_ones,
);
