//! Memory mutations against a plain `Vec` of rows, and retrieval after them against a memory
//! built fresh from the same rows.

mod common;

use common::normal;
use hopfield::{Device, Memory, MemoryOptions, Precision, RetrieveOptions};
use ndarray::{Array2, ArrayView2};
use rand::RngExt;

fn as_rows(a: ArrayView2<f32>) -> Vec<Vec<f32>> {
    a.rows().into_iter().map(|r| r.to_vec()).collect()
}

fn check(memory: &Memory, model: &[Vec<f32>], what: &str) {
    assert_eq!(memory.len(), model.len(), "{what}: len");
    assert_eq!(
        as_rows(memory.patterns().unwrap().view()),
        model,
        "{what}: patterns"
    );
}

/// The rows as the memory holds them: f16 storage rounds to nearest.
fn stored(precision: Precision, rows: Vec<Vec<f32>>) -> Vec<Vec<f32>> {
    match precision {
        Precision::F32 => rows,
        _ => rows
            .into_iter()
            .map(|r| r.iter().map(|&v| half::f16::from_f32(v).to_f32()).collect())
            .collect(),
    }
}

/// A random sequence of appends (growing past several capacities), replacements, removals
/// (unordered, repeated indices) and clears.
fn mutations_match_a_model(device: &Device) {
    mutations(device, MemoryOptions::default(), "one chunk");
}

/// The same with 13 patterns per chunk, so appends, removals and replacements cross chunk
/// boundaries, and with f16 rows of odd length (a padded half per row).
fn mutations_across_chunks(device: &Device) {
    let chunked = MemoryOptions::default().max_chunk_bytes(13 * Precision::F32.row_bytes(7));
    mutations(device, chunked, "f32 chunks of 13");
    let f16 = chunked
        .precision(Precision::F16)
        .max_chunk_bytes(13 * Precision::F16.row_bytes(7));
    mutations(device, f16, "f16 chunks of 13");
}

fn mutations(device: &Device, options: MemoryOptions, what: &str) {
    let mut rng = common::rng(what);
    let d = 7;
    let mut memory = Memory::with_options(device, d, options).unwrap();
    let mut model: Vec<Vec<f32>> = Vec::new();
    let p = options.precision;
    for op in 0..120 {
        match rng.random_range(0..10) {
            0..=4 => {
                let rows = rng.random_range(0..40);
                let x = normal(&mut rng, rows, d, 1.0);
                memory.append(x.view()).unwrap();
                model.extend(stored(p, as_rows(x.view())));
            }
            5..=6 if !model.is_empty() => {
                let i = rng.random_range(0..model.len());
                let row = normal(&mut rng, 1, d, 1.0).into_raw_vec_and_offset().0;
                memory.replace(i, &row).unwrap();
                model[i] = stored(p, vec![row]).remove(0);
            }
            7..=8 if !model.is_empty() => {
                let k = rng.random_range(1..=model.len().min(6));
                let mut idx: Vec<usize> =
                    (0..k).map(|_| rng.random_range(0..model.len())).collect();
                idx.push(idx[0]);
                memory.remove(&idx).unwrap();
                idx.sort_unstable();
                idx.dedup();
                for &i in idx.iter().rev() {
                    model.remove(i);
                }
            }
            9 => {
                memory.clear();
                model.clear();
            }
            _ => {}
        }
        check(&memory, &model, &format!("{what}: after op {op}"));
        if options.max_chunk_bytes.is_some() && device.is_gpu() {
            assert_eq!(memory.chunks(), model.len().div_ceil(13), "{what}: chunks");
        }
    }
    if !model.is_empty() {
        let flat: Vec<f32> = model.concat();
        let mut fresh = Memory::with_options(device, d, options).unwrap();
        fresh.append_rows(&flat).unwrap();
        let q = normal(&mut rng, 9, d, 1.0);
        let opts = RetrieveOptions::new(2.0).steps(2).with_weights();
        assert_eq!(
            memory.retrieve(q.view(), &opts).unwrap(),
            fresh.retrieve(q.view(), &opts).unwrap()
        );
    }
}

fn empty_batches_and_rows(device: &Device) {
    let mut memory = Memory::from_array(device, Array2::<f32>::eye(4).view()).unwrap();
    memory.append(Array2::<f32>::zeros((0, 4)).view()).unwrap();
    memory.remove(&[]).unwrap();
    assert_eq!(memory.len(), 4);
    let out = memory
        .retrieve(
            Array2::<f32>::zeros((0, 4)).view(),
            &RetrieveOptions::new(1.0).with_weights(),
        )
        .unwrap();
    assert_eq!(out.states.dim(), (0, 4));
    assert_eq!(out.weights.unwrap().dim(), (0, 4));
}

on_every_backend!(
    mutations_match_a_model,
    mutations_across_chunks,
    empty_batches_and_rows
);
